// A new case from a video detection pops up over the wall, as an alarm does: its camera live, the
// detection's snapshot, what and where, a chime (mutable), and a button that opens the case with
// its camera on the big tile. The wall itself is left as the operator arranged it (a busy district
// opens video cases every minute: rearranging the wall for each would take it from the operator);
// cases arriving while one is shown queue behind it ("+N").
import { snapshotUrl } from "./api";
import { h } from "./dom";
import { LIGHT_LABEL } from "./labels";
import { LivePlayer, type LiveState } from "./live";
import { stampText } from "./time";
import type { Case } from "./types";

const SHOW_MS = 20_000;
const MAX_QUEUE = 20;

export interface PopupText {
  category: string;
  title: string;
  place: string;
  camera: string;
  /** The camera that saw it, played live in the popup. */
  cameraId: string;
}

const LIVE_TEXT: Partial<Record<LiveState, string>> = {
  connecting: "连接中 Connecting…",
  reconnecting: "重连中 Reconnecting…",
  error: "无法播放 Cannot play",
};

export class CasePopup {
  readonly el: HTMLElement;
  private queue: { c: Case; text: PopupText }[] = [];
  private timer: number | undefined;
  private readonly video: HTMLVideoElement;
  private readonly liveNote: HTMLElement;
  private readonly player: LivePlayer;

  constructor(private readonly onOpen: (id: number) => void) {
    this.el = h("section", { class: "case-popup", id: "case-popup", role: "alertdialog", "aria-live": "assertive", hidden: true });
    this.video = h("video", { class: "popup-live", id: "popup-live" });
    this.liveNote = h("div", { class: "popup-live-note" });
    this.player = new LivePlayer(this.video, (state) => {
      this.el.dataset["live"] = state;
      this.liveNote.textContent = LIVE_TEXT[state] ?? "";
    });
  }

  show(c: Case, text: PopupText): void {
    this.queue.push({ c, text });
    if (this.queue.length > MAX_QUEUE) this.queue.shift();
    if (this.queue.length === 1 || this.el.hidden) this.render();
    else this.paintMore();
  }

  close(): void {
    window.clearTimeout(this.timer);
    this.queue.shift();
    if (this.queue.length) this.render();
    else {
      this.el.hidden = true;
      this.player.close();
    }
  }

  private render(): void {
    const item = this.queue[0];
    if (!item) return;
    const { c, text } = item;
    const img = h("img", { class: "popup-snapshot", id: "popup-snapshot", alt: "事件快照 Snapshot", title: "事件快照 Snapshot (click to enlarge)", src: c.source_ref ? snapshotUrl({ id: c.source_ref }) : "" });
    img.addEventListener("click", () => img.classList.toggle("big"));
    const missing = h("div", { class: "popup-snapshot missing", hidden: true, text: "快照生成中 Snapshot not ready" });
    let retried = false;
    img.addEventListener("error", () => {
      // The case can be announced before its detection's snapshot is written: once more.
      if (!retried && c.source_ref) {
        retried = true;
        window.setTimeout(() => (img.src = `${snapshotUrl({ id: c.source_ref ?? "" })}&retry=1`), 2000);
        return;
      }
      img.hidden = true;
      missing.hidden = false;
    });
    const open = h("button", { type: "button", class: "primary", id: "popup-open-case", "data-case-id": String(c.id), text: "查看案件 Open case" });
    open.addEventListener("click", () => {
      this.close();
      this.onOpen(c.id);
    });
    const close = h("button", { type: "button", class: "icon-btn", id: "popup-close", title: "关闭 Close", text: "×" });
    close.addEventListener("click", () => this.close());
    this.el.replaceChildren(
      h("div", { class: "popup-head" }, h("span", { class: `light-dot ${c.light}`, title: LIGHT_LABEL[c.light] }), h("b", { text: `新案件 New case #${c.id}` }), h("span", { class: "popup-more", id: "popup-more" }), close),
      h("div", { class: "popup-live-box" }, this.video, this.liveNote),
      h("div", { class: "popup-row" }, img, missing,
      h("div", { class: "popup-body" }, h("div", { class: "popup-title", text: `${text.category} · ${text.title}` }), h("div", { class: "muted", text: [text.camera, text.place].filter(Boolean).join(" · ") }), h("div", { class: "muted", text: stampText(c.created_at) }))),
      h("div", { class: "popup-actions" }, open),
    );
    this.el.dataset["caseId"] = String(c.id);
    this.el.hidden = false;
    if (text.cameraId) this.player.open(text.cameraId);
    else this.player.close();
    this.paintMore();
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.close(), SHOW_MS);
  }

  private paintMore(): void {
    const more = this.el.querySelector("#popup-more");
    if (more) more.textContent = this.queue.length > 1 ? `+${this.queue.length - 1}` : "";
  }
}
