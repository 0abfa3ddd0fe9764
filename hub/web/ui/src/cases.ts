// Case queue (案件 Cases): running cases newest first, filtered and paged on the hub (state,
// light, grid), updated in place from the `case` messages of the hub WebSocket. Each row has its
// traffic light and a countdown to its stage deadline that ticks every second without a fetch.
// Clicking a row opens the case detail (casedetail.ts); "+ 新建 New" opens the operator's entry
// form (casenew.ts).
import { ApiError, getCases, getCategories } from "./api";
import { h } from "./dom";
import { CASE_STATE_LABEL, caseStateLabel, LIGHT_LABEL, PENDING_LABEL } from "./labels";
import { stampText } from "./time";
import { shortName } from "./tree";
import type { Case, CaseActionName, CaseCategory, CaseLight, CaseState, SiteInfo } from "./types";

const PAGE = 50;
const MAX_ITEMS = 500;

/** States in which a case is still running (`state=open` on the hub). */
export const OPEN_STATES: ReadonlySet<string> = new Set<CaseState>(["reported", "accepted", "opened", "dispatched", "received", "on_scene", "handled"]);

type Rule = { from: CaseState[]; roles: string[]; pending?: "extension" | "return" };

const CENTER = ["admin", "operator"];
const CHECKERS = ["admin", "operator", "supervisor"];
const SUPERVISORS = ["admin", "supervisor"];
const HANDLING: CaseState[] = ["dispatched", "received", "on_scene"];

/** The steps the wall offers (the center's and the supervisors'; the field steps belong to the
 * worker's app), as the hub's transition table allows them (hub/dispatch/workflow.py). */
export const WALL_RULES: Partial<Record<CaseActionName, Rule>> = {
  accept: { from: ["reported"], roles: CENTER },
  open: { from: ["accepted"], roles: CHECKERS },
  void: { from: ["reported", "accepted"], roles: CHECKERS },
  dispatch: { from: ["opened"], roles: CHECKERS },
  check_pass: { from: ["handled"], roles: CHECKERS },
  check_fail: { from: ["handled"], roles: CHECKERS },
  evaluate: { from: ["closed"], roles: CHECKERS },
  approve_extension: { from: HANDLING, roles: SUPERVISORS, pending: "extension" },
  reject_extension: { from: HANDLING, roles: SUPERVISORS, pending: "extension" },
  approve_return: { from: ["dispatched", "received"], roles: SUPERVISORS, pending: "return" },
  reject_return: { from: ["dispatched", "received"], roles: SUPERVISORS, pending: "return" },
};

/** The steps `role` may take on the case now; buttons for the others are not shown. */
export function allowedActions(c: Case, role: string): CaseActionName[] {
  const out: CaseActionName[] = [];
  for (const [action, rule] of Object.entries(WALL_RULES) as [CaseActionName, Rule][]) {
    if (!rule.roles.includes(role)) continue;
    if (!rule.from.includes(c.state as CaseState)) continue;
    if (rule.pending && c.pending !== rule.pending) continue;
    out.push(action);
  }
  return out;
}

function span(seconds: number, withSeconds: boolean): string {
  const d = Math.floor(seconds / 86400);
  const hh = Math.floor((seconds % 86400) / 3600);
  const mm = Math.floor((seconds % 3600) / 60);
  const ss = seconds % 60;
  const two = (n: number): string => String(n).padStart(2, "0");
  if (d > 0) return `${d}天${two(hh)}小时`;
  if (hh > 0) return `${hh}小时${two(mm)}分`;
  if (mm > 0) return withSeconds ? `${mm}分${two(ss)}秒` : `${mm}分`;
  return `${ss}秒`;
}

/** "剩余 1小时05分" / "剩余 4分05秒" until the deadline, "超时 12分" after it; null without one. */
export function countdown(deadline: string | null | undefined, now = Date.now()): { text: string; over: boolean } | null {
  if (!deadline) return null;
  const t = Date.parse(deadline);
  if (Number.isNaN(t)) return null;
  const ms = t - now;
  if (ms >= 0) return { text: `剩余 ${span(Math.ceil(ms / 1000), true)}`, over: false };
  return { text: `超时 ${span(Math.floor(-ms / 1000), false)}`, over: true };
}

/** Paint a countdown element (its deadline in `data-deadline`). */
export function paintCountdown(el: HTMLElement, now = Date.now()): void {
  const cd = countdown(el.dataset["deadline"], now);
  const text = cd ? cd.text : "";
  if (el.textContent !== text) el.textContent = text;
  el.classList.toggle("over", !!cd?.over);
}

/** Names of the site's places by id, and the grids per street for the filter. */
export class Places {
  readonly grids = new Map<string, string>();
  readonly communities = new Map<string, string>();
  readonly streets = new Map<string, string>();
  readonly byStreet: { name: string; grids: { id: string; name: string }[] }[] = [];

  constructor(site?: SiteInfo) {
    if (!site) return;
    const d = site.district;
    for (const st of d.streets) {
      this.streets.set(st.id, st.name);
      const grids: { id: string; name: string }[] = [];
      for (const cm of st.communities) {
        this.communities.set(cm.id, cm.name);
        for (const g of cm.grids) {
          this.grids.set(g.id, g.name);
          grids.push({ id: g.id, name: shortName(g.name, [d.name, st.name]) });
        }
      }
      this.byStreet.push({ name: shortName(st.name, [d.name]), grids });
    }
  }

  /** "秀水坊社区-第1网格" (the street's prefix dropped) or the id. */
  gridShort(id: string | null | undefined): string {
    if (!id) return "";
    for (const s of this.byStreet) {
      const g = s.grids.find((x) => x.id === id);
      if (g) return g.name;
    }
    return id;
  }
}

/** What ``upsert`` did with a live case. */
export type CaseUpsert = "new" | "updated" | "removed" | "ignored";

export class CasesPanel {
  readonly el: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly note: HTMLDivElement;
  private readonly totalEl: HTMLSpanElement;
  private readonly more: HTMLButtonElement;
  private readonly stateSelect: HTMLSelectElement;
  private readonly lightSelect: HTMLSelectElement;
  private readonly gridSelect: HTMLSelectElement;
  private cases: Case[] = [];
  private total = 0;
  private nextBefore: number | null = null;
  private selectedId = 0;
  private loadToken = 0;
  // loads under way, each with the live cases that came in since it asked
  private readonly inFlight = new Set<Case[]>();
  private timer: number | undefined;
  private categories = new Map<string, CaseCategory>();
  /** Running red cases, whatever the filter: the tab's count. */
  private readonly red = new Set<number>();
  places = new Places();
  /** False when the hub runs no case loop (503) or has no case API (404). */
  available = true;

  constructor(
    private readonly onOpen: (id: number) => void,
    private readonly onError: (msg: string) => void,
    /** Operator entry (新建案件); without it (roles that may not enter cases) no button. */
    private readonly onNew?: () => void,
  ) {
    this.stateSelect = h(
      "select",
      { class: "case-filter", id: "case-state-filter", "aria-label": "案件状态 Case state" },
      h("option", { value: "open", text: "办理中 Running" }),
      h("option", { value: "", text: "全部状态 All states" }),
      ...(Object.keys(CASE_STATE_LABEL) as CaseState[]).map((s) => h("option", { value: s, text: CASE_STATE_LABEL[s] })),
    );
    this.lightSelect = h(
      "select",
      { class: "case-filter", id: "case-light-filter", "aria-label": "亮灯 Light" },
      h("option", { value: "", text: "全部亮灯 All lights" }),
      ...(Object.keys(LIGHT_LABEL) as CaseLight[]).map((l) => h("option", { value: l, text: LIGHT_LABEL[l] })),
    );
    this.gridSelect = h("select", { class: "case-filter", id: "case-grid-filter", "aria-label": "网格 Grid" }, h("option", { value: "", text: "全部网格 All grids" }));
    for (const s of [this.stateSelect, this.lightSelect, this.gridSelect]) s.addEventListener("change", () => void this.load());
    this.list = h("ul", { class: "event-list case-list", id: "case-list" });
    this.note = h("div", { class: "empty-note", text: "暂无案件 No cases" });
    this.totalEl = h("span", { class: "case-total", id: "case-total" });
    this.more = h("button", { class: "case-more", id: "case-more", text: "加载更多 Load more", hidden: true });
    this.more.addEventListener("click", () => void this.loadMore());
    this.el = h(
      "section",
      { class: "panel events cases", id: "cases" },
      h("div", { class: "panel-head" }, h("h2", { class: "panel-title", text: "案件队列 Case queue" }), this.totalEl, this.newButton()),
      h("div", { class: "case-filters" }, this.stateSelect, this.lightSelect, this.gridSelect),
      h("div", { class: "event-scroll" }, this.note, this.list, this.more),
    );
  }

  private newButton(): HTMLButtonElement | null {
    const run = this.onNew;
    if (!run) return null;
    const b = h("button", { type: "button", class: "primary case-new-open", id: "case-new-open", title: "新建案件（电话、热线上报）New case (phoned-in report)", text: "+ 新建 New" });
    b.addEventListener("click", () => run());
    return b;
  }

  setSite(site: SiteInfo): void {
    this.places = new Places(site);
    const keep = this.gridSelect.value;
    this.gridSelect.replaceChildren(
      h("option", { value: "", text: "全部网格 All grids" }),
      ...this.places.byStreet.map((s) => h("optgroup", { label: s.name }, ...s.grids.map((g) => h("option", { value: g.id, text: g.name })))),
    );
    this.gridSelect.value = keep;
    for (const c of this.cases) this.replaceItem(c);
  }

  /** Categories, the red count and the first page; then the countdowns tick every second. */
  async start(): Promise<void> {
    window.clearInterval(this.timer);
    this.timer = window.setInterval(() => this.tick(), 1000);
    try {
      const cat = await getCategories();
      this.categories = new Map(cat.categories.map((c) => [c.code, c]));
    } catch (err) {
      if (!this.unavailable(err)) return;
    }
    if (!this.available) return;
    await Promise.all([this.load(), this.loadRed()]);
  }

  stop(): void {
    window.clearInterval(this.timer);
  }

  get redCount(): number {
    return this.red.size;
  }

  /** The title without the category in front: the hub's own titles read "区域入侵: camera",
   * and wherever a title is shown the category is shown beside it. */
  shortTitle(c: Case): string {
    const cat = this.categoryName(c.category);
    return c.title.startsWith(`${cat}: `) ? c.title.slice(cat.length + 2) : c.title;
  }

  categoryName(code: string): string {
    return this.categories.get(code)?.name ?? code;
  }

  find(id: number): Case | undefined {
    return this.cases.find((c) => c.id === id);
  }

  async load(): Promise<void> {
    const token = ++this.loadToken;
    // Live cases that come in while the page is in flight are newer than the page: laid over it
    // when it lands, or a case entered meanwhile would vanish from the queue.
    const live: Case[] = [];
    this.inFlight.add(live);
    try {
      const page = await getCases({ ...this.query(), limit: PAGE });
      if (token !== this.loadToken) return; // a newer filter choice won
      this.available = true;
      this.cases = page.items.slice(0, MAX_ITEMS);
      this.total = page.total;
      this.nextBefore = page.next_before_id;
      for (const c of this.cases) this.trackRed(c);
      this.render();
      this.inFlight.delete(live);
      for (const c of live) this.upsert(c);
    } catch (err) {
      this.unavailable(err);
    } finally {
      this.inFlight.delete(live);
    }
  }

  /** The next page (older cases) below the list. */
  private async loadMore(): Promise<void> {
    if (this.nextBefore === null) return;
    const token = this.loadToken;
    this.more.disabled = true;
    try {
      const page = await getCases({ ...this.query(), limit: PAGE, beforeId: this.nextBefore });
      if (token !== this.loadToken) return;
      const known = new Set(this.cases.map((c) => c.id));
      const fresh = page.items.filter((c) => !known.has(c.id));
      this.cases.push(...fresh);
      this.list.append(...fresh.map((c) => this.item(c)));
      this.total = page.total;
      this.nextBefore = this.cases.length >= MAX_ITEMS ? null : page.next_before_id;
      this.renderFoot();
    } catch (err) {
      this.unavailable(err);
    } finally {
      this.more.disabled = false;
    }
  }

  private async loadRed(): Promise<void> {
    try {
      const page = await getCases({ state: "open", light: "red", limit: 500 });
      for (const c of page.items) this.red.add(c.id);
    } catch {
      // The count then grows from the live messages only.
    }
  }

  /** A case from the hub WebSocket (or an action's answer): update, insert or drop its row. */
  upsert(c: Case): CaseUpsert {
    for (const live of this.inFlight) live.push(c);
    const at = this.cases.findIndex((x) => x.id === c.id);
    const known = at >= 0 ? this.cases[at] : undefined;
    if (known && c.version < known.version) return "ignored"; // older news than the row
    this.trackRed(c);
    if (known) {
      if (!this.matches(c)) {
        this.cases.splice(at, 1);
        this.list.querySelector(`li.case[data-case-id="${c.id}"]`)?.remove();
        this.total = Math.max(0, this.total - 1);
        this.renderFoot();
        return "removed";
      }
      this.cases[at] = c;
      const li = this.replaceItem(c);
      if (li && known.version !== c.version) li.classList.add("changed");
      return "updated";
    }
    if (!this.matches(c)) return "ignored";
    let idx = this.cases.findIndex((x) => x.id < c.id);
    if (idx < 0) {
      // Older than every listed case: it arrives with "load more" if there is more.
      if (this.nextBefore !== null) return "ignored";
      idx = this.cases.length;
    }
    this.cases.splice(idx, 0, c);
    const li = this.item(c);
    li.classList.add("fresh");
    this.list.insertBefore(li, this.list.children[idx] ?? null);
    this.total += 1;
    if (this.cases.length > MAX_ITEMS) {
      this.cases.length = MAX_ITEMS;
      while (this.list.children.length > MAX_ITEMS) this.list.lastElementChild?.remove();
    }
    this.renderFoot();
    return "new";
  }

  /** Mark the row of the case shown in the detail. */
  select(id: number): void {
    this.selectedId = id;
    for (const li of this.list.querySelectorAll<HTMLLIElement>("li.case")) li.classList.toggle("selected", Number(li.dataset["caseId"]) === id);
  }

  private query(): { state: string; light: string; gridId: string } {
    return { state: this.stateSelect.value, light: this.lightSelect.value, gridId: this.gridSelect.value };
  }

  private matches(c: Case): boolean {
    const q = this.query();
    if (q.state === "open" && !OPEN_STATES.has(c.state)) return false;
    if (q.state && q.state !== "open" && c.state !== q.state) return false;
    if (q.light && c.light !== q.light) return false;
    if (q.gridId && c.grid_id !== q.gridId) return false;
    return true;
  }

  private trackRed(c: Case): void {
    if (OPEN_STATES.has(c.state) && c.light === "red") this.red.add(c.id);
    else this.red.delete(c.id);
  }

  private unavailable(err: unknown): boolean {
    if (err instanceof ApiError && (err.status === 503 || err.status === 404)) {
      this.available = false;
      this.list.replaceChildren();
      this.more.hidden = true;
      this.note.textContent = "案件服务未启用 Cases are not available";
      this.note.hidden = false;
      return false;
    }
    if (err instanceof ApiError && err.status !== 401) this.onError(err.detail);
    return true;
  }

  private render(): void {
    this.list.replaceChildren(...this.cases.map((c) => this.item(c)));
    this.renderFoot();
  }

  private renderFoot(): void {
    this.note.textContent = "暂无案件 No cases";
    this.note.hidden = this.cases.length > 0;
    this.more.hidden = this.nextBefore === null;
    this.totalEl.textContent = `共 ${this.total} 件 Total ${this.total}`;
  }

  private replaceItem(c: Case): HTMLLIElement | null {
    const old = this.list.querySelector<HTMLLIElement>(`li.case[data-case-id="${c.id}"]`);
    if (!old) return null;
    const li = this.item(c);
    old.replaceWith(li);
    return li;
  }

  private tick(): void {
    const now = Date.now();
    for (const el of this.list.querySelectorAll<HTMLElement>(".countdown[data-deadline]")) paintCountdown(el, now);
  }

  private item(c: Case): HTMLLIElement {
    const clock = h("span", { class: "countdown case-countdown", "data-deadline": c.stage_deadline ?? "", title: c.stage_deadline ? `时限 Deadline ${stampText(c.stage_deadline)}` : "" });
    paintCountdown(clock);
    const light = LIGHT_LABEL[c.light] ?? c.light;
    const cat = this.categoryName(c.category);
    const title = this.shortTitle(c);
    const li = h(
      "li",
      {
        class: `case light-${c.light} state-${c.state}${c.id === this.selectedId ? " selected" : ""}`,
        "data-case-id": c.id,
        "data-state": c.state,
        "data-light": c.light,
        "data-source": c.source,
        "data-version": c.version,
        tabindex: 0,
        title: `#${c.id} ${c.title}`,
      },
      h(
        "div",
        { class: "case-line" },
        h("span", { class: `light-dot ${c.light}`, title: light, "aria-label": light }),
        h("span", { class: "case-cat", text: cat }),
        h("span", { class: "case-title", text: title }),
        clock,
      ),
      h(
        "div",
        { class: "case-line case-sub" },
        h("span", { class: `case-state st-${c.state}`, text: caseStateLabel(c.state) }),
        c.pending ? h("span", { class: "case-pending", text: PENDING_LABEL[c.pending] }) : null,
        h("span", { class: "case-grid", text: this.places.gridShort(c.grid_id) || "—" }),
        h("span", { class: "case-assignee", text: c.assignee ? `处置人 ${c.assignee}` : "未派遣 Unassigned" }),
        c.escalation > 0 ? h("span", { class: "case-escalation", text: `督办×${c.escalation}` }) : null,
        h("span", { class: "case-id", text: `#${c.id}` }),
      ),
    );
    const open = (): void => {
      this.select(c.id);
      this.onOpen(c.id);
    };
    li.addEventListener("click", open);
    li.addEventListener("keydown", (e) => {
      if (e.key === "Enter") open();
    });
    return li;
  }
}
