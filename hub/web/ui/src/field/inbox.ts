// The task inbox (任务): the worker's running cases, most urgent first, each with its light and
// a countdown to its stage deadline ticking every second; and what they handled lately.
import { ApiError } from "../api";
import { paintCountdown } from "../cases";
import { h } from "../dom";
import { caseStateLabel, LIGHT_LABEL, PENDING_LABEL } from "../labels";
import { stampText } from "../time";
import type { Case, CaseLight } from "../types";
import { myCases } from "./api";

const RUNNING = ["dispatched", "received", "on_scene"];
const WAITING = ["handled"];
const DONE = ["closed", "evaluated"];
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
      const running = await myCases([...RUNNING, ...WAITING], 100);
      const todo = running.items.filter((c) => RUNNING.includes(c.state));
      this.onCount(todo.length);
      let items: Case[];
      if (this.tab === "todo") {
        // Most urgent first: the light, then the nearest stage deadline.
        items = [...todo].sort((a, b) => LIGHT_RANK[a.light] - LIGHT_RANK[b.light] || (Date.parse(a.stage_deadline ?? "9999") - Date.parse(b.stage_deadline ?? "9999")));
        items.push(...running.items.filter((c) => WAITING.includes(c.state)));
      } else {
        items = (await myCases(DONE, 30)).items;
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

  private render(items: Case[]): void {
    if (items.length === 0) {
      const text = this.tab === "todo" ? "暂无待办任务 No tasks right now" : "暂无已办任务 Nothing handled yet";
      this.list.replaceChildren(h("li", { class: "empty", text }));
      return;
    }
    this.list.replaceChildren(...items.map((c) => this.row(c)));
    this.tick();
  }

  private row(c: Case): HTMLElement {
    const running = RUNNING.includes(c.state);
    const clock = running ? h("span", { class: "countdown", "data-deadline": c.stage_deadline ?? "" }) : h("span", { class: "muted", text: stampText(c.updated_at) });
    const li = h(
      "li",
      { class: `task light-${c.light}`, "data-case-id": c.id, "data-state": c.state, tabindex: 0, role: "button" },
      h("div", { class: "task-top" }, h("span", { class: `light-dot ${c.light}`, title: LIGHT_LABEL[c.light] }), h("b", { class: "task-title", text: c.title }), clock),
      h("div", { class: "task-meta" }, h("span", { class: "state", text: caseStateLabel(c.state) }), c.pending ? h("span", { class: "pending", text: PENDING_LABEL[c.pending] }) : null, h("span", { class: "muted", text: this.place(c) })),
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
