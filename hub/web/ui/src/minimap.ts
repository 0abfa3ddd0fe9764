// The way to a case, with no map tiles (nothing is fetched from outside the hub): the case's
// grid and its neighbours drawn from the site file, the case, a worker's position (the phone's
// own, or on the wall the assignee's last fix), and the distance and direction between them.
import { svg as el } from "./dom";
import type { Grid, SiteInfo } from "./types";

const EARTH_M = 6_371_000;
const COMPASS = ["北 N", "东北 NE", "东 E", "东南 SE", "南 S", "西南 SW", "西 W", "西北 NW"];

export type LonLat = [number, number];

export function distanceM(a: LonLat, b: LonLat): number {
  const rad = Math.PI / 180;
  const dLat = (b[1] - a[1]) * rad;
  const dLon = (b[0] - a[0]) * rad;
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(a[1] * rad) * Math.cos(b[1] * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_M * Math.asin(Math.min(1, Math.sqrt(s)));
}

/** Initial bearing from a to b, degrees clockwise from north. */
export function bearingDeg(a: LonLat, b: LonLat): number {
  const rad = Math.PI / 180;
  const y = Math.sin((b[0] - a[0]) * rad) * Math.cos(b[1] * rad);
  const x = Math.cos(a[1] * rad) * Math.sin(b[1] * rad) - Math.sin(a[1] * rad) * Math.cos(b[1] * rad) * Math.cos((b[0] - a[0]) * rad);
  return ((Math.atan2(y, x) / rad) + 360) % 360;
}

export function wayText(from: LonLat, to: LonLat, near = "已在现场附近 You are there"): string {
  const d = distanceM(from, to);
  const dir = COMPASS[Math.round(bearingDeg(from, to) / 45) % 8];
  const dist = d < 1000 ? `${Math.round(d)} 米 m` : `${(d / 1000).toFixed(1)} 公里 km`;
  return d < 15 ? near : `${dir} ${dist}`;
}

export function allGrids(site: SiteInfo): Grid[] {
  return site.district.streets.flatMap((s) => s.communities.flatMap((c) => c.grids));
}

function ring(g: Grid): LonLat[] {
  return (g.geometry.coordinates[0] ?? []).map((p) => [p[0] ?? 0, p[1] ?? 0] as LonLat);
}


/** An SVG of the case's surroundings; `me` when the phone has a fix. */
export function miniMap(site: SiteInfo | null, gridId: string | null | undefined, target: LonLat | null, me: LonLat | null): SVGSVGElement {
  const grids = site ? allGrids(site) : [];
  const own = grids.find((g) => g.id === gridId) ?? null;
  const pts: LonLat[] = [...(own ? ring(own) : []), ...(target ? [target] : []), ...(me ? [me] : [])];
  const svg = el("svg", { class: "minimap", viewBox: "0 0 320 200", role: "img", "aria-label": "案件位置 Case location" });
  if (pts.length === 0) {
    const t = el("text", { x: 160, y: 100, "text-anchor": "middle", class: "minimap-none" });
    t.textContent = "无位置 No position";
    svg.append(t);
    return svg;
  }
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of pts) {
    x0 = Math.min(x0, x);
    x1 = Math.max(x1, x);
    y0 = Math.min(y0, y);
    y1 = Math.max(y1, y);
  }
  // Metres-true proportions: a degree of longitude is shorter than one of latitude.
  const k = Math.cos((((y0 + y1) / 2) * Math.PI) / 180);
  const span = Math.max((x1 - x0) * k, y1 - y0, 0.002) * 1.3;
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  const scale = 180 / span;
  const px = (p: LonLat): [number, number] => [160 + (p[0] - cx) * k * scale, 100 - (p[1] - cy) * scale];
  for (const g of grids) {
    const r = ring(g).map(px);
    if (!r.some(([x, y]) => x > -40 && x < 360 && y > -40 && y < 240)) continue;
    const poly = el("polygon", { points: r.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "), class: g.id === gridId ? "grid own" : "grid" });
    svg.append(poly);
  }
  if (target && me) {
    const [ax, ay] = px(me);
    const [bx, by] = px(target);
    svg.append(el("line", { x1: ax, y1: ay, x2: bx, y2: by, class: "way" }));
  }
  if (target) {
    const [x, y] = px(target);
    svg.append(el("circle", { cx: x, cy: y, r: 9, class: "target-halo" }), el("circle", { cx: x, cy: y, r: 5, class: "target" }));
  }
  if (me) {
    const [x, y] = px(me);
    svg.append(el("circle", { cx: x, cy: y, r: 6, class: "me" }));
  }
  return svg;
}
