// Entry point: login, then the wall (tree | wall | events) under a header and over a status bar.
// The centre shows the video wall, the city map (地图 Map) or the statistics (统计 Statistics).
import "./style.css";
import { AlarmsPanel } from "./alarms";
import { AlertSound } from "./alert";
import { ApiError, createCall, getCameras, getEvents, getSite, logout as logoutOnHub } from "./api";
import { CallSession } from "./call";
import type { Session } from "./auth";
import { CaseDetailView } from "./casedetail";
import { CaseNewForm } from "./casenew";
import { CasePopup } from "./casepopup";
import { CasesPanel } from "./cases";
import { DevicePage } from "./devicepage";
import { DevicePanel } from "./devices";
import { h } from "./dom";
import { EventsPanel } from "./events";
import { EventHistory } from "./history";
import { HubSocket, type LinkState } from "./hubsocket";
import { CityMap } from "./map";
import { type App, renderChangePassword, runApp, type Shell } from "./login";
import { StatsPanel } from "./stats";
import { StatusBar } from "./status";
import { clockText, isToday, setTimezone } from "./time";
import { CameraTree } from "./tree";
import { ROLE_LABEL, SEVERITY_LABEL } from "./labels";
import type { Alarm, Camera, CameraState, Case, CaseChange, Device, HubEvent, HubMessage, SiteInfo } from "./types";
import { LAYOUTS, type LayoutId, Wall } from "./wall";
import { wallTools } from "./walltools";

const root = document.getElementById("app") as HTMLElement;

type CentreView = "wall" | "map" | "stats";
const VIEWS: { id: CentreView; label: string; title: string }[] = [
  { id: "wall", label: "视频墙 Wall", title: "视频墙 Video wall" },
  { id: "map", label: "地图 Map", title: "城市地图 City map" },
  { id: "stats", label: "统计 Statistics", title: "考核统计 Case statistics" },
];

class WallApp implements App {
  private readonly wall: Wall;
  private readonly tree: CameraTree;
  private readonly events: EventsPanel;
  private readonly history: EventHistory;
  private readonly popup: CasePopup;
  private readonly sound: AlertSound;
  private readonly devices: DevicePanel;
  private readonly alarms: AlarmsPanel;
  private devicePage: DevicePage | null = null;
  private readonly cases: CasesPanel;
  private readonly caseDetail: CaseDetailView;
  private readonly caseNew: CaseNewForm;
  private readonly alarmCount: HTMLSpanElement;
  private readonly caseCount: HTMLSpanElement;
  private readonly status: StatusBar;
  private readonly socket: HubSocket;
  private readonly clock: HTMLSpanElement;
  private readonly toast: HTMLDivElement;
  private readonly layoutButtons = new Map<LayoutId, HTMLButtonElement>();
  private readonly map: CityMap;
  private readonly stats: StatsPanel;
  private readonly viewButtons = new Map<CentreView, HTMLButtonElement>();
  private readonly wallTools: HTMLSpanElement;
  private view: CentreView = "wall";
  private readonly states = new Map<string, CameraState>();
  private cameras: Camera[] = [];
  private site: SiteInfo | null = null;
  private clockTimer: number | undefined;
  private toastTimer: number | undefined;
  private activeCall: CallSession | null = null;
  private eventsToday = 0;
  private linked = false;
  private linkLost = false;

  constructor(
    private session: Session,
    private readonly host: HTMLElement,
    private readonly shell: Shell,
  ) {
    this.wall = new Wall((id) => this.markLayout(id));
    this.tree = new CameraTree((id) => this.putOnWall(id));
    this.events = new EventsPanel(
      (ev) => {
        this.setView("wall");
        this.wall.focus(ev.camera_id);
      },
      (msg) => this.showError(msg),
      () => this.history.open(),
    );
    this.history = new EventHistory((id) => this.putOnWall(id));
    this.popup = new CasePopup((id) => this.openCase(id, true));
    this.sound = new AlertSound();
    this.devices = new DevicePanel(
      (d) => this.openDevice(d),
      (msg) => this.showError(msg),
    );
    this.alarms = new AlarmsPanel(
      (a) => this.linkAlarm(a),
      (msg) => this.showError(msg),
    );
    this.cases = new CasesPanel(
      (id) => this.openCase(id),
      (msg) => this.showError(msg),
      ["admin", "operator"].includes(session.role) ? () => this.newCase() : undefined,
    );
    this.caseDetail = new CaseDetailView({
      role: () => this.session.role,
      places: () => this.cases.places,
      categoryName: (code) => this.cases.categoryName(code),
      camera: (id) => this.cameras.find((c) => c.id === id),
      onCameras: (ids) => this.showCameras(ids),
      onCase: (c) => this.onCaseUpdate(c),
      onClose: () => this.cases.select(0),
      site: () => this.site,
      workerAt: (u) => this.map.workerPosition(u),
      onCall: (caseId, invite, title) => void this.startCall(caseId, invite, title),
    });
    this.caseNew = new CaseNewForm({
      pick: (done) => {
        this.setView("map");
        this.map.pickPoint(done);
      },
      cancelPick: () => this.map.cancelPick(),
      mark: (p) => this.map.markPoint(p),
      detailOpen: () => this.caseDetail.openId !== 0,
      onCreated: (c) => {
        this.onCaseUpdate(c);
        this.openCase(c.id);
      },
    });
    this.alarmCount = h("span", { class: "tab-count", id: "alarm-count" });
    this.caseCount = h("span", { class: "tab-count", id: "case-red-count", title: "红灯案件 Red cases", hidden: true });
    this.status = new StatusBar();
    this.socket = new HubSocket(
      (m) => this.onMessage(m),
      (s: LinkState) => this.onLink(s),
    );
    this.clock = h("span", { class: "clock", id: "clock" });
    this.toast = h("div", { class: "toast", role: "alert", hidden: true });
    this.map = new CityMap({
      onCamera: (id) => this.putOnWall(id),
      onCase: (id) => this.openCase(id),
      onDevice: (d) => this.openDevice(d),
      onError: (msg) => this.showError(msg),
      categoryName: (code) => this.cases.categoryName(code),
    });
    this.stats = new StatsPanel((msg) => this.showError(msg));
    this.wallTools = h("span", { class: "wall-tools" });
  }

  async start(): Promise<void> {
    this.host.replaceChildren(this.frame());
    this.tickClock();
    this.clockTimer = window.setInterval(() => this.tickClock(), 1000);
    try {
      const [site, cameras] = await Promise.all([getSite(), getCameras()]);
      setTimezone(site.timezone || "Asia/Shanghai");
      this.tickClock();
      document.title = `视频墙 Video wall · ${site.name}`;
      const siteName = this.host.querySelector(".site-name");
      if (siteName) siteName.textContent = site.name;
      this.cameras = cameras;
      this.site = site;
      void this.map.loadWorkers(); // for the case detail's mini-map before the map is first shown
      for (const c of cameras) this.states.set(c.id, c.enabled ? (c.health?.state ?? "connecting") : "disabled");
      this.tree.render(site, cameras);
      this.cases.setSite(site);
      this.caseNew.setSite(site);
      this.events.setCameras(cameras, (g) => this.cases.places.gridShort(g) || g);
      this.history.setPlaces(site, cameras);
      this.wall.start(cameras, this.tree.order);
      this.devices.start(site);
      this.map.setSite(site, cameras);
      this.updateCounts();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      this.showError(err instanceof ApiError ? err.detail : String(err));
    }
    this.socket.start();
    await Promise.all([
      this.events.load(),
      this.alarms.load().then(() => this.updateAlarmCount()),
      this.cases.start().then(() => this.updateCaseCount()),
    ]);
    await this.countToday();
  }

  stop(): void {
    window.clearInterval(this.clockTimer);
    window.clearTimeout(this.toastTimer);
    this.socket.stop();
    this.devices.stop();
    this.cases.stop();
    this.caseDetail.dispose();
    this.caseNew.dispose();
    this.map.stop();
    this.stats.hide();
    this.devicePage?.close();
    this.wall.stop();
  }

  private frame(): HTMLElement {
    const logout = h("button", { class: "ghost", id: "logout", text: "退出 Log out" });
    logout.addEventListener("click", () => {
      // Ends the session on the hub too; the page leaves whatever the answer.
      void logoutOnHub().finally(() => this.shell.logOut(""));
    });
    const pw = h("button", { class: "ghost", id: "change-password", text: "修改密码 Password" });
    pw.addEventListener("click", () => {
      const page = renderChangePassword(
        this.host,
        false,
        (s) => {
          page.remove();
          this.session = s;
          this.showInfo("密码已修改 Password changed");
        },
        () => page.remove(),
      );
    });
    const header = h(
      "header",
      { class: "topbar" },
      h("div", { class: "brand" }, h("span", { class: "logo", text: "◉" }), h("span", { class: "title", text: "视频墙 Video wall" }), h("span", { class: "site-name" })),
      this.clock,
      h("div", { class: "user" }, h("span", { class: "who", text: `${this.session.username} · ${roleLabel(this.session.role)}` }), this.sound.button, pw, logout),
    );
    const views = h("span", { class: "view-switch", role: "tablist", "aria-label": "视图 View" });
    for (const v of VIEWS) {
      const b = h("button", { class: "view-btn", id: `view-${v.id}`, role: "tab", "data-view": v.id, title: v.title, text: v.label });
      b.addEventListener("click", () => this.setView(v.id));
      this.viewButtons.set(v.id, b);
      views.append(b);
    }
    this.wallTools.replaceChildren(h("span", { class: "toolbar-label", text: "布局 Layout" }));
    for (const l of LAYOUTS) {
      const b = h("button", { class: "layout-btn", "data-layout": l.id, title: l.title, text: l.id });
      b.addEventListener("click", () => this.wall.setLayout(l.id));
      this.layoutButtons.set(l.id, b);
      this.wallTools.append(b);
    }
    this.wallTools.append(h("span", { class: "hint", text: "拖动或双击摄像机上墙 Drag or double-click a camera onto the wall" }));
    this.wallTools.append(wallTools(this.wall));
    const toolbar = h("div", { class: "wall-toolbar" }, views, this.wallTools);
    const centre = h("main", { class: "wall-area" }, toolbar, this.wall.el, this.map.el, this.stats.el);
    this.markView();
    const left = tabs("side-tabs", [
      { id: "tab-cameras", label: "摄像机 Cameras", panel: this.tree.el },
      { id: "tab-devices", label: "设备 Devices", panel: this.devices.el },
    ]);
    const right = tabs("side-tabs right", [
      { id: "tab-events", label: "事件 Events", panel: this.events.el },
      { id: "tab-alarms", label: "告警 Alarms", panel: this.alarms.el, extra: this.alarmCount },
      { id: "tab-cases", label: "案件 Cases", panel: this.cases.el, extra: this.caseCount },
    ]);
    return h("div", { class: "app" }, header, h("div", { class: "body" }, left, centre, right), this.status.el, this.caseNew.el, this.caseDetail.el, this.popup.el, this.history.el, this.toast);
  }

  /** Show the video wall, the map or the statistics in the centre. The wall keeps its tiles
   * (and their streams) while hidden, so coming back to it is immediate. */
  private setView(v: CentreView): void {
    if (v === this.view) return;
    this.view = v;
    this.wall.el.hidden = v !== "wall";
    this.wallTools.hidden = v !== "wall";
    if (v === "map") this.map.show();
    else this.map.hide();
    if (v === "stats") this.stats.show();
    else this.stats.hide();
    this.markView();
  }

  private markView(): void {
    for (const [k, b] of this.viewButtons) {
      b.classList.toggle("active", k === this.view);
      b.setAttribute("aria-selected", String(k === this.view));
    }
  }

  /** A camera picked on the map goes on the wall as a double-click in the tree puts it. */
  private putOnWall(id: string): void {
    this.setView("wall");
    this.wall.place(id);
  }

  private markLayout(id: LayoutId): void {
    for (const [k, b] of this.layoutButtons) b.classList.toggle("active", k === id);
  }

  private onMessage(m: HubMessage): void {
    if (m.type === "event") this.onEvent(m.data);
    else if (m.type === "alarm") this.onAlarm(m.data);
    else if (m.type === "case") this.onCase(m.data);
    else if (m.type === "worker") this.map.upsertWorker(m.data);
    else if (m.type === "unit") this.map.moveUnit(m.data);
    else if (m.type === "call") this.activeCall?.update(m.data.call);
    else if (m.type === "health") {
      for (const hl of m.data) {
        const cam = this.cameras.find((c) => c.id === hl.camera_id);
        const state: CameraState = cam && !cam.enabled ? "disabled" : hl.state;
        if (this.states.get(hl.camera_id) === state) continue;
        this.states.set(hl.camera_id, state);
        this.tree.setState(hl.camera_id, state);
        this.wall.setHealth(hl.camera_id, state);
        this.map.setCameraState(hl.camera_id, state);
      }
      this.tree.updateCounts();
      this.updateCounts();
    }
  }

  private onEvent(ev: HubEvent): void {
    // The end of an event already announced updates it: no new flash, no new count.
    if (this.events.add(ev) !== "new") return;

    this.wall.flash(ev.camera_id);
    if (isToday(ev.start)) this.status.setEventsToday(++this.eventsToday);
  }

  private onAlarm(a: Alarm): void {
    const change = this.alarms.upsert(a);
    this.map.alarm(a);
    this.updateAlarmCount();
    // Only a newly raised alarm takes over the wall; repeats and state changes update the list.
    if (change === "new" && a.state === "active") this.linkAlarm(a);
  }

  /** Linkage: the alarm's cameras onto the wall (nearest first), flashing; the alarm shown. */
  private linkAlarm(a: Alarm): void {
    const cams = [...(a.cameras ?? [])].sort((x, y) => (x.distance_m ?? Infinity) - (y.distance_m ?? Infinity));
    const shown = this.wall.link(cams.map((c) => c.camera_id));
    if (shown.length) this.setView("wall");
    selectTab(this.host, "tab-alarms");
    const where = shown.length ? ` · 联动 ${shown.length} 路摄像机 ${shown.length} camera(s) on the wall` : "";
    this.showToast(`${SEVERITY_LABEL[a.severity] ?? a.severity} · ${a.device_name || a.device_id} · ${a.rule_name || a.rule_id || ""}${where}`, `alarm sev-${a.severity}`);
  }

  /** A case changed on the hub: the queue and the open detail follow; a new case from a
   * video detection is announced with a link that opens it and shows its camera. */
  private onCase(ch: CaseChange): void {
    this.onCaseUpdate(ch.case);
    if (ch.action === "created" && ch.case.source === "video") this.announceCase(ch.case);
  }

  private onCaseUpdate(c: Case): void {
    this.cases.upsert(c);
    this.map.upsertCase(c);
    this.stats.changed();
    this.updateCaseCount();
    this.caseDetail.changed(c);
  }

  /** Like an alarm: the case pops up with its camera live, its snapshot and a chime; the
   * camera's tile flashes where it is on the wall (the wall is not rearranged for it). */
  private announceCase(c: Case): void {
    const ev = c.source_ref ? this.events.find(c.source_ref) : undefined;
    const camera = ev ? this.cameras.find((x) => x.id === ev.camera_id) : undefined;
    this.popup.show(c, {
      category: this.cases.categoryName(c.category),
      title: this.cases.shortTitle(c),
      place: this.cases.places.gridShort(c.grid_id),
      camera: camera?.name ?? "",
      cameraId: camera?.id ?? "",
    });
    this.sound.play(c.light === "red");
    if (camera) this.wall.flash(camera.id);
  }

  /** The case detail beside the queue; `focusCamera` puts its camera on the big tile. */
  private openCase(id: number, focusCamera = false): void {
    selectTab(this.host, "tab-cases");
    this.cases.select(id);
    if (focusCamera) this.setView("wall");
    this.caseDetail.show(id, { focusCamera });
  }

  /** The operator's entry form where the detail shows (the detail, if open, closes). */
  private newCase(): void {
    selectTab(this.host, "tab-cases");
    this.caseDetail.close();
    this.caseNew.open();
  }

  /** A video call about a case: the panel opens over the wall; `call` messages keep it current. */
  private async startCall(caseId: number, invite: string[], title: string): Promise<void> {
    if (this.activeCall) {
      this.showError("已在通话中 Already in a call");
      return;
    }
    try {
      const call = await createCall(invite, caseId, title);
      const feeds = this.cameras.filter((c) => c.enabled).map((c) => ({ id: c.id, name: c.name }));
      const session = new CallSession(call, this.session.username, {
        closed: () => {
          if (this.activeCall === session) this.activeCall = null;
        },
        error: (msg) => this.showError(msg),
        feeds,
        canEnd: true,
      });
      this.activeCall = session;
      document.body.append(session.el);
      await session.start();
    } catch (err) {
      this.showError(err instanceof ApiError ? err.detail : String(err));
    }
  }

  private showCameras(ids: string[]): void {
    this.setView("wall");
    if (ids.length === 1 && ids[0]) this.wall.focus(ids[0]);
    else this.wall.link(ids);
  }

  private updateCaseCount(): void {
    const n = this.cases.redCount;
    this.caseCount.textContent = n ? String(n) : "";
    this.caseCount.hidden = n === 0;
  }

  /** After the link comes back, the queue and the open case are reloaded to fill the gap. */
  private onLink(s: LinkState): void {
    this.status.setLink(s);
    this.events.setLive(s === "connected");
    if (s !== "connected") {
      if (this.linked) this.linkLost = true;
      return;
    }
    const back = this.linkLost;
    this.linked = true;
    this.linkLost = false;
    if (back) {
      // What happened while the link was down is only in the store: fetch it.
      void this.events.load();
      void this.alarms.load().then(() => this.updateAlarmCount());
    }
    if (back && this.cases.available) {
      void this.cases.load();
      if (this.caseDetail.openId) void this.caseDetail.reload();
      if (this.map.shown) void this.map.reload();
    }
  }

  private updateAlarmCount(): void {
    const n = this.alarms.openCount;
    this.alarmCount.textContent = n ? String(n) : "";
    this.alarmCount.hidden = n === 0;
  }

  private openDevice(d: Device): void {
    this.devicePage?.close();
    const page = new DevicePage(
      d,
      () => {
        if (this.devicePage === page) this.devicePage = null;
      },
      (msg) => this.showError(msg),
    );
    this.devicePage = page;
    this.host.append(page.el);
    page.start();
  }

  /** Events since local midnight, paging back through the store (bounded). */
  private async countToday(): Promise<void> {
    let n = 0;
    let before: number | null = null;
    try {
      for (let page = 0; page < 20; page++) {
        const p = await getEvents({ limit: 100, beforeSeq: before });
        const today = p.items.filter((e) => isToday(e.start)).length;
        n += today;
        if (today < p.items.length || p.next_before_seq === null || p.items.length === 0) break;
        before = p.next_before_seq;
      }
    } catch {
      n = Math.max(n, this.events.countToday());
    }
    this.eventsToday = Math.max(this.eventsToday, n);
    this.status.setEventsToday(this.eventsToday);
  }

  private updateCounts(): void {
    let online = 0;
    let offline = 0;
    for (const s of this.states.values()) {
      if (s === "online") online += 1;
      else if (s === "offline") offline += 1;
    }
    this.status.setCameras(online, offline, this.states.size);
  }

  private tickClock(): void {
    this.clock.textContent = clockText();
  }

  private showError(msg: string): void {
    this.showToast(msg, "error");
  }

  private showInfo(msg: string): void {
    this.showToast(msg, "info");
  }

  private showToast(msg: string, kind: string, action?: ToastAction): void {
    this.toast.replaceChildren(h("span", { class: "toast-text", text: msg }));
    if (action) {
      const link = h("button", { class: "toast-link", id: action.id, ...action.data, text: action.label });
      link.addEventListener("click", () => {
        this.toast.hidden = true;
        action.run();
      });
      this.toast.append(link);
    }
    this.toast.className = `toast ${kind}`;
    this.toast.hidden = false;
    window.clearTimeout(this.toastTimer);
    this.toastTimer = window.setTimeout(() => (this.toast.hidden = true), 6000);
  }
}

interface ToastAction {
  label: string;
  id: string;
  data: Record<string, string>;
  run: () => void;
}

interface Tab {
  id: string;
  label: string;
  panel: HTMLElement;
  extra?: HTMLElement;
}

/** A column of panels of which one shows, chosen by a row of tab buttons. */
function tabs(cls: string, list: Tab[]): HTMLElement {
  const bar = h("div", { class: "tabbar", role: "tablist" });
  const col = h("div", { class: `panel ${cls}` }, bar);
  list.forEach((t, i) => {
    const b = h("button", { class: "tab", id: t.id, role: "tab", "data-tab": t.id, text: t.label });
    if (t.extra) b.append(t.extra);
    b.addEventListener("click", () => selectTab(col, t.id));
    bar.append(b);
    t.panel.dataset["tabPanel"] = t.id;
    t.panel.hidden = i !== 0;
    b.classList.toggle("active", i === 0);
    col.append(t.panel);
  });
  return col;
}

function selectTab(root: HTMLElement, id: string): void {
  const btn = root.querySelector<HTMLButtonElement>(`#${id}`);
  const col = btn?.closest(".side-tabs");
  if (!col) return;
  col.querySelectorAll<HTMLButtonElement>(":scope > .tabbar > .tab").forEach((b) => b.classList.toggle("active", b.id === id));
  col.querySelectorAll<HTMLElement>(":scope > [data-tab-panel]").forEach((p) => (p.hidden = p.dataset["tabPanel"] !== id));
}

function roleLabel(role: string): string {
  return ROLE_LABEL[role] ?? role;
}

runApp(root, (session, shell) => new WallApp(session, root, shell));
