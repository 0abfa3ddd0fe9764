// Live video of one camera: fMP4 over a WebSocket into Media Source Extensions.
//
// The hub sends {"type":"init","mime":...}, then the init segment (ftyp+moov), then media
// segments (moof+mdat). We stay near the live edge rather than play every frame: an operator
// needs now, not a smooth replay of what happened seconds ago.
import { sessionEnded, WS_UNAUTHORIZED, wsUrl } from "./api";
import { token } from "./auth";

export type LiveState = "idle" | "connecting" | "playing" | "reconnecting" | "error";
export type StreamKind = "main" | "sub";

/** Jump forward when the buffered end is further than this ahead of the playhead (s). */
const MAX_LATENCY = 1.5;
/** Where to land after a jump, behind the buffered end (s). */
const JUMP_BEHIND = 0.25;
/** Keep this much already-played media; older media is removed so memory stays bounded (s). */
const KEEP_BEHIND = 4;
/** Remove only when this much extra has accumulated, so removals stay infrequent (s). */
const TRIM_SLACK = 6;
/** Fragments (or bytes) waiting for the SourceBuffer before we give up and restart from a
 * keyframe. The hub sends one fragment per frame and a whole GOP on connect, hence generous. */
const MAX_QUEUE = 600;
const MAX_QUEUE_BYTES = 32 * 1024 * 1024;
/** No data for this long: the stream is stuck, reconnect (ms). */
const STALL_MS = 8000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10000;
/** Failed attempts in a row (no "playing" between them) after which the tile says so and
 * offers a retry instead of "reconnecting" forever; it keeps retrying slowly meanwhile. */
const FAIL_AFTER = 4;

/**
 * Staggered opens: a wall of 16 tiles opening at once makes the hub send 16 keyframe caches
 * and the browser start 16 decoders in the same instant; on a loaded machine most of them then
 * miss their first frames and fall into reconnects. Opens wait here for a slot: at most
 * OPEN_SLOTS players between "socket opened" and "first frame played", and new opens start at
 * least OPEN_GAP_MS apart. A slot frees on playing, on failure, SLOT_AFTER_INIT_MS after the
 * init segment, or after SLOT_TIMEOUT_MS.
 */
const OPEN_SLOTS = 6;
const OPEN_GAP_MS = 100;
const SLOT_TIMEOUT_MS = 4000;
/** A player whose init segment came holds its slot this much longer at most (ms): waiting for
 * the camera's next keyframe costs nothing here and must not hold the others back. */
const SLOT_AFTER_INIT_MS = 800;

class OpenGate {
  private waiting: (() => void)[] = [];
  private busy = 0;
  private last = 0;
  private timer: number | undefined;

  /** Ask for a slot; `go` runs when one is free. Returns a function that cancels the wait or
   * frees the slot (call it exactly once, whichever happened). */
  acquire(go: () => void): () => void {
    let state: "waiting" | "holding" | "done" = "waiting";
    let expiry: number | undefined;
    const start = () => {
      state = "holding";
      this.busy += 1;
      this.last = performance.now();
      expiry = window.setTimeout(release, SLOT_TIMEOUT_MS);
      go();
    };
    const release = () => {
      if (state === "waiting") this.waiting = this.waiting.filter((w) => w !== start);
      else if (state === "holding") {
        this.busy -= 1;
        window.clearTimeout(expiry);
      }
      state = "done";
      this.drain();
    };
    this.waiting.push(start);
    this.drain();
    return release;
  }

  private drain(): void {
    window.clearTimeout(this.timer);
    this.timer = undefined;
    while (this.waiting.length && this.busy < OPEN_SLOTS) {
      const wait = this.last + OPEN_GAP_MS - performance.now();
      if (wait > 0) {
        this.timer = window.setTimeout(() => this.drain(), wait);
        return;
      }
      this.waiting.shift()?.();
    }
  }
}

const gate = new OpenGate();

interface ControlMessage {
  type: string;
  mime?: string;
  detail?: string;
  stream?: StreamKind;
}

export class LivePlayer {
  private ws: WebSocket | null = null;
  private ms: MediaSource | null = null;
  private sb: SourceBuffer | null = null;
  private queue: ArrayBuffer[] = [];
  private queueBytes = 0;
  private removeRange: [number, number] | null = null;
  private cameraId = "";
  private active = false;
  private attempts = 0;
  private retryTimer: number | undefined;
  private watchdog: number | undefined;
  private lastData = 0;
  private state: LiveState = "idle";
  private want: StreamKind = "main";
  private release: (() => void) | null = null;
  private failures = 0;
  /** The stream the hub serves (a camera without a sub stream answers "sub" with main). */
  served: StreamKind | "" = "";
  /** Time (performance.now) of the last open and of its first frame played; for tests. */
  openedAt = 0;
  playingAt = 0;

  constructor(
    readonly video: HTMLVideoElement,
    private readonly onState: (state: LiveState, detail: string) => void,
  ) {
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.addEventListener("playing", () => {
      if (!this.active) return;
      if (!this.playingAt) this.playingAt = performance.now();
      this.failures = 0;
      this.freeSlot();
      this.setState("playing", "");
    });
    video.addEventListener("error", () => {
      if (this.active && this.ms) this.reconnect("解码错误 Decode error");
    });
  }

  get camera(): string {
    return this.active ? this.cameraId : "";
  }

  /** The stream asked for (what the player plays when its camera has both). */
  get stream(): StreamKind {
    return this.want;
  }

  get liveState(): LiveState {
    return this.state;
  }

  open(cameraId: string, stream: StreamKind = "main"): void {
    if (this.active && this.cameraId === cameraId && this.want === stream) return;
    this.close();
    this.cameraId = cameraId;
    this.want = stream;
    this.active = true;
    this.attempts = 0;
    this.failures = 0;
    this.openedAt = performance.now();
    this.playingAt = 0;
    this.watchdog = window.setInterval(() => this.check(), 1000);
    this.connect();
  }

  /** After "error": try again now, from a fresh start. */
  retry(): void {
    if (!this.cameraId) return;
    const { cameraId, want } = this;
    this.close();
    this.open(cameraId, want);
  }

  close(): void {
    this.active = false;
    this.freeSlot();
    this.served = "";
    window.clearTimeout(this.retryTimer);
    window.clearInterval(this.watchdog);
    this.retryTimer = undefined;
    this.watchdog = undefined;
    this.teardown();
    this.setState("idle", "");
  }

  private setState(state: LiveState, detail: string): void {
    if (state === "playing") this.attempts = 0;
    if (state === this.state && state === "playing") return;
    this.state = state;
    this.onState(state, detail);
  }

  private freeSlot(): void {
    const release = this.release;
    this.release = null;
    release?.();
  }

  private connect(): void {
    this.teardown();
    if (this.state !== "error") this.setState(this.attempts > 0 ? "reconnecting" : "connecting", "");
    this.freeSlot();
    this.release = gate.acquire(() => {
      if (this.active) this.openSocket();
      else this.freeSlot();
    });
  }

  private openSocket(): void {
    const used = token();
    const query = this.want === "sub" ? "?stream=sub" : "";
    const ws = new WebSocket(wsUrl(`/api/live/${encodeURIComponent(this.cameraId)}${query}`));
    ws.binaryType = "arraybuffer";
    ws.onmessage = (m: MessageEvent<string | ArrayBuffer>) => {
      if (ws !== this.ws) return;
      this.lastData = performance.now();
      if (typeof m.data === "string") this.control(m.data);
      else this.media(m.data);
    };
    ws.onclose = (e: CloseEvent) => {
      if (ws !== this.ws) return;
      if (e.code === WS_UNAUTHORIZED) {
        sessionEnded(used, "登录已过期 Session expired", () => {
          if (this.active) this.connect();
        });
        return;
      }
      this.reconnect(e.reason || "连接断开 Connection closed");
    };
    this.ws = ws;
    this.lastData = performance.now();
  }

  private control(text: string): void {
    let msg: ControlMessage;
    try {
      msg = JSON.parse(text) as ControlMessage;
    } catch {
      return;
    }
    if (msg.type === "init" && msg.mime) {
      this.served = msg.stream ?? "main";
      const release = this.release;
      if (release) window.setTimeout(() => this.release === release && this.freeSlot(), SLOT_AFTER_INIT_MS);
      this.startMedia(msg.mime);
    }
    else if (msg.type === "end") this.reconnect("流结束 Stream ended");
    else if (msg.type === "error") this.reconnect(msg.detail ?? "错误 Error");
  }

  private startMedia(mime: string): void {
    if (!window.MediaSource || !MediaSource.isTypeSupported(mime)) {
      this.setState("error", `浏览器不支持 Unsupported: ${mime}`);
      this.ws?.close();
      return;
    }
    this.resetMedia();
    const ms = new MediaSource();
    const url = URL.createObjectURL(ms);
    ms.addEventListener(
      "sourceopen",
      () => {
        URL.revokeObjectURL(url);
        if (ms !== this.ms) return;
        try {
          const sb = ms.addSourceBuffer(mime);
          sb.mode = "segments";
          sb.addEventListener("updateend", () => {
            if (sb !== this.sb) return;
            this.keepLive();
            this.pump();
          });
          this.sb = sb;
          this.pump();
        } catch (err) {
          this.reconnect(String(err));
        }
      },
      { once: true },
    );
    this.ms = ms;
    this.video.src = url;
  }

  private media(buf: ArrayBuffer): void {
    if (!this.ms) return; // binary before the init message: nothing to attach it to
    this.queue.push(buf);
    this.queueBytes += buf.byteLength;
    if (this.queue.length > MAX_QUEUE || this.queueBytes > MAX_QUEUE_BYTES) {
      // The decoder cannot keep up (or the tab was throttled). Dropping single segments would
      // break the GOP, so start over: the hub restarts us from a keyframe.
      this.reconnect("缓冲溢出 Buffer overrun");
      return;
    }
    this.pump();
  }

  private pump(): void {
    const sb = this.sb;
    if (!sb || sb.updating || this.ms?.readyState !== "open") return;
    if (this.removeRange) {
      const [from, to] = this.removeRange;
      this.removeRange = null;
      try {
        sb.remove(from, to);
        return;
      } catch {
        // Removing is an optimisation; fall through to appending.
      }
    }
    const next = this.queue.shift();
    if (!next) return;
    this.queueBytes -= next.byteLength;
    try {
      sb.appendBuffer(next);
    } catch (err) {
      if (err instanceof DOMException && err.name === "QuotaExceededError") {
        this.queue.unshift(next);
        this.queueBytes += next.byteLength;
        const b = sb.buffered;
        if (b.length) this.removeRange = [b.start(0), Math.max(b.start(0) + 0.1, this.video.currentTime - 1)];
        window.setTimeout(() => this.pump(), 100);
      } else {
        this.reconnect(String(err));
      }
    }
  }

  private keepLive(): void {
    const v = this.video;
    const b = v.buffered;
    if (!b.length) return;
    const lastStart = b.start(b.length - 1);
    const end = b.end(b.length - 1);
    if (v.currentTime < lastStart || end - v.currentTime > MAX_LATENCY) {
      v.currentTime = Math.max(lastStart, end - JUMP_BEHIND);
    }
    if (v.paused) v.play().catch(() => undefined);
    const first = b.start(0);
    if (!this.removeRange && v.currentTime - first > KEEP_BEHIND + TRIM_SLACK) {
      this.removeRange = [first, v.currentTime - KEEP_BEHIND];
    }
  }

  private check(): void {
    if (!this.active || !this.ws || this.retryTimer !== undefined) return;
    if (performance.now() - this.lastData > STALL_MS) {
      this.reconnect("无数据 No data");
      return;
    }
    if (this.sb && !this.sb.updating) this.keepLive();
  }

  private reconnect(reason: string): void {
    if (!this.active) return;
    this.teardown();
    this.freeSlot();
    this.failures += 1;
    // After several failures in a row the tile says so plainly and offers a retry; the player
    // keeps trying in the background (at the capped backoff) and recovers by itself.
    if (this.failures >= FAIL_AFTER) this.setState("error", reason);
    else this.setState("reconnecting", reason);
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempts);
    const delay = base * (0.75 + Math.random() * 0.5); // jitter: 16 tiles must not retry in step
    this.attempts += 1;
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => {
      this.retryTimer = undefined;
      if (this.active) this.connect();
    }, delay);
  }

  private resetMedia(): void {
    this.queue = [];
    this.queueBytes = 0;
    this.removeRange = null;
    this.sb = null;
    if (this.ms) {
      this.ms = null;
      // Detaching the source frees the decoder; the <video> element itself is kept for reuse.
      this.video.removeAttribute("src");
      this.video.load();
    }
  }

  private teardown(): void {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onmessage = null;
      ws.onclose = null;
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000);
    }
    this.resetMedia();
  }
}
