// The device page (a modal): identity, presence, last values with units, and a live chart of
// one telemetry key from the history API, refreshed every few seconds.
import { ApiError, getDevice, getTelemetry } from "./api";
import { LineChart } from "./chart";
import { h } from "./dom";
import { DEVICE_STATE_LABEL, KIND_LABEL } from "./labels";
import { epochText } from "./time";
import type { Device, TelemetryField } from "./types";

const REFRESH_MS = 5000;
const RANGES: { seconds: number; label: string }[] = [
  { seconds: 900, label: "15 分钟 15 min" },
  { seconds: 3600, label: "1 小时 1 h" },
  { seconds: 6 * 3600, label: "6 小时 6 h" },
  { seconds: 86400, label: "24 小时 24 h" },
];

function valueText(v: unknown, unit: string | null | undefined): string {
  if (v === null || v === undefined) return "—";
  if (typeof v === "boolean") return v ? "是 Yes" : "否 No";
  if (typeof v === "number") return `${Number.isInteger(v) ? v : v.toFixed(2)}${unit ? ` ${unit}` : ""}`;
  return String(v);
}

export class DevicePage {
  readonly el: HTMLDivElement;
  private readonly chart = new LineChart();
  private readonly keySelect: HTMLSelectElement;
  private readonly rangeSelect: HTMLSelectElement;
  private readonly info: HTMLDListElement;
  private readonly values: HTMLTableSectionElement;
  private readonly title: HTMLHeadingElement;
  private device: Device;
  private timer: number | undefined;
  private closed = false;

  constructor(
    device: Device,
    private readonly onClose: () => void,
    private readonly onError: (msg: string) => void,
  ) {
    this.device = device;
    const numeric = device.telemetry.filter((f) => (f.type ?? "number") === "number");
    this.keySelect = h(
      "select",
      { id: "device-key", "aria-label": "指标 Key" },
      ...numeric.map((f) => h("option", { value: f.key, text: fieldName(f) })),
    );
    this.rangeSelect = h(
      "select",
      { id: "device-range", "aria-label": "时间范围 Range" },
      ...RANGES.map((r) => h("option", { value: r.seconds, text: r.label })),
    );
    this.rangeSelect.value = "3600";
    this.keySelect.addEventListener("change", () => void this.refresh());
    this.rangeSelect.addEventListener("change", () => void this.refresh());
    this.title = h("h2", { class: "panel-title" });
    this.info = h("dl", { class: "fields" });
    this.values = h("tbody");
    const close = h("button", { class: "icon-btn", id: "device-close", title: "关闭 Close", text: "×" });
    close.addEventListener("click", () => this.close());
    const card = h(
      "div",
      { class: "device-page", id: "device-page", role: "dialog", "data-device-id": device.id },
      h("div", { class: "panel-head" }, this.title, close),
      h(
        "div",
        { class: "device-body" },
        h(
          "div",
          { class: "device-side" },
          this.info,
          h("table", { class: "values" }, h("thead", {}, h("tr", {}, h("th", { text: "指标 Key" }), h("th", { text: "最新值 Last value" }))), this.values),
        ),
        h("div", { class: "device-chart" }, h("div", { class: "chart-controls" }, this.keySelect, this.rangeSelect), this.chart.el),
      ),
    );
    this.el = h("div", { class: "modal-backdrop" }, card);
    this.el.addEventListener("click", (e) => {
      if (e.target === this.el) this.close();
    });
    this.renderInfo();
  }

  start(): void {
    void this.refresh();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    window.clearTimeout(this.timer);
    this.el.remove();
    this.onClose();
  }

  private renderInfo(): void {
    const d = this.device;
    this.title.textContent = `设备详情 Device · ${d.name}`;
    const state = h("span", { class: `presence ${d.state}`, id: "device-presence", text: DEVICE_STATE_LABEL[d.state] ?? d.state });
    const rows: [string, string | HTMLElement][] = [
      ["名称 Name", d.name],
      ["编号 ID", d.id],
      ["类型 Kind", KIND_LABEL[d.kind] ?? d.kind],
      ["型号 Profile", d.profile],
      ["网格 Grid", d.grid_name || d.grid],
      ["状态 Presence", state],
      ["最近上报 Last seen", d.last_seen ? epochText(d.last_seen) : "—"],
    ];
    this.info.replaceChildren(...rows.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)]));
    this.values.replaceChildren(
      ...d.telemetry.map((f) =>
        h("tr", { "data-key": f.key }, h("td", { text: fieldName(f) }), h("td", { class: "num", text: valueText(d.last_values[f.key], f.unit) })),
      ),
    );
  }

  private async refresh(): Promise<void> {
    window.clearTimeout(this.timer);
    const key = this.keySelect.value;
    const seconds = Number(this.rangeSelect.value);
    try {
      const [device, series] = await Promise.all([getDevice(this.device.id), key ? getTelemetry(this.device.id, key, seconds) : null]);
      if (this.closed) return;
      this.device = device;
      this.renderInfo();
      const until = Date.now() / 1000;
      const field = device.telemetry.find((f) => f.key === key);
      if (series && this.keySelect.value === key) this.chart.draw(series.points, until - seconds, until, field?.unit ?? "");
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      if (err instanceof ApiError) this.onError(err.detail);
    }
    if (!this.closed) this.timer = window.setTimeout(() => void this.refresh(), REFRESH_MS);
  }
}

function fieldName(f: TelemetryField): string {
  return f.name ? `${f.name}${f.unit ? ` (${f.unit})` : ""}` : f.key;
}
