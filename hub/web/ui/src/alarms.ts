// Alarm list (告警 Alarms): open alarms first, newest first, updated in place by id from the
// hub WebSocket; acknowledge and clear. Clicking one links its cameras onto the wall.
import { alarmAction, ApiError, getAlarms } from "./api";
import { h } from "./dom";
import { ALARM_STATE_LABEL, SEVERITY_LABEL } from "./labels";
import { stampText } from "./time";
import type { Alarm } from "./types";

const MAX_ITEMS = 200;

/** What ``upsert`` did with a live alarm message. */
export type AlarmChange = "new" | "updated";

function valueText(a: Alarm): string {
  if (a.value === null || a.value === undefined) return "";
  const v = typeof a.value === "number" && !Number.isInteger(a.value) ? a.value.toFixed(2) : String(a.value);
  return a.key ? `${a.key} = ${v}` : v;
}

export class AlarmsPanel {
  readonly el: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly note: HTMLDivElement;
  private readonly stateSelect: HTMLSelectElement;
  private alarms: Alarm[] = [];
  private selectedId = "";
  private loadToken = 0;
  // loads under way, each with the live alarms that came in since it asked
  private readonly inFlight = new Set<Alarm[]>();
  /** False when the hub has no alarm API (404): the tab says so instead of erroring. */
  available = true;

  constructor(
    private readonly onOpen: (a: Alarm) => void,
    private readonly onError: (msg: string) => void,
  ) {
    this.stateSelect = h(
      "select",
      { class: "alarm-filter", id: "alarm-filter", "aria-label": "告警状态 Alarm state" },
      h("option", { value: "open", text: "未关闭 Open" }),
      h("option", { value: "", text: "全部 All" }),
      ...(Object.keys(ALARM_STATE_LABEL) as (keyof typeof ALARM_STATE_LABEL)[]).map((s) => h("option", { value: s, text: ALARM_STATE_LABEL[s] })),
    );
    this.stateSelect.addEventListener("change", () => void this.load());
    this.list = h("ul", { class: "event-list alarm-list", id: "alarm-list" });
    this.note = h("div", { class: "empty-note", text: "暂无告警 No alarms" });
    this.el = h(
      "section",
      { class: "panel events alarms", id: "alarms" },
      h("div", { class: "panel-head" }, h("h2", { class: "panel-title", text: "告警列表 Alarms" }), this.stateSelect),
      h("div", { class: "event-scroll" }, this.note, this.list),
    );
  }

  get openCount(): number {
    return this.alarms.filter((a) => a.state === "active").length;
  }

  async load(): Promise<void> {
    const token = ++this.loadToken;
    // Live alarms that come in while the page is in flight are newer than the page: laid over it.
    const live: Alarm[] = [];
    this.inFlight.add(live);
    try {
      const page = await getAlarms({ state: this.stateSelect.value, limit: 100 });
      if (token !== this.loadToken) return; // a newer filter choice won
      this.available = true;
      this.alarms = page.items.slice(0, MAX_ITEMS);
      this.render();
      this.inFlight.delete(live);
      for (const a of live) this.upsert(a);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        this.available = false;
        this.note.textContent = "告警服务未启用 Alarms are not available";
        this.note.hidden = false;
        return;
      }
      if (err instanceof ApiError && err.status !== 401) this.onError(err.detail);
    } finally {
      this.inFlight.delete(live);
    }
  }

  /** A live alarm (new or changed): update in place by id, or insert at the top. */
  upsert(a: Alarm): AlarmChange {
    for (const live of this.inFlight) live.push(a);
    const id = String(a.id);
    const at = this.alarms.findIndex((x) => String(x.id) === id);
    const li = this.item(a);
    if (at >= 0) {
      this.alarms[at] = a;
      this.list.querySelector(`li.alarm[data-alarm-id="${CSS.escape(id)}"]`)?.replaceWith(li);
      return "updated";
    }
    if (this.matches(a)) {
      this.alarms.unshift(a);
      li.classList.add("fresh");
      this.list.prepend(li);
      if (this.alarms.length > MAX_ITEMS) this.alarms.length = MAX_ITEMS;
      while (this.list.children.length > MAX_ITEMS) this.list.lastElementChild?.remove();
      this.note.hidden = true;
    }
    return "new";
  }

  private matches(a: Alarm): boolean {
    const f = this.stateSelect.value;
    if (!f) return true;
    if (f === "open") return a.state !== "cleared";
    return a.state === f;
  }

  private render(): void {
    this.list.replaceChildren(...this.alarms.map((a) => this.item(a)));
    this.note.textContent = "暂无告警 No alarms";
    this.note.hidden = this.alarms.length > 0;
  }

  private item(a: Alarm): HTMLLIElement {
    const id = String(a.id);
    const ack = h("button", { class: "alarm-ack", text: "确认 Ack", disabled: a.state !== "active" });
    const clear = h("button", { class: "alarm-clear", text: "清除 Clear", disabled: a.state === "cleared" });
    ack.addEventListener("click", (e) => {
      e.stopPropagation();
      void this.act(a, "ack", ack);
    });
    clear.addEventListener("click", (e) => {
      e.stopPropagation();
      void this.act(a, "clear", clear);
    });
    const cams = a.cameras ?? [];
    const li = h(
      "li",
      {
        class: `event alarm sev-${a.severity} state-${a.state}${id === this.selectedId ? " selected" : ""}`,
        "data-alarm-id": id,
        "data-device-id": a.device_id,
        "data-severity": a.severity,
        "data-state": a.state,
        tabindex: 0,
      },
      h("span", { class: "ev-type" }, h("span", { class: `sev-tag sev-${a.severity}`, text: SEVERITY_LABEL[a.severity] ?? a.severity }), " ", a.rule_name || a.rule_id || ""),
      h("span", { class: "ev-time", text: stampText(a.updated_at || a.created_at) }),
      h("span", { class: "ev-cam", text: a.device_name || a.device_id }),
      h("span", { class: "ev-where", text: valueText(a) }),
      h(
        "div",
        { class: "alarm-foot" },
        h("span", { class: `alarm-state ${a.state}`, text: ALARM_STATE_LABEL[a.state] ?? a.state }),
        a.count && a.count > 1 ? h("span", { class: "alarm-count", text: `×${a.count}` }) : null,
        cams.length ? h("span", { class: "alarm-cams", text: `📷 ${cams.length}` }) : null,
        h("span", { class: "spacer" }),
        ack,
        clear,
      ),
    );
    li.addEventListener("click", () => {
      this.selectedId = id;
      this.list.querySelector("li.selected")?.classList.remove("selected");
      li.classList.add("selected");
      this.onOpen(a);
    });
    return li;
  }

  private async act(a: Alarm, action: "ack" | "clear", btn: HTMLButtonElement): Promise<void> {
    btn.disabled = true;
    try {
      const out = await alarmAction(a.id, action);
      // The WebSocket also announces the change; applying the answer now keeps the UI honest
      // even when the socket is reconnecting.
      if (out && typeof out === "object" && "id" in out) this.upsert(out);
      else this.upsert({ ...a, state: action === "ack" ? "acknowledged" : "cleared" });
    } catch (err) {
      btn.disabled = false;
      if (err instanceof ApiError && err.status !== 401) this.onError(err.detail);
    }
  }
}
