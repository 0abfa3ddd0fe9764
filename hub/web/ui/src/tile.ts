// One tile of the wall: a frame (name, health badge, overlay, menu) around a LivePlayer.
//
// Tiles stay where they are; players move between them. When a camera moves to another tile
// (a swap, a linkage, a tour step) the wall hands that camera's player, <video> and socket
// included, to the new tile instead of closing one socket and opening another: the picture
// never drops. Moving a <video> element within the document does not pause it.
import { h } from "./dom";
import { STATE_LABEL, stateColour } from "./labels";
import type { LivePlayer, LiveState, StreamKind } from "./live";
import type { Camera, CameraState } from "./types";

/** Which stream a tile asks for: auto = sub on a small tile, main on a single enlarged one. */
export type StreamChoice = "auto" | "main" | "sub";

const FLASH_MS = 3000;

const LIVE_TEXT: Record<LiveState, string> = {
  idle: "",
  connecting: "连接中 Connecting",
  playing: "",
  reconnecting: "重连中 Reconnecting",
  error: "连接失败 Connection failed",
};

const STREAM_TEXT: Record<StreamKind, string> = { main: "主码流 Main", sub: "子码流 Sub" };

export class Tile {
  readonly el: HTMLDivElement;
  private readonly nameEl: HTMLSpanElement;
  private readonly badgeEl: HTMLSpanElement;
  private readonly streamEl: HTMLSpanElement;
  private readonly overlay: HTMLDivElement;
  private readonly overlayText: HTMLSpanElement;
  private readonly retryBtn: HTMLButtonElement;
  private readonly menu: HTMLDivElement;
  private readonly streamBtn: HTMLButtonElement;
  private flashTimer: number | undefined;
  private playerRef: LivePlayer | null = null;
  cameraId: string | null = null;
  camera: Camera | undefined;
  choice: StreamChoice = "auto";

  constructor(
    readonly index: number,
    private readonly hooks: { streamToggled: (tile: Tile) => void; closed: (tile: Tile) => void },
  ) {
    this.nameEl = h("span", { class: "tile-name" });
    this.badgeEl = h("span", { class: "badge grey" });
    this.streamEl = h("span", { class: "tile-stream" });
    const menuBtn = h("button", { class: "tile-menu-btn", title: "菜单 Menu", "aria-label": "菜单 Menu", text: "☰" });
    const close = h("button", { class: "tile-close", title: "关闭 Close", "aria-label": "关闭 Close", text: "×" });
    this.overlayText = h("span", { class: "tile-overlay-text" });
    this.retryBtn = h("button", { class: "tile-retry", text: "重试 Retry" });
    this.retryBtn.hidden = true;
    this.overlay = h("div", { class: "tile-overlay" }, this.overlayText, this.retryBtn);
    const snap = h("button", { class: "tile-snapshot", text: "抓图 Snapshot" });
    this.streamBtn = h("button", { class: "tile-stream-switch", text: "主/子码流 Main/Sub" });
    const full = h("button", { class: "tile-fullscreen", text: "全屏 Full screen" });
    const menuClose = h("button", { class: "tile-menu-close", text: "关闭 Close" });
    this.menu = h("div", { class: "tile-menu" }, snap, this.streamBtn, full, menuClose);
    this.menu.hidden = true;
    this.el = h(
      "div",
      { class: "tile", "data-index": index },
      h("div", { class: "tile-head" }, this.badgeEl, this.nameEl, this.streamEl, menuBtn, close),
      this.overlay,
      this.menu,
      h("div", { class: "tile-index", text: String(index + 1) }),
    );
    const stop = (e: Event) => e.stopPropagation();
    this.menu.addEventListener("click", stop);
    this.menu.addEventListener("dblclick", stop);
    this.overlay.addEventListener("dblclick", stop);
    close.addEventListener("click", (e) => {
      e.stopPropagation();
      this.hooks.closed(this);
    });
    menuBtn.addEventListener("click", (e) => {
      e.stopPropagation();
      this.menu.hidden = !this.menu.hidden || !this.cameraId;
    });
    menuClose.addEventListener("click", () => {
      this.menu.hidden = true;
      this.hooks.closed(this);
    });
    snap.addEventListener("click", () => {
      this.menu.hidden = true;
      this.snapshot();
    });
    this.streamBtn.addEventListener("click", () => {
      this.menu.hidden = true;
      this.hooks.streamToggled(this);
    });
    full.addEventListener("click", () => {
      this.menu.hidden = true;
      this.toggleFullscreen();
    });
    this.retryBtn.addEventListener("click", (e) => {
      e.stopPropagation();
      this.playerRef?.retry();
    });
    this.el.addEventListener("dblclick", (e) => {
      e.preventDefault();
      if (this.cameraId) this.toggleFullscreen();
    });
    this.showEmpty();
  }

  get player(): LivePlayer | null {
    return this.playerRef;
  }

  get video(): HTMLVideoElement | undefined {
    return this.playerRef?.video;
  }

  get fullscreen(): boolean {
    return document.fullscreenElement === this.el;
  }

  /** Take this player (and its <video>) into the tile; its state shows here from now on. */
  attach(player: LivePlayer): void {
    this.playerRef = player;
    if (player.video.parentElement !== this.el) this.el.prepend(player.video);
  }

  /** The player's state changed (the wall routes each player's callback to its tile). */
  showLive(state: LiveState, detail: string): void {
    this.el.dataset["live"] = state;
    const p = this.playerRef;
    // Time from open to first frame, for the browser tests and for anyone looking at the DOM.
    if (state === "playing" && p?.playingAt) this.el.dataset["playMs"] = String(Math.round(p.playingAt - p.openedAt));
    const served = this.playerRef?.served;
    this.el.dataset["stream"] = served ?? "";
    this.streamEl.textContent = served && this.camera?.sub_stream ? STREAM_TEXT[served] : "";
    if (!this.cameraId) return;
    const text = LIVE_TEXT[state];
    if (state === "error") {
      this.setOverlay(detail ? `${text} · ${detail}` : text, "bad", true);
      return;
    }
    this.setOverlay(text ? (detail && state !== "connecting" ? `${text} · ${detail}` : text) : "", "");
  }

  /** Show a camera (or nothing); the wall opens or closes the player. */
  show(camera: Camera | undefined, state: CameraState | undefined, visible: boolean): void {
    this.el.hidden = !visible;
    this.camera = camera;
    this.cameraId = camera?.id ?? null;
    this.el.dataset["cameraId"] = camera?.id ?? "";
    if (!camera) {
      this.menu.hidden = true;
      this.showEmpty();
      return;
    }
    this.nameEl.textContent = camera.name;
    this.nameEl.title = `${camera.name} (${camera.id})`;
    this.streamBtn.disabled = !camera.sub_stream;
    this.setHealth(camera.enabled ? state : "disabled");
    if (!camera.enabled) this.setOverlay("停用 Disabled", "dim");
    else this.showLive(this.playerRef?.liveState ?? "idle", "");
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

  toggleFullscreen(): void {
    if (this.fullscreen) void document.exitFullscreen().catch(() => undefined);
    else void this.el.requestFullscreen().catch(() => undefined);
  }

  /** 抓图: the frame on screen now, at the stream's own resolution, downloaded as a JPEG. */
  snapshot(): void {
    const v = this.video;
    if (!v || !this.cameraId || !v.videoWidth) return;
    const canvas = document.createElement("canvas");
    canvas.width = v.videoWidth;
    canvas.height = v.videoHeight;
    canvas.getContext("2d")?.drawImage(v, 0, 0);
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "");
    const name = `${this.cameraId}-${stamp}.jpg`;
    canvas.toBlob(
      (blob) => {
        if (!blob) return;
        const url = URL.createObjectURL(blob);
        const a = h("a", { href: url, download: name });
        document.body.append(a);
        a.click();
        a.remove();
        window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
      },
      "image/jpeg",
      0.9,
    );
  }

  private showEmpty(): void {
    this.nameEl.textContent = "空闲 Empty";
    this.nameEl.title = "";
    this.streamEl.textContent = "";
    this.badgeEl.className = "badge none";
    this.el.dataset["state"] = "";
    this.el.dataset["stream"] = "";
    this.setOverlay("拖入摄像机 Drag a camera here", "dim");
  }

  private setOverlay(text: string, kind: string, retry = false): void {
    this.overlayText.textContent = text;
    this.overlay.className = `tile-overlay ${kind}`;
    this.overlay.hidden = !text;
    this.retryBtn.hidden = !retry;
  }
}
