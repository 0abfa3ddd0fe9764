// A patrol report (随手拍): what the worker found, a photo, where it is (the phone's position),
// and whether they handled it on the spot (自行处置, for minor cases; it still gets checked).
import { ApiError } from "../api";
import { h } from "../dom";
import type { CaseCategory, Catalogue } from "../types";
import { sendReport } from "./api";
import type { LonLat } from "../minimap";
import { PhotoPicker } from "./photos";

export interface ReportDeps {
  catalogue: () => Catalogue | null;
  me: () => LonLat | null;
  done: (caseId: number) => void;
}

export class ReportView {
  readonly el: HTMLElement;
  private readonly form: HTMLFormElement;
  private picker = new PhotoPicker("report");

  constructor(private readonly deps: ReportDeps) {
    this.form = h("form", { class: "card report", id: "report-form" });
    this.el = h("section", { class: "view report-view", id: "report-view" }, this.form);
  }

  show(): void {
    this.render();
  }

  hide(): void {
    // Nothing runs while hidden; an unfinished report stays until the next show.
  }

  private render(): void {
    this.picker = new PhotoPicker("report");
    const cats = this.deps.catalogue()?.categories ?? [];
    const select = h("select", { id: "report-category", required: true }, h("option", { value: "", text: "选择类别 Choose a type" }));
    const groups = new Map<string, HTMLOptGroupElement>();
    for (const c of cats) {
      let g = groups.get(c.major_code);
      if (!g) {
        g = h("optgroup", { label: `${c.major_name}` });
        groups.set(c.major_code, g);
        select.append(g);
      }
      g.append(h("option", { value: c.code, text: `${c.name} ${c.name_en}` }));
    }
    const title = h("input", { id: "report-title", required: true, maxlength: 200, placeholder: "简要描述 What is it" });
    const desc = h("textarea", { id: "report-description", rows: 3, maxlength: 2000, placeholder: "详细情况 Details (optional)" });
    const onSpot = h("input", { type: "checkbox", id: "report-on-spot" });
    const onSpotRow = h("label", { class: "check", hidden: true }, onSpot, h("span", { text: "已自行处置 Handled on the spot" }));
    const where = h("p", { class: "muted", id: "report-where" });
    const error = h("div", { class: "form-error", role: "alert", hidden: true });
    const submit = h("button", { type: "submit", class: "primary big", id: "report-submit", text: "上报 Report" });
    const paintWhere = (): void => {
      const me = this.deps.me();
      where.textContent = me ? `位置 Position ${me[1].toFixed(5)}, ${me[0].toFixed(5)}` : "等待定位，请先上岗 Waiting for a position: go on duty";
    };
    paintWhere();
    select.addEventListener("change", () => {
      const c: CaseCategory | undefined = cats.find((x) => x.code === select.value);
      onSpotRow.hidden = !c?.minor_on_spot;
      if (onSpotRow.hidden) onSpot.checked = false;
      if (c && !title.value) title.value = c.name;
    });
    this.form.replaceChildren(
      h("h2", { text: "随手拍 Patrol report" }),
      select,
      title,
      desc,
      this.picker.el,
      onSpotRow,
      where,
      error,
      submit,
    );
    this.form.onsubmit = (e) => {
      e.preventDefault();
      paintWhere();
      const me = this.deps.me();
      if (!me) {
        error.textContent = "没有定位，无法上报 No position yet: go on duty and allow location";
        error.hidden = false;
        return;
      }
      submit.disabled = true;
      error.hidden = true;
      void (async () => {
        try {
          const photos = await this.picker.ids();
          const c = await sendReport({
            category: select.value,
            title: title.value.trim(),
            description: desc.value.trim(),
            position: [me[0], me[1]],
            photos,
            on_spot: onSpot.checked,
          });
          this.deps.done(c.id);
          this.render();
        } catch (err) {
          error.textContent = err instanceof ApiError ? err.detail : String(err);
          error.hidden = false;
        } finally {
          submit.disabled = false;
        }
      })();
    };
  }
}
