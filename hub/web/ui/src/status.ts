// Status bar: hub link, camera counts, events today.
import { h } from "./dom";
import type { LinkState } from "./hubsocket";
import { timezone } from "./time";

const LINK_TEXT: Record<LinkState, string> = {
  connecting: "连接中 Connecting",
  connected: "已连接 Connected",
  reconnecting: "重连中 Reconnecting",
  closed: "已断开 Disconnected",
};

export class StatusBar {
  readonly el: HTMLElement;
  private readonly link: HTMLSpanElement;
  private readonly online: HTMLSpanElement;
  private readonly offline: HTMLSpanElement;
  private readonly total: HTMLSpanElement;
  private readonly today: HTMLSpanElement;
  private readonly tz: HTMLSpanElement;

  constructor() {
    this.link = h("span", { class: "link", id: "link-state", "data-state": "connecting", text: LINK_TEXT.connecting });
    this.online = h("b", { id: "count-online", text: "0" });
    this.offline = h("b", { id: "count-offline", text: "0" });
    this.total = h("b", { id: "count-total", text: "0" });
    this.today = h("b", { id: "events-today", text: "0" });
    this.tz = h("span", { class: "tz" });
    this.el = h(
      "footer",
      { class: "statusbar" },
      this.link,
      h("span", { class: "stat" }, h("span", { class: "badge green" }), "在线 Online ", this.online),
      h("span", { class: "stat" }, h("span", { class: "badge red" }), "离线 Offline ", this.offline),
      h("span", { class: "stat" }, "摄像机 Cameras ", this.total),
      h("span", { class: "stat" }, "今日事件 Events today ", this.today),
      h("span", { class: "spacer" }),
      this.tz,
    );
  }

  setLink(state: LinkState): void {
    this.link.dataset["state"] = state;
    this.link.textContent = LINK_TEXT[state];
  }

  setCameras(online: number, offline: number, total: number): void {
    this.online.textContent = String(online);
    this.offline.textContent = String(offline);
    this.total.textContent = String(total);
    this.tz.textContent = `时区 Time zone: ${timezone()}`;
  }

  setEventsToday(n: number): void {
    this.today.textContent = String(n);
  }
}
