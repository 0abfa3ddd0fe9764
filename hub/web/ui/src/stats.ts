// Statistics (统计 Statistics) for supervisors: the case loop's figures (考核指标) from
// GET /api/stats/cases — reported, opened, closed, 结案率, 按期结案率, 返工率 and the mean times —
// grouped by grid, street, department, worker or category over a time range of the site's local
// days, as a sortable table with small bars, and the same figures as a CSV download.
import { ApiError, getCaseStats, getCaseStatsCsv, type StatsGroup, type StatsQuery } from "./api";
import { h } from "./dom";
import { localDay, stampText, timezone } from "./time";
import type { CaseStats, CaseStatsRow } from "./types";

const GROUPS: { id: StatsGroup; label: string }[] = [
  { id: "grid", label: "按网格 By grid" },
  { id: "street", label: "按街道 By street" },
  { id: "department", label: "按部门 By department" },
  { id: "worker", label: "按网格员 By worker" },
  { id: "category", label: "按类别 By category" },
];

type RangeId = "today" | "7d" | "30d" | "custom";
const RANGES: { id: RangeId; label: string }[] = [
  { id: "today", label: "今日 Today" },
  { id: "7d", label: "近7天 7 days" },
  { id: "30d", label: "近30天 30 days" },
  { id: "custom", label: "自定义 Custom" },
];

type Kind = "count" | "rate" | "minutes";
type NumKey = Exclude<keyof CaseStatsRow, "key" | "name">;
interface Column {
  key: NumKey;
  label: string;
  kind: Kind;
  /** For rates and times: lower is better (the bar turns red when high). */
  lowerBetter?: boolean;
}

const COLUMNS: Column[] = [
  { key: "reported", label: "上报 Reported", kind: "count" },
  { key: "opened", label: "立案 Opened", kind: "count" },
  { key: "closed", label: "结案 Closed", kind: "count" },
  { key: "closure_rate", label: "结案率 Closure rate", kind: "rate" },
  { key: "on_time_rate", label: "按期结案率 On-time rate", kind: "rate" },
  { key: "rework_rate", label: "返工率 Rework rate", kind: "rate", lowerBetter: true },
  { key: "mean_accept_minutes", label: "平均受理 Mean accept", kind: "minutes", lowerBetter: true },
  { key: "mean_handle_minutes", label: "平均处置 Mean handle", kind: "minutes", lowerBetter: true },
  { key: "mean_close_minutes", label: "平均结案 Mean close", kind: "minutes", lowerBetter: true },
];

const REFRESH_DEBOUNCE_MS = 3000;

/** "YYYY-MM-DD" plus `days` (calendar arithmetic, no zone involved). */
export function addDays(day: string, days: number): string {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y ?? 1970, (m ?? 1) - 1, (d ?? 1) + days)).toISOString().slice(0, 10);
}

/** Milliseconds the zone is ahead of UTC at instant `t`. */
function zoneOffset(t: number, tz: string): number {
  const parts: Record<string, number> = {};
  const fmt = new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  for (const p of fmt.formatToParts(new Date(t))) parts[p.type] = Number(p.value);
  const asUtc = Date.UTC(parts["year"] ?? 1970, (parts["month"] ?? 1) - 1, parts["day"] ?? 1, parts["hour"] ?? 0, parts["minute"] ?? 0, parts["second"] ?? 0);
  return asUtc - Math.floor(t / 1000) * 1000;
}

/** The instant a local day ("YYYY-MM-DD") of the zone begins. */
export function dayStart(day: string, tz: string = timezone()): Date {
  const [y, m, d] = day.split("-").map(Number);
  const wall = Date.UTC(y ?? 1970, (m ?? 1) - 1, d ?? 1);
  let t = wall - zoneOffset(wall, tz);
  t = wall - zoneOffset(t, tz); // again, in case the offset changed in between (DST)
  return new Date(t);
}

function rateText(v: number | null): string {
  return v === null ? "—" : `${(v * 100).toFixed(1)}%`;
}

function minutesText(v: number | null): string {
  if (v === null) return "—";
  if (v < 120) return `${v.toFixed(1)} 分`;
  if (v < 48 * 60) return `${(v / 60).toFixed(1)} 小时`;
  return `${(v / 1440).toFixed(1)} 天`;
}

function cellText(c: Column, v: number | null): string {
  if (c.kind === "rate") return rateText(v);
  if (c.kind === "minutes") return minutesText(v);
  return v === null ? "—" : String(v);
}

export class StatsPanel {
  readonly el: HTMLElement;
  private readonly bySelect: HTMLSelectElement;
  private readonly rangeButtons = new Map<RangeId, HTMLButtonElement>();
  private readonly fromInput: HTMLInputElement;
  private readonly toInput: HTMLInputElement;
  private readonly customBox: HTMLSpanElement;
  private readonly rangeText: HTMLSpanElement;
  private readonly summary: HTMLDivElement;
  private readonly head: HTMLTableSectionElement;
  private readonly body: HTMLTableSectionElement;
  private readonly foot: HTMLTableSectionElement;
  private readonly note: HTMLDivElement;
  private readonly csv: HTMLButtonElement;
  private range: RangeId = "today";
  private sortKey: NumKey | "name" = "reported";
  private sortDesc = true;
  private stats: CaseStats | null = null;
  private loadToken = 0;
  private visible = false;
  private refreshTimer: number | undefined;

  constructor(private readonly onError: (msg: string) => void) {
    this.bySelect = h("select", { id: "stats-by", "aria-label": "分组 Group by" }, ...GROUPS.map((g) => h("option", { value: g.id, text: g.label })));
    this.bySelect.value = "grid";
    this.bySelect.addEventListener("change", () => void this.load());
    const ranges = h("span", { class: "stats-ranges", role: "group", "aria-label": "时间范围 Time range" });
    for (const r of RANGES) {
      const b = h("button", { class: "range-btn", id: `stats-range-${r.id}`, "data-range": r.id, text: r.label });
      b.addEventListener("click", () => this.setRange(r.id));
      this.rangeButtons.set(r.id, b);
      ranges.append(b);
    }
    const today = localDay(new Date());
    this.fromInput = h("input", { type: "date", id: "stats-from", "aria-label": "开始日期 From", value: addDays(today, -6) });
    this.toInput = h("input", { type: "date", id: "stats-to", "aria-label": "结束日期 To (inclusive)", value: today });
    for (const i of [this.fromInput, this.toInput]) i.addEventListener("change", () => void this.load());
    this.customBox = h("span", { class: "stats-custom", hidden: true }, this.fromInput, h("span", { class: "muted", text: "至 to" }), this.toInput);
    const refresh = h("button", { class: "ghost", id: "stats-refresh", text: "刷新 Refresh" });
    refresh.addEventListener("click", () => void this.load());
    this.csv = h("button", { id: "stats-csv", text: "导出 CSV Export" });
    this.csv.addEventListener("click", () => void this.download());
    this.rangeText = h("span", { class: "muted small", id: "stats-range-text" });

    this.summary = h("div", { class: "stats-summary", id: "stats-summary" });
    this.head = h("thead");
    this.body = h("tbody");
    this.foot = h("tfoot");
    this.note = h("div", { class: "empty-note", text: "加载中 Loading" });
    this.el = h(
      "section",
      { class: "stats-view", id: "stats-view", hidden: true },
      h("div", { class: "stats-bar" }, h("span", { class: "toolbar-label", text: "统计 Statistics" }), this.bySelect, ranges, this.customBox, refresh, this.csv),
      h("div", { class: "stats-sub" }, this.rangeText),
      this.summary,
      h("div", { class: "stats-scroll" }, h("table", { class: "stats-table", id: "stats-table" }, this.head, this.body, this.foot), this.note),
    );
    this.markRange();
    this.renderHead();
  }

  show(): void {
    this.visible = true;
    this.el.hidden = false;
    void this.load();
  }

  hide(): void {
    this.visible = false;
    this.el.hidden = true;
    window.clearTimeout(this.refreshTimer);
  }

  /** A case changed on the hub: the figures follow a few seconds later (debounced). */
  changed(): void {
    if (!this.visible || this.refreshTimer !== undefined) return;
    this.refreshTimer = window.setTimeout(() => {
      this.refreshTimer = undefined;
      if (this.visible) void this.load();
    }, REFRESH_DEBOUNCE_MS);
  }

  private setRange(id: RangeId): void {
    this.range = id;
    this.markRange();
    void this.load();
  }

  private markRange(): void {
    for (const [k, b] of this.rangeButtons) b.classList.toggle("active", k === this.range);
    this.customBox.hidden = this.range !== "custom";
  }

  /** The query: local days of the site's zone; "today" and "N days" run until now. */
  query(): StatsQuery {
    const by = this.bySelect.value as StatsGroup;
    const today = localDay(new Date());
    if (this.range === "custom") {
      let [from, to] = [this.fromInput.value || today, this.toInput.value || today];
      if (from > to) [from, to] = [to, from];
      return { by, since: dayStart(from).toISOString(), until: dayStart(addDays(to, 1)).toISOString() };
    }
    const back = this.range === "7d" ? 6 : this.range === "30d" ? 29 : 0;
    return { by, since: dayStart(addDays(today, -back)).toISOString(), until: null };
  }

  async load(): Promise<void> {
    const token = ++this.loadToken;
    const q = this.query();
    try {
      const stats = await getCaseStats(q);
      if (token !== this.loadToken) return;
      this.stats = stats;
      this.rangeText.textContent = `${q.since ? stampText(q.since) : "—"} 至 ${q.until ? stampText(q.until) : "现在 now"} · ${timezone()}`;
      this.render();
    } catch (err) {
      if (token !== this.loadToken) return;
      if (err instanceof ApiError && (err.status === 503 || err.status === 404)) {
        this.note.textContent = "案件服务未启用 Cases are not available";
        this.note.hidden = false;
        this.body.replaceChildren();
        this.foot.replaceChildren();
        return;
      }
      if (err instanceof ApiError && err.status !== 401) this.onError(err.detail);
    }
  }

  private async download(): Promise<void> {
    this.csv.disabled = true;
    try {
      const { blob, filename } = await getCaseStatsCsv(this.query());
      const url = URL.createObjectURL(blob);
      const a = h("a", { href: url, download: filename, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      if (err instanceof ApiError && err.status !== 401) this.onError(err.detail);
    } finally {
      this.csv.disabled = false;
    }
  }

  private renderHead(): void {
    const th = (key: NumKey | "name", label: string, cls = ""): HTMLTableCellElement => {
      const sorted = this.sortKey === key;
      const cell = h("th", {
        class: `sortable ${cls}${sorted ? ` sorted ${this.sortDesc ? "desc" : "asc"}` : ""}`,
        "data-sort": key,
        tabindex: 0,
        "aria-sort": sorted ? (this.sortDesc ? "descending" : "ascending") : "none",
        title: label,
      });
      // Chinese over English: the table stays narrow enough for the centre of the wall.
      const cut = label.indexOf(" ");
      cell.append(h("span", { class: "th-zh", text: cut > 0 ? label.slice(0, cut) : label }));
      if (cut > 0) cell.append(h("span", { class: "th-en", text: label.slice(cut + 1) }));
      const sort = (): void => {
        if (this.sortKey === key) this.sortDesc = !this.sortDesc;
        else {
          this.sortKey = key;
          this.sortDesc = key !== "name";
        }
        this.renderHead();
        this.renderRows();
      };
      cell.addEventListener("click", sort);
      cell.addEventListener("keydown", (e) => {
        if (e.key === "Enter") sort();
      });
      return cell;
    };
    this.head.replaceChildren(h("tr", {}, th("name", "名称 Name", "name"), ...COLUMNS.map((c) => th(c.key, c.label, "num"))));
  }

  private render(): void {
    const s = this.stats;
    if (!s) return;
    const t = s.total;
    const card = (label: string, value: string, id: string): HTMLElement => h("div", { class: "stat-card", id }, h("div", { class: "stat-value", text: value }), h("div", { class: "stat-label", text: label }));
    this.summary.replaceChildren(
      card("上报 Reported", String(t.reported), "stats-total-reported"),
      card("立案 Opened", String(t.opened), "stats-total-opened"),
      card("结案 Closed", String(t.closed), "stats-total-closed"),
      card("结案率 Closure rate", rateText(t.closure_rate), "stats-total-closure"),
      card("按期结案率 On-time rate", rateText(t.on_time_rate), "stats-total-ontime"),
      card("返工率 Rework rate", rateText(t.rework_rate), "stats-total-rework"),
      card("平均受理 Mean accept", minutesText(t.mean_accept_minutes), "stats-total-accept"),
      card("平均处置 Mean handle", minutesText(t.mean_handle_minutes), "stats-total-handle"),
      card("平均结案 Mean close", minutesText(t.mean_close_minutes), "stats-total-close"),
    );
    this.renderRows();
  }

  private renderRows(): void {
    const s = this.stats;
    if (!s) return;
    const rows = [...s.rows];
    const name = (r: CaseStatsRow): string => r.name || r.key || "未指定 Unassigned";
    const dir = this.sortDesc ? -1 : 1;
    const key = this.sortKey;
    rows.sort((a, b) => {
      if (key === "name") return dir * name(a).localeCompare(name(b), "zh-CN");
      const [x, y] = [a[key], b[key]];
      if (x === null || x === undefined) return y === null || y === undefined ? 0 : 1; // empty last
      if (y === null || y === undefined) return -1;
      return dir * (x - y) || name(a).localeCompare(name(b), "zh-CN");
    });
    const max = new Map<NumKey, number>();
    for (const c of COLUMNS) max.set(c.key, Math.max(0, ...s.rows.map((r) => r[c.key] ?? 0)));
    this.body.replaceChildren(...rows.map((r) => this.row(r, name(r), max)));
    this.foot.replaceChildren(this.row(s.total, "合计 Total", max, true));
    this.note.textContent = "所选时间内无案件 No cases in this range";
    this.note.hidden = rows.length > 0;
  }

  private row(r: CaseStatsRow, label: string, max: Map<NumKey, number>, total = false): HTMLTableRowElement {
    const tr = h("tr", { class: total ? "total" : "", "data-key": total ? "__total__" : (r.key ?? "") }, h("td", { class: "name", text: label, title: r.key ?? "" }));
    for (const c of COLUMNS) {
      const v = r[c.key] ?? null;
      const td = h("td", { class: "num", "data-col": c.key }, h("span", { class: "val", text: cellText(c, v) }));
      if (!total && v !== null) {
        const top = c.kind === "rate" ? 1 : (max.get(c.key) ?? 0);
        const frac = top > 0 ? Math.min(1, v / top) : 0;
        const fill = h("span", { class: `fill ${c.kind}${c.lowerBetter ? " lower" : ""}${c.kind === "rate" ? (c.lowerBetter ? (v > 0.2 ? " bad" : "") : v < 0.8 ? " bad" : "") : ""}` });
        fill.style.width = `${(frac * 100).toFixed(1)}%`; // CSSOM, allowed by the strict CSP
        td.append(h("span", { class: "bar", "aria-hidden": "true" }, fill));
      }
      tr.append(td);
    }
    return tr;
  }
}
