// The wall: 16 tiles created once, of which the layout shows 1, 4, 9, 16 or 1+5.
//
// Tiles and their <video> elements live for the whole session: Chrome caps media players per
// page, so layout changes only show, hide, and re-point existing tiles. A hidden tile closes its
// socket; a tile whose camera did not change keeps playing through a layout change.
import { h } from "./dom";
import { STATE_LABEL, stateColour } from "./labels";
import { LivePlayer, type LiveState } from "./live";
import type { Camera, CameraState } from "./types";

export type LayoutId = "1" | "4" | "9" | "16" | "1+5";
export const LAYOUTS: { id: LayoutId; tiles: number; title: string }[] = [
  { id: "1", tiles: 1, title: "单画面 1 tile" },
  { id: "4", tiles: 4, title: "四画面 4 tiles" },
  { id: "9", tiles: 9, title: "九画面 9 tiles" },
  { id: "16", tiles: 16, title: "十六画面 16 tiles" },
  { id: "1+5", tiles: 6, title: "一大五小 1+5 focus" },
];
const MAX_TILES = 16;
const STORE_KEY = "hub.wall";
const DRAG_TYPE = "application/x-camera-id";
const FLASH_MS = 3000;

interface Saved {
  layout: LayoutId;
  cams: (string | null)[];
}

const LIVE_TEXT: Record<LiveState, string> = {
  idle: "",
  connecting: "连接中 Connecting",
  playing: "",
  reconnecting: "重连中 Reconnecting",
  error: "无法播放 Cannot play",
};

class Tile {
  readonly el: HTMLDivElement;
  readonly player: LivePlayer;
  private readonly nameEl: HTMLSpanElement;
  private readonly badgeEl: HTMLSpanElement;
  private readonly overlay: HTMLDivElement;
  private flashTimer: number | undefined;
  cameraId: string | null = null;

  constructor(readonly index: number) {
    const video = h("video", { muted: true, autoplay: true, playsinline: true, disablepictureinpicture: true });
    this.nameEl = h("span", { class: "tile-name" });
    this.badgeEl = h("span", { class: "badge grey" });
    const close = h("button", { class: "tile-close", title: "关闭 Close", "aria-label": "关闭 Close", text: "×" });
    this.overlay = h("div", { class: "tile-overlay" });
    this.el = h(
      "div",
      { class: "tile", "data-index": index },
      video,
      h("div", { class: "tile-head" }, this.badgeEl, this.nameEl, close),
      this.overlay,
      h("div", { class: "tile-index", text: String(index + 1) }),
    );
    close.addEventListener("click", (e) => {
      e.stopPropagation();
      this.el.dispatchEvent(new CustomEvent("tile-close", { bubbles: true, detail: index }));
    });
    this.player = new LivePlayer(video, (s, detail) => this.showLive(s, detail));
    this.showEmpty();
  }

  get video(): HTMLVideoElement {
    return this.player.video;
  }

  show(camera: Camera | undefined, state: CameraState | undefined, visible: boolean): void {
    this.el.hidden = !visible;
    this.cameraId = camera?.id ?? null;
    this.el.dataset["cameraId"] = camera?.id ?? "";
    if (!camera) {
      this.player.close();
      this.showEmpty();
      return;
    }
    this.nameEl.textContent = camera.name;
    this.nameEl.title = `${camera.name} (${camera.id})`;
    this.setHealth(camera.enabled ? state : "disabled");
    if (visible && camera.enabled) {
      this.player.open(camera.id);
    } else {
      this.player.close();
      if (!camera.enabled) this.setOverlay("停用 Disabled", "dim");
    }
  }

  setHealth(state: CameraState | undefined): void {
    if (!this.cameraId) return;
    this.badgeEl.className = `badge ${stateColour(state)}`;
    this.badgeEl.title = state ? STATE_LABEL[state] : "未知 Unknown";
    this.el.dataset["state"] = state ?? "";
  }

  flash(): void {
    window.clearTimeout(this.flashTimer);
    this.el.classList.remove("flash");
    void this.el.offsetWidth; // restart the CSS animation when events come in quick succession
    this.el.classList.add("flash");
    this.flashTimer = window.setTimeout(() => this.el.classList.remove("flash"), FLASH_MS);
  }

  private showEmpty(): void {
    this.nameEl.textContent = "空闲 Empty";
    this.nameEl.title = "";
    this.badgeEl.className = "badge none";
    this.el.dataset["state"] = "";
    this.setOverlay("拖入摄像机 Drag a camera here", "dim");
  }

  private showLive(state: LiveState, detail: string): void {
    this.el.dataset["live"] = state;
    if (!this.cameraId) return;
    const text = LIVE_TEXT[state];
    this.setOverlay(text ? (detail && state !== "connecting" ? `${text} · ${detail}` : text) : "", state === "error" ? "bad" : "");
  }

  private setOverlay(text: string, kind: string): void {
    this.overlay.textContent = text;
    this.overlay.className = `tile-overlay ${kind}`;
    this.overlay.hidden = !text;
  }
}

export class Wall {
  readonly el: HTMLDivElement;
  private readonly tiles: Tile[] = [];
  private layout: LayoutId = "4";
  private cams: (string | null)[] = new Array<string | null>(MAX_TILES).fill(null);
  private selected = -1;
  private cameras = new Map<string, Camera>();
  private health = new Map<string, CameraState>();
  private readonly onLayout: (id: LayoutId) => void;

  constructor(onLayout: (id: LayoutId) => void) {
    this.onLayout = onLayout;
    this.el = h("div", { class: "wall", id: "wall" });
    for (let i = 0; i < MAX_TILES; i++) {
      const t = new Tile(i);
      this.tiles.push(t);
      this.el.append(t.el);
      this.wireTile(t);
    }
    this.el.addEventListener("tile-close", (e) => this.assign((e as CustomEvent<number>).detail, null));
  }

  /** Load cameras, restore the saved wall, or fill it with the first cameras on first use. */
  start(cameras: Camera[], order: string[]): void {
    this.cameras = new Map(cameras.map((c) => [c.id, c]));
    for (const c of cameras) if (c.health) this.health.set(c.id, c.health.state);
    const saved = loadSaved();
    if (saved) {
      this.layout = saved.layout;
      this.cams = saved.cams.map((id) => (id && this.cameras.has(id) ? id : null));
    } else {
      const usable = order.filter((id) => this.cameras.get(id)?.enabled);
      this.cams = Array.from({ length: MAX_TILES }, (_, i) => usable[i] ?? null);
    }
    this.render();
  }

  stop(): void {
    for (const t of this.tiles) t.player.close();
  }

  get currentLayout(): LayoutId {
    return this.layout;
  }

  setLayout(id: LayoutId): void {
    this.layout = id;
    if (this.selected >= this.visibleCount()) this.select(-1);
    this.render();
  }

  /** Put a camera where the operator most likely wants it: the selected tile, else the first free one. */
  place(cameraId: string): void {
    const n = this.visibleCount();
    let index = this.selected >= 0 && this.selected < n ? this.selected : this.cams.slice(0, n).indexOf(null);
    if (index < 0) index = 0;
    this.assign(index, cameraId);
  }

  /** Bring a camera to the big (first) tile, e.g. when the operator opens one of its events. */
  focus(cameraId: string): void {
    this.assign(0, cameraId);
    this.select(0);
  }

  /**
   * Alarm linkage: the given cameras (nearest first) take the first tiles, the cameras they
   * displace move down in order, and the layout grows to 4 or 1+5 if the current one is too
   * small. Returns the ids actually shown; their tiles flash.
   */
  link(cameraIds: string[]): string[] {
    const ids = [...new Set(cameraIds)].filter((id) => this.cameras.get(id)?.enabled);
    if (!ids.length) return [];
    const want = Math.min(ids.length, 6);
    if (this.visibleCount() < want) this.layout = want <= 1 ? "1" : want <= 4 ? "4" : "1+5";
    const shown = ids.slice(0, this.visibleCount());
    const rest = this.cams.filter((id): id is string => id !== null && !shown.includes(id));
    this.cams = Array.from({ length: MAX_TILES }, (_, i) => (i < shown.length ? shown[i] : rest[i - shown.length]) ?? null);
    if (this.selected >= this.visibleCount()) this.select(-1);
    this.render();
    for (const id of shown) this.flash(id);
    return shown;
  }

  flash(cameraId: string): void {
    const n = this.visibleCount();
    this.tiles.forEach((t, i) => {
      if (i < n && t.cameraId === cameraId) t.flash();
    });
  }

  setHealth(cameraId: string, state: CameraState): void {
    this.health.set(cameraId, state);
    const cam = this.cameras.get(cameraId);
    for (const t of this.tiles) if (t.cameraId === cameraId) t.setHealth(cam?.enabled === false ? "disabled" : state);
  }

  assign(index: number, cameraId: string | null): void {
    if (index < 0 || index >= MAX_TILES) return;
    if (cameraId) {
      // One camera, one tile: dropping a camera that is already on the wall swaps the two tiles,
      // which also avoids opening a second live socket for the same camera.
      const other = this.cams.findIndex((id, i) => id === cameraId && i !== index);
      if (other >= 0) this.cams[other] = this.cams[index] ?? null;
    }
    this.cams[index] = cameraId;
    this.render();
  }

  private visibleCount(): number {
    return LAYOUTS.find((l) => l.id === this.layout)?.tiles ?? 4;
  }

  private render(): void {
    const n = this.visibleCount();
    this.el.dataset["layout"] = this.layout;
    // Close hidden tiles first so the sockets they free are available to the visible ones.
    this.tiles.forEach((t, i) => {
      if (i >= n) t.show(this.cameraFor(i), this.stateFor(i), false);
    });
    this.tiles.forEach((t, i) => {
      if (i < n) t.show(this.cameraFor(i), this.stateFor(i), true);
    });
    saveState({ layout: this.layout, cams: this.cams });
    this.onLayout(this.layout);
  }

  private cameraFor(i: number): Camera | undefined {
    const id = this.cams[i];
    return id ? this.cameras.get(id) : undefined;
  }

  private stateFor(i: number): CameraState | undefined {
    const id = this.cams[i];
    return id ? this.health.get(id) : undefined;
  }

  private select(i: number): void {
    this.selected = i;
    this.tiles.forEach((t, j) => t.el.classList.toggle("selected", j === i));
  }

  private wireTile(t: Tile): void {
    const el = t.el;
    el.addEventListener("click", () => this.select(this.selected === t.index ? -1 : t.index));
    el.addEventListener("dblclick", () => {
      if (this.layout !== "1" && t.cameraId) {
        // Double-clicking a small tile promotes it to the big one.
        this.assign(0, t.cameraId);
      }
    });
    el.addEventListener("dragstart", (e) => {
      if (!t.cameraId || !e.dataTransfer) return;
      e.dataTransfer.setData(DRAG_TYPE, t.cameraId);
      e.dataTransfer.setData("text/plain", t.cameraId);
      e.dataTransfer.effectAllowed = "move";
    });
    el.draggable = true;
    el.addEventListener("dragover", (e) => {
      if (!e.dataTransfer?.types.includes(DRAG_TYPE)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "copy";
      el.classList.add("drop-target");
    });
    el.addEventListener("dragleave", () => el.classList.remove("drop-target"));
    el.addEventListener("drop", (e) => {
      el.classList.remove("drop-target");
      const id = e.dataTransfer?.getData(DRAG_TYPE);
      if (!id) return;
      e.preventDefault();
      this.assign(t.index, id);
    });
  }
}

export const CAMERA_DRAG_TYPE = DRAG_TYPE;

function loadSaved(): Saved | null {
  try {
    const raw = localStorage.getItem(STORE_KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Partial<Saved>;
    if (!s.layout || !LAYOUTS.some((l) => l.id === s.layout) || !Array.isArray(s.cams)) return null;
    const cams = Array.from({ length: MAX_TILES }, (_, i) => {
      const v = s.cams?.[i];
      return typeof v === "string" ? v : null;
    });
    return { layout: s.layout, cams };
  } catch {
    return null;
  }
}

function saveState(s: Saved): void {
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify(s));
  } catch {
    // Private mode or a full quota: the wall still works, it just will not be remembered.
  }
}
