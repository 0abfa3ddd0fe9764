// Events list (newest first) with type, grid and camera filters, and the detail panel with the
// snapshot. When the hub's live stream drops, the list says so instead of silently going stale.
// An intrusion or loitering is announced twice with the same id: when it starts (no end) and
// when it ends. The second message updates the item in place; a line crossing is an instant.
import { ApiError, getEvents, snapshotUrl } from "./api";
import { h } from "./dom";
import { clipBox, enlargeOnClick } from "./evidence";
import { CAUSE_LABEL, DIRECTION_LABEL, EVENT_LABEL, OBJECT_KIND_LABEL } from "./labels";
import { durationText, isToday, stampText } from "./time";
import type { Camera, EventType, HubEvent } from "./types";

const MAX_ITEMS = 200;

/** What ``add`` did with a live event message. */
export type AddResult = "new" | "updated" | "ignored";

export class EventsPanel {
  readonly el: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly typeSelect: HTMLSelectElement;
  private readonly gridSelect: HTMLSelectElement;
  private readonly cameraSelect: HTMLSelectElement;
  private readonly stale: HTMLDivElement;
  private readonly detail: HTMLElement;
  private readonly note: HTMLDivElement;
  private events: HubEvent[] = [];
  private selectedId = "";
  private cameras = new Map<string, Camera>();
  private loadToken = 0;

  constructor(
    private readonly onOpen: (ev: HubEvent) => void,
    private readonly onError: (msg: string) => void,
    private readonly onHistory: () => void = () => undefined,
  ) {
    this.typeSelect = h(
      "select",
      { class: "event-filter", "aria-label": "事件类型 Event type" },
      h("option", { value: "", text: "全部类型 All types" }),
      ...(Object.keys(EVENT_LABEL) as EventType[]).map((t) => h("option", { value: t, text: EVENT_LABEL[t] })),
    );
    this.gridSelect = h("select", { class: "event-filter", id: "event-grid", "aria-label": "网格 Grid" }, h("option", { value: "", text: "全部网格 All grids" }));
    this.cameraSelect = h("select", { class: "event-filter", id: "event-camera", "aria-label": "摄像机 Camera" }, h("option", { value: "", text: "全部摄像机 All cameras" }));
    for (const sel of [this.typeSelect, this.gridSelect, this.cameraSelect]) {
      sel.addEventListener("change", () => {
        if (sel === this.gridSelect) this.fillCameras();
        // Narrow what is shown at once; the server's page (older matches too) follows.
        this.events = this.events.filter((e) => this.matches(e));
        this.renderList();
        void this.load();
      });
    }
    const history = h("button", { type: "button", class: "ghost small", id: "open-history", text: "历史 History" });
    history.addEventListener("click", () => this.onHistory());
    this.stale = h("div", { class: "stale-note", id: "events-stale", role: "status", hidden: true, text: "实时推送中断，正在重连；列表可能不是最新 Live updates stopped: reconnecting, the list may be out of date" });
    this.list = h("ul", { class: "event-list", id: "event-list" });
    this.note = h("div", { class: "empty-note", text: "暂无事件 No events yet" });
    this.detail = h("section", { class: "event-detail", id: "event-detail", hidden: true });
    this.el = h(
      "aside",
      { class: "panel events" },
      h("div", { class: "panel-head" }, h("h2", { class: "panel-title", text: "事件列表 Events" }), history),
      h("div", { class: "event-filters" }, this.typeSelect, this.gridSelect, this.cameraSelect),
      this.stale,
      h("div", { class: "event-scroll" }, this.note, this.list),
      this.detail,
    );
  }

  setCameras(cameras: Camera[], gridName: (id: string) => string = (id) => id): void {
    this.cameras = new Map(cameras.map((c) => [c.id, c]));
    const grids = [...new Set(cameras.map((c) => c.grid_id))].sort();
    this.gridSelect.replaceChildren(h("option", { value: "", text: "全部网格 All grids" }), ...grids.map((g) => h("option", { value: g, text: gridName(g) })));
    this.fillCameras();
  }

  /** The live stream's state: while it is down the list cannot be trusted to be current. */
  setLive(live: boolean): void {
    this.stale.hidden = live;
    this.el.classList.toggle("stale", !live);
  }

  get filterType(): EventType | "" {
    return this.typeSelect.value as EventType | "";
  }

  private fillCameras(): void {
    const grid = this.gridSelect.value;
    const cams = [...this.cameras.values()].filter((c) => !grid || c.grid_id === grid);
    const chosen = this.cameraSelect.value;
    this.cameraSelect.replaceChildren(h("option", { value: "", text: "全部摄像机 All cameras" }), ...cams.map((c) => h("option", { value: c.id, text: c.name })));
    this.cameraSelect.value = cams.some((c) => c.id === chosen) ? chosen : "";
  }

  private matches(ev: HubEvent): boolean {
    if (this.filterType && ev.type !== this.filterType) return false;
    if (this.cameraSelect.value && ev.camera_id !== this.cameraSelect.value) return false;
    const grid = this.gridSelect.value;
    return !grid || (ev.grid_id ?? this.cameras.get(ev.camera_id)?.grid_id) === grid;
  }

  async load(): Promise<void> {
    const token = ++this.loadToken;
    try {
      const page = await getEvents({ type: this.filterType, cameraId: this.cameraSelect.value, gridId: this.gridSelect.value, limit: 50 });
      if (token !== this.loadToken) return; // a newer filter choice won
      // Live events that came while the page was on its way are newer than it: keep them.
      const newest = page.items.reduce((m, e) => Math.max(m, e.seq ?? 0), 0);
      const known = new Set(page.items.map((e) => e.id));
      const live = this.events.filter((e) => !known.has(e.id) && (e.seq ?? 0) > newest && this.matches(e));
      this.events = [...live, ...page.items].sort(newestFirst).slice(0, MAX_ITEMS);
      this.renderList();
    } catch (err) {
      if (err instanceof ApiError && err.status !== 401) this.onError(err.detail);
    }
  }

  /** A live event from the hub WebSocket: a new one, or the end of one already listed. */
  add(ev: HubEvent): AddResult {
    const known = this.events.findIndex((e) => e.id === ev.id);
    if (known >= 0) {
      this.update(known, ev);
      return "updated";
    }
    // The end of an event that is not listed (filtered out, scrolled off) is no news.
    const update = (ev.end != null && ev.type !== "line_crossing") || ev.clip != null; // a clip comes after the start
    if (!this.matches(ev)) return update ? "ignored" : "new";
    this.events.unshift(ev);
    this.events.sort(newestFirst);
    if (this.events.length > MAX_ITEMS) this.events.length = MAX_ITEMS;
    const at = this.events.indexOf(ev);
    if (at < 0) return update ? "ignored" : "new"; // sorted past the end of the list
    const li = this.item(ev);
    if (!update) li.classList.add("fresh");
    const before = this.list.children[at] ?? null;
    this.list.insertBefore(li, before);
    while (this.list.children.length > MAX_ITEMS) this.list.lastElementChild?.remove();
    this.note.hidden = true;
    return update ? "updated" : "new";
  }

  private update(index: number, ev: HubEvent): void {
    this.events[index] = ev;
    const old = this.list.querySelector<HTMLLIElement>(`li.event[data-event-id="${CSS.escape(ev.id)}"]`);
    old?.replaceWith(this.item(ev));
    if (this.selectedId === ev.id && !this.detail.hidden) this.showDetail(ev);
  }

  private renderList(): void {
    this.list.replaceChildren(...this.events.map((e) => this.item(e)));
    this.note.hidden = this.events.length > 0;
  }

  private item(ev: HubEvent): HTMLLIElement {
    const li = h(
      "li",
      {
        class: `event type-${ev.type}${ev.id === this.selectedId ? " selected" : ""}`,
        "data-event-id": ev.id,
        "data-camera-id": ev.camera_id,
        "data-type": ev.type,
        tabindex: 0,
      },
      h("span", { class: "ev-type", text: EVENT_LABEL[ev.type] ?? ev.type }),
      h("time", { class: "ev-time", datetime: ev.start, text: stampText(ev.start) }),
      h("span", { class: "ev-cam", text: this.cameraName(ev) }),
      h("span", { class: "ev-where", text: this.where(ev) }),
    );
    const lasting = lastingText(ev);
    if (lasting) li.append(h("span", { class: `ev-dur${ev.end ? "" : " ongoing"}`, text: lasting }));
    const open = (): void => this.select(ev);
    li.addEventListener("click", open);
    li.addEventListener("keydown", (e) => {
      if (e.key === "Enter") open();
    });
    return li;
  }

  private select(ev: HubEvent): void {
    this.selectedId = ev.id;
    for (const li of this.list.querySelectorAll<HTMLLIElement>("li.event")) {
      li.classList.toggle("selected", li.dataset["eventId"] === ev.id);
    }
    this.showDetail(ev);
    this.onOpen(ev);
  }

  private showDetail(ev: HubEvent): void {
    const img = h("img", { class: "snapshot", id: "event-snapshot", alt: "事件快照 Event snapshot", src: snapshotUrl(ev) });
    const missing = h("div", { class: "snapshot-missing", hidden: true, text: "无快照 No snapshot" });
    img.addEventListener("error", () => {
      img.hidden = true;
      missing.hidden = false;
    });
    enlargeOnClick(img);
    const rows: [string, string][] = [
      ["类型 Type", EVENT_LABEL[ev.type] ?? ev.type],
      ["摄像机 Camera", this.cameraName(ev)],
    ];
    if (ev.type === "line_crossing") rows.push(["时间 Time", stampText(ev.start)]);
    else {
      rows.push(["开始 Start", stampText(ev.start)]);
      rows.push(["结束 End", ev.end ? stampText(ev.end) : "进行中 Ongoing"]);
      if (ev.end) rows.push(["持续 Duration", durationText(ev.start, ev.end)]);
    }
    const where = this.where(ev);
    if (where) rows.push([ev.line_id ? "警戒线 Line" : "区域 Zone", where]);
    if (ev.dwell_seconds !== null && ev.dwell_seconds !== undefined) rows.push(["停留 Dwell", `${ev.dwell_seconds.toFixed(1)} s`]);
    if (ev.cause) rows.push(["原因 Cause", CAUSE_LABEL[ev.cause] ?? ev.cause]);
    if (ev.count !== null && ev.count !== undefined) rows.push(["人数 People", String(ev.count)]);
    if (ev.object_kind) rows.push(["目标类别 Object", OBJECT_KIND_LABEL[ev.object_kind] ?? ev.object_kind]);
    if (ev.confidence !== undefined) rows.push(["置信度 Confidence", `${Math.round(ev.confidence * 100)}%`]);
    if (ev.grid_id) rows.push(["网格 Grid", ev.grid_id]);
    if (ev.track_id !== undefined) rows.push(["目标 Track", `#${ev.track_id}`]);
    rows.push(["编号 ID", ev.id]);
    const close = h("button", { class: "icon-btn", title: "关闭 Close", text: "×" });
    close.addEventListener("click", () => {
      this.detail.hidden = true;
      this.selectedId = "";
      this.list.querySelector("li.selected")?.classList.remove("selected");
    });
    this.detail.replaceChildren(
      h("div", { class: "panel-head" }, h("h3", { class: "panel-title", text: "事件详情 Event detail" }), close),
      h("div", { class: "snapshot-box" }, img, missing, clipBox(ev)),
      h("dl", { class: "fields" }, rows.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })])),
    );
    this.detail.hidden = false;
  }

  /** A listed event by id (the detection behind a new case). */
  find(id: string): HubEvent | undefined {
    return this.events.find((e) => e.id === id);
  }

  countToday(): number {
    return this.events.filter((e) => isToday(e.start)).length;
  }

  private cameraName(ev: HubEvent): string {
    return ev.camera_name || this.cameras.get(ev.camera_id)?.name || ev.camera_id;
  }

  private where(ev: HubEvent): string {
    const cam = this.cameras.get(ev.camera_id);
    if (ev.line_id) {
      const line = cam?.lines.find((l) => l.id === ev.line_id);
      const dir = ev.direction ? ` · ${DIRECTION_LABEL[ev.direction]}` : "";
      return `${line?.name || ev.line_id}${dir}`;
    }
    if (ev.zone_id) return cam?.zones.find((z) => z.id === ev.zone_id)?.name || ev.zone_id;
    return "";
  }
}

/** "持续 Duration 12 s" once ended, "进行中 Ongoing" while open; nothing for an instant. */
export function lastingText(ev: HubEvent): string {
  if (ev.type === "line_crossing") return "";
  if (!ev.end) return "进行中 Ongoing";
  return `持续 Duration ${durationText(ev.start, ev.end)}`;
}

function newestFirst(a: HubEvent, b: HubEvent): number {
  if (a.seq !== undefined && b.seq !== undefined && a.seq !== b.seq) return b.seq - a.seq;
  return Date.parse(b.start) - Date.parse(a.start);
}
