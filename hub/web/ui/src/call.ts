// A dispatch call in the browser (视频通话), the same for the wall and the field app: join, send
// camera and microphone on one connection, receive each other stream (people, shared cameras,
// drones) on one connection each, mute / camera off / switch camera / share a feed / hang up.
// The hub forwards media without re-encoding; H.264 is preferred so that camera feeds (H.264)
// and people look alike to every receiver.
import "./call.css";
import { ApiError, callOffer, endCall, joinCall, leaveCall, shareFeed } from "./api";
import { h } from "./dom";
import type { Call, CallStream } from "./types";

const GATHER_MS = 2000;
const STATS_MS = 500;

export interface CallHooks {
  /** The call ended or this user hung up: the panel is gone. */
  closed: (reason: string) => void;
  /** Something failed that the user should know. */
  error: (msg: string) => void;
  /** Cameras and drones this user may share (the wall's roles); empty: no share control. */
  feeds?: { id: string; name: string }[];
  /** May end the call for everyone (the wall's roles). */
  canEnd?: boolean;
}

interface Remote {
  stream: CallStream;
  pc: RTCPeerConnection;
  tile: HTMLElement;
  video: HTMLVideoElement;
  level: HTMLElement;
}

function preferH264(t: RTCRtpTransceiver, kind: "audio" | "video"): void {
  const caps = RTCRtpReceiver.getCapabilities(kind) ?? RTCRtpSender.getCapabilities(kind);
  if (!caps || kind !== "video" || typeof t.setCodecPreferences !== "function") return;
  const h264 = caps.codecs.filter((c) => c.mimeType.toLowerCase() === "video/h264");
  const rest = caps.codecs.filter((c) => c.mimeType.toLowerCase() !== "video/h264");
  if (h264.length) t.setCodecPreferences([...h264, ...rest]);
}

async function gathered(pc: RTCPeerConnection): Promise<void> {
  // The hub takes every candidate in the offer (no trickle): wait for gathering, bounded.
  if (pc.iceGatheringState === "complete") return;
  await new Promise<void>((done) => {
    const t = window.setTimeout(done, GATHER_MS);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") {
        window.clearTimeout(t);
        done();
      }
    });
  });
}

export class CallSession {
  readonly el: HTMLElement;
  private call: Call;
  private token = "";
  private ice: RTCIceServer[] = [];
  private local: MediaStream | null = null;
  private publisher: RTCPeerConnection | null = null;
  private readonly remotes = new Map<string, Remote>();
  private readonly grid: HTMLElement;
  private readonly status: HTMLElement;
  private readonly muteBtn: HTMLButtonElement;
  private readonly camBtn: HTMLButtonElement;
  private readonly switchBtn: HTMLButtonElement;
  private readonly selfVideo: HTMLVideoElement;
  private statsTimer: number | undefined;
  private closed = false;
  private cameraIndex = 0;

  constructor(
    call: Call,
    private readonly username: string,
    private readonly hooks: CallHooks,
  ) {
    this.call = call;
    this.selfVideo = h("video", { class: "call-video", autoplay: true, muted: true, playsInline: true });
    this.selfVideo.muted = true;
    const self = h("div", { class: "call-tile self", "data-owner": username }, this.selfVideo, h("span", { class: "call-name", text: "我 Me" }));
    this.grid = h("div", { class: "call-grid" }, self);
    this.status = h("span", { class: "call-status", text: "连接中 Connecting" });
    this.muteBtn = h("button", { type: "button", class: "call-mute", text: "静音 Mute" });
    this.camBtn = h("button", { type: "button", class: "call-cam", text: "关摄像头 Camera off" });
    this.switchBtn = h("button", { type: "button", class: "call-switch", text: "切换摄像头 Switch camera" });
    const hang = h("button", { type: "button", class: "call-hangup danger", text: "挂断 Hang up" });
    this.muteBtn.addEventListener("click", () => this.toggleMute());
    this.camBtn.addEventListener("click", () => this.toggleCamera());
    this.switchBtn.addEventListener("click", () => void this.switchCamera());
    hang.addEventListener("click", () => void this.hangUp());
    const controls = h("div", { class: "call-controls" }, this.muteBtn, this.camBtn, this.switchBtn);
    if (hooks.feeds?.length) {
      const pick = h("select", { class: "call-feed-pick", "aria-label": "共享画面 Share a feed" }, ...hooks.feeds.map((f) => h("option", { value: f.id, text: f.name })));
      const share = h("button", { type: "button", class: "call-share", text: "共享画面 Share feed" });
      share.addEventListener("click", () => void this.share(pick.value));
      controls.append(pick, share);
    }
    if (hooks.canEnd) {
      const end = h("button", { type: "button", class: "call-end danger", text: "结束通话 End for all" });
      end.addEventListener("click", () => void this.endForAll());
      controls.append(end);
    }
    controls.append(hang);
    this.el = h(
      "section",
      { class: "call-panel", id: "call-panel", "data-call-id": call.id, role: "dialog", "aria-label": "视频通话 Video call" },
      h("header", { class: "call-head" }, h("strong", { text: `视频通话 Video call · ${call.title}` }), this.status),
      this.grid,
      controls,
    );
  }

  get id(): string {
    return this.call.id;
  }

  /** Join, open camera and microphone, send them, receive everyone already there. */
  async start(): Promise<void> {
    try {
      const j = await joinCall(this.call.id);
      this.token = j.call_token;
      this.ice = j.ice_servers.map((s) => (s.username && s.credential ? { urls: s.urls, username: s.username, credential: s.credential } : { urls: s.urls }));
      this.call = j.call;
      this.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360, facingMode: "user" } });
      this.selfVideo.srcObject = this.local;
      await this.publish();
      this.update(this.call);
      this.statsTimer = window.setInterval(() => void this.meter(), STATS_MS);
    } catch (err) {
      this.hooks.error(err instanceof ApiError ? err.detail : `无法开始通话 Cannot start the call: ${String(err)}`);
      await this.hangUp();
    }
  }

  /** A newer state of the call (a `call` message): receive new streams, drop gone ones. */
  update(call: Call): void {
    if (this.closed || call.id !== this.call.id) return;
    this.call = call;
    if (call.state === "ended") {
      this.close(`通话已结束 Call ended${call.end_reason ? `: ${call.end_reason}` : ""}`);
      return;
    }
    const live = new Set(call.streams.map((s) => s.id));
    for (const [id, r] of this.remotes) if (!live.has(id)) this.drop(id, r);
    if (!this.token) return;
    for (const s of call.streams) if (s.owner !== this.username && !this.remotes.has(s.id)) void this.receive(s);
    const present = call.participants.filter((p) => p.state === "joined").length;
    this.status.textContent = `${present} 人在线 in the call`;
  }

  private async offer(pc: RTCPeerConnection, path: string): Promise<void> {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const { answer } = await callOffer(path, this.token, pc.localDescription?.sdp ?? "");
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
  }

  private async publish(): Promise<void> {
    if (!this.local) return;
    const old = this.publisher;
    const pc = new RTCPeerConnection({ iceServers: this.ice });
    for (const track of this.local.getTracks()) {
      const t = pc.addTransceiver(track, { direction: "sendonly", streams: [this.local] });
      preferH264(t, track.kind as "audio" | "video");
    }
    pc.addEventListener("connectionstatechange", () => {
      // A network loss the connection did not survive: send again on a new one (same stream).
      if (pc.connectionState === "failed" && pc === this.publisher && !this.closed) void this.publish();
    });
    await this.offer(pc, `/api/calls/${encodeURIComponent(this.call.id)}/publish`);
    this.publisher = pc;
    old?.close();
  }

  private async receive(stream: CallStream): Promise<void> {
    const pc = new RTCPeerConnection({ iceServers: this.ice });
    const video = h("video", { class: "call-video", autoplay: true, playsInline: true });
    const level = h("span", { class: "call-level" });
    const kind = stream.kind === "person" ? "" : stream.kind === "drone" ? "无人机 Drone · " : "监控 Camera · ";
    const tile = h("div", { class: `call-tile ${stream.kind}`, "data-owner": stream.owner, "data-stream": stream.id }, video, h("span", { class: "call-name", text: `${kind}${stream.label}` }), level);
    const remote: Remote = { stream, pc, tile, video, level };
    this.remotes.set(stream.id, remote);
    this.grid.append(tile);
    const media = new MediaStream();
    pc.addEventListener("track", (e) => {
      media.addTrack(e.track);
      video.srcObject = media;
      void video.play().catch(() => undefined);
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "failed" && this.remotes.get(stream.id) === remote && !this.closed) {
        this.drop(stream.id, remote);
        void this.receive(stream);
      }
    });
    if (stream.audio) pc.addTransceiver("audio", { direction: "recvonly" });
    if (stream.video) preferH264(pc.addTransceiver("video", { direction: "recvonly" }), "video");
    try {
      await this.offer(pc, `/api/calls/${encodeURIComponent(this.call.id)}/streams/${encodeURIComponent(stream.id)}/subscribe`);
    } catch (err) {
      if (this.remotes.get(stream.id) === remote) this.drop(stream.id, remote);
      if (!this.closed) this.hooks.error(err instanceof ApiError ? err.detail : String(err));
    }
  }

  private drop(id: string, r: Remote): void {
    r.pc.close();
    r.tile.remove();
    this.remotes.delete(id);
  }

  /** Audio level and video progress of each received stream, shown and kept on the tile. */
  private async meter(): Promise<void> {
    for (const r of this.remotes.values()) {
      let audio = 0;
      const stats = await r.pc.getStats().catch(() => null);
      stats?.forEach((s: { type?: string; kind?: string; audioLevel?: number }) => {
        if (s.type === "inbound-rtp" && s.kind === "audio" && typeof s.audioLevel === "number") audio = s.audioLevel;
      });
      r.level.style.setProperty("--level", String(Math.min(1, audio * 4)));
      r.tile.dataset["audioLevel"] = audio.toFixed(4);
      r.tile.dataset["videoWidth"] = String(r.video.videoWidth);
      r.tile.dataset["videoTime"] = r.video.currentTime.toFixed(2);
    }
  }

  private toggleMute(): void {
    const tracks = this.local?.getAudioTracks() ?? [];
    const on = !(tracks[0]?.enabled ?? true);
    for (const t of tracks) t.enabled = on;
    this.muteBtn.textContent = on ? "静音 Mute" : "取消静音 Unmute";
    this.muteBtn.classList.toggle("active", !on);
  }

  private toggleCamera(): void {
    const tracks = this.local?.getVideoTracks() ?? [];
    const on = !(tracks[0]?.enabled ?? true);
    for (const t of tracks) t.enabled = on;
    this.camBtn.textContent = on ? "关摄像头 Camera off" : "开摄像头 Camera on";
    this.camBtn.classList.toggle("active", !on);
  }

  /** Front/back camera: the next camera of the device, swapped in without a new connection. */
  private async switchCamera(): Promise<void> {
    const cams = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
    if (cams.length < 2 || !this.local || !this.publisher) {
      this.hooks.error("只有一个摄像头 Only one camera");
      return;
    }
    this.cameraIndex = (this.cameraIndex + 1) % cams.length;
    const deviceId = cams[this.cameraIndex]?.deviceId ?? "";
    const next = await navigator.mediaDevices.getUserMedia({ video: { deviceId: { exact: deviceId }, width: 640, height: 360 } });
    const track = next.getVideoTracks()[0];
    if (!track) return;
    const sender = this.publisher.getSenders().find((s) => s.track?.kind === "video");
    await sender?.replaceTrack(track);
    for (const old of this.local.getVideoTracks()) {
      this.local.removeTrack(old);
      old.stop();
    }
    this.local.addTrack(track);
  }

  private async share(cameraId: string): Promise<void> {
    try {
      this.update(await shareFeed(this.call.id, cameraId));
    } catch (err) {
      this.hooks.error(err instanceof ApiError ? err.detail : String(err));
    }
  }

  private async endForAll(): Promise<void> {
    try {
      await endCall(this.call.id);
    } catch (err) {
      this.hooks.error(err instanceof ApiError ? err.detail : String(err));
    }
    this.close("通话已结束 Call ended");
  }

  /** Leave the call (it goes on for the others). */
  async hangUp(): Promise<void> {
    if (this.closed) return;
    this.close("已挂断 Hung up");
    await leaveCall(this.call.id).catch(() => undefined);
  }

  private close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    window.clearInterval(this.statsTimer);
    for (const [id, r] of this.remotes) this.drop(id, r);
    this.publisher?.close();
    this.publisher = null;
    for (const t of this.local?.getTracks() ?? []) t.stop();
    this.el.remove();
    this.hooks.closed(reason);
  }
}
