// The workers' field app (/m/): log in, go on duty (GPS to the hub), the task inbox, a task with
// its map and steps, and patrol reports. Built for a phone held in one hand (390x844 and up).
import "./field.css";
import { ApiError, declineCall, getCalls, getCategories, getSite, logout as logoutOnHub } from "../api";
import { CallSession } from "../call";
import type { Session } from "../auth";
import { h } from "../dom";
import { HubSocket, type LinkState } from "../hubsocket";
import { WORKER_STATE_LABEL } from "../labels";
import { type App, renderChangePassword, runApp, type Shell } from "../login";
import { setTimezone } from "../time";
import type { Call, Case, CaseChange, Catalogue, Grid, HubMessage, SiteInfo } from "../types";
import { heartbeat, type WorkerStatus } from "./api";
import { DutyTracker, type GpsState } from "./gps";
import { InboxView } from "./inbox";
import { allGrids, type LonLat } from "../minimap";
import { ReportView } from "./report";
import { TaskView } from "./task";

const root = document.getElementById("app") as HTMLElement;

const GPS_LABEL: Record<GpsState, string> = {
  off: "GPS 关 off",
  locating: "定位中 Locating",
  fixed: "GPS",
  denied: "定位被拒 Denied",
  unavailable: "无定位 No GPS",
};

type Route = { view: "tasks" } | { view: "task"; id: number } | { view: "report" } | { view: "me" };

function parseRoute(hash: string): Route {
  const m = /^#\/task\/(\d{1,10})$/.exec(hash);
  if (m) return { view: "task", id: Number(m[1]) };
  if (hash === "#/report") return { view: "report" };
  if (hash === "#/me") return { view: "me" };
  return { view: "tasks" };
}

class FieldApp implements App {
  private site: SiteInfo | null = null;
  private catalogue: Catalogue | null = null;
  private grids = new Map<string, Grid>();
  private status: WorkerStatus | null = null;
  private readonly duty: DutyTracker;
  private readonly socket: HubSocket;
  private readonly inbox: InboxView;
  private readonly task: TaskView;
  private readonly report: ReportView;
  private readonly me: HTMLElement;
  private readonly content: HTMLElement;
  private readonly dutyButton: HTMLButtonElement;
  private readonly gpsBadge: HTMLElement;
  private readonly link: HTMLElement;
  private readonly badge: HTMLElement;
  private readonly toastEl: HTMLElement;
  private readonly tabs = new Map<string, HTMLAnchorElement>();
  private toastTimer: number | undefined;
  private callSession: CallSession | null = null;
  private ringing: { id: string; el: HTMLElement } | null = null;
  private readonly onHash = (): void => this.route();

  constructor(
    private session: Session,
    private readonly host: HTMLElement,
    private readonly shell: Shell,
  ) {
    this.duty = new DutyTracker(
      () => this.paintDuty(),
      (s) => {
        this.status = s;
        this.paintDuty();
      },
      (msg) => this.toast(`定位上报失败 Position not sent: ${msg}`, true),
    );
    this.socket = new HubSocket(
      (m) => this.onMessage(m),
      (s) => this.paintLink(s),
      "/api/ws/field",
    );
    const placeOf = (c: Case): string => c.address || this.gridName(c.grid_id) || "";
    this.inbox = new InboxView(session.username, (id) => (location.hash = `#/task/${id}`), placeOf, (n) => this.paintCount(n));
    this.task = new TaskView({
      username: session.username,
      site: () => this.site,
      me: () => this.position(),
      place: placeOf,
      back: () => (location.hash = "#/tasks"),
      toast: (msg) => this.toast(msg),
    });
    this.report = new ReportView({
      catalogue: () => this.catalogue,
      me: () => this.position(),
      done: (id) => {
        this.toast(`已上报 Reported: #${id}`);
        location.hash = "#/tasks";
      },
    });
    this.dutyButton = h("button", { type: "button", id: "duty-toggle", class: "duty", text: "上岗 Go on duty" });
    this.dutyButton.addEventListener("click", () => void this.toggleDuty());
    this.gpsBadge = h("span", { class: "gps", id: "gps-state" });
    this.link = h("span", { class: "link", id: "link-state", "data-state": "connecting" });
    this.badge = h("span", { class: "nav-count", id: "task-count", hidden: true });
    this.toastEl = h("div", { class: "toast", role: "status", hidden: true });
    this.me = h("section", { class: "view me-view", id: "me-view" });
    this.content = h("main", { class: "content" });
  }

  async start(): Promise<void> {
    this.host.replaceChildren(this.frame());
    window.addEventListener("hashchange", this.onHash);
    this.paintDuty();
    try {
      const [site, catalogue, status] = await Promise.all([getSite(), getCategories(), heartbeat({})]);
      this.site = site;
      this.catalogue = catalogue;
      setTimezone(site.timezone);
      for (const g of allGrids(site)) this.grids.set(g.id, g);
      this.status = status;
      this.duty.resume(status);
      // A call that began ringing before the app opened still rings.
      for (const call of await getCalls()) this.onCall(call);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      this.toast(err instanceof ApiError ? err.detail : String(err), true);
    }
    this.socket.start();
    this.route();
  }

  stop(): void {
    window.removeEventListener("hashchange", this.onHash);
    this.duty.stop();
    this.socket.stop();
    this.inbox.hide();
    this.task.hide();
    window.clearTimeout(this.toastTimer);
  }

  private frame(): HTMLElement {
    const header = h(
      "header",
      { class: "bar" },
      h("div", { class: "who" }, h("b", { id: "worker-name", text: this.session.username }), h("span", { class: "worker-state", id: "worker-state" })),
      h("div", { class: "status" }, this.gpsBadge, this.link),
      this.dutyButton,
    );
    const nav = h("nav", { class: "tabbar" });
    for (const [id, label, icon] of [["tasks", "任务 Tasks", "☰"], ["report", "上报 Report", "＋"], ["me", "我的 Me", "◉"]] as const) {
      const a = h("a", { href: `#/${id}`, class: "tab", id: `nav-${id}` }, h("span", { class: "icon", text: icon }), h("span", { text: label }));
      if (id === "tasks") a.append(this.badge);
      this.tabs.set(id, a);
      nav.append(a);
    }
    return h("div", { class: "field-app", id: "field-app" }, header, this.content, nav, this.toastEl);
  }

  private route(): void {
    const r = parseRoute(location.hash);
    this.inbox.hide();
    this.task.hide();
    this.report.hide();
    for (const [id, a] of this.tabs) a.classList.toggle("active", id === (r.view === "task" ? "tasks" : r.view));
    if (r.view === "tasks") {
      this.content.replaceChildren(this.inbox.el);
      this.inbox.show();
    } else if (r.view === "task") {
      this.content.replaceChildren(this.task.el);
      void this.task.show(r.id);
    } else if (r.view === "report") {
      this.content.replaceChildren(this.report.el);
      this.report.show();
    } else {
      this.renderMe();
      this.content.replaceChildren(this.me);
    }
    window.scrollTo(0, 0);
  }

  private renderMe(): void {
    const s = this.status;
    const grids = (s?.grids ?? []).map((g) => this.gridName(g) || g).join("、") || "—";
    const pw = h("button", { type: "button", class: "big", id: "change-password", text: "修改密码 Change password" });
    pw.addEventListener("click", () => {
      const page = renderChangePassword(
        this.host,
        false,
        (ns) => {
          page.remove();
          this.session = ns;
          this.toast("密码已修改 Password changed");
        },
        () => page.remove(),
      );
    });
    const out = h("button", { type: "button", class: "big danger", id: "logout", text: "退出登录 Log out" });
    out.addEventListener("click", () => {
      void (async () => {
        if (this.duty.onDuty) await this.duty.setDuty(false).catch(() => undefined);
        await logoutOnHub().catch(() => undefined);
        this.shell.logOut("");
      })();
    });
    this.me.replaceChildren(
      h(
        "div",
        { class: "card" },
        h("h2", { text: s?.name ?? this.session.username }),
        h(
          "dl",
          { class: "facts" },
          h("dt", { text: "账号 Account" }),
          h("dd", { text: this.session.username }),
          h("dt", { text: "网格 Grids" }),
          h("dd", { text: grids }),
          h("dt", { text: "状态 State" }),
          h("dd", { text: s ? (WORKER_STATE_LABEL[s.state] ?? s.state) : "—" }),
          h("dt", { text: "在办 In hand" }),
          h("dd", { text: String(s?.running_cases ?? 0) }),
        ),
      ),
      pw,
      out,
    );
  }

  private async toggleDuty(): Promise<void> {
    this.dutyButton.disabled = true;
    try {
      await this.duty.setDuty(!this.duty.onDuty);
      this.toast(this.duty.onDuty ? "已上岗 On duty" : "已下岗 Off duty");
    } catch (err) {
      this.toast(err instanceof ApiError ? err.detail : String(err), true);
    } finally {
      this.dutyButton.disabled = false;
    }
  }

  private position(): LonLat | null {
    const p = this.duty.position().position;
    return p ? [p[0], p[1]] : null;
  }

  private paintDuty(): void {
    const on = this.duty.onDuty;
    this.dutyButton.textContent = on ? "下岗 Go off duty" : "上岗 Go on duty";
    this.dutyButton.classList.toggle("on", on);
    this.dutyButton.dataset["duty"] = on ? "on" : "off";
    const fix = this.duty.fix;
    this.gpsBadge.textContent = GPS_LABEL[this.duty.gps] + (this.duty.gps === "fixed" && fix ? ` ±${Math.round(fix.accuracy)}m` : "");
    this.gpsBadge.dataset["state"] = this.duty.gps;
    const ws = document.getElementById("worker-state");
    if (ws) ws.textContent = this.status ? (WORKER_STATE_LABEL[this.status.state] ?? this.status.state) : "";
    const name = document.getElementById("worker-name");
    if (name && this.status) name.textContent = this.status.name;
    this.task.moved();
  }

  private paintLink(s: LinkState): void {
    this.link.dataset["state"] = s;
    this.link.textContent = s === "connected" ? "● 在线 Online" : s === "closed" ? "" : "○ 连接中 Connecting";
  }

  private paintCount(n: number): void {
    this.badge.textContent = String(n);
    this.badge.hidden = n === 0;
  }

  private gridName(id: string | null | undefined): string {
    return id ? (this.grids.get(id)?.name ?? id) : "";
  }

  /** A call from the center: it rings here until answered, declined, or no longer ringing. */
  private onCall(call: Call): void {
    if (this.callSession) {
      this.callSession.update(call);
      return;
    }
    const me = call.participants.find((p) => p.username === this.session.username);
    const invited = call.state !== "ended" && me?.state === "invited";
    if (invited && !this.ringing) this.ring(call);
    else if (!invited && this.ringing?.id === call.id) this.stopRing();
  }

  private ring(call: Call): void {
    const accept = h("button", { type: "button", id: "call-accept", class: "primary", text: "接听 Accept" });
    const decline = h("button", { type: "button", id: "call-decline", class: "danger", text: "拒绝 Decline" });
    const el = h(
      "div",
      { class: "call-ring", id: "call-ring", role: "alertdialog", "data-call-id": call.id },
      h("div", { class: "call-ring-title", text: "指挥中心来电 Call from the command center" }),
      h("div", { class: "call-ring-case", text: call.title }),
      h("div", { class: "call-ring-actions" }, decline, accept),
    );
    accept.addEventListener("click", () => void this.answer(call));
    decline.addEventListener("click", () => {
      this.stopRing();
      void declineCall(call.id).catch((err: unknown) => this.toast(err instanceof ApiError ? err.detail : String(err), true));
    });
    this.ringing = { id: call.id, el };
    document.body.append(el);
    if ("vibrate" in navigator) navigator.vibrate([400, 200, 400, 200, 400]);
  }

  private stopRing(): void {
    this.ringing?.el.remove();
    this.ringing = null;
  }

  private async answer(call: Call): Promise<void> {
    this.stopRing();
    const session = new CallSession(call, this.session.username, {
      closed: (reason) => {
        if (this.callSession === session) this.callSession = null;
        this.toast(reason);
      },
      error: (msg) => this.toast(msg, true),
    });
    this.callSession = session;
    document.body.append(session.el);
    await session.start();
  }

  private onMessage(m: HubMessage): void {
    if (m.type === "call") {
      this.onCall(m.data.call);
      return;
    }
    if (m.type !== "case") return;
    const change: CaseChange = m.data;
    const c = change.case;
    if (c.assignee === this.session.username && (change.action === "dispatch" || change.action === "check_fail")) {
      this.toast(change.action === "dispatch" ? `新任务 New task: ${c.title}` : `返工 Rework: ${c.title}`, true);
      if ("vibrate" in navigator) navigator.vibrate([200, 100, 200]);
    }
    const r = parseRoute(location.hash);
    if (r.view === "tasks") void this.inbox.reload();
    else if (r.view === "task") void this.task.changed(c.id, c.version);
  }

  private toast(msg: string, loud = false): void {
    this.toastEl.textContent = msg;
    this.toastEl.classList.toggle("loud", loud);
    this.toastEl.hidden = false;
    window.clearTimeout(this.toastTimer);
    this.toastTimer = window.setTimeout(() => (this.toastEl.hidden = true), loud ? 6000 : 3000);
  }
}

function notForThisRole(): HTMLElement {
  // The field app acts as a worker; the center's roles have the wall.
  return h(
    "div",
    { class: "center-page" },
    h("div", { class: "card" }, h("h2", { text: "此应用供网格员使用 This app is for grid workers" }), h("p", {}, h("a", { href: "/", id: "to-wall", text: "前往视频墙 Go to the video wall" }))),
  );
}

runApp(root, (session, sh) => (session.role === "worker" ? new FieldApp(session, root, sh) : notForThisRole()), "网格员移动端 Field app for grid workers");
