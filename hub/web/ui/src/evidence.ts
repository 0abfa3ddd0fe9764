// An event's evidence in its detail panel: the clip (证据视频), a few seconds before the event
// to a few after, played straight from the hub (the token rides in the URL as for the snapshot
// <img>; the hub answers the player's Range requests), and the snapshot opened large on click.
import { withToken } from "./api";
import { h } from "./dom";
import type { HubEvent } from "./types";

/** How long after an event's start its clip may still be on its way (pre-roll, post-roll,
 *  writing). Older events without a clip have none. */
const CLIP_PENDING_MS = 60_000;

let current: { id: string; url: string; box: HTMLElement } | null = null;

/** The clip player of an event, a note while its clip is being written or once retention
 *  removed it, or nothing. Redrawing the same event's detail keeps the same player (and its
 *  position), so the event's end arriving mid-playback does not restart it. */
export function clipBox(ev: HubEvent): HTMLElement | null {
  if (!ev.clip_url) {
    if (ev.evidence_expired_at) return note("证据已过期 Evidence expired (retention)");
    if (Date.now() - Date.parse(ev.start) < CLIP_PENDING_MS) return note("证据视频生成中 Evidence clip being written…", "event-clip-pending");
    return null;
  }
  if (current && current.id === ev.id && current.url === ev.clip_url) return current.box;
  const video = h("video", {
    class: "clip",
    id: "event-clip",
    src: withToken(ev.clip_url),
    controls: true,
    autoplay: true,
    playsinline: true,
    preload: "auto",
    "aria-label": "证据视频 Evidence clip",
  });
  video.muted = true; // autoplay needs it; the cameras have no sound anyway
  const failed = note("证据视频无法播放 Evidence clip cannot be played");
  failed.hidden = true;
  video.addEventListener("error", () => {
    video.hidden = true;
    failed.hidden = false;
  });
  const box = h("div", { class: "clip-box" }, h("div", { class: "clip-title", text: "证据视频 Evidence clip" }), video, failed);
  current = { id: ev.id, url: ev.clip_url, box };
  return box;
}

/** Clicking the snapshot opens it large over everything; a click or Escape closes it. */
export function enlargeOnClick(img: HTMLImageElement): void {
  img.classList.add("zoomable");
  img.title = "点击放大 Click to enlarge";
  img.addEventListener("click", () => {
    const big = h("img", { class: "snapshot-large-img", alt: img.alt, src: img.src });
    const layer = h("div", { class: "modal-backdrop snapshot-large", id: "snapshot-large", role: "dialog", "aria-label": "事件快照 Snapshot", title: "点击关闭 Click to close" }, big);
    const close = (): void => {
      layer.remove();
      document.removeEventListener("keydown", onKey);
    };
    const onKey = (e: KeyboardEvent): void => {
      if (e.key === "Escape") close();
    };
    layer.addEventListener("click", close);
    document.addEventListener("keydown", onKey);
    document.body.append(layer);
  });
}

function note(text: string, id?: string): HTMLElement {
  return h("div", { class: "clip-note", id, text });
}
