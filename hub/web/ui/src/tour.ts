// Tours (轮巡): each group of tiles shows its cameras a tile-full at a time and moves on every
// dwell seconds, wrapping around. Tours are kept on the hub (/api/wall/tours); running one is
// this wall's business: it stops when the operator changes the wall by hand.
import { request } from "./api";
import type { components } from "./api-types";
import { h } from "./dom";
import type { LayoutId, Wall } from "./wall";
import { errorText } from "./wallpresets";

export type SavedTour = components["schemas"]["Tour"];
type TourIn = components["schemas"]["TourIn"];
type TourGroup = components["schemas"]["TourGroup"];

export function listTours(): Promise<SavedTour[]> {
  return request<SavedTour[]>("/api/wall/tours");
}

export function saveTour(body: TourIn): Promise<SavedTour> {
  return request<SavedTour>("/api/wall/tours", { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
}

export function deleteTour(id: number): Promise<void> {
  return request<void>(`/api/wall/tours/${id}`, { method: "DELETE" });
}

/** The cameras of step `step` of a group: a tile-full, wrapping round the list. */
export function groupStep(group: TourGroup, step: number): [number, string | null][] {
  const n = group.tiles.length;
  const cams = group.cameras;
  const pages = Math.max(1, Math.ceil(cams.length / n));
  const page = step % pages;
  return group.tiles.map((tile, k) => {
    const i = page * n + k;
    // The last page of a list that does not fill it wraps round to the first cameras.
    const cam = cams.length <= n ? (cams[k] ?? null) : (cams[i % cams.length] ?? null);
    return [tile, cam];
  });
}

/** Runs one tour on the wall: a timer per group. */
export class TourRunner {
  private timers: number[] = [];
  private running: SavedTour | null = null;
  private applying = false;

  constructor(
    private readonly wall: Wall,
    private readonly onChange: (tour: SavedTour | null) => void,
  ) {}

  get current(): SavedTour | null {
    return this.running;
  }

  /** True while the runner itself changes the wall (not a manual change). */
  get busy(): boolean {
    return this.applying;
  }

  start(tour: SavedTour): void {
    this.stop();
    this.running = tour;
    this.wall.el.dataset["tour"] = String(tour.id);
    this.apply(() => this.wall.setLayout(tour.grid as LayoutId));
    tour.groups.forEach((g) => {
      let step = 0;
      this.show(g, step);
      this.timers.push(
        window.setInterval(() => {
          step += 1;
          this.show(g, step);
        }, g.dwell_seconds * 1000),
      );
    });
    this.onChange(tour);
  }

  stop(): void {
    for (const t of this.timers) window.clearInterval(t);
    this.timers = [];
    if (!this.running) return;
    this.running = null;
    delete this.wall.el.dataset["tour"];
    this.onChange(null);
  }

  private show(g: TourGroup, step: number): void {
    this.apply(() => this.wall.assignMany(groupStep(g, step)));
  }

  private apply(fn: () => void): void {
    this.applying = true;
    try {
      fn();
    } finally {
      this.applying = false;
    }
  }
}

/** The 轮巡 drop-down of the wall toolbar: start or stop a tour, make one, delete one. */
export class ToursPanel {
  readonly button: HTMLButtonElement;
  readonly el: HTMLDivElement;
  readonly runner: TourRunner;
  private readonly list: HTMLUListElement;
  private readonly msg: HTMLDivElement;
  private readonly form: HTMLDivElement;
  private readonly nameInput: HTMLInputElement;
  private readonly dwellInput: HTMLInputElement;
  private readonly camList: HTMLDivElement;

  constructor(private readonly wall: Wall) {
    this.runner = new TourRunner(wall, (t) => this.running(t));
    this.button = h("button", { class: "wall-btn", id: "open-tours", text: "轮巡 Tours", title: "轮巡 Camera tours" });
    this.list = h("ul", { class: "wall-pop-list", id: "tour-list" });
    this.msg = h("div", { class: "form-error", hidden: true });
    this.nameInput = h("input", { id: "tour-name", maxlength: 64, placeholder: "名称 Name" });
    this.dwellInput = h("input", { id: "tour-dwell", type: "number", min: 5, max: 3600, value: 10, title: "停留秒数 Dwell (s)" });
    this.camList = h("div", { class: "tour-cams", id: "tour-cams" });
    const create = h("button", { id: "tour-create", text: "保存 Save" });
    this.form = h(
      "div",
      { class: "tour-form" },
      h("div", { class: "wall-pop-row" }, this.nameInput, h("label", { text: "停留 Dwell (s)" }, this.dwellInput)),
      h("div", { class: "hint", text: "所选摄像机依次轮流上墙（当前布局的全部画面）Selected cameras take turns on every tile of the current layout" }),
      this.camList,
      create,
    );
    const stop = h("button", { id: "tour-stop", text: "停止轮巡 Stop tour" });
    this.el = h(
      "div",
      { class: "wall-pop", id: "tours-panel", hidden: true },
      h("div", { class: "wall-pop-title", text: "轮巡 Tours" }),
      this.list,
      stop,
      h("details", {}, h("summary", { text: "新建 New tour" }), this.form),
      this.msg,
    );
    this.button.addEventListener("click", () => this.toggle());
    stop.addEventListener("click", () => this.runner.stop());
    create.addEventListener("click", () => void this.create());
    // Any change by hand ends the tour: the operator took over the wall.
    wall.onManualChange = () => {
      if (!this.runner.busy) this.runner.stop();
    };
  }

  toggle(): void {
    this.el.hidden = !this.el.hidden;
    if (!this.el.hidden) {
      this.fillCameras();
      void this.load();
    }
  }

  async load(): Promise<void> {
    try {
      const tours = await listTours();
      this.list.replaceChildren(...(tours.length ? tours.map((t) => this.row(t)) : [h("li", { class: "dim", text: "暂无 None yet" })]));
      this.say("");
    } catch (err) {
      this.say(errorText(err));
    }
  }

  private row(t: SavedTour): HTMLLIElement {
    const cams = t.groups.reduce((n, g) => n + g.cameras.length, 0);
    const dwell = t.groups.map((g) => `${g.dwell_seconds}s`).join("/");
    const start = h("button", { class: "tour-start", text: `▶ ${t.name}`, title: `${cams} 路 cameras · ${dwell}` });
    const del = h("button", { class: "tour-delete", text: "删除 Delete" });
    start.addEventListener("click", () => {
      this.runner.start(t);
      this.el.hidden = true;
    });
    del.addEventListener("click", () => {
      if (!window.confirm(`删除轮巡 Delete "${t.name}"?`)) return;
      if (this.runner.current?.id === t.id) this.runner.stop();
      deleteTour(t.id).then(() => this.load(), (err: unknown) => this.say(errorText(err)));
    });
    return h("li", { class: "tour", "data-tour-id": t.id }, start, del);
  }

  private fillCameras(): void {
    if (this.camList.childElementCount) return;
    this.camList.append(
      ...this.wall.cameraList.map((c) =>
        h("label", { class: "tour-cam" }, h("input", { type: "checkbox", value: c.id, checked: c.enabled }), ` ${c.name}`),
      ),
    );
  }

  private async create(): Promise<void> {
    const name = this.nameInput.value.trim();
    const dwell = Math.round(Number(this.dwellInput.value));
    const cameras = [...this.camList.querySelectorAll<HTMLInputElement>("input:checked")].map((i) => i.value);
    const tiles = this.wall.visibleCameras.map((_, i) => i);
    if (!name || !cameras.length) {
      this.say("请输入名称并选择摄像机 Enter a name and pick cameras");
      return;
    }
    try {
      await saveTour({ name, grid: this.wall.currentLayout, groups: [{ tiles, cameras, dwell_seconds: dwell }] });
      this.nameInput.value = "";
      await this.load();
    } catch (err) {
      this.say(errorText(err));
    }
  }

  private running(t: SavedTour | null): void {
    this.button.classList.toggle("active", t !== null);
    this.button.textContent = t ? `轮巡中 Touring · ${t.name}` : "轮巡 Tours";
  }

  private say(text: string): void {
    this.msg.textContent = text;
    this.msg.hidden = !text;
  }
}
