// Case detail (案件详情): a drawer beside the case queue that leaves the wall's big tile in
// view. Every field, the place, the time limits with a live countdown, the evidence (detection
// snapshots, alarms) with buttons that put their cameras on the wall, the timeline, the
// recommended workers, and the steps the operator's role may take now. Each step sends the
// version shown; a 409 (someone moved the case meanwhile) reloads it and says so. Center roles
// may co-dispatch (联合派遣) the case to several departments and check each department's part.
import { ApiError, caseAction, coDispatch, getCase, getCategories, getRecommendations, getUsers, getWorkers, partAction, snapshotUrl, withToken } from "./api";
import { allowedActions, countdown, paintCountdown, type Places } from "./cases";
import { h } from "./dom";
import { type LonLat, miniMap, wayText } from "./minimap";
import {
  CASE_SOURCE_LABEL,
  caseActionLabel,
  caseStateLabel,
  EVENT_LABEL,
  EVIDENCE_KIND_LABEL,
  LIGHT_LABEL,
  PART_STATE_LABEL,
  PENDING_LABEL,
  ROLE_LABEL,
  SEVERITY_LABEL,
  STAGE_LABEL,
  timelineLabel,
  WORKER_STATE_LABEL,
} from "./labels";
import { durationText, stampText } from "./time";
import type {
  AlarmEvidence,
  Camera,
  Case,
  CaseActionBody,
  CaseActionName,
  CaseDetail,
  CasePart,
  Department,
  DetectionEvidence,
  EventType,
  EvidenceItem,
  PartActionName,
  PartState,
  PartStepBody,
  Recommendation,
  Severity,
  SiteInfo,
  TimelineEntry,
  WorkerStatus,
} from "./types";

const MAX_EVIDENCE = 40;
/** Whose stream a call recording is (CallRecording.kind). */
const RECORDING_OWNER_LABEL: Record<string, string> = {
  person: "",
  camera: "摄像机 Camera ",
  drone: "无人机 Drone ",
  vehicle: "车辆 Vehicle ",
};
export const STALE_MESSAGE = "案件已被他人更新 The case changed; reloaded";

export interface CaseDetailDeps {
  role: () => string;
  places: () => Places;
  categoryName: (code: string) => string;
  /** The site's camera by id (names of its zones and lines). */
  camera: (id: string) => Camera | undefined;
  /** Cameras onto the wall (one: the big tile; several: linkage). */
  onCameras: (cameraIds: string[]) => void;
  /** A case as an action answered it (the queue updates before the WebSocket says so). */
  onCase: (c: Case) => void;
  onClose: () => void;
  /** The site (grids for the case's mini-map), once loaded. */
  site: () => SiteInfo | null;
  /** A worker's last known position, when the wall has heard it. */
  workerAt: (username: string) => LonLat | null;
  /** Call these people about the case (视频通话). */
  onCall: (caseId: number, invite: string[], title: string) => void;
}

/** Simple steps: one button each, in this order. */
const SIMPLE: { action: CaseActionName; cls: string }[] = [
  { action: "accept", cls: "primary" },
  { action: "open", cls: "primary" },
  { action: "check_pass", cls: "primary" },
  { action: "approve_extension", cls: "primary" },
  { action: "reject_extension", cls: "" },
  { action: "approve_return", cls: "primary" },
  { action: "reject_return", cls: "" },
  { action: "void", cls: "danger" },
];

/** Co-dispatch (联合派遣): who may send a case to departments, from which states, at most how many. */
const CENTER_ROLES = ["admin", "operator", "supervisor"];
const CO_DISPATCH_FROM = ["opened", "dispatched", "received", "on_scene"];
const MAX_PARTS = 8;

function detectionOf(e: EvidenceItem): DetectionEvidence {
  return (e.detail ?? {}) as DetectionEvidence;
}

function alarmOf(e: EvidenceItem): AlarmEvidence {
  return (e.detail ?? {}) as AlarmEvidence;
}

function valueText(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(2);
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

function stars(n: number): string {
  const k = Math.max(0, Math.min(5, Math.round(n)));
  return "★".repeat(k) + "☆".repeat(5 - k);
}

export class CaseDetailView {
  readonly el: HTMLElement;
  private readonly title: HTMLHeadingElement;
  private readonly notice: HTMLDivElement;
  private readonly body: HTMLDivElement;
  // Inputs live across re-renders: a live update must not eat what the operator is typing.
  private readonly noteInput: HTMLInputElement;
  private readonly assigneeInput: HTMLInputElement;
  private readonly assigneeOptions: HTMLDataListElement;
  private caseId = 0;
  private detail: CaseDetail | null = null;
  private recs: Recommendation[] = [];
  private recsFor = "";
  private recsLoading = false;
  private workers: string[] = [];
  // Co-dispatch: the form lives across re-renders (a live update must not eat a choice).
  private coForm: HTMLElement | null = null;
  private departments: Department[] = [];
  private deptWorkers: WorkerStatus[] = [];
  private rating = 0;
  private busy = false;
  private loading: Promise<void> | null = null;
  private again = false;
  private focusCamera = false;
  private timer: number | undefined;
  private readonly onKey = (e: KeyboardEvent): void => {
    if (e.key === "Escape" && !this.el.hidden) this.close();
  };

  constructor(private readonly deps: CaseDetailDeps) {
    this.title = h("h2", { class: "panel-title", id: "case-detail-title" });
    this.notice = h("div", { class: "case-notice", id: "case-notice", role: "status", hidden: true });
    this.body = h("div", { class: "case-body" });
    this.noteInput = h("input", { id: "case-note", type: "text", maxlength: 2000, placeholder: "备注 Note (可选 optional)", "aria-label": "备注 Note" });
    this.assigneeOptions = h("datalist", { id: "case-assignee-options" });
    this.assigneeInput = h("input", {
      id: "case-assignee",
      type: "text",
      maxlength: 64,
      list: "case-assignee-options",
      placeholder: "网格员账号 Worker username",
      "aria-label": "处置人 Assignee",
      autocomplete: "off",
    });
    const close = h("button", { class: "icon-btn", id: "case-detail-close", title: "关闭 Close", text: "×" });
    close.addEventListener("click", () => this.close());
    this.el = h(
      "aside",
      { class: "case-detail", id: "case-detail", role: "dialog", "aria-labelledby": "case-detail-title", hidden: true },
      h("div", { class: "panel-head" }, this.title, close),
      this.notice,
      this.body,
      this.assigneeOptions,
    );
    document.addEventListener("keydown", this.onKey);
  }

  get openId(): number {
    return this.el.hidden ? 0 : this.caseId;
  }

  /** Open a case; `focusCamera` puts its first camera on the wall once it is loaded. */
  show(id: number, opts: { focusCamera?: boolean } = {}): void {
    if (id !== this.caseId) {
      this.detail = null;
      this.recs = [];
      this.recsLoading = false;
      this.recsFor = "";
      this.rating = 0;
      this.noteInput.value = "";
      this.assigneeInput.value = "";
      this.coForm = null;
      this.body.replaceChildren(h("div", { class: "empty-note", text: "加载中 Loading…" }));
      this.hideNotice();
    }
    this.caseId = id;
    this.focusCamera = !!opts.focusCamera;
    this.el.dataset["caseId"] = String(id);
    this.title.textContent = `案件详情 Case #${id}`;
    this.el.hidden = false;
    window.clearInterval(this.timer);
    this.timer = window.setInterval(() => this.tick(), 1000);
    void this.reload();
  }

  close(): void {
    if (this.el.hidden) return;
    this.el.hidden = true;
    window.clearInterval(this.timer);
    this.deps.onClose();
  }

  dispose(): void {
    window.clearInterval(this.timer);
    document.removeEventListener("keydown", this.onKey);
  }

  /** A case changed on the hub: reload it when it is the one shown and newer than what is shown
   * (a new version, or new evidence, which leaves the version as it is). */
  changed(c: Case): void {
    if (this.el.hidden || c.id !== this.caseId) return;
    const d = this.detail;
    if (d && c.version < d.version) return;
    if (d && c.version === d.version && c.evidence_count === d.evidence_count) return;
    void this.reload();
  }

  /** Fetch the case (and whom to send it to when it can be sent); overlapping calls coalesce. */
  reload(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    const run = async (): Promise<void> => {
      do {
        this.again = false;
        await this.fetch();
      } while (this.again && !this.el.hidden);
    };
    this.loading = run().finally(() => (this.loading = null));
    return this.loading;
  }

  private async fetch(): Promise<void> {
    const id = this.caseId;
    try {
      const d = await getCase(id);
      if (id !== this.caseId) return;
      this.detail = d;
      const acts = allowedActions(d, this.deps.role());
      const key = `${d.id}:${d.state}`;
      const recs = (acts.includes("dispatch") || acts.includes("check_fail")) && this.recsFor !== key;
      if (recs) {
        this.recsFor = key;
        this.recsLoading = true;
      }
      this.render();
      if (recs) void this.loadRecs(id, key);
      if (this.focusCamera) {
        this.focusCamera = false;
        const cams = this.cameras(d);
        if (cams.length) this.deps.onCameras(cams.slice(0, 1));
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      if (id !== this.caseId) return;
      if (err instanceof ApiError && err.status === 404) {
        this.body.replaceChildren(h("div", { class: "empty-note", text: "无此案件 No such case" }));
        return;
      }
      this.showNotice(err instanceof ApiError ? err.detail : String(err), "error");
    }
  }

  /** Whom to send the case to; the case shows at once, the suggestions join it when they come. */
  private async loadRecs(id: number, key: string): Promise<void> {
    const recs = await getRecommendations(id).catch(() => []);
    if (this.deps.role() === "admin" && !this.workers.length) {
      this.workers = await getUsers()
        .then((us) => us.filter((u) => u.role === "worker" && u.active).map((u) => u.username))
        .catch(() => []);
    }
    if (id !== this.caseId || this.recsFor !== key) return;
    this.recsLoading = false;
    this.recs = recs;
    this.fillOptions();
    const d = this.detail;
    if (d && `${d.id}:${d.state}` === key) this.render();
  }

  private fillOptions(): void {
    const names = [...new Set([...this.recs.map((r) => r.username), ...this.workers])];
    this.assigneeOptions.replaceChildren(
      ...names.map((n) => {
        const r = this.recs.find((x) => x.username === n);
        return h("option", { value: n, text: r ? `${r.name} · ${r.reasons[0] ?? ""}` : n });
      }),
    );
  }

  /** Cameras of the case's evidence, first seen first (detections, then alarms' linked ones). */
  private cameras(d: CaseDetail): string[] {
    const out: string[] = [];
    for (const e of d.evidence) {
      if (e.kind === "detection") {
        const cam = detectionOf(e).camera_id;
        if (cam) out.push(cam);
      }
    }
    for (const e of d.evidence) {
      if (e.kind === "alarm") for (const cam of alarmOf(e).cameras ?? []) if (cam) out.push(cam);
    }
    return [...new Set(out)];
  }

  private tick(): void {
    const now = Date.now();
    for (const el of this.body.querySelectorAll<HTMLElement>(".countdown[data-deadline]")) paintCountdown(el, now);
  }

  private showNotice(text: string, kind: "info" | "warn" | "error", title = ""): void {
    this.notice.textContent = text;
    this.notice.className = `case-notice ${kind}`;
    this.notice.title = title;
    this.notice.hidden = false;
  }

  private hideNotice(): void {
    this.notice.hidden = true;
  }

  private render(): void {
    const d = this.detail;
    if (!d) return;
    this.el.dataset["state"] = d.state;
    this.el.dataset["version"] = String(d.version);
    this.el.dataset["light"] = d.light;
    this.title.replaceChildren(h("span", { class: `light-dot ${d.light}`, title: LIGHT_LABEL[d.light] }), ` 案件详情 Case #${d.id}`);
    this.body.replaceChildren(this.summary(d), this.callRow(d), this.actions(d), this.parts(d), this.fields(d), this.place(d), this.evidence(d), this.timeline(d));
  }

  private summary(d: CaseDetail): HTMLElement {
    const stageClock = h("span", { class: "countdown", id: "case-countdown", "data-deadline": d.stage_deadline ?? "" });
    paintCountdown(stageClock);
    const cd = countdown(d.deadline);
    return h(
      "div",
      { class: `case-summary light-${d.light}` },
      h("div", { class: "case-headline", id: "case-title", text: d.title }),
      h(
        "div",
        { class: "case-tags" },
        h("span", { class: "tag cat", text: d.category_name || this.deps.categoryName(d.category) }),
        h("span", { class: `tag state st-${d.state}`, id: "case-state", text: caseStateLabel(d.state) }),
        h("span", { class: `tag light ${d.light}`, text: LIGHT_LABEL[d.light] }),
        d.pending ? h("span", { class: "tag pending", id: "case-pending", text: PENDING_LABEL[d.pending] }) : null,
        d.escalation > 0 ? h("span", { class: "tag escalation", text: `督办 Supervised ×${d.escalation}` }) : null,
      ),
      d.stage
        ? h(
            "div",
            { class: "case-clock" },
            h("span", { text: `${STAGE_LABEL[d.stage]} 阶段时限 Stage limit` }),
            h("span", { class: "muted", text: d.stage_deadline ? stampText(d.stage_deadline) : "—" }),
            stageClock,
          )
        : null,
      d.deadline && d.stage
        ? h(
            "div",
            { class: "case-clock" },
            h("span", { text: "总时限 Case limit" }),
            h("span", { class: "muted", text: stampText(d.deadline) }),
            h("span", { class: `muted${cd?.over ? " over" : ""}`, text: cd?.text ?? "" }),
          )
        : null,
    );
  }

  /** The center calls the case's assignee and the departments' assignees, face to face. */
  private callRow(d: CaseDetail): HTMLElement {
    const people = [...new Set([d.assignee, ...(d.parts ?? []).map((p) => p.assignee)].filter((u): u is string => !!u))];
    const row = h("div", { class: "case-call-row" });
    if (!CENTER_ROLES.includes(this.deps.role()) || !people.length) {
      row.hidden = true;
      return row;
    }
    const b = h("button", { class: "case-act primary", id: "case-call", type: "button", text: `视频通话 Video call · ${people.join(", ")}` });
    b.addEventListener("click", () => this.deps.onCall(d.id, people, `案件 Case #${d.id} ${d.title}`));
    row.append(b);
    return row;
  }

  private actions(d: CaseDetail): HTMLElement {
    const acts = allowedActions(d, this.deps.role());
    const box = h("section", { class: "case-actions", id: "case-actions" });
    const co = this.mayCoDispatch(d);
    if (!acts.length && !co) {
      box.hidden = true;
      return box;
    }
    box.append(h("h3", { class: "section-title", text: "处置 Actions" }));
    const row = h("div", { class: "action-row" });
    for (const { action, cls } of SIMPLE) {
      if (!acts.includes(action)) continue;
      row.append(this.button(action, caseActionLabel(action), cls, () => this.act(action)));
    }
    const sendAction = acts.includes("dispatch") ? "dispatch" : acts.includes("check_fail") ? "check_fail" : null;
    if (sendAction === "check_fail") {
      row.append(
        this.button("check_fail", caseActionLabel("check_fail"), "warn", () => {
          const who = this.assigneeInput.value.trim();
          return this.act("check_fail", who ? { assignee: who } : {});
        }),
      );
    }
    if (co) {
      const open = h("button", { class: "case-act", id: "case-co-dispatch", "data-action": "co_dispatch", text: "联合派遣 Co-dispatch", disabled: this.busy, "aria-expanded": String(!!this.coForm) });
      open.addEventListener("click", () => void this.toggleCoForm());
      row.append(open);
    }
    if (row.childElementCount) box.append(row);
    if (co && this.coForm) box.append(this.coForm);
    if (sendAction) box.append(this.sendBox(sendAction));
    if (acts.includes("evaluate")) box.append(this.evaluateBox());
    // The note goes with a step of the case or with a department's part (close, rework).
    box.append(h("label", { class: "note-field" }, h("span", { text: "备注 Note" }), this.noteInput));
    return box;
  }

  private button(action: CaseActionName, label: string, cls: string, run: () => Promise<void>, extra: Record<string, string> = {}): HTMLButtonElement {
    const b = h("button", { class: `case-act ${cls}`.trim(), "data-action": action, text: label, disabled: this.busy, ...extra });
    b.addEventListener("click", () => void run());
    return b;
  }

  /** 派遣 Dispatch (or 返工 rework to someone else): the recommended workers, each with a
   * button, and a picker for any active worker's username. */
  private sendBox(action: "dispatch" | "check_fail"): HTMLElement {
    const verb = action === "dispatch" ? "派遣 Dispatch" : "返工给 Rework to";
    const recs = h("ul", { class: "recs", id: "case-recs" });
    for (const r of this.recs) {
      recs.append(
        h(
          "li",
          { class: `rec rank-${r.rank}`, "data-username": r.username },
          h(
            "div",
            { class: "rec-who" },
            h("b", { text: r.name || r.username }),
            h("span", { class: "muted", text: ` ${r.username}` }),
            r.state ? h("span", { class: `worker-state ${r.state}`, text: WORKER_STATE_LABEL[r.state] ?? r.state }) : null,
            r.distance_m !== null && r.distance_m !== undefined ? h("span", { class: "muted", text: ` 约 ${Math.round(r.distance_m)} m` }) : null,
          ),
          h("div", { class: "rec-why", text: r.reasons.join(" · ") }),
          this.button(action, verb, action === "dispatch" ? "primary" : "warn", () => this.act(action, { assignee: r.username }), { "data-username": r.username }),
        ),
      );
    }
    const go = this.button(action, verb, action === "dispatch" ? "primary" : "warn", () => {
      const who = this.assigneeInput.value.trim();
      if (!who) {
        this.showNotice("请选择处置人 Choose a worker", "error");
        this.assigneeInput.focus();
        return Promise.resolve();
      }
      return this.act(action, { assignee: who });
    });
    go.id = "case-dispatch";
    return h(
      "div",
      { class: "send-box" },
      h("h4", { class: "sub-title", text: action === "dispatch" ? "推荐处置人 Recommended workers" : "返工改派 Rework: another worker (optional)" }),
      this.recs.length
        ? recs
        : this.recsLoading
          ? h("div", { class: "muted small", text: "正在获取推荐 Loading recommendations…" })
          : h("div", { class: "muted small", id: "case-no-recs", text: "无推荐网格员 No recommended workers" }),
      h("div", { class: "assignee-row" }, this.assigneeInput, go),
    );
  }

  private evaluateBox(): HTMLElement {
    const submit = this.button("evaluate", "评价 Evaluate", "primary", () => this.act("evaluate", { rating: this.rating }));
    submit.id = "case-evaluate";
    submit.disabled = this.busy || this.rating < 1;
    const starRow = h("div", { class: "stars", role: "radiogroup", "aria-label": "评分 Rating" });
    const paint = (): void => {
      starRow.querySelectorAll<HTMLButtonElement>("button.star").forEach((s) => {
        const n = Number(s.dataset["rating"]);
        s.textContent = n <= this.rating ? "★" : "☆";
        s.setAttribute("aria-checked", String(n === this.rating));
        s.classList.toggle("on", n <= this.rating);
      });
      submit.disabled = this.busy || this.rating < 1;
    };
    for (let n = 1; n <= 5; n++) {
      const s = h("button", { class: "star", type: "button", role: "radio", "data-rating": n, title: `${n} 星 ${n} star${n > 1 ? "s" : ""}`, text: "☆" });
      s.addEventListener("click", () => {
        this.rating = n;
        paint();
      });
      starRow.append(s);
    }
    paint();
    return h("div", { class: "evaluate-box" }, h("span", { text: "评价 Rating" }), starRow, submit);
  }

  private async act(action: CaseActionName, extra: Partial<CaseActionBody> = {}): Promise<void> {
    const d = this.detail;
    if (!d) return;
    const note = this.noteInput.value.trim();
    await this.run(caseActionLabel(action), async () => {
      const out = await caseAction(d.id, { action, version: d.version, ...(note ? { note } : {}), ...extra });
      this.noteInput.value = "";
      this.assigneeInput.value = "";
      this.rating = 0;
      this.deps.onCase(out);
    });
  }

  private mayCoDispatch(d: CaseDetail): boolean {
    return CENTER_ROLES.includes(this.deps.role()) && CO_DISPATCH_FROM.includes(d.state);
  }

  /** Open (loading the departments and their workers once) or close the co-dispatch form. */
  private async toggleCoForm(): Promise<void> {
    if (this.coForm) {
      this.coForm = null;
      this.render();
      return;
    }
    if (!this.departments.length) {
      try {
        this.departments = (await getCategories()).departments;
      } catch (err) {
        this.showNotice(err instanceof ApiError ? err.detail : String(err), "error");
        return;
      }
      this.deptWorkers = await getWorkers().catch(() => []);
    }
    this.coForm = this.coDispatchForm();
    this.render();
  }

  /** 联合派遣: a row per department (tick it, pick its worker, say what to do), a note, send. */
  private coDispatchForm(): HTMLElement {
    const taken = new Set((this.detail?.parts ?? []).filter((p) => p.state !== "returned").map((p) => p.department));
    const rows = h("ul", { class: "co-depts", id: "co-depts" });
    for (const dept of this.departments) {
      const tick = h("input", { type: "checkbox", class: "co-tick", value: dept.id, disabled: taken.has(dept.id), "aria-label": dept.name });
      const who = h("select", { class: "co-assignee", "data-department": dept.id, disabled: true, "aria-label": `${dept.name} 处置人 Assignee` }, h("option", { value: "", text: "不指定 No one yet" }));
      for (const w of this.deptWorkers.filter((x) => x.department === dept.id)) {
        who.append(h("option", { value: w.username, text: `${w.name} ${w.username}${w.state ? ` · ${WORKER_STATE_LABEL[w.state] ?? w.state}` : ""}` }));
      }
      const note = h("input", { type: "text", class: "co-note", maxlength: 2000, disabled: true, placeholder: "任务要求 Instruction", "aria-label": `${dept.name} 任务要求 Instruction` });
      tick.addEventListener("change", () => {
        who.disabled = !tick.checked;
        note.disabled = !tick.checked;
      });
      rows.append(
        h(
          "li",
          { class: `co-dept${taken.has(dept.id) ? " taken" : ""}`, "data-department": dept.id },
          h("label", { class: "co-name" }, tick, h("span", { text: dept.name }), h("span", { class: "muted small", text: taken.has(dept.id) ? " 已派 already" : ` ${dept.name_en}` })),
          who,
          note,
        ),
      );
    }
    const note = h("input", { type: "text", id: "co-note", maxlength: 2000, placeholder: "联合派遣说明 Note (可选 optional)", "aria-label": "联合派遣说明 Note" });
    const send = h("button", { class: "case-act primary", id: "co-send", "data-action": "co_dispatch", text: "派遣到所选部门 Send to the chosen departments" });
    const cancel = h("button", { class: "case-act", type: "button", text: "取消 Cancel" });
    cancel.addEventListener("click", () => void this.toggleCoForm());
    const form = h(
      "div",
      { class: "co-form", id: "co-form" },
      h("h4", { class: "sub-title", text: `联合派遣 Co-dispatch: 选择部门 choose departments (最多 at most ${MAX_PARTS})` }),
      rows,
      h("label", { class: "note-field" }, h("span", { text: "说明 Note" }), note),
      h("div", { class: "action-row" }, send, cancel),
    );
    send.addEventListener("click", () => void this.sendCoDispatch(form));
    return form;
  }

  private async sendCoDispatch(form: HTMLElement): Promise<void> {
    const d = this.detail;
    if (!d || this.busy) return;
    const parts: { department: string; assignee?: string; note?: string }[] = [];
    for (const li of form.querySelectorAll<HTMLLIElement>("li.co-dept")) {
      const tick = li.querySelector<HTMLInputElement>("input.co-tick");
      if (!tick?.checked) continue;
      const who = li.querySelector<HTMLSelectElement>("select.co-assignee")?.value ?? "";
      const note = li.querySelector<HTMLInputElement>("input.co-note")?.value.trim() ?? "";
      parts.push({ department: tick.value, ...(who ? { assignee: who } : {}), ...(note ? { note } : {}) });
    }
    if (!parts.length) {
      this.showNotice("请选择部门 Choose at least one department", "error");
      return;
    }
    if (parts.length > MAX_PARTS) {
      this.showNotice(`最多 ${MAX_PARTS} 个部门 At most ${MAX_PARTS} departments`, "error");
      return;
    }
    const note = form.querySelector<HTMLInputElement>("#co-note")?.value.trim() ?? "";
    await this.run("联合派遣 Co-dispatch", async () => {
      const out = await coDispatch(d.id, { version: d.version, parts, ...(note ? { note } : {}) });
      this.coForm = null;
      this.deps.onCase(out.case);
    });
  }

  /** 会办部门 Departments' parts: state, worker, times; center roles check handled ones. */
  private parts(d: CaseDetail): HTMLElement {
    const parts = d.parts ?? [];
    const box = h("section", { class: "case-parts", id: "case-parts" });
    if (!parts.length) {
      box.hidden = true;
      return box;
    }
    const open = parts.filter((p) => p.state === "dispatched" || p.state === "received" || p.state === "handled").length;
    box.append(h("h3", { class: "section-title", text: `会办部门 Co-dispatched departments (${open} 未办结 open / ${parts.length})` }));
    const list = h("ul", { class: "part-list" });
    for (const p of parts) list.append(this.partItem(d, p));
    box.append(list);
    return box;
  }

  private partItem(d: CaseDetail, p: CasePart): HTMLLIElement {
    const stamps: [string, string | null | undefined][] = [
      ["派遣 Dispatched", p.dispatched_at],
      ["签收 Received", p.received_at],
      ["处置 Handled", p.handled_at],
      ["办结 Closed", p.closed_at],
      ["回退 Returned", p.returned_at],
    ];
    const li = h(
      "li",
      { class: `part st-${p.state}`, "data-part-id": p.id, "data-department": p.department, "data-state": p.state },
      h(
        "div",
        { class: "part-head" },
        h("b", { text: p.department_name || p.department }),
        h("span", { class: `tag part-state st-${p.state}`, text: PART_STATE_LABEL[p.state] }),
        h("span", { class: "muted", text: `处置人 ${p.assignee || "未指定 Unassigned"}` }),
        p.rework_count ? h("span", { class: "tag escalation", text: `返工 Rework ×${p.rework_count}` }) : null,
      ),
      h("div", { class: "part-times muted small", text: stamps.filter(([, v]) => v).map(([k, v]) => `${k} ${stampText(v as string)}`).join(" · ") }),
      p.note ? h("div", { class: "part-note", text: `任务 Instruction: ${p.note}` }) : null,
      p.feedback ? h("div", { class: "part-note", text: `反馈 Feedback: ${p.feedback}` }) : null,
      p.photos?.length ? h("div", { class: "muted small", text: `照片 Photos ${p.photos.length}` }) : null,
    );
    if (p.state === "handled" && CENTER_ROLES.includes(this.deps.role())) {
      const row = h("div", { class: "action-row" });
      row.append(
        this.partButton(d, p, "close", "核查办结 Close", "primary"),
        this.partButton(d, p, "rework", "返工 Rework", "warn"),
      );
      li.append(row);
    }
    return li;
  }

  private partButton(d: CaseDetail, p: CasePart, action: PartActionName, label: string, cls: string): HTMLButtonElement {
    const b = h("button", { class: `case-act part-act ${cls}`, "data-action": `part_${action}`, "data-part-id": p.id, text: label, disabled: this.busy });
    b.addEventListener("click", () => {
      const note = this.noteInput.value.trim();
      const body: Partial<PartStepBody> & Pick<PartStepBody, "action" | "version"> = { action, version: d.version, ...(note ? { note } : {}) };
      void this.run(label, async () => {
        const out = await partAction(d.id, p.id, body);
        this.noteInput.value = "";
        this.deps.onCase(out.case);
      });
    });
    return b;
  }

  /** A step: busy while it runs, a 409 reloads with the stale notice. */
  private async run(label: string, call: () => Promise<void>): Promise<void> {
    if (this.busy) return;
    this.hideNotice();
    this.setBusy(true);
    try {
      await call();
      this.showNotice(`${label} 已完成 Done`, "info");
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      if (err instanceof ApiError && err.status === 409) {
        this.showNotice(STALE_MESSAGE, "warn", err.detail);
      } else {
        this.showNotice(err instanceof ApiError ? err.detail : String(err), "error");
        this.setBusy(false);
        return;
      }
    }
    this.busy = false;
    await this.reload();
  }

  private setBusy(on: boolean): void {
    this.busy = on;
    this.body.querySelectorAll<HTMLButtonElement>("button.case-act").forEach((b) => (b.disabled = on));
    if (!on) {
      const ev = this.body.querySelector<HTMLButtonElement>("#case-evaluate");
      if (ev) ev.disabled = this.rating < 1;
    }
  }

  private fields(d: CaseDetail): HTMLElement {
    const p = this.deps.places();
    const rows: [string, string][] = [
      ["编号 ID", `#${d.id}`],
      ["类别 Category", `${d.category} ${d.category_name || this.deps.categoryName(d.category)}`],
      ["类型 Kind", d.kind === "event" ? "事件 Event" : "部件 Component"],
      ["来源 Source", CASE_SOURCE_LABEL[d.source] ?? d.source],
      ["状态 State", caseStateLabel(d.state) + (d.pending ? ` · ${PENDING_LABEL[d.pending]}` : "")],
      ["街道 Street", d.street_id ? (p.streets.get(d.street_id) ?? d.street_id) : "—"],
      ["社区 Community", d.community_id ? (p.communities.get(d.community_id) ?? d.community_id) : "—"],
      ["网格 Grid", d.grid_id ? `${p.gridShort(d.grid_id)} (${d.grid_id})` : "—"],
      ["位置 Position", d.position ? `${d.position[0].toFixed(6)}, ${d.position[1].toFixed(6)}` : "—"],
    ];
    if (d.address) rows.push(["地址 Address", d.address]);
    rows.push(
      ["部门 Department", d.department_name || d.department || "—"],
      ["上报人 Reporter", d.reporter],
      ["处置人 Assignee", d.assignee || "未派遣 Unassigned"],
      ["上报时间 Reported", stampText(d.created_at)],
    );
    const stamps: [string, string | null | undefined][] = [
      ["受理 Accepted", d.accepted_at],
      ["立案 Opened", d.opened_at],
      ["派遣 Dispatched", d.dispatched_at],
      ["签收 Received", d.received_at],
      ["处置 Handled", d.handled_at],
      ["结案 Closed", d.closed_at],
      ["评价 Evaluated", d.evaluated_at],
    ];
    for (const [k, v] of stamps) if (v) rows.push([k, stampText(v)]);
    rows.push(["更新 Updated", stampText(d.updated_at)]);
    if (d.rating) rows.push(["评分 Rating", stars(d.rating)]);
    if (d.rework_count) rows.push(["返工 Reworks", String(d.rework_count)]);
    rows.push(["证据 Evidence", String(d.evidence_count)], ["版本 Version", String(d.version)]);
    if (d.description) rows.push(["描述 Description", d.description]);
    return h(
      "section",
      { class: "case-fields" },
      h("h3", { class: "section-title", text: "案件信息 Details" }),
      h("dl", { class: "fields", id: "case-fields" }, rows.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })])),
    );
  }

  /** Where the case is: its grid among the neighbours, the case point, and the assignee's last
   * fix with the distance and direction to the case. */
  private place(d: CaseDetail): HTMLElement {
    const who = d.assignee ? this.deps.workerAt(d.assignee) : null;
    const at = d.position ? ([d.position[0], d.position[1]] as LonLat) : null;
    const map = miniMap(this.deps.site(), d.grid_id, at, who);
    map.id = "case-minimap";
    const note =
      who && at
        ? `处置人 ${d.assignee} 距案件 to the case: ${wayText(who, at, "在现场附近 At the scene")}`
        : d.assignee
          ? `处置人 ${d.assignee} 暂无定位 Assignee not located`
          : at
            ? "案件位置 Case point"
            : "仅网格 Grid only";
    return h("section", { class: "case-place" }, h("h3", { class: "section-title", text: "位置 Map" }), map, h("div", { class: "muted case-place-note", id: "case-place-note", text: note }));
  }

  private evidence(d: CaseDetail): HTMLElement {
    const list = h("ul", { class: "evidence-list", id: "case-evidence" });
    const items = [...d.evidence].sort((a, b) => Date.parse(a.ts) - Date.parse(b.ts));
    for (const e of items.slice(0, MAX_EVIDENCE)) list.append(this.evidenceItem(e));
    return h(
      "section",
      { class: "case-evidence" },
      h("h3", { class: "section-title", text: `证据 Evidence (${d.evidence.length})` }),
      d.evidence.length ? list : h("div", { class: "muted small", text: "无证据 No evidence" }),
      items.length > MAX_EVIDENCE ? h("div", { class: "muted small", text: `另有 ${items.length - MAX_EVIDENCE} 条 ${items.length - MAX_EVIDENCE} more` }) : null,
    );
  }

  private evidenceItem(e: EvidenceItem): HTMLLIElement {
    const kind = EVIDENCE_KIND_LABEL[e.kind] ?? e.kind;
    const li = h("li", { class: `evidence kind-${e.kind}`, "data-kind": e.kind, "data-ref": e.ref });
    if (e.kind === "detection") {
      const det = detectionOf(e);
      // The evidence's ref is the detection's event id: its snapshot is the event's.
      const src = snapshotUrl({ id: e.ref });
      const img = h("img", { class: "ev-thumb", alt: "事件快照 Snapshot", src });
      const missing = h("div", { class: "ev-thumb missing", hidden: true, text: "无快照 No snapshot" });
      let retried = false;
      img.addEventListener("error", () => {
        // The case can be announced before its detection's snapshot is on disk: ask once more.
        if (!retried) {
          retried = true;
          window.setTimeout(() => (img.src = `${src}&retry=1`), 3000);
          return;
        }
        img.hidden = true;
        missing.hidden = false;
      });
      img.addEventListener("click", () => img.classList.toggle("big"));
      const cam = det.camera_id ? this.deps.camera(det.camera_id) : undefined;
      const zone = det.zone_id ? cam?.zones.find((z) => z.id === det.zone_id)?.name || det.zone_id : "";
      const line = det.line_id ? cam?.lines.find((l) => l.id === det.line_id)?.name || det.line_id : "";
      const where = zone ? `区域 Zone ${zone}` : line ? `警戒线 Line ${line}` : "";
      li.append(
        img,
        missing,
        h(
          "div",
          { class: "ev-info" },
          h("b", { text: det.type ? (EVENT_LABEL[det.type as EventType] ?? det.type) : kind }),
          h("span", { text: det.camera_name || cam?.name || det.camera_id || "" }),
          where ? h("span", { class: "muted", text: where }) : null,
          h("span", { class: "muted", text: stampText(det.start || e.ts) }),
          det.camera_id ? this.cameraButton([det.camera_id], "上墙 On wall") : null,
        ),
      );
      return li;
    }
    if (e.kind === "alarm") {
      const al = alarmOf(e);
      const cams = (al.cameras ?? []).filter((c): c is string => !!c);
      const sev = al.severity as Severity | undefined;
      li.append(
        h(
          "div",
          { class: "ev-info" },
          h("span", {}, sev ? h("span", { class: `sev-tag sev-${sev}`, text: SEVERITY_LABEL[sev] ?? sev }) : null, " ", h("b", { text: al.rule_name || al.rule_id || kind })),
          h("span", { text: `设备 Device ${al.device_name || al.device_id || e.ref}` }),
          al.value !== undefined && al.value !== null ? h("span", { class: "muted", text: `值 Value ${valueText(al.value)}` }) : null,
          h("span", { class: "muted", text: stampText(e.ts) }),
          cams.length ? this.cameraButton(cams, `联动上墙 ${cams.length} camera(s) on wall`) : null,
        ),
      );
      return li;
    }
    if (e.kind === "photo") {
      // A worker's photo (feedback or report), served by the hub's photo store.
      const img = h("img", { class: "ev-thumb", alt: "现场照片 Photo", src: withToken(`/api/photos/${encodeURIComponent(e.ref)}`) });
      const missing = h("div", { class: "ev-thumb missing", hidden: true, text: "无照片 No photo" });
      img.addEventListener("error", () => {
        img.hidden = true;
        missing.hidden = false;
      });
      img.addEventListener("click", () => img.classList.toggle("big"));
      const by = typeof e.detail?.["by"] === "string" ? e.detail["by"] : "";
      li.append(img, missing, h("div", { class: "ev-info" }, h("b", { text: kind }), by ? h("span", { text: `拍摄 By ${by}` }) : null, h("span", { class: "muted", text: stampText(e.ts) })));
      return li;
    }
    if (e.kind === "recording") {
      // One stream of a call about this case (a participant, a shared camera), as forwarded.
      const d = e.detail ?? {};
      const video = h("video", {
        class: "ev-recording",
        controls: true,
        preload: "metadata",
        src: withToken(`/api/recordings/${encodeURIComponent(e.ref)}`),
        "aria-label": `${kind} ${String(d["label"] ?? "")}`,
      });
      const missing = h("div", { class: "muted", hidden: true, text: "录像无法播放 Recording cannot be played" });
      video.addEventListener("error", () => {
        missing.hidden = false;
      });
      const from = typeof d["started_at"] === "string" ? d["started_at"] : e.ts;
      const to = typeof d["ended_at"] === "string" ? d["ended_at"] : from;
      const who = RECORDING_OWNER_LABEL[String(d["kind"])] ?? "";
      li.append(
        video,
        missing,
        h(
          "div",
          { class: "ev-info" },
          h("b", { text: kind }),
          h("span", { text: `${who}${String(d["label"] ?? d["owner"] ?? "")}` }),
          h("span", { class: "muted", text: `时长 Length ${durationText(from, to)}` }),
          d["truncated"] ? h("span", { class: "muted", text: "已截断 Truncated at the size limit" }) : null,
          h("span", { class: "muted", text: stampText(from) }),
        ),
      );
      return li;
    }
    const detail = Object.entries(e.detail ?? {})
      .map(([k, v]) => `${k}: ${valueText(v)}`)
      .join(" · ");
    li.append(h("div", { class: "ev-info" }, h("b", { text: kind }), h("span", { text: e.ref }), detail ? h("span", { class: "muted", text: detail }) : null, h("span", { class: "muted", text: stampText(e.ts) })));
    return li;
  }

  private departmentName(id: string): string {
    return this.detail?.parts?.find((p) => p.department === id)?.department_name || this.departments.find((x) => x.id === id)?.name || id;
  }

  private cameraButton(cams: string[], label: string): HTMLButtonElement {
    const b = h("button", { class: "ev-wall", "data-camera-id": cams[0] ?? "", text: label });
    b.addEventListener("click", () => this.deps.onCameras(cams));
    return b;
  }

  private timeline(d: CaseDetail): HTMLElement {
    const list = h("ol", { class: "timeline", id: "case-timeline" });
    const entries = [...d.timeline].sort((a, b) => a.version - b.version || Date.parse(a.ts) - Date.parse(b.ts));
    for (const t of entries) list.append(this.timelineItem(t));
    return h("section", { class: "case-timeline" }, h("h3", { class: "section-title", text: "处置过程 Timeline" }), list);
  }

  private timelineItem(t: TimelineEntry): HTMLLIElement {
    const det = t.detail ?? {};
    const light = typeof det["light"] === "string" ? det["light"] : "";
    const alert = t.action === "supervise" || t.action === "light";
    const parts: string[] = [];
    const note = det["note"];
    if (typeof det["assignee"] === "string") parts.push(`处置人 Assignee ${det["assignee"]}`);
    if (typeof det["returned_by"] === "string") parts.push(`退回人 Returned by ${det["returned_by"]}`);
    if (typeof det["rating"] === "number") parts.push(`评分 Rating ${stars(det["rating"])}`);
    if (typeof det["extension"] === "string") parts.push(`延期 Extension ${det["extension"].replace("working_days", "工作日 working days")}`);
    if (typeof det["stage_deadline"] === "string") parts.push(`新时限 New limit ${stampText(det["stage_deadline"])}`);
    if (light) parts.push(LIGHT_LABEL[light as keyof typeof LIGHT_LABEL] ?? light);
    if (typeof det["stage"] === "string" && alert) parts.push(`${STAGE_LABEL[det["stage"] as keyof typeof STAGE_LABEL] ?? det["stage"]} 阶段 stage`);
    if (typeof det["escalation"] === "number") parts.push(`督办级别 Escalation ${det["escalation"]}`);
    if (t.action === "created" && typeof det["source"] === "string") parts.push(`来源 Source ${CASE_SOURCE_LABEL[det["source"] as keyof typeof CASE_SOURCE_LABEL] ?? det["source"]}`);
    if (Array.isArray(det["photos"])) parts.push(`照片 Photos ${det["photos"].length}`);
    if (typeof det["department"] === "string") parts.push(`部门 Department ${this.departmentName(det["department"])}`);
    if (typeof det["from"] === "string" && typeof det["to"] === "string") {
      parts.push(`${PART_STATE_LABEL[det["from"] as PartState] ?? det["from"]} → ${PART_STATE_LABEL[det["to"] as PartState] ?? det["to"]}`);
    }
    if (Array.isArray(det["parts"])) {
      const names = (det["parts"] as { department?: unknown }[]).map((x) => (typeof x.department === "string" ? this.departmentName(x.department) : "?"));
      parts.push(`部门 Departments ${names.join("、")}`);
    }
    const move = t.from_state && t.from_state !== t.to_state ? `${caseStateLabel(t.from_state)} → ${caseStateLabel(t.to_state)}` : t.from_state ? "" : caseStateLabel(t.to_state);
    return h(
      "li",
      { class: `tl tl-${t.action}${alert ? " tl-alert" : ""}${light ? ` light-${light}` : ""}`, "data-action": t.action, "data-version": t.version },
      h(
        "div",
        { class: "tl-head" },
        h("span", { class: "tl-action", text: timelineLabel(t.action) }),
        move ? h("span", { class: "tl-move", text: move }) : null,
        h("time", { class: "tl-time", datetime: t.ts, text: stampText(t.ts) }),
      ),
      h("div", { class: "tl-actor", text: `${t.actor} · ${ROLE_LABEL[t.role] ?? t.role}` }),
      parts.length ? h("div", { class: "tl-detail", text: parts.join(" · ") }) : null,
      typeof note === "string" && note ? h("div", { class: "tl-note", text: `备注 Note: ${note}` }) : null,
    );
  }
}
