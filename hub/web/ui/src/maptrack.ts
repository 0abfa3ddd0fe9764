// A worker's track (活动轨迹) on the city map: today's GPS fixes as a line, followed live while
// the panel is open, with how far and how long the worker has been out.
import { ApiError, getTrack } from "./api";
import { h, svg } from "./dom";
import { WORKER_STATE_LABEL } from "./labels";
import { distanceM, type LonLat } from "./minimap";
import { hourMinute, localDay, zonedToIso } from "./time";
import type { WorkerStatus } from "./types";

type Project = (p: ReadonlyArray<number>) => [number, number];

/** Length of a line of [lon, lat] points, in metres. */
export function lengthM(pts: LonLat[]): number {
  let m = 0;
  for (let i = 1; i < pts.length; i++) m += distanceM(pts[i - 1] as LonLat, pts[i] as LonLat);
  return m;
}

export class WorkerTrack {
  /** The line, in the map's world layer (drawn in world units, scaled with it). */
  readonly line: SVGPolylineElement;
  /** The panel over the map. */
  readonly el: HTMLDivElement;
  private readonly text: HTMLSpanElement;
  private who: WorkerStatus | null = null;
  private pts: LonLat[] = [];
  private times: string[] = [];
  private asked = 0;

  constructor(
    private readonly project: Project,
    private readonly onError: (msg: string) => void,
  ) {
    this.line = svg("polyline", { class: "map-track", id: "map-track-line", points: "" });
    this.text = h("span", { class: "track-text", id: "map-track-text" });
    const close = h("button", { type: "button", class: "ghost", id: "map-track-close", text: "关闭 Close" });
    close.addEventListener("click", () => this.hide());
    this.el = h("div", { class: "map-track-panel", id: "map-track", role: "status", hidden: true }, this.text, close);
  }

  get username(): string | null {
    return this.who?.username ?? null;
  }

  /** Load and draw the worker's track since local midnight (the site's timezone). */
  async show(w: WorkerStatus): Promise<void> {
    const mine = ++this.asked;
    this.who = w;
    this.pts = [];
    this.times = [];
    this.el.hidden = false;
    this.el.dataset["username"] = w.username;
    this.text.textContent = `活动轨迹 Track · ${w.name || w.username} · 加载中 Loading…`;
    try {
      const t = await getTrack(w.username, zonedToIso(`${localDay(new Date())}T00:00`));
      if (mine !== this.asked) return;
      this.pts = t.points.map((p) => [p[1], p[2]]);
      this.times = t.points.map((p) => p[0]);
      this.draw();
    } catch (err) {
      if (mine !== this.asked) return;
      this.hide();
      if (!(err instanceof ApiError && err.status === 401)) this.onError(err instanceof ApiError ? err.detail : String(err));
    }
  }

  /** A live worker message: a new fix of the shown worker while on duty extends the line. */
  follow(w: WorkerStatus): void {
    if (!this.who || w.username !== this.who.username) return;
    this.who = w;
    const p = w.position;
    const last = this.pts[this.pts.length - 1];
    if (p && w.state !== "off_duty" && (!last || last[0] !== p[0] || last[1] !== p[1])) {
      this.pts.push([p[0], p[1]]);
      this.times.push(w.last_seen ?? new Date().toISOString());
    }
    this.draw();
  }

  hide(): void {
    this.asked++;
    this.who = null;
    this.pts = [];
    this.el.hidden = true;
    delete this.el.dataset["username"];
    this.line.setAttribute("points", "");
  }

  /** The site changed: the projection did too. */
  redraw(): void {
    if (this.who) this.draw();
  }

  private draw(): void {
    const w = this.who;
    if (!w) return;
    this.line.setAttribute("points", this.pts.map((p) => this.project(p).map((v) => v.toFixed(2)).join(",")).join(" "));
    this.line.dataset["points"] = String(this.pts.length);
    this.el.dataset["points"] = String(this.pts.length);
    const km = (lengthM(this.pts) / 1000).toFixed(2);
    const first = this.times[0];
    const last = this.times[this.times.length - 1];
    const span = first && last ? ` · ${hourMinute(new Date(first))}–${hourMinute(new Date(last))}` : "";
    const state = WORKER_STATE_LABEL[w.state] ?? w.state;
    this.text.textContent = this.pts.length
      ? `活动轨迹 Track · ${w.name || w.username} (${state}) · 今日 today ${this.pts.length} 点 fixes · ${km} km${span}`
      : `活动轨迹 Track · ${w.name || w.username} (${state}) · 今日暂无定位 No fixes today`;
  }
}
