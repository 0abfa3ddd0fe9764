// A new case from a video detection pops up over the wall, as an alarm does: its snapshot, what
// and where, a chime (mutable), and buttons to open it; its camera is linked onto the wall by
// the caller. Cases arriving while one is shown queue behind it ("+N").
import { snapshotUrl } from "./api";
import { h } from "./dom";
import { LIGHT_LABEL } from "./labels";
import { stampText } from "./time";
import type { Case } from "./types";

const SHOW_MS = 20_000;
const MAX_QUEUE = 20;

export interface PopupText {
  category: string;
  title: string;
  place: string;
  camera: string;
}

export class CasePopup {
  readonly el: HTMLElement;
  private queue: { c: Case; text: PopupText }[] = [];
  private timer: number | undefined;

  constructor(private readonly onOpen: (id: number) => void) {
    this.el = h("section", { class: "case-popup", id: "case-popup", role: "alertdialog", "aria-live": "assertive", hidden: true });
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
    else this.el.hidden = true;
  }

  private render(): void {
    const item = this.queue[0];
    if (!item) return;
    const { c, text } = item;
    const img = h("img", { class: "popup-snapshot", id: "popup-snapshot", alt: "事件快照 Snapshot", src: c.source_ref ? snapshotUrl({ id: c.source_ref }) : "" });
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
      img,
      missing,
      h("div", { class: "popup-body" }, h("div", { class: "popup-title", text: `${text.category} · ${text.title}` }), h("div", { class: "muted", text: [text.camera, text.place].filter(Boolean).join(" · ") }), h("div", { class: "muted", text: stampText(c.created_at) })),
      h("div", { class: "popup-actions" }, open),
    );
    this.el.dataset["caseId"] = String(c.id);
    this.el.hidden = false;
    this.paintMore();
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.close(), SHOW_MS);
  }

  private paintMore(): void {
    const more = this.el.querySelector("#popup-more");
    if (more) more.textContent = this.queue.length > 1 ? `+${this.queue.length - 1}` : "";
  }
}
