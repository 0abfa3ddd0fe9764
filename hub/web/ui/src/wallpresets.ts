// Saved layouts (预案): the wall's grid and cameras under a name, kept on the hub
// (/api/wall/layouts) so that every operator's wall can call them up.
import { ApiError, request } from "./api";
import type { components } from "./api-types";
import { h } from "./dom";
import type { LayoutId, Wall } from "./wall";

export type SavedLayout = components["schemas"]["Layout"];
type LayoutIn = components["schemas"]["LayoutIn"];

export function listLayouts(): Promise<SavedLayout[]> {
  return request<SavedLayout[]>("/api/wall/layouts");
}

export function saveLayout(body: LayoutIn, id?: number): Promise<SavedLayout> {
  const init = { method: id ? "PUT" : "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } };
  return request<SavedLayout>(id ? `/api/wall/layouts/${id}` : "/api/wall/layouts", init);
}

export function deleteLayout(id: number): Promise<void> {
  return request<void>(`/api/wall/layouts/${id}`, { method: "DELETE" });
}

export function errorText(err: unknown): string {
  return err instanceof ApiError ? err.detail || err.message : String(err);
}

/** The 预案 drop-down of the wall toolbar: apply, save the wall as, overwrite, delete. */
export class PresetsPanel {
  readonly button: HTMLButtonElement;
  readonly el: HTMLDivElement;
  private readonly list: HTMLUListElement;
  private readonly nameInput: HTMLInputElement;
  private readonly msg: HTMLDivElement;

  constructor(private readonly wall: Wall, private readonly beforeApply: () => void) {
    this.button = h("button", { class: "wall-btn", id: "open-presets", text: "预案 Layouts", title: "保存的布局 Saved layouts" });
    this.list = h("ul", { class: "wall-pop-list", id: "preset-list" });
    this.nameInput = h("input", { id: "preset-name", maxlength: 64, placeholder: "名称 Name" });
    const save = h("button", { id: "preset-save", text: "保存当前 Save current" });
    this.msg = h("div", { class: "form-error", hidden: true });
    this.el = h(
      "div",
      { class: "wall-pop", id: "presets-panel", hidden: true },
      h("div", { class: "wall-pop-title", text: "预案 Saved layouts" }),
      this.list,
      h("div", { class: "wall-pop-row" }, this.nameInput, save),
      this.msg,
    );
    this.button.addEventListener("click", () => this.toggle());
    save.addEventListener("click", () => void this.saveCurrent());
  }

  toggle(): void {
    this.el.hidden = !this.el.hidden;
    if (!this.el.hidden) void this.load();
  }

  async load(): Promise<void> {
    try {
      const items = await listLayouts();
      this.list.replaceChildren(
        ...(items.length ? items.map((l) => this.row(l)) : [h("li", { class: "dim", text: "暂无 None yet" })]),
      );
      this.say("");
    } catch (err) {
      this.say(errorText(err));
    }
  }

  private row(l: SavedLayout): HTMLLIElement {
    const apply = h("button", { class: "preset-apply", text: l.name, title: `${l.grid} · ${l.updated_by}` });
    const overwrite = h("button", { class: "preset-overwrite", text: "覆盖 Overwrite" });
    const del = h("button", { class: "preset-delete", text: "删除 Delete" });
    apply.addEventListener("click", () => {
      this.beforeApply();
      this.wall.apply({ layout: l.grid as LayoutId, tiles: l.tiles });
      this.el.hidden = true;
    });
    overwrite.addEventListener("click", () => void this.save(l.name, l.id));
    del.addEventListener("click", () => {
      if (!window.confirm(`删除预案 Delete "${l.name}"?`)) return;
      deleteLayout(l.id).then(() => this.load(), (err: unknown) => this.say(errorText(err)));
    });
    return h("li", { class: "preset", "data-preset-id": l.id }, apply, overwrite, del);
  }

  private async saveCurrent(): Promise<void> {
    const name = this.nameInput.value.trim();
    if (!name) {
      this.say("请输入名称 Enter a name");
      return;
    }
    await this.save(name);
  }

  private async save(name: string, id?: number): Promise<void> {
    const snap = this.wall.snapshot();
    try {
      await saveLayout({ name, grid: snap.layout, tiles: snap.tiles }, id);
      this.nameInput.value = "";
      await this.load();
    } catch (err) {
      this.say(errorText(err));
    }
  }

  private say(text: string): void {
    this.msg.textContent = text;
    this.msg.hidden = !text;
  }
}
