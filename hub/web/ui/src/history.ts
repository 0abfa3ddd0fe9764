// Event history (历史事件): every recorded detection, searched and filtered on the hub by place
// (street, grid, camera), type, time range (in the site's timezone) and words, paged newest first.
// A row opens its snapshot large, with a button that puts its camera on the wall.
import { ApiError, type EventQuery, getEvents, snapshotUrl } from "./api";
import { h } from "./dom";
import { lastingText } from "./events";
import { EVENT_LABEL } from "./labels";
import { isoToZoned, stampText, zonedToIso } from "./time";
import type { Camera, EventType, HubEvent, SiteInfo } from "./types";

const PAGE = 50;

export class EventHistory {
  readonly el: HTMLElement;
  private readonly form: HTMLFormElement;
  private readonly rows: HTMLTableSectionElement;
  private readonly more: HTMLButtonElement;
  private readonly count: HTMLElement;
  private readonly error: HTMLElement;
  private readonly viewer: HTMLElement;
  private readonly street: HTMLSelectElement;
  private readonly grid: HTMLSelectElement;
  private readonly camera: HTMLSelectElement;
  private readonly type: HTMLSelectElement;
  private readonly since: HTMLInputElement;
  private readonly until: HTMLInputElement;
  private readonly words: HTMLInputElement;
  private cameras = new Map<string, Camera>();
  private site: SiteInfo | null = null;
  private next: number | null = null;
  private shown = 0;
  private loadToken = 0;

  constructor(private readonly toWall: (cameraId: string) => void) {
    this.street = h("select", { id: "history-street", "aria-label": "街道 Street" });
    this.grid = h("select", { id: "history-grid", "aria-label": "网格 Grid" });
    this.camera = h("select", { id: "history-camera", "aria-label": "摄像机 Camera" });
    this.type = h(
      "select",
      { id: "history-type", "aria-label": "事件类型 Event type" },
      h("option", { value: "", text: "全部类型 All types" }),
      ...(Object.keys(EVENT_LABEL) as EventType[]).map((t) => h("option", { value: t, text: EVENT_LABEL[t] })),
    );
    this.since = h("input", { type: "datetime-local", id: "history-since", "aria-label": "开始 From" });
    this.until = h("input", { type: "datetime-local", id: "history-until", "aria-label": "结束 To" });
    this.words = h("input", { type: "search", id: "history-q", maxlength: 64, placeholder: "搜索摄像机或地点 Search camera or place" });
    const search = h("button", { type: "submit", class: "primary", id: "history-search", text: "查询 Search" });
    const reset = h("button", { type: "button", id: "history-reset", text: "重置 Reset" });
    reset.addEventListener("click", () => {
      this.form.reset();
      this.fillPlaces();
      void this.load(true);
    });
    this.street.addEventListener("change", () => this.fillPlaces());
    this.grid.addEventListener("change", () => this.fillCameras());
    this.form = h(
      "form",
      { class: "history-filters", id: "history-form" },
      this.street,
      this.grid,
      this.camera,
      this.type,
      h("label", { class: "inline" }, h("span", { text: "从 From" }), this.since),
      h("label", { class: "inline" }, h("span", { text: "到 To" }), this.until),
      this.words,
      search,
      reset,
    );
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.load(true);
    });
    this.rows = h("tbody", { id: "history-rows" });
    this.more = h("button", { type: "button", id: "history-more", text: "加载更多 Load more", hidden: true });
    this.more.addEventListener("click", () => void this.load(false));
    this.count = h("span", { class: "muted", id: "history-count" });
    this.error = h("div", { class: "form-error", role: "alert", hidden: true });
    this.viewer = h("div", { class: "history-viewer", id: "history-viewer", hidden: true });
    const close = h("button", { type: "button", class: "icon-btn", id: "history-close", title: "关闭 Close", text: "×" });
    close.addEventListener("click", () => this.close());
    const table = h(
      "table",
      { class: "history-table" },
      h("thead", {}, h("tr", {}, ...["时间 Time", "类型 Type", "摄像机 Camera", "地点 Place", "持续 Duration"].map((t) => h("th", { text: t })))),
      this.rows,
    );
    this.el = h(
      "div",
      { class: "history-backdrop", id: "event-history", hidden: true, role: "dialog", "aria-label": "历史事件 Event history" },
      h(
        "section",
        { class: "history" },
        h("div", { class: "panel-head" }, h("h2", { class: "panel-title", text: "历史事件 Event history" }), this.count, close),
        this.form,
        this.error,
        h("div", { class: "history-body" }, h("div", { class: "history-scroll" }, table, this.more), this.viewer),
      ),
    );
    this.el.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.close();
    });
  }

  setPlaces(site: SiteInfo, cameras: Camera[]): void {
    this.site = site;
    this.cameras = new Map(cameras.map((c) => [c.id, c]));
    this.fillPlaces();
  }

  /** Open, optionally narrowed to one camera; the last 24 hours by default. */
  open(cameraId = ""): void {
    if (!this.since.value) this.since.value = isoToZoned(new Date(Date.now() - 24 * 3600 * 1000));
    if (cameraId) {
      this.street.value = "";
      this.fillPlaces();
      this.camera.value = cameraId;
    }
    this.el.hidden = false;
    void this.load(true);
    this.words.focus();
  }

  close(): void {
    this.el.hidden = true;
  }

  private fillPlaces(): void {
    const streets = this.site?.district.streets ?? [];
    const street = this.street.value;
    this.street.replaceChildren(h("option", { value: "", text: "全部街道 All streets" }), ...streets.map((s) => h("option", { value: s.id, text: s.name })));
    this.street.value = streets.some((s) => s.id === street) ? street : "";
    const grids = streets.filter((s) => !this.street.value || s.id === this.street.value).flatMap((s) => s.communities.flatMap((c) => c.grids));
    const grid = this.grid.value;
    this.grid.replaceChildren(h("option", { value: "", text: "全部网格 All grids" }), ...grids.map((g) => h("option", { value: g.id, text: g.name })));
    this.grid.value = grids.some((g) => g.id === grid) ? grid : "";
    this.fillCameras();
  }

  private fillCameras(): void {
    const grids = new Set(Array.from(this.grid.options).map((o) => o.value).filter(Boolean));
    const chosen = this.grid.value;
    const cams = [...this.cameras.values()].filter((c) => (chosen ? c.grid_id === chosen : grids.has(c.grid_id)));
    const cam = this.camera.value;
    this.camera.replaceChildren(h("option", { value: "", text: "全部摄像机 All cameras" }), ...cams.map((c) => h("option", { value: c.id, text: c.name })));
    this.camera.value = cams.some((c) => c.id === cam) ? cam : "";
  }

  private query(): EventQuery {
    return {
      type: this.type.value as EventType | "",
      cameraId: this.camera.value,
      gridId: this.grid.value,
      streetId: this.street.value,
      q: this.words.value.trim(),
      since: this.since.value ? zonedToIso(this.since.value) : "",
      until: this.until.value ? zonedToIso(this.until.value) : "",
    };
  }

  private async load(fresh: boolean): Promise<void> {
    const token = ++this.loadToken;
    if (fresh) {
      this.next = null;
      this.shown = 0;
    }
    this.error.hidden = true;
    try {
      const page = await getEvents({ ...this.query(), limit: PAGE, beforeSeq: fresh ? null : this.next });
      if (token !== this.loadToken) return;
      const rows = page.items.map((e) => this.row(e));
      if (fresh) this.rows.replaceChildren(...rows);
      else this.rows.append(...rows);
      this.shown += page.items.length;
      this.next = page.next_before_seq ?? null;
      this.more.hidden = this.next === null;
      this.count.textContent = this.shown === 0 ? "无匹配事件 No matching events" : `已显示 ${this.shown} 条${this.next === null ? "" : "+"} Shown`;
      if (fresh) this.viewer.hidden = true;
    } catch (err) {
      if (token !== this.loadToken) return;
      this.error.textContent = err instanceof ApiError ? err.detail : String(err);
      this.error.hidden = false;
    }
  }

  private row(ev: HubEvent): HTMLTableRowElement {
    const cam = this.cameras.get(ev.camera_id);
    const tr = h(
      "tr",
      { class: "history-row", "data-event-id": ev.id, "data-camera-id": ev.camera_id, "data-type": ev.type, tabindex: 0 },
      h("td", { text: stampText(ev.start) }),
      h("td", { class: `ev-type type-${ev.type}`, text: EVENT_LABEL[ev.type] ?? ev.type }),
      h("td", { text: ev.camera_name || cam?.name || ev.camera_id }),
      h("td", { text: this.gridName(ev.grid_id ?? cam?.grid_id ?? "") }),
      h("td", { text: lastingText(ev).replace("持续 Duration ", "") }),
    );
    const open = (): void => {
      for (const r of this.rows.querySelectorAll("tr.selected")) r.classList.remove("selected");
      tr.classList.add("selected");
      this.show(ev);
    };
    tr.addEventListener("click", open);
    tr.addEventListener("keydown", (e) => {
      if (e.key === "Enter") open();
    });
    return tr;
  }

  private show(ev: HubEvent): void {
    const img = h("img", { class: "history-snapshot", id: "history-snapshot", alt: "事件快照 Event snapshot", src: snapshotUrl(ev) });
    const missing = h("div", { class: "snapshot-missing", hidden: true, text: "快照已过期或不存在 No snapshot (expired or never taken)" });
    img.addEventListener("error", () => {
      img.hidden = true;
      missing.hidden = false;
    });
    const toWall = h("button", { type: "button", class: "primary", id: "history-to-wall", text: "上墙 Show camera on the wall" });
    toWall.addEventListener("click", () => {
      this.toWall(ev.camera_id);
      this.close();
    });
    this.viewer.replaceChildren(
      img,
      missing,
      h("p", {}, h("b", { text: EVENT_LABEL[ev.type] ?? ev.type }), ` · ${stampText(ev.start)} · ${ev.camera_name || ev.camera_id}`),
      toWall,
    );
    this.viewer.hidden = false;
  }

  private gridName(id: string): string {
    for (const s of this.site?.district.streets ?? []) {
      for (const c of s.communities) {
        const g = c.grids.find((x) => x.id === id);
        if (g) return g.name;
      }
    }
    return id;
  }
}
