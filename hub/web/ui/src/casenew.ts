// New case (新建案件 New case): an operator enters a report taken by phone (the 12345 hotline, a
// resident calling) or seen on the wall. The form sits where the case detail does, beside the
// queue, so that the map stays in view: the place is a grid chosen from the site's streets and
// communities, or a point picked on the map (its grid shown as the hub will find it). The hub
// checks everything (POST /api/cases); its problem details are shown in the form, field by field
// for a 422. On success the new case opens in the detail drawer.
//
// Keys: Esc cancels a pick, else closes the form (the draft stays until it is sent); Enter in a
// one-line field does not send a half-typed case, Ctrl+Enter sends from anywhere; Enter in the
// description is a new line.
import { ApiError, createCase, getCategories } from "./api";
import { h } from "./dom";
import { gridAt } from "./map";
import { shortName } from "./tree";
import type { Case, CaseCategory, NewCaseBody, SiteInfo, TimeLimit } from "./types";

export interface CaseNewDeps {
  /** Show the map and let the user pick a point: `done` gets [lon, lat], or null if cancelled. */
  pick: (done: (p: [number, number] | null) => void) => void;
  cancelPick: () => void;
  /** Mark the picked point on the map (null: remove the mark). */
  mark: (p: [number, number] | null) => void;
  /** Whether the case detail is open over the form (Esc is then the detail's). */
  detailOpen: () => boolean;
  onCreated: (c: Case) => void;
}

const UNIT_LABEL: Record<TimeLimit["unit"], string> = {
  working_hours: "工作小时",
  working_days: "工作日",
  hours: "小时",
  minutes: "分钟",
};

/** "4 工作小时", "15 分钟": a limit as the catalogue states it. */
export function limitText(l: TimeLimit): string {
  return `${l.amount} ${UNIT_LABEL[l.unit] ?? l.unit}`;
}

/** "时限 Limits: 受理 0.5 工作小时 · 派遣 … · 总 6 工作小时" (and whether it dispatches itself). */
export function limitsLine(c: CaseCategory): string {
  const l = c.limits;
  const parts = [`受理 ${limitText(l.accept)}`, `派遣 ${limitText(l.dispatch)}`, `处置 ${limitText(l.handle)}`, `核查 ${limitText(l.check)}`, `总 ${limitText(l.total)}`];
  const natural = l.total.unit === "hours" || l.total.unit === "minutes";
  return `时限 Limits: ${parts.join(" · ")}${natural ? " (自然时间 day and night)" : " (工作时间 working time)"}${c.auto_dispatch ? " · 自动派遣 Auto-dispatched" : ""}`;
}

/** Words for the fields a 422 names (`loc` ["body", "title"]). */
const FIELD_LABEL: Record<string, string> = {
  category: "类别 Category",
  title: "标题 Title",
  description: "描述 Description",
  address: "地址 Address",
  position: "位置 Position",
  grid_id: "网格 Grid",
};

type PlaceMode = "grid" | "point";

export class CaseNewForm {
  readonly el: HTMLElement;
  private readonly form: HTMLFormElement;
  private readonly category: HTMLSelectElement;
  private readonly limit: HTMLDivElement;
  private readonly title: HTMLInputElement;
  private readonly description: HTMLTextAreaElement;
  private readonly address: HTMLInputElement;
  private readonly modeGrid: HTMLInputElement;
  private readonly modePoint: HTMLInputElement;
  private readonly grid: HTMLSelectElement;
  private readonly gridRow: HTMLElement;
  private readonly pointRow: HTMLElement;
  private readonly pointText: HTMLSpanElement;
  private readonly pickBtn: HTMLButtonElement;
  private readonly clearBtn: HTMLButtonElement;
  private readonly error: HTMLDivElement;
  private readonly submit: HTMLButtonElement;
  private readonly fields = new Map<string, HTMLElement>();
  private categories: CaseCategory[] = [];
  private site: SiteInfo | null = null;
  private point: [number, number] | null = null;
  private picking = false;
  private busy = false;
  private readonly onKey = (e: KeyboardEvent): void => {
    if (e.key !== "Escape") return;
    if (this.picking) {
      e.stopPropagation();
      this.deps.cancelPick();
      return;
    }
    if (this.el.hidden || this.deps.detailOpen()) return;
    this.close();
  };

  constructor(private readonly deps: CaseNewDeps) {
    this.category = h("select", { id: "case-new-category", name: "category" }, h("option", { value: "", text: "加载中 Loading…" }));
    this.limit = h("div", { class: "hint case-new-limit", id: "case-new-limit" });
    this.category.addEventListener("change", () => this.showLimit());
    this.title = h("input", { id: "case-new-title", name: "title", type: "text", maxlength: 200, autocomplete: "off", placeholder: "如：人行道井盖缺失 e.g. manhole cover missing" });
    this.description = h("textarea", { id: "case-new-description", name: "description", maxlength: 2000, rows: 4, placeholder: "来电人所述情况 What the caller reports" });
    this.address = h("input", { id: "case-new-address", name: "address", type: "text", maxlength: 200, autocomplete: "off", placeholder: "如：秀水路12号门前 e.g. in front of 12 Xiushui Rd" });

    this.modeGrid = h("input", { type: "radio", name: "case-new-place", id: "case-new-place-grid", value: "grid" });
    this.modePoint = h("input", { type: "radio", name: "case-new-place", id: "case-new-place-point", value: "point", checked: true });
    for (const r of [this.modeGrid, this.modePoint]) r.addEventListener("change", () => this.setMode(r.value as PlaceMode));
    this.grid = h("select", { id: "case-new-grid", name: "grid_id", "aria-label": "网格 Grid" }, h("option", { value: "", text: "选择网格 Choose a grid" }));
    this.pickBtn = h("button", { type: "button", id: "case-new-pick", text: "在地图上选点 Pick on the map" });
    this.pickBtn.addEventListener("click", () => this.startPick());
    this.clearBtn = h("button", { type: "button", class: "ghost", id: "case-new-point-clear", text: "清除 Clear", hidden: true });
    this.clearBtn.addEventListener("click", () => this.setPoint(null));
    this.pointText = h("span", { class: "case-new-point", id: "case-new-point", text: "未选点 No point yet" });
    this.gridRow = h("div", { class: "case-new-place-row", hidden: true }, this.grid);
    this.pointRow = h("div", { class: "case-new-place-row" }, this.pickBtn, this.pointText, this.clearBtn);

    this.error = h("div", { class: "form-error", id: "case-new-error", role: "alert", hidden: true });
    this.submit = h("button", { type: "submit", class: "primary", id: "case-new-submit", text: "提交 Submit" });
    const cancel = h("button", { type: "button", id: "case-new-cancel", text: "取消 Cancel" });
    cancel.addEventListener("click", () => this.close());

    const field = (name: string, label: string, control: HTMLElement, ...extra: HTMLElement[]): HTMLElement => {
      const el = h("label", { class: "field", "data-field": name }, h("span", { text: label }), control, ...extra);
      this.fields.set(name, el);
      return el;
    };
    const place = h(
      "fieldset",
      { class: "field case-new-place", "data-field": "place" },
      h("legend", { text: "位置 Place" }),
      h(
        "div",
        { class: "case-new-modes" },
        h("label", { class: "inline" }, this.modePoint, h("span", { text: "地图选点 Point on the map" })),
        h("label", { class: "inline" }, this.modeGrid, h("span", { text: "选择网格 A grid" })),
      ),
      this.pointRow,
      this.gridRow,
    );
    this.fields.set("position", place);
    this.fields.set("grid_id", place);
    this.form = h(
      "form",
      { class: "case-new-form", id: "case-new-form", novalidate: true, autocomplete: "off" },
      this.error,
      field("category", "类别 Category *", this.category, this.limit),
      field("title", "标题 Title *", this.title),
      field("description", "描述 Description", this.description),
      field("address", "地址 Address", this.address),
      place,
      h("div", { class: "case-new-buttons" }, this.submit, cancel, h("span", { class: "hint", text: "Ctrl+Enter 提交 submits" })),
    );
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.send();
    });
    this.form.addEventListener("keydown", (e) => this.onFormKey(e));

    const close = h("button", { type: "button", class: "icon-btn", id: "case-new-close", title: "关闭 Close", "aria-label": "关闭 Close", text: "×" });
    close.addEventListener("click", () => this.close());
    this.el = h(
      "aside",
      { class: "case-detail case-new", id: "case-new", role: "dialog", "aria-labelledby": "case-new-heading", hidden: true },
      h("div", { class: "panel-head" }, h("h2", { class: "panel-title", id: "case-new-heading", text: "新建案件 New case" }), close),
      h("div", { class: "case-body" }, this.form),
    );
    // Capture: it runs before the detail's own Esc, and a pick's Esc goes no further.
    document.addEventListener("keydown", this.onKey, true);
  }

  get isOpen(): boolean {
    return !this.el.hidden || this.picking;
  }

  setSite(site: SiteInfo): void {
    this.site = site;
    const d = site.district;
    const keep = this.grid.value;
    const groups: HTMLOptGroupElement[] = [];
    for (const st of d.streets) {
      for (const cm of st.communities) {
        const label = `${shortName(st.name, [d.name])} · ${shortName(cm.name, [d.name, st.name])}`;
        groups.push(h("optgroup", { label }, ...cm.grids.map((g) => h("option", { value: g.id, text: shortName(g.name, [d.name, st.name, cm.name]) }))));
      }
    }
    this.grid.replaceChildren(h("option", { value: "", text: "选择网格 Choose a grid" }), ...groups);
    this.grid.value = keep;
    this.showPoint();
  }

  /** Open the form (the draft, if any, as it was left) with the category list fresh. */
  open(): void {
    if (this.picking) this.deps.cancelPick(); // the form comes back as the pick ends
    this.el.hidden = false;
    if (this.point) this.deps.mark(this.point);
    this.category.focus();
    if (!this.categories.length) void this.loadCategories();
  }

  close(): void {
    if (this.picking) this.deps.cancelPick();
    this.el.hidden = true;
    this.deps.mark(null);
  }

  dispose(): void {
    document.removeEventListener("keydown", this.onKey, true);
  }

  private async loadCategories(): Promise<void> {
    try {
      const cat = await getCategories();
      this.categories = cat.categories;
    } catch (err) {
      this.showError(err instanceof ApiError ? err.detail : String(err));
      return;
    }
    const majors = new Map<string, CaseCategory[]>();
    for (const c of this.categories) {
      const key = `${c.major_code} ${c.major_name}`;
      majors.set(key, [...(majors.get(key) ?? []), c]);
    }
    const keep = this.category.value;
    this.category.replaceChildren(
      h("option", { value: "", text: "选择类别 Choose a category" }),
      ...[...majors.entries()].map(([major, list]) =>
        h("optgroup", { label: major }, ...list.map((c) => h("option", { value: c.code, "data-major": c.major_code, text: `${c.code} ${c.name} ${c.name_en} · ${limitText(c.limits.total)}` }))),
      ),
    );
    this.category.value = keep;
    this.showLimit();
  }

  private showLimit(): void {
    const c = this.categories.find((x) => x.code === this.category.value);
    this.limit.textContent = c ? limitsLine(c) : "";
    this.limit.hidden = !c;
  }

  private setMode(mode: PlaceMode): void {
    this.modeGrid.checked = mode === "grid";
    this.modePoint.checked = mode === "point";
    this.gridRow.hidden = mode !== "grid";
    this.pointRow.hidden = mode !== "point";
    this.deps.mark(mode === "point" ? this.point : null);
  }

  private startPick(): void {
    this.setMode("point");
    this.picking = true;
    this.el.hidden = true; // out of the map's way; back with the point
    this.deps.pick((p) => {
      this.picking = false;
      this.el.hidden = false;
      if (p) this.setPoint(p);
      this.pickBtn.focus();
    });
  }

  private setPoint(p: [number, number] | null): void {
    this.point = p;
    this.deps.mark(p);
    this.showPoint();
  }

  /** "120.123456, 31.123456 · 网格 秀水坊社区-第1网格", or that it lies outside every grid. */
  private showPoint(): void {
    const p = this.point;
    this.clearBtn.hidden = !p;
    this.pickBtn.textContent = p ? "重新选点 Pick again" : "在地图上选点 Pick on the map";
    const el = this.pointText;
    if (!p) {
      el.textContent = "未选点 No point yet";
      el.removeAttribute("data-lon");
      el.removeAttribute("data-lat");
      el.removeAttribute("data-grid-id");
      el.classList.remove("outside");
      return;
    }
    el.dataset["lon"] = String(p[0]);
    el.dataset["lat"] = String(p[1]);
    const hit = this.site ? gridAt(this.site, p) : null;
    el.dataset["gridId"] = hit?.grid.id ?? "";
    el.classList.toggle("outside", !hit);
    const where = hit ? `网格 Grid ${hit.grid.name}` : "不在任何网格内 Outside every grid";
    el.textContent = `${p[0].toFixed(6)}, ${p[1].toFixed(6)} · ${where}`;
  }

  private onFormKey(e: KeyboardEvent): void {
    if (e.key !== "Enter" || e.isComposing) return;
    if (e.ctrlKey || e.metaKey) {
      e.preventDefault();
      this.form.requestSubmit();
      return;
    }
    // A one-line field would send the form on Enter: a half-typed case. The description takes it
    // as a new line; buttons and selects do what they do.
    if (e.target instanceof HTMLInputElement) e.preventDefault();
  }

  private body(): NewCaseBody {
    const body: NewCaseBody = { title: this.title.value.trim(), description: this.description.value.trim() };
    if (this.category.value) body.category = this.category.value;
    const address = this.address.value.trim();
    if (address) body.address = address;
    if (this.modePoint.checked) {
      if (this.point) body.position = this.point;
    } else if (this.grid.value) body.grid_id = this.grid.value;
    return body;
  }

  private async send(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.submit.disabled = true;
    this.clearErrors();
    try {
      const c = await createCase(this.body());
      this.reset();
      this.close();
      this.deps.onCreated(c);
    } catch (err) {
      if (err instanceof ApiError) this.showProblem(err);
      else this.showError(String(err));
    } finally {
      this.busy = false;
      this.submit.disabled = false;
    }
  }

  private reset(): void {
    this.form.reset();
    this.category.value = "";
    this.showLimit();
    this.point = null;
    this.showPoint();
    this.setMode("point");
    this.clearErrors();
  }

  /** The hub's problem: its detail, and for a 422 each invalid field named and marked. */
  private showProblem(err: ApiError): void {
    const lines: string[] = [];
    for (const e of err.errors) {
      const name = String(e.loc[e.loc.length - 1] ?? "");
      const key = e.loc[0] === "body" && typeof e.loc[1] === "string" ? e.loc[1] : name;
      const el = this.fields.get(key);
      if (el) el.classList.add("invalid");
      lines.push(`${FIELD_LABEL[key] ?? key}: ${e.msg}`);
    }
    if (!lines.length && /position|grid/i.test(err.detail)) this.fields.get("position")?.classList.add("invalid");
    const head = err.status === 422 && lines.length ? "请检查 Please check" : `提交失败 Not saved (${err.status || "—"})`;
    this.showError(lines.length ? `${head}: ${lines.join("; ")}` : `${head}: ${err.detail}`);
    const first = [...this.fields.values()].find((f) => f.classList.contains("invalid"));
    first?.querySelector<HTMLElement>("select, input, textarea, button")?.focus();
  }

  private showError(text: string): void {
    this.error.textContent = text;
    this.error.hidden = false;
  }

  private clearErrors(): void {
    this.error.hidden = true;
    this.error.textContent = "";
    for (const f of this.fields.values()) f.classList.remove("invalid");
  }
}
