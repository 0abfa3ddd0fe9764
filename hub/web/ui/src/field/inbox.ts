// The task inbox (任务): the worker's running cases, most urgent first, each with its light and
// a countdown to its stage deadline ticking every second; and what they handled lately.
import { ApiError, getCase } from "../api";
import { paintCountdown } from "../cases";
import { h } from "../dom";
import { caseStateLabel, LIGHT_LABEL, PART_STATE_LABEL, PENDING_LABEL } from "../labels";
import { stampText } from "../time";
import type { Case, CaseLight, CasePart } from "../types";
import { myCases } from "./api";

const RUNNING = ["dispatched", "received", "on_scene"];
const WAITING = ["handled"];
const DONE = ["closed", "evaluated"];
const OPEN_PART = ["dispatched", "received", "handled"];
/** Running cases not assigned to the worker are read one by one to find their part: a worker
 * has few; more than this are listed without it. */
const MAX_PART_LOOKUPS = 20;

/** A row of the inbox: the case, and the worker's own department part when that is why it is
 * here (co-dispatch, 会办). */
interface Item {
  c: Case;
  part?: CasePart;
}
const LIGHT_RANK: Record<CaseLight, number> = { red: 0, yellow: 1, green: 2 };

export type PlaceName = (c: Case) => string;

export class InboxView {
  readonly el: HTMLElement;
  private readonly list: HTMLElement;
  private readonly error: HTMLElement;
  private readonly tabs = new Map<string, HTMLButtonElement>();
  private tab: "todo" | "done" = "todo";
  private ticker: number | undefined;
  private loading = 0;

  constructor(
    private readonly me: string,
    private readonly open: (id: number) => void,
    private readonly place: PlaceName,
    private readonly onCount: (n: number) => void,
  ) {
    const bar = h("div", { class: "segmented", role: "tablist" });
    for (const [id, label] of [["todo", "待办 To do"], ["done", "已办 Done"]] as const) {
      const b = h("button", { type: "button", class: "seg", id: `inbox-${id}`, role: "tab", text: label });
      b.addEventListener("click", () => {
        this.tab = id;
        void this.reload();
      });
      this.tabs.set(id, b);
      bar.append(b);
    }
    this.list = h("ul", { class: "tasks", id: "task-list", "aria-live": "polite" });
    this.error = h("div", { class: "form-error", role: "alert", hidden: true });
    this.el = h("section", { class: "view inbox", id: "inbox" }, bar, this.error, this.list);
  }

  show(): void {
    window.clearInterval(this.ticker);
    this.ticker = window.setInterval(() => this.tick(), 1000);
    void this.reload();
  }

  hide(): void {
    window.clearInterval(this.ticker);
  }

  async reload(): Promise<void> {
    for (const [id, b] of this.tabs) b.classList.toggle("active", id === this.tab);
    const mine = ++this.loading;
    try {
      const running = (await myCases(["open"], 100)).items;
      const lead = running.filter((c) => c.assignee === this.me);
      const parts = await this.partsOf(running.filter((c) => c.assignee !== this.me));
      const todo: Item[] = [
        ...lead.filter((c) => RUNNING.includes(c.state)).map((c) => ({ c })),
        ...parts.filter((i) => i.part && i.part.state !== "handled"),
      ];
      this.onCount(todo.length);
      let items: Item[];
      if (this.tab === "todo") {
        // Most urgent first: the light, then the nearest stage deadline.
        items = todo.sort((a, b) => LIGHT_RANK[a.c.light] - LIGHT_RANK[b.c.light] || Date.parse(a.c.stage_deadline ?? "9999") - Date.parse(b.c.stage_deadline ?? "9999"));
        items.push(...lead.filter((c) => WAITING.includes(c.state)).map((c) => ({ c })));
        items.push(...parts.filter((i) => i.part?.state === "handled"));
      } else {
        // Handled and closed, and the worker's own reports (随手拍) that others handle.
        const done = (await myCases(DONE, 30)).items.map((c) => ({ c }));
        items = [...parts.filter((i) => !i.part), ...done];
      }
      if (mine !== this.loading) return;
      this.error.hidden = true;
      this.render(items);
    } catch (err) {
      if (mine !== this.loading) return;
      this.error.textContent = err instanceof ApiError ? err.detail : String(err);
      this.error.hidden = false;
    }
  }

  /** Running cases the worker sees without leading them: a department part of theirs, or a
   * report of their own (no part). */
  private async partsOf(cases: Case[]): Promise<Item[]> {
    const details = await Promise.all(cases.slice(0, MAX_PART_LOOKUPS).map((c) => getCase(c.id).catch(() => null)));
    return cases.map((c, i) => {
      const part = details[i]?.parts?.find((p) => p.assignee === this.me && OPEN_PART.includes(p.state));
      return part ? { c, part } : { c };
    });
  }

  private render(items: Item[]): void {
    if (items.length === 0) {
      const text = this.tab === "todo" ? "暂无待办任务 No tasks right now" : "暂无已办任务 Nothing handled yet";
      this.list.replaceChildren(h("li", { class: "empty", text }));
      return;
    }
    this.list.replaceChildren(...items.map((i) => this.row(i)));
    this.tick();
  }

  private row({ c, part }: Item): HTMLElement {
    const running = part ? part.state !== "handled" : RUNNING.includes(c.state) && c.assignee === this.me;
    const clock = running ? h("span", { class: "countdown", "data-deadline": c.stage_deadline ?? "" }) : h("span", { class: "muted", text: stampText(c.updated_at) });
    const li = h(
      "li",
      { class: `task light-${c.light}${part ? " part" : ""}`, "data-case-id": c.id, "data-state": c.state, "data-part-state": part?.state, tabindex: 0, role: "button" },
      h("div", { class: "task-top" }, h("span", { class: `light-dot ${c.light}`, title: LIGHT_LABEL[c.light] }), h("b", { class: "task-title", text: c.title }), clock),
      h(
        "div",
        { class: "task-meta" },
        part ? h("span", { class: "state", text: `会办 ${part.department_name ?? part.department} · ${PART_STATE_LABEL[part.state]}` }) : h("span", { class: "state", text: c.assignee === this.me ? caseStateLabel(c.state) : `我的上报 My report · ${caseStateLabel(c.state)}` }),
        c.pending && !part ? h("span", { class: "pending", text: PENDING_LABEL[c.pending] }) : null,
        h("span", { class: "muted", text: this.place(c) }),
      ),
    );
    const go = (): void => this.open(c.id);
    li.addEventListener("click", go);
    li.addEventListener("keydown", (e) => {
      if (e.key === "Enter") go();
    });
    return li;
  }

  private tick(): void {
    const now = Date.now();
    for (const el of this.list.querySelectorAll<HTMLElement>(".countdown[data-deadline]")) paintCountdown(el, now);
  }
}
