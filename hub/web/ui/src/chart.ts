// A small SVG line chart for one telemetry key: no library, local-time axis, min/max band for
// bucketed series.
import { svg as el } from "./dom";
import { hourMinute } from "./time";
import type { SeriesPoint } from "./types";

const W = 560;
const H = 220;
const PAD = { l: 48, r: 12, t: 12, b: 26 };


/** The drawn value and its band: a reading is its own band, a bucket spans min..max. */
function valueOf(p: SeriesPoint): { v: number; lo: number; hi: number } | undefined {
  const [v, lo, hi] = "value" in p ? [p.value, p.value, p.value] : [p.avg, p.min, p.max];
  return Number.isFinite(v) ? { v, lo, hi } : undefined;
}

/** Tick positions at "nice" steps (1, 2, 5 x 10^n) covering [lo, hi]. */
function ticks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export class LineChart {
  readonly el: SVGSVGElement;

  constructor() {
    this.el = el("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img" });
  }

  /** Draw `points` over [since, until] (epoch seconds). */
  draw(points: SeriesPoint[], since: number, until: number, unit: string): void {
    const pts = points.flatMap((p) => {
      const v = valueOf(p);
      return v === undefined ? [] : [{ t: p.t, ...v }];
    });
    this.el.replaceChildren();
    this.el.dataset["points"] = String(pts.length);
    const x0 = PAD.l;
    const x1 = W - PAD.r;
    const y0 = H - PAD.b;
    const y1 = PAD.t;
    this.el.append(el("rect", { x: x0, y: y1, width: x1 - x0, height: y0 - y1, class: "chart-frame" }));
    if (!pts.length) {
      this.el.append(el("text", { x: (x0 + x1) / 2, y: (y0 + y1) / 2, class: "chart-empty", "text-anchor": "middle" }, "暂无数据 No data"));
      return;
    }
    let lo = Math.min(...pts.map((p) => p.lo));
    let hi = Math.max(...pts.map((p) => p.hi));
    if (hi - lo < 1e-9) {
      lo -= 1;
      hi += 1;
    }
    const pad = (hi - lo) * 0.08;
    lo -= pad;
    hi += pad;
    const sx = (t: number): number => x0 + ((t - since) / (until - since || 1)) * (x1 - x0);
    const sy = (v: number): number => y0 - ((v - lo) / (hi - lo)) * (y0 - y1);

    for (const v of ticks(lo, hi, 4)) {
      const y = sy(v);
      this.el.append(el("line", { x1: x0, x2: x1, y1: y, y2: y, class: "chart-grid" }));
      this.el.append(el("text", { x: x0 - 4, y: y + 4, "text-anchor": "end", class: "chart-label" }, String(v)));
    }
    const span = until - since;
    const step = [60, 300, 600, 1800, 3600, 7200, 21600].find((s) => span / s <= 6) ?? 43200;
    for (let t = Math.ceil(since / step) * step; t <= until; t += step) {
      const x = sx(t);
      this.el.append(el("line", { x1: x, x2: x, y1: y0, y2: y0 + 4, class: "chart-axis" }));
      this.el.append(el("text", { x, y: H - 8, "text-anchor": "middle", class: "chart-label" }, hourMinute(new Date(t * 1000))));
    }
    if (pts.some((p) => p.hi !== p.lo)) {
      const band = [...pts.map((p) => `${sx(p.t)},${sy(p.hi)}`), ...[...pts].reverse().map((p) => `${sx(p.t)},${sy(p.lo)}`)];
      this.el.append(el("polygon", { points: band.join(" "), class: "chart-band" }));
    }
    this.el.append(el("polyline", { points: pts.map((p) => `${sx(p.t)},${sy(p.v)}`).join(" "), class: "chart-line" }));
    const last = pts[pts.length - 1];
    if (last) this.el.append(el("circle", { cx: sx(last.t), cy: sy(last.v), r: 3, class: "chart-dot" }));
    if (unit) this.el.append(el("text", { x: x0 + 4, y: y1 + 12, class: "chart-label" }, unit));
  }
}
