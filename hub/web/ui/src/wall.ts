// The wall: 16 tiles created once, of which the layout shows 1, 4, 9, 16 or 1+5.
//
// Tiles and the 16 players (<video> + socket) live for the whole session: Chrome caps media
// players per page, so layout changes only show, hide, and re-point existing ones. A player
// follows its camera: when a camera moves to another tile, its player moves with it (no new
// socket). A hidden tile's player closes its socket. Small tiles play the sub stream, a single
// enlarged tile (layout 1, the big tile of 1+5, a tile in full screen) the main one, unless the
// tile's menu chose one.
import { h } from "./dom";
import { LivePlayer, type StreamKind } from "./live";
import { type StreamChoice, Tile } from "./tile";
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

interface Saved {
  layout: LayoutId;
  cams: (string | null)[];
  streams?: StreamChoice[];
}

/** What a saved layout (预案) holds: the grid and per tile a camera and a stream choice. */
export interface WallSnapshot {
  layout: LayoutId;
  tiles: { camera_id?: string | null; stream: StreamChoice }[];
}

export class Wall {
  readonly el: HTMLDivElement;
  private readonly tiles: Tile[] = [];
  private readonly players: LivePlayer[] = [];
  /** Which tile shows each player's state now. */
  private readonly holder = new Map<LivePlayer, Tile>();
  private layout: LayoutId = "4";
  private cams: (string | null)[] = new Array<string | null>(MAX_TILES).fill(null);
  private streams: StreamChoice[] = new Array<StreamChoice>(MAX_TILES).fill("auto");
  private selected = -1;
  private cameras = new Map<string, Camera>();
  private health = new Map<string, CameraState>();
  private readonly onLayout: (id: LayoutId) => void;
  /** Called when the operator changes the wall by hand (a running tour stops then). */
  onManualChange: () => void = () => undefined;

  constructor(onLayout: (id: LayoutId) => void) {
    this.onLayout = onLayout;
    this.el = h("div", { class: "wall", id: "wall" });
    const hooks = {
      streamToggled: (t: Tile) => this.toggleStream(t.index),
      closed: (t: Tile) => {
        this.onManualChange();
        this.assign(t.index, null);
      },
    };
    for (let i = 0; i < MAX_TILES; i++) {
      const t = new Tile(i, hooks);
      const video = h("video", { muted: true, autoplay: true, playsinline: true, disablepictureinpicture: true });
      const player: LivePlayer = new LivePlayer(video, (s, detail) => this.holder.get(player)?.showLive(s, detail));
      this.players.push(player);
      this.tiles.push(t);
      t.attach(player);
      this.holder.set(player, t);
      this.el.append(t.el);
      this.wireTile(t);
    }
    // A tile entering or leaving full screen is enlarged or small again: its stream follows.
    document.addEventListener("fullscreenchange", () => this.render(false));
  }

  /** Load cameras, restore the saved wall, or fill it with the first cameras on first use. */
  start(cameras: Camera[], order: string[]): void {
    this.cameras = new Map(cameras.map((c) => [c.id, c]));
    for (const c of cameras) if (c.health) this.health.set(c.id, c.health.state);
    const saved = loadSaved();
    if (saved) {
      this.layout = saved.layout;
      this.cams = saved.cams.map((id) => (id && this.cameras.has(id) ? id : null));
      this.streams = saved.streams ?? this.streams;
    } else {
      // Fixed cameras first: a drone or camera vehicle publishes only while it is out, so
      // on a first wall it would mostly be an empty tile. It is put up by hand when it flies.
      const enabled = order.filter((id) => this.cameras.get(id)?.enabled);
      const moving = (id: string): boolean => (this.cameras.get(id)?.kind ?? "fixed") !== "fixed";
      const usable = [...enabled.filter((id) => !moving(id)), ...enabled.filter(moving)];
      this.cams = Array.from({ length: MAX_TILES }, (_, i) => usable[i] ?? null);
    }
    this.render();
  }

  stop(): void {
    for (const p of this.players) p.close();
  }

  get currentLayout(): LayoutId {
    return this.layout;
  }

  get cameraList(): Camera[] {
    return [...this.cameras.values()];
  }

  /** The cameras on the visible tiles, in tile order (null: an empty tile). */
  get visibleCameras(): (string | null)[] {
    return this.cams.slice(0, this.visibleCount());
  }

  setLayout(id: LayoutId): void {
    this.layout = id;
    if (this.selected >= this.visibleCount()) this.select(-1);
    this.render();
  }

  /** The wall as a saved layout (预案) keeps it. */
  snapshot(): WallSnapshot {
    const n = this.visibleCount();
    return {
      layout: this.layout,
      tiles: Array.from({ length: n }, (_, i) => ({ camera_id: this.cams[i] ?? null, stream: this.streams[i] ?? "auto" })),
    };
  }

  /** Apply a saved layout: its grid, cameras and stream choices (unknown cameras stay empty). */
  apply(s: WallSnapshot): void {
    this.layout = LAYOUTS.some((l) => l.id === s.layout) ? s.layout : this.layout;
    this.cams = Array.from({ length: MAX_TILES }, (_, i) => {
      const id = s.tiles[i]?.camera_id;
      return id && this.cameras.has(id) ? id : null;
    });
    this.streams = Array.from({ length: MAX_TILES }, (_, i) => s.tiles[i]?.stream ?? "auto");
    this.select(-1);
    this.render();
  }

  /** Several tiles at once (a tour step): one render, players follow their cameras. */
  assignMany(assignments: [number, string | null][]): void {
    for (const [i, id] of assignments) {
      if (i < 0 || i >= MAX_TILES) continue;
      if (id) {
        const other = this.cams.findIndex((c, j) => c === id && j !== i && !assignments.some(([k]) => k === j));
        if (other >= 0) this.cams[other] = null;
      }
      this.cams[i] = id && this.cameras.has(id) ? id : null;
    }
    this.render();
  }

  /** Put a camera where the operator most likely wants it: the selected tile, else the first free one. */
  place(cameraId: string): void {
    const n = this.visibleCount();
    let index = this.selected >= 0 && this.selected < n ? this.selected : this.cams.slice(0, n).indexOf(null);
    if (index < 0) index = 0;
    this.onManualChange();
    this.assign(index, cameraId);
  }

  /** Bring a camera to the big (first) tile, e.g. when the operator opens one of its events. */
  focus(cameraId: string): void {
    this.onManualChange();
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
    this.onManualChange();
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

  /** The tile menu's main/sub switch: from what plays now to the other stream. */
  toggleStream(index: number): void {
    const now = this.streamFor(index);
    this.streams[index] = now === "main" ? "sub" : "main";
    this.render();
  }

  /** The wall itself in full screen (or back). */
  toggleFullscreen(): void {
    if (document.fullscreenElement) void document.exitFullscreen().catch(() => undefined);
    else void this.el.requestFullscreen().catch(() => undefined);
  }

  private visibleCount(): number {
    return LAYOUTS.find((l) => l.id === this.layout)?.tiles ?? 4;
  }

  /** The stream tile `i` plays: its menu choice, else main when it is the one enlarged tile. */
  private streamFor(i: number): StreamKind {
    const cam = this.cameraFor(i);
    if (!cam?.sub_stream) return "main";
    const choice = this.streams[i] ?? "auto";
    if (choice !== "auto") return choice;
    const enlarged = this.layout === "1" || (this.layout === "1+5" && i === 0) || this.tiles[i]?.fullscreen === true;
    return enlarged ? "main" : "sub";
  }

  private render(save = true): void {
    const n = this.visibleCount();
    this.el.dataset["layout"] = this.layout;
    // 1. What each visible tile wants to play.
    const want: (string | null)[] = this.tiles.map((_, i) => {
      const cam = i < n ? this.cameraFor(i) : undefined;
      return cam?.enabled ? `${cam.id}|${this.streamFor(i)}` : null;
    });
    const keyOf = (p: LivePlayer) => (p.camera ? `${p.camera}|${p.stream}` : null);
    // 2. A player already playing that goes to the tile that wants it (it moves, never reopens);
    //    the tile's own player first, so that nothing moves without need.
    const owner = new Map<number, LivePlayer>();
    const taken = new Set<LivePlayer>();
    const claim = (i: number, p: LivePlayer) => {
      owner.set(i, p);
      taken.add(p);
    };
    this.tiles.forEach((t, i) => {
      if (want[i] && t.player && keyOf(t.player) === want[i]) claim(i, t.player);
    });
    this.tiles.forEach((_, i) => {
      if (!want[i] || owner.has(i)) return;
      const p = this.players.find((q) => !taken.has(q) && keyOf(q) === want[i]);
      if (p) claim(i, p);
    });
    // 3. Every other tile keeps its own player if free, else takes any free one.
    this.tiles.forEach((t, i) => {
      if (!owner.has(i) && t.player && !taken.has(t.player)) claim(i, t.player);
    });
    this.tiles.forEach((_, i) => {
      if (owner.has(i)) return;
      const p = this.players.find((q) => !taken.has(q));
      if (p) claim(i, p);
    });
    // 4. Close first (the sockets they free go to the opens), then move and open.
    this.tiles.forEach((_, i) => {
      const p = owner.get(i);
      if (p && !want[i]) p.close();
    });
    this.tiles.forEach((t, i) => {
      const p = owner.get(i);
      if (!p) return;
      t.attach(p);
      this.holder.set(p, t);
      t.show(this.cameraFor(i), this.stateFor(i), i < n);
      const key = want[i];
      if (key) {
        const [cam, stream] = key.split("|") as [string, StreamKind];
        p.open(cam, stream);
      }
      t.showLive(p.liveState, "");
    });
    if (save) saveState({ layout: this.layout, cams: this.cams, streams: this.streams });
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
      this.onManualChange();
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
    const streams = Array.from({ length: MAX_TILES }, (_, i): StreamChoice => {
      const v = s.streams?.[i];
      return v === "main" || v === "sub" ? v : "auto";
    });
    return { layout: s.layout, cams, streams };
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
