// One task on the phone: what, where (a map to it, the distance and direction from here), how
// long is left, what was seen, and the worker's next step: receive (签收), arrive (到场),
// feedback with photos (处置反馈), or ask for more time (延期) or to hand it back (回退).
import { ApiError, caseAction, getCase, partAction, withToken } from "../api";
import { countdown, paintCountdown } from "../cases";
import { h } from "../dom";
import { caseActionLabel, caseStateLabel, EVIDENCE_KIND_LABEL, LIGHT_LABEL, PART_STATE_LABEL, PENDING_LABEL, STAGE_LABEL, timelineLabel } from "../labels";
import { stampText } from "../time";
import type { CaseActionBody, CaseActionName, CaseDetail, CasePart, EvidenceItem, PartActionName, PartStepBody, SiteInfo } from "../types";
import { type LonLat, miniMap, wayText } from "../minimap";
import { PhotoPicker } from "./photos";

const STALE = "任务已更新，请重新确认 The task changed; check it again";
const EXTENSIONS = ["1 working_days", "2 working_days", "3 working_days", "5 working_days"] as const;

export interface TaskDeps {
  username: string;
  site: () => SiteInfo | null;
  me: () => LonLat | null;
  place: (d: CaseDetail) => string;
  back: () => void;
  toast: (msg: string) => void;
}

export class TaskView {
  readonly el: HTMLElement;
  private readonly body: HTMLElement;
  private readonly error: HTMLElement;
  private detail: CaseDetail | null = null;
  private ticker: number | undefined;
  private busy = false;

  constructor(private readonly deps: TaskDeps) {
    const back = h("button", { type: "button", class: "back", id: "task-back", text: "‹ 任务 Tasks" });
    back.addEventListener("click", () => deps.back());
    this.error = h("div", { class: "form-error", role: "alert", hidden: true });
    this.body = h("div", { class: "task-body" });
    this.el = h("section", { class: "view task-view", id: "task-view" }, back, this.error, this.body);
  }

  get caseId(): number | null {
    return this.detail?.id ?? null;
  }

  async show(id: number): Promise<void> {
    window.clearInterval(this.ticker);
    this.ticker = window.setInterval(() => this.tick(), 1000);
    if (this.detail?.id !== id) {
      this.detail = null;
      this.body.replaceChildren(h("p", { class: "muted", text: "加载中 Loading…" }));
    }
    await this.load(id);
  }

  hide(): void {
    window.clearInterval(this.ticker);
  }

  /** A change announced by the hub: reload when it is this task at a newer version (the echo of
   * the worker's own step, arriving after its answer, must not redraw the form being filled). */
  async changed(id: number, version: number): Promise<void> {
    if (this.detail?.id === id && !this.busy && version > this.detail.version) await this.load(id);
  }

  /** The phone moved: redraw the way to the case. */
  moved(): void {
    const d = this.detail;
    const map = this.body.querySelector(".minimap");
    if (!d || !map) return;
    map.replaceWith(this.map(d));
    const way = this.body.querySelector("#task-way");
    if (way) way.textContent = this.way(d);
  }

  private async load(id: number): Promise<void> {
    try {
      this.detail = await getCase(id);
      this.error.hidden = true;
      this.render(this.detail);
    } catch (err) {
      this.showError(err);
    }
  }

  private render(d: CaseDetail): void {
    const stageClock = h("span", { class: "countdown", id: "task-countdown", "data-deadline": d.stage_deadline ?? "" });
    const head = h(
      "div",
      { class: `task-head light-${d.light}` },
      h("div", { class: "task-top" }, h("span", { class: `light-dot ${d.light}`, title: LIGHT_LABEL[d.light] }), h("h2", { text: d.title })),
      h(
        "div",
        { class: "task-meta" },
        h("span", { class: "state", id: "task-state", "data-state": d.state, text: caseStateLabel(d.state) }),
        d.pending ? h("span", { class: "pending", id: "task-pending", text: PENDING_LABEL[d.pending] }) : null,
        d.stage ? h("span", { text: `${STAGE_LABEL[d.stage]}` }) : null,
        stageClock,
      ),
    );
    const facts = h(
      "dl",
      { class: "facts" },
      h("dt", { text: "编号 No." }),
      h("dd", { text: `#${d.id}` }),
      h("dt", { text: "类别 Type" }),
      h("dd", { text: d.category_name ? `${d.category_name} (${d.category})` : d.category }),
      d.department_name ? h("dt", { text: "部门 Dept." }) : null,
      d.department_name ? h("dd", { text: d.department_name }) : null,
      h("dt", { text: "地点 Place" }),
      h("dd", { text: this.deps.place(d) }),
      h("dt", { text: "上报 Reported" }),
      h("dd", { text: stampText(d.created_at) }),
      d.deadline ? h("dt", { text: "结案时限 Close by" }) : null,
      d.deadline ? h("dd", { text: `${stampText(d.deadline)} · ${countdown(d.deadline)?.text ?? ""}` }) : null,
    );
    const where = h("div", { class: "where" }, this.map(d), h("div", { class: "way" }, h("span", { id: "task-way", text: this.way(d) }), this.navLink(d)));
    this.body.replaceChildren(
      head,
      d.description ? h("p", { class: "description", text: d.description }) : "",
      facts,
      where,
      this.actions(d),
      this.evidence(d.evidence),
      this.timeline(d),
    );
    this.tick();
  }

  private map(d: CaseDetail): SVGSVGElement {
    const target = d.position ? ([d.position[0], d.position[1]] as LonLat) : null;
    return miniMap(this.deps.site(), d.grid_id, target, this.deps.me());
  }

  private way(d: CaseDetail): string {
    const me = this.deps.me();
    if (!d.position) return "案件无定位 The case has no position";
    if (!me) return "等待定位 Waiting for your position (上岗后定位 go on duty)";
    return `距离 ${wayText(me, [d.position[0], d.position[1]])}`;
  }

  /** Opens the phone's own map app for turn-by-turn directions (geo: URI, RFC 5870). */
  private navLink(d: CaseDetail): HTMLElement | null {
    if (!d.position) return null;
    const [lon, lat] = d.position;
    return h("a", { class: "nav-link", href: `geo:${lat},${lon}?q=${lat},${lon}`, text: "导航 Navigate" });
  }

  private actions(d: CaseDetail): HTMLElement {
    const box = h("div", { class: "actions", id: "task-actions" });
    for (const p of d.parts ?? []) {
      if (p.assignee === this.deps.username && p.state !== "closed" && p.state !== "returned") box.append(this.partPanel(p));
    }
    if (d.assignee !== this.deps.username) {
      const lead = d.assignee ? `主办 Lead: ${d.assignee}` : "未派遣 Not dispatched yet";
      box.append(h("p", { class: "muted", text: d.reporter === this.deps.username ? `我的上报 My report · ${lead}` : lead }));
      return box;
    }
    const add = (action: CaseActionName, primary: boolean, extra: () => Partial<CaseActionBody> | null = () => ({})): void => {
      const b = h("button", { type: "button", class: primary ? "primary big" : "big", id: `act-${action}`, text: caseActionLabel(action) });
      b.addEventListener("click", () => {
        const more = extra();
        if (more) void this.act(action, more);
      });
      box.append(b);
    };
    if (d.state === "dispatched") add("receive", true);
    if (d.state === "received") add("arrive", true);
    if (d.state === "received" || d.state === "on_scene") box.append(this.feedbackForm(d));
    if (!d.pending && ["dispatched", "received"].includes(d.state)) {
      add("request_return", false, () => {
        const note = window.prompt("回退原因 Why hand it back?", "");
        return note && note.trim() ? { note: note.trim() } : null;
      });
    }
    if (!d.pending && ["dispatched", "received", "on_scene"].includes(d.state)) box.append(this.extensionForm());
    if (d.state === "handled") box.append(h("p", { class: "muted", text: "已反馈，等待核查 Feedback sent; waiting for the check" }));
    if (d.state === "closed" || d.state === "evaluated") box.append(h("p", { class: "muted", text: "已结案 Closed" }));
    return box;
  }

  /** The worker's department part of a co-dispatched case (会办): its own receive, feedback and
   * return, beside the lead worker's loop. */
  private partPanel(p: CasePart): HTMLElement {
    const box = h(
      "section",
      { class: "card part", id: `part-${p.id}`, "data-part-state": p.state },
      h("h3", { text: `会办 Co-dispatch · ${p.department_name ?? p.department}` }),
      h("p", { class: "state", id: "part-state", text: PART_STATE_LABEL[p.state] }),
      p.note ? h("p", { class: "note", text: `指令 Instruction: ${p.note}` }) : null,
    );
    const button = (action: PartActionName, primary: boolean, more: () => Partial<PartStepBody> | null): HTMLButtonElement => {
      const b = h("button", { type: "button", class: primary ? "primary big" : "big", id: `part-${action}`, text: timelineLabel(`part_${action}`) });
      b.addEventListener("click", () => {
        const extra = more();
        if (extra) void this.partStep(p, action, extra);
      });
      return b;
    };
    if (p.state === "dispatched") box.append(button("receive", true, () => ({})));
    if (p.state === "received") {
      const picker = new PhotoPicker("part");
      const note = h("textarea", { id: "part-note", rows: 3, maxlength: 2000, placeholder: "处置情况 What the department did" });
      const send = h("button", { type: "button", class: "primary big", id: "part-feedback", text: "提交部门反馈 Send the part's feedback" });
      send.addEventListener("click", () => {
        send.disabled = true;
        void picker
          .ids()
          .then((photos) => (note.value.trim() || photos.length ? this.partStep(p, "feedback", { note: note.value.trim() || null, photos }) : this.showError("请填写处置情况或拍照 Describe what was done or add a photo")))
          .finally(() => (send.disabled = false));
      });
      box.append(note, picker.el, send);
    }
    if (p.state === "dispatched" || p.state === "received") {
      box.append(
        button("return", false, () => {
          const why = window.prompt("回退原因 Why hand it back?", "");
          return why && why.trim() ? { note: why.trim() } : null;
        }),
      );
    }
    if (p.state === "handled") box.append(h("p", { class: "muted", text: "已反馈，等待核查 Feedback sent; waiting for the check" }));
    return box;
  }

  private partStep(p: CasePart, action: PartActionName, more: Partial<PartStepBody>): Promise<void> {
    return this.step(timelineLabel(`part_${action}`), (d) => partAction(d.id, p.id, { action, version: d.version, ...more }));
  }

  private feedbackForm(d: CaseDetail): HTMLElement {
    const picker = new PhotoPicker("feedback");
    const note = h("textarea", { id: "feedback-note", rows: 3, maxlength: 2000, placeholder: "处置情况 What was done" });
    const submit = h("button", { type: "submit", class: "primary big", id: "feedback-submit", text: "提交反馈 Send feedback" });
    const form = h("form", { class: "card feedback", id: "feedback-form" }, h("h3", { text: "处置反馈 Feedback" }), note, picker.el, submit);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      submit.disabled = true;
      void (async () => {
        try {
          const photos = await picker.ids();
          if (!note.value.trim() && photos.length === 0) {
            this.showError("请填写处置情况或拍照 Describe what was done or add a photo");
            return;
          }
          await this.act("feedback", { note: note.value.trim() || null, photos });
        } finally {
          submit.disabled = false;
        }
      })();
    });
    if (d.state === "received") form.prepend(h("p", { class: "muted", text: "可先点“到场”再反馈 Tap Arrive when you get there" }));
    return form;
  }

  private extensionForm(): HTMLElement {
    const pick = h("select", { id: "extension-days" }, ...EXTENSIONS.map((v) => h("option", { value: v, text: `${v.split(" ")[0]} 个工作日 working day(s)` })));
    const ask = h("button", { type: "button", id: "act-request_extension", text: caseActionLabel("request_extension") });
    ask.addEventListener("click", () => {
      const note = window.prompt("延期原因 Why more time?", "");
      if (!note || !note.trim()) return;
      void this.act("request_extension", { note: note.trim(), extension: pick.value as (typeof EXTENSIONS)[number] });
    });
    return h("div", { class: "extension" }, pick, ask);
  }

  private act(action: CaseActionName, more: Partial<CaseActionBody>): Promise<void> {
    return this.step(caseActionLabel(action), (d) => caseAction(d.id, { action, version: d.version, ...more }));
  }

  /** One step on the hub with the version this view shows; a 409 reloads and says so. */
  private async step(label: string, send: (d: CaseDetail) => Promise<unknown>): Promise<void> {
    const d = this.detail;
    if (!d || this.busy) return;
    this.busy = true;
    this.error.hidden = true;
    try {
      await send(d);
      this.deps.toast(`${label} ✓`);
      await this.load(d.id);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        await this.load(d.id);
        this.showError(STALE);
      } else {
        this.showError(err);
      }
    } finally {
      this.busy = false;
    }
  }

  private evidence(items: EvidenceItem[]): HTMLElement {
    if (items.length === 0) return h("div");
    const list = h("ul", { class: "evidence" });
    for (const e of items) {
      const kind = EVIDENCE_KIND_LABEL[e.kind] ?? e.kind;
      if (e.kind === "photo") {
        const img = h("img", { class: "ev-photo", alt: "现场照片 Photo", loading: "lazy", src: withToken(`/api/photos/${encodeURIComponent(e.ref)}`) });
        img.addEventListener("click", () => img.classList.toggle("big"));
        list.append(h("li", {}, img, h("span", { class: "muted", text: `${kind} · ${stampText(e.ts)}` })));
      } else {
        list.append(h("li", {}, h("b", { text: kind }), h("span", { class: "muted", text: ` ${stampText(e.ts)}` })));
      }
    }
    return h("section", { class: "card" }, h("h3", { text: `证据 Evidence (${items.length})` }), list);
  }

  private timeline(d: CaseDetail): HTMLElement {
    const list = h("ol", { class: "timeline" });
    for (const t of [...d.timeline].reverse()) {
      const raw = t.detail?.["note"];
      const note = typeof raw === "string" ? raw : "";
      list.append(h("li", {}, h("b", { text: timelineLabel(t.action) }), h("span", { class: "muted", text: ` ${stampText(t.ts)} · ${t.actor}` }), note ? h("div", { class: "note", text: note }) : null));
    }
    return h("section", { class: "card" }, h("h3", { text: "经过 Timeline" }), list);
  }

  private tick(): void {
    const now = Date.now();
    for (const el of this.body.querySelectorAll<HTMLElement>(".countdown[data-deadline]")) paintCountdown(el, now);
  }

  private showError(err: unknown): void {
    this.error.textContent = typeof err === "string" ? err : err instanceof ApiError ? err.detail : String(err);
    this.error.hidden = false;
    this.el.scrollIntoView({ block: "start" });
  }
}
