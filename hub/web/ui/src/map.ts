// City map (地图 Map): the site file's grid hierarchy drawn as SVG (no tiles, nothing fetched
// from outside), with cameras, devices, running cases and grid workers on it.
//
// Geometry: an equirectangular projection around the site's centre with cos(lat) correction,
// in "world" units (1 unit = 1e-4 degree of latitude). Polygons live in a world group that pan
// and zoom transform as a whole (outlines keep their screen width with non-scaling strokes);
// markers and labels live in screen space and are moved on every view change, so that they keep
// their size at any zoom. Streets and the district have no geometry of their own in the site
// file: their outline is the union of their grids', found by dropping the edges two grids share.
import { ApiError, getAlarms, getCases, getDevices, getUnits, getWorkers } from "./api";
import { h, svg, titled } from "./dom";
import { DEVICE_STATE_LABEL, LIGHT_LABEL, STATE_LABEL, stateColour, WORKER_STATE_LABEL } from "./labels";
import { OPEN_STATES } from "./cases";
import { WorkerTrack } from "./maptrack";
import { shortName } from "./tree";
import type { Alarm, Camera, CameraState, Case, Community, Device, Grid, SiteInfo, Street, UnitPosition, WorkerStatus } from "./types";

const UNIT = 1e4; // world units per degree of latitude
const DEVICE_POLL_MS = 10_000;
const MIN_ZOOM = 0.2;
const MAX_ZOOM = 40;
const LABEL_ZOOM = 1.8; // grid names show from this zoom on (relative to "fit")
const DRAG_PX = 4;

export type MapLayer = "grids" | "cameras" | "devices" | "cases" | "workers";
export const MAP_LAYERS: { id: MapLayer; label: string }[] = [
  { id: "grids", label: "网格 Grids" },
  { id: "cameras", label: "摄像机 Cameras" },
  { id: "devices", label: "设备 Devices" },
  { id: "cases", label: "案件 Cases" },
  { id: "workers", label: "网格员 Workers" },
];

export interface MapDeps {
  /** Put a camera on the wall (as a double-click in the camera tree does). */
  onCamera: (cameraId: string) => void;
  /** Open a case's detail drawer (as a click in the case queue does). */
  onCase: (caseId: number) => void;
  onDevice: (device: Device) => void;
  onError: (msg: string) => void;
  categoryName: (code: string) => string;
}

type Pt = [number, number];

/** Edges of the polygons' outer rings that belong to one polygon only: their union's outline
 * (for grids that share their corners, as the site generator and most surveys draw them). */
export function outlineEdges(rings: number[][][]): [number[], number[]][] {
  const key = (p: number[]): string => `${(p[0] ?? 0).toFixed(6)},${(p[1] ?? 0).toFixed(6)}`;
  const edges = new Map<string, { a: number[]; b: number[]; n: number }>();
  for (const ring of rings) {
    for (let i = 0; i + 1 < ring.length; i++) {
      const a = ring[i];
      const b = ring[i + 1];
      if (!a || !b) continue;
      const [ka, kb] = [key(a), key(b)];
      if (ka === kb) continue;
      const k = ka < kb ? `${ka}|${kb}` : `${kb}|${ka}`;
      const e = edges.get(k);
      if (e) e.n += 1;
      else edges.set(k, { a, b, n: 1 });
    }
  }
  return [...edges.values()].filter((e) => e.n === 1).map((e) => [e.a, e.b]);
}

/** Whether [lon, lat] lies inside a ring (ray casting; the ring's edge counts as either). */
function inRing(p: ReadonlyArray<number>, ring: number[][]): boolean {
  const [x, y] = [p[0] ?? 0, p[1] ?? 0];
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const a = ring[i];
    const b = ring[j];
    if (!a || !b) continue;
    const [xi, yi, xj, yj] = [a[0] ?? 0, a[1] ?? 0, b[0] ?? 0, b[1] ?? 0];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** The site's grid holding a point (outside its holes), with its community and street; null
 * outside every grid. The hub decides the same on POST (hub/geo/grids.py), this only shows it. */
export function gridAt(site: SiteInfo, p: ReadonlyArray<number>): { street: Street; community: Community; grid: Grid } | null {
  for (const street of site.district.streets)
    for (const community of street.communities)
      for (const grid of community.grids) {
        const [outer, ...holes] = grid.geometry.coordinates;
        if (outer && inRing(p, outer) && !holes.some((hole) => inRing(p, hole))) return { street, community, grid };
      }
  return null;
}

interface Marker {
  el: SVGGElement;
  x: number;
  y: number;
}

export class CityMap {
  readonly el: HTMLElement;
  private readonly svgEl: SVGSVGElement;
  private readonly world: SVGGElement;
  private readonly gridLayer: SVGGElement;
  private readonly streetLayer: SVGGElement;
  private readonly labelLayer: SVGGElement;
  private readonly layers: Record<Exclude<MapLayer, "grids">, SVGGElement>;
  private readonly stage: HTMLDivElement;
  private readonly counts = new Map<MapLayer, HTMLElement>();
  private readonly note: HTMLDivElement;
  private readonly pickLayer: SVGGElement;
  private readonly pickBanner: HTMLDivElement;
  // projection
  private lon0 = 0;
  private lat0 = 0;
  private cosLat = 1;
  private bounds = { x0: 0, y0: 0, x1: 1, y1: 1 };
  // view: screen = world * k + (tx, ty)
  private k = 1;
  private tx = 0;
  private ty = 0;
  private fitK = 1;
  private fitted = false;
  private frame = 0;
  // content
  private site: SiteInfo | null = null;
  private readonly gridCentre = new Map<string, Pt>();
  private readonly gridShort = new Map<string, string>();
  private readonly labels: Marker[] = [];
  private readonly cameraMarks = new Map<string, Marker>();
  private readonly deviceMarks = new Map<string, Marker>();
  private readonly caseMarks = new Map<number, Marker>();
  private readonly workerMarks = new Map<string, Marker>();
  private readonly devices = new Map<string, Device>();
  private readonly cases = new Map<number, Case>();
  private readonly workers = new Map<string, WorkerStatus>();
  /** Last reported positions of the drones and camera vehicles (kept over a site reload). */
  private readonly units = new Map<string, UnitPosition>();
  // reloads under way, each with the live messages that came in since it asked
  private readonly inFlight: { cases: Map<number, Case>; workers: Map<string, WorkerStatus> }[] = [];
  private readonly alarmed = new Map<string, Set<string>>(); // device id -> open alarm ids
  private visible = false;
  private loaded = false;
  private pollTimer: number | undefined;
  private drag: { id: number; x: number; y: number; tx: number; ty: number; moved: boolean } | null = null;
  private suppressClick = false;
  // pick mode (a new case's place): who gets the next click's [lon, lat], and the mark shown
  private pickDone: ((p: [number, number] | null) => void) | null = null;
  private pickMark: Marker | null = null;
  private pickAt: ReadonlyArray<number> | null = null;
  private readonly resize: ResizeObserver;
  private readonly track: WorkerTrack;

  constructor(private readonly deps: MapDeps) {
    this.svgEl = svg("svg", { class: "map-svg", id: "map-svg", role: "img", "aria-label": "城市地图 City map" });
    this.world = svg("g", { class: "map-world" });
    this.gridLayer = svg("g", { class: "map-layer-grids" });
    this.streetLayer = svg("g", { class: "map-layer-streets" });
    this.track = new WorkerTrack((p) => this.xy(p), deps.onError);
    this.world.append(this.gridLayer, this.streetLayer, this.track.line);
    this.labelLayer = svg("g", { class: "map-labels" });
    this.layers = {
      devices: svg("g", { class: "map-layer-devices" }),
      cameras: svg("g", { class: "map-layer-cameras" }),
      cases: svg("g", { class: "map-layer-cases" }),
      workers: svg("g", { class: "map-layer-workers" }),
    };
    this.pickLayer = svg("g", { class: "map-layer-pick" });
    // Cameras and cases lie over the workers (whose click shows a track): a worker standing at
    // a camera must not make the camera unclickable.
    this.svgEl.append(this.world, this.labelLayer, this.layers.devices, this.layers.workers, this.layers.cameras, this.layers.cases, this.pickLayer);

    const toggles = h("div", { class: "map-layers", role: "group", "aria-label": "图层 Layers" });
    for (const l of MAP_LAYERS) {
      const box = h("input", { type: "checkbox", id: `map-layer-${l.id}`, checked: true, "data-layer": l.id });
      box.addEventListener("change", () => this.svgEl.classList.toggle(`no-${l.id}`, !box.checked));
      const count = h("span", { class: "count", id: `map-count-${l.id}` });
      this.counts.set(l.id, count);
      toggles.append(h("label", { class: "map-toggle" }, box, h("span", { text: l.label }), count));
    }
    const zoomIn = h("button", { class: "icon-btn", id: "map-zoom-in", title: "放大 Zoom in", "aria-label": "放大 Zoom in", text: "+" });
    const zoomOut = h("button", { class: "icon-btn", id: "map-zoom-out", title: "缩小 Zoom out", "aria-label": "缩小 Zoom out", text: "−" });
    const reset = h("button", { class: "ghost", id: "map-reset", title: "全图 Fit the district", text: "全图 Fit" });
    zoomIn.addEventListener("click", () => this.zoomAtCentre(1.5));
    zoomOut.addEventListener("click", () => this.zoomAtCentre(1 / 1.5));
    reset.addEventListener("click", () => this.fit());

    this.note = h("div", { class: "map-note", hidden: true });
    const pickCancel = h("button", { type: "button", id: "map-pick-cancel", text: "取消 Cancel" });
    pickCancel.addEventListener("click", () => this.cancelPick());
    this.pickBanner = h(
      "div",
      { class: "map-pick-banner", id: "map-pick-banner", role: "status", hidden: true },
      h("span", { text: "点击地图选择案件位置 Click the map where the case is · 拖动平移 drag to pan · Esc 取消 cancel" }),
      pickCancel,
    );
    this.stage = h("div", { class: "map-stage" }, this.svgEl, this.legend(), h("div", { class: "map-zoom" }, zoomIn, zoomOut, reset), this.note, this.pickBanner, this.track.el);
    this.el = h(
      "section",
      { class: "map-view", id: "city-map", hidden: true },
      h("div", { class: "map-bar" }, h("span", { class: "toolbar-label", text: "图层 Layers" }), toggles, h("span", {
          class: "hint",
          text: "拖动平移 · 滚轮缩放 · 点击摄像机上墙 Drag to pan · wheel to zoom · click a camera for the wall",
          title: "点击摄像机上墙，点击案件查看详情 Click a camera to put it on the wall, a case to open it",
        })),
      this.stage,
    );

    this.svgEl.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    this.svgEl.addEventListener("pointerdown", (e) => this.onPointerDown(e));
    this.svgEl.addEventListener("pointermove", (e) => this.onPointerMove(e));
    this.svgEl.addEventListener("pointerup", (e) => this.onPointerUp(e));
    this.svgEl.addEventListener("pointercancel", (e) => this.onPointerUp(e));
    // A drag that ends over a marker must not also click it.
    this.svgEl.addEventListener(
      "click",
      (e) => {
        if (!this.suppressClick) return;
        this.suppressClick = false;
        e.stopPropagation();
        e.preventDefault();
      },
      true,
    );
    // Pick mode: a click (not a drag, which the listener above has stopped) anywhere on the map,
    // markers included, is the picked point; the markers do not get it.
    this.svgEl.addEventListener(
      "click",
      (e) => {
        if (!this.pickDone || e.defaultPrevented) return;
        e.stopPropagation();
        e.preventDefault();
        this.finishPick(this.lonLatAt(e.clientX, e.clientY));
      },
      true,
    );
    this.resize = new ResizeObserver(() => {
      if (!this.visible) return;
      if (!this.fitted) this.fit();
      else this.schedule();
    });
    this.resize.observe(this.stage);
  }

  // -- the site --------------------------------------------------------------------------------

  /** Draw the grids, streets and district from the site, and the cameras on them. */
  setSite(site: SiteInfo, cameras: Camera[]): void {
    this.site = site;
    const rings: number[][][] = [];
    for (const st of site.district.streets) for (const cm of st.communities) for (const g of cm.grids) if (g.geometry.coordinates[0]) rings.push(g.geometry.coordinates[0]);
    this.project(rings, cameras);

    this.gridLayer.replaceChildren();
    this.streetLayer.replaceChildren();
    this.labelLayer.replaceChildren();
    this.labels.length = 0;
    this.gridCentre.clear();
    const d = site.district;
    site.district.streets.forEach((st, si) => {
      const streetRings: number[][][] = [];
      for (const cm of st.communities) {
        for (const g of cm.grids) {
          const outer = g.geometry.coordinates[0];
          if (!outer) continue;
          streetRings.push(outer);
          const short = shortName(g.name, [d.name, st.name]);
          this.gridShort.set(g.id, short);
          const path = svg("path", {
            class: `map-grid street-${si % 6}`,
            d: this.pathOf(g.geometry.coordinates),
            "data-grid-id": g.id,
            "data-street-id": st.id,
          });
          titled(path, `${g.name}${g.households ? ` · ${g.households} 户 households` : ""} · ${g.camera_ids.length} 路摄像机 cameras`);
          this.gridLayer.append(path);
          const c = this.centroid(outer);
          this.gridCentre.set(g.id, c);
          this.addLabel(c, short.replace(/社区-?/, "·"), "map-label grid-label");
        }
      }
      this.streetLayer.append(
        titled(svg("path", { class: "map-street", d: this.edgesPath(outlineEdges(streetRings)), "data-street-id": st.id }), st.name),
      );
      if (streetRings.length) this.addLabel(this.centreOfRings(streetRings), shortName(st.name, [d.name]), "map-label street-label");
    });
    this.streetLayer.append(titled(svg("path", { class: "map-district", d: this.edgesPath(outlineEdges(rings)), "data-district-id": d.id }), d.name));
    this.setCameras(cameras);
    for (const u of this.units.values()) this.moveUnit(u);
    for (const c of this.cases.values()) this.placeCase(c);
    for (const w of this.workers.values()) this.placeWorker(w);
    this.track.redraw();
    for (const dv of this.devices.values()) this.placeDevice(dv);
    this.markPoint(this.pickAt);
    this.updateCounts();
    this.fitted = false;
    if (this.visible) this.fit();
  }

  private setCameras(cameras: Camera[]): void {
    this.layers.cameras.replaceChildren();
    this.cameraMarks.clear();
    for (const cam of cameras) {
      const [x, y] = this.xy(cam.position);
      const state: CameraState = cam.enabled ? (cam.health?.state ?? "connecting") : "disabled";
      const moving = cam.kind === "drone" || cam.kind === "vehicle";
      const g = svg("g", { class: `map-camera ${moving ? `map-unit map-${cam.kind}` : ""} ${stateColour(state)}`, "data-camera-id": cam.id, "data-state": state, tabindex: 0, role: "button" });
      if (moving || (cam.heading !== null && cam.heading !== undefined)) {
        // The field of view as a cone in the camera's heading (degrees clockwise from north).
        g.append(svg("path", { class: "cam-fov", d: "M0 0 L-9 -22 A24 24 0 0 1 9 -22 Z", transform: `rotate(${cam.heading ?? 0})` }));
      }
      if (cam.kind === "drone") {
        // A quadcopter: a body and four rotors, so that it reads as a drone, not a pole camera.
        for (const [rx, ry] of [[-6, -6], [6, -6], [-6, 6], [6, 6]] as const) g.append(svg("circle", { class: "cam-rotor", cx: rx, cy: ry, r: 3.5 }));
        g.append(svg("rect", { class: "cam-body", x: -4, y: -4, width: 8, height: 8, rx: 2 }));
      } else {
        g.append(svg("rect", { class: "cam-body", x: -7, y: -5, width: 11, height: 10, rx: 2 }), svg("path", { class: "cam-lens", d: "M4 -3 L8 -5 L8 5 L4 3 Z" }));
      }
      titled(g, `${cam.name} (${cam.id}) · ${STATE_LABEL[state] ?? state} · 点击上墙 Click: on the wall`);
      const pick = (): void => this.deps.onCamera(cam.id);
      g.addEventListener("click", pick);
      g.addEventListener("keydown", (e) => {
        if (e.key === "Enter") pick();
      });
      this.layers.cameras.append(g);
      this.cameraMarks.set(cam.id, { el: g, x, y });
    }
    this.schedule();
  }

  setCameraState(id: string, state: CameraState): void {
    const m = this.cameraMarks.get(id);
    if (!m) return;
    m.el.dataset["state"] = state;
    m.el.classList.remove("green", "amber", "red", "grey");
    m.el.classList.add(stateColour(state));
  }

  // -- live data -------------------------------------------------------------------------------

  /** Shown: fit on first show, load the cases, workers and devices, poll the devices. */
  show(): void {
    this.visible = true;
    this.el.hidden = false;
    if (!this.fitted) this.fit();
    else this.schedule();
    void this.reload();
    this.pollDevices();
  }

  hide(): void {
    if (this.pickDone) this.cancelPick();
    this.visible = false;
    this.el.hidden = true;
    window.clearTimeout(this.pollTimer);
  }

  stop(): void {
    this.hide();
    this.resize.disconnect();
    window.cancelAnimationFrame(this.frame);
  }

  get shown(): boolean {
    return this.visible;
  }

  /** Running cases and the workers, fresh from the hub (the live messages keep them after). */
  async reload(): Promise<void> {
    // Live messages that arrive while the lists are in flight are newer than the lists (a case
    // entered right after the map opened would otherwise vanish when the older list lands), so
    // they are kept aside and laid over the lists.
    const live = { cases: new Map<number, Case>(), workers: new Map<string, WorkerStatus>() };
    this.inFlight.push(live);
    let results;
    try {
      results = await Promise.allSettled([getCases({ state: "open", limit: 500 }), getWorkers(), getAlarms({ state: "open", limit: 500 })]);
      const units = await getUnits().catch(() => []);
      for (const u of units) {
        const known = this.units.get(u.unit_id);
        if (!known || known.ts < u.ts) this.moveUnit(u);
      }
    } finally {
      this.inFlight.splice(this.inFlight.indexOf(live), 1);
    }
    const [cases, workers, alarms] = results;
    if (cases.status === "fulfilled") {
      this.cases.clear();
      this.layers.cases.replaceChildren();
      this.caseMarks.clear();
      for (const c of [...cases.value.items, ...live.cases.values()]) this.setCase(c);
    } else this.failed(cases.reason);
    if (workers.status === "fulfilled") {
      this.workers.clear();
      this.layers.workers.replaceChildren();
      this.workerMarks.clear();
      for (const w of [...workers.value, ...live.workers.values()]) this.setWorker(w);
    } else this.failed(workers.reason);
    if (alarms.status === "fulfilled") {
      this.alarmed.clear();
      for (const a of alarms.value.items) this.alarm(a);
    }
    this.loaded = true;
    this.updateCounts();
  }

  private failed(err: unknown): void {
    // No case loop on this hub (503/404): the layers stay empty, which the legend's counts show.
    if (err instanceof ApiError && (err.status === 503 || err.status === 404 || err.status === 401)) return;
    this.deps.onError(err instanceof ApiError ? err.detail : String(err));
  }

  private pollDevices(): void {
    window.clearTimeout(this.pollTimer);
    if (!this.visible) return;
    void getDevices()
      .then((list) => {
        const seen = new Set<string>();
        for (const d of list) {
          seen.add(d.id);
          this.devices.set(d.id, d);
          this.placeDevice(d);
        }
        for (const id of [...this.devices.keys()]) {
          if (seen.has(id)) continue;
          this.devices.delete(id);
          this.deviceMarks.get(id)?.el.remove();
          this.deviceMarks.delete(id);
        }
        this.updateCounts();
      })
      .catch((err: unknown) => {
        if (!(err instanceof ApiError && (err.status === 503 || err.status === 401))) this.failed(err);
      })
      .finally(() => {
        if (this.visible) this.pollTimer = window.setTimeout(() => this.pollDevices(), DEVICE_POLL_MS);
      });
  }

  /** A case from the hub WebSocket: its marker follows it; a case that stops running goes. */
  upsertCase(c: Case): void {
    for (const f of this.inFlight) f.cases.set(c.id, c);
    this.setCase(c);
  }

  private setCase(c: Case): void {
    const known = this.cases.get(c.id);
    if (known && c.version < known.version) return;
    if (!OPEN_STATES.has(c.state)) {
      this.cases.delete(c.id);
      this.caseMarks.get(c.id)?.el.remove();
      this.caseMarks.delete(c.id);
    } else {
      this.cases.set(c.id, c);
      this.placeCase(c);
    }
    this.updateCounts();
  }

  /** A worker's last known position (the list, then live messages). */
  workerPosition(username: string): [number, number] | null {
    const p = this.workers.get(username)?.position;
    return p ? [p[0], p[1]] : null;
  }

  /** The workers' list alone (the rest waits until the map is shown). */
  async loadWorkers(): Promise<void> {
    try {
      for (const w of await getWorkers()) if (!this.workers.has(w.username)) this.setWorker(w);
    } catch {
      // No case loop on this hub, or not now: the map's own load reports what matters.
    }
  }

  /** A drone or camera vehicle reported where it is: its marker moves there and turns. */
  moveUnit(p: UnitPosition): void {
    this.units.set(p.unit_id, p);
    const m = this.cameraMarks.get(p.unit_id);
    if (!m || !this.site) return;
    [m.x, m.y] = this.xy([p.lon, p.lat]);
    m.el.dataset["lon"] = String(p.lon);
    m.el.dataset["lat"] = String(p.lat);
    if (p.heading !== null && p.heading !== undefined) m.el.querySelector(".cam-fov")?.setAttribute("transform", `rotate(${p.heading})`);
    const facts = [p.alt_m != null ? `高度 alt ${Math.round(p.alt_m)} m` : "", p.speed_mps != null ? `${p.speed_mps.toFixed(1)} m/s` : "", p.battery_pct != null ? `电量 battery ${Math.round(p.battery_pct)}%` : ""].filter(Boolean);
    const title = m.el.querySelector("title");
    if (title) title.textContent = `${title.textContent?.split(" · ")[0] ?? p.unit_id} · ${facts.join(" · ")} · 点击上墙 Click: on the wall`;
    this.moveOne(m);
  }

  upsertWorker(w: WorkerStatus): void {
    for (const f of this.inFlight) f.workers.set(w.username, w);
    this.setWorker(w);
  }

  private setWorker(w: WorkerStatus): void {
    this.workers.set(w.username, w);
    this.placeWorker(w);
    this.track.follow(w);
    this.updateCounts();
  }

  /** An alarm (list or live message): a device with an alarm not yet cleared shows red. */
  alarm(a: Alarm): void {
    const open = this.alarmed.get(a.device_id) ?? new Set<string>();
    if (a.state === "cleared") open.delete(String(a.id));
    else open.add(String(a.id));
    if (open.size) this.alarmed.set(a.device_id, open);
    else this.alarmed.delete(a.device_id);
    const d = this.devices.get(a.device_id);
    if (d) this.placeDevice(d);
  }

  private placeDevice(d: Device): void {
    if (!this.site) return;
    const alarm = this.alarmed.has(d.id);
    const cls = `map-device state-${d.state}${alarm ? " alarm" : ""}${d.enabled ? "" : " disabled"}`;
    let m = this.deviceMarks.get(d.id);
    const [x, y] = this.xy(d.position);
    if (!m) {
      const g = svg("g", { "data-device-id": d.id });
      g.append(svg("circle", { r: 3.2 }), svg("title"));
      g.addEventListener("click", () => {
        const cur = this.devices.get(d.id);
        if (cur) this.deps.onDevice(cur);
      });
      this.layers.devices.append(g);
      m = { el: g, x, y };
      this.deviceMarks.set(d.id, m);
    }
    m.x = x;
    m.y = y;
    m.el.setAttribute("class", cls);
    m.el.dataset["state"] = d.state;
    m.el.dataset["alarm"] = alarm ? "1" : "";
    const title = m.el.querySelector("title");
    if (title) title.textContent = `${d.name} · ${DEVICE_STATE_LABEL[d.state] ?? d.state}${alarm ? " · 告警中 Alarm" : ""}`;
    this.moveOne(m);
  }

  private placeCase(c: Case): void {
    if (!this.site) return;
    const at = this.casePoint(c);
    this.caseMarks.get(c.id)?.el.remove();
    this.caseMarks.delete(c.id);
    if (!at) return;
    const g = svg("g", { class: `map-case light-${c.light}`, "data-case-id": c.id, "data-light": c.light, "data-state": c.state, tabindex: 0, role: "button" });
    g.append(svg("path", { class: "case-pin", d: "M0 0 C-3 -6 -9 -9 -9 -15 A9 9 0 1 1 9 -15 C9 -9 3 -6 0 0 Z" }), svg("circle", { class: "case-dot", cy: -15, r: 3.5 }));
    titled(g, `#${c.id} ${this.deps.categoryName(c.category)} · ${c.title} · ${LIGHT_LABEL[c.light] ?? c.light}${c.grid_id ? ` · ${this.gridShort.get(c.grid_id) ?? c.grid_id}` : ""}`);
    const open = (): void => this.deps.onCase(c.id);
    g.addEventListener("click", open);
    g.addEventListener("keydown", (e) => {
      if (e.key === "Enter") open();
    });
    // Red on top of yellow on top of green.
    const rank = { green: 0, yellow: 1, red: 2 }[c.light] ?? 0;
    g.dataset["rank"] = String(rank);
    const after = [...this.layers.cases.children].find((x) => Number((x as SVGElement).dataset["rank"]) > rank);
    this.layers.cases.insertBefore(g, after ?? null);
    const m = { el: g, x: at[0], y: at[1] };
    this.caseMarks.set(c.id, m);
    this.moveOne(m);
  }

  /** Where a case is: its position, else its grid's centre (spread a little by id, so that
   * several cases of one grid do not hide each other). */
  private casePoint(c: Case): Pt | null {
    if (c.position) return this.xy(c.position);
    const centre = c.grid_id ? this.gridCentre.get(c.grid_id) : undefined;
    if (!centre) return null;
    const a = (c.id * 2.399963) % (2 * Math.PI); // golden angle
    const r = 6 * Math.sqrt(c.id % 17);
    return [centre[0] + r * Math.cos(a), centre[1] + r * Math.sin(a)];
  }

  private placeWorker(w: WorkerStatus): void {
    this.workerMarks.get(w.username)?.el.remove();
    this.workerMarks.delete(w.username);
    if (!this.site || !w.position) return;
    const [x, y] = this.xy(w.position);
    const g = svg("g", { class: `map-worker ${w.state}`, "data-username": w.username, "data-state": w.state, tabindex: 0, role: "button" });
    g.append(svg("circle", { class: "worker-ring", r: 8 }), svg("text", { class: "worker-glyph", y: 4, "text-anchor": "middle" }, (w.name || w.username).slice(0, 1)));
    const seen = w.last_seen ? ` · ${new Date(w.last_seen).toLocaleTimeString("zh-CN", { hourCycle: "h23" })}` : "";
    titled(g, `${w.name || w.username} (${w.username}) · ${WORKER_STATE_LABEL[w.state] ?? w.state} · 在办 ${w.running_cases}${seen} · 点击看轨迹 Click: track`);
    const pick = (): void => void this.track.show(this.workers.get(w.username) ?? w);
    g.addEventListener("click", pick);
    g.addEventListener("keydown", (e) => {
      if (e.key === "Enter") pick();
    });
    this.layers.workers.append(g);
    const m = { el: g, x, y };
    this.workerMarks.set(w.username, m);
    this.moveOne(m);
  }

  private updateCounts(): void {
    const set = (l: MapLayer, n: number): void => {
      const el = this.counts.get(l);
      if (el) el.textContent = String(n);
    };
    set("grids", this.gridCentre.size);
    set("cameras", this.cameraMarks.size);
    set("devices", this.deviceMarks.size);
    set("cases", this.caseMarks.size);
    set("workers", this.workerMarks.size);
    const hidden = [...this.workers.values()].filter((w) => !w.position).length;
    this.note.hidden = !this.loaded || hidden === 0;
    this.note.textContent = `${hidden} 名网格员无位置 worker(s) without a position`;
  }

  private legend(): HTMLElement {
    const item = (cls: string, text: string): HTMLElement => h("li", {}, h("span", { class: `lg ${cls}` }), h("span", { text }));
    return h(
      "div",
      { class: "map-legend", id: "map-legend" },
      h("div", { class: "legend-title", text: "图例 Legend" }),
      h(
        "ul",
        {},
        item("lg-street", "街道边界 Street"),
        item("lg-grid", "网格 Grid"),
        item("lg-cam", "摄像机 Camera"),
        item("lg-dev online", "设备在线 Device online"),
        item("lg-dev offline", "设备离线 Device offline"),
        item("lg-dev alarm", "设备告警 Device alarm"),
        item("lg-case green", LIGHT_LABEL.green),
        item("lg-case yellow", LIGHT_LABEL.yellow),
        item("lg-case red", LIGHT_LABEL.red),
        item("lg-worker available", WORKER_STATE_LABEL["available"] ?? "available"),
        item("lg-worker busy", WORKER_STATE_LABEL["busy"] ?? "busy"),
        item("lg-worker offline", WORKER_STATE_LABEL["offline"] ?? "offline"),
        item("lg-worker off_duty", WORKER_STATE_LABEL["off_duty"] ?? "off_duty"),
      ),
    );
  }

  // -- pick a point ---------------------------------------------------------------------------

  /** Pick mode: the next click on the map gives its [lon, lat] to `done` (dragging still pans,
   * the wheel still zooms); null when the pick is cancelled (cancelPick, the banner's button,
   * the map hidden, or another pick started). Show the map first. */
  pickPoint(done: (p: [number, number] | null) => void): void {
    const before = this.pickDone;
    this.pickDone = done;
    before?.(null);
    this.svgEl.classList.add("picking");
    this.pickBanner.hidden = false;
  }

  cancelPick(): void {
    this.finishPick(null);
  }

  get picking(): boolean {
    return this.pickDone !== null;
  }

  /** Mark the place of the case being entered (null: no mark). */
  markPoint(p: ReadonlyArray<number> | null): void {
    this.pickLayer.replaceChildren();
    this.pickMark = null;
    this.pickAt = p;
    if (!p || !this.site) return;
    const [x, y] = this.xy(p);
    const g = svg("g", { class: "map-pick", id: "map-pick-mark", "data-lon": String(p[0]), "data-lat": String(p[1]) });
    g.append(svg("circle", { class: "pick-halo", r: 11 }), svg("path", { class: "pick-cross", d: "M-16 0H-5M5 0H16M0 -16V-5M0 5V16" }), svg("circle", { class: "pick-dot", r: 3 }));
    titled(g, `新案件位置 New case here · ${(p[0] ?? 0).toFixed(6)}, ${(p[1] ?? 0).toFixed(6)}`);
    this.pickLayer.append(g);
    this.pickMark = { el: g, x, y };
    this.moveOne(this.pickMark);
  }

  private finishPick(p: [number, number] | null): void {
    const done = this.pickDone;
    this.pickDone = null;
    this.svgEl.classList.remove("picking");
    this.pickBanner.hidden = true;
    done?.(p);
  }

  /** [lon, lat] under a point of the screen (the inverse of xy() and the view). */
  private lonLatAt(clientX: number, clientY: number): [number, number] {
    const r = this.svgEl.getBoundingClientRect();
    const x = (clientX - r.left - this.tx) / this.k;
    const y = (clientY - r.top - this.ty) / this.k;
    const round = (v: number): number => Math.round(v * 1e7) / 1e7;
    return [round(this.lon0 + x / (this.cosLat * UNIT)), round(this.lat0 - y / UNIT)];
  }

  // -- projection and view ---------------------------------------------------------------------

  private project(rings: number[][][], cameras: Camera[]): void {
    let [lo0, la0, lo1, la1] = [Infinity, Infinity, -Infinity, -Infinity];
    const take = (p: number[]): void => {
      const [lon, lat] = [p[0] ?? 0, p[1] ?? 0];
      lo0 = Math.min(lo0, lon);
      lo1 = Math.max(lo1, lon);
      la0 = Math.min(la0, lat);
      la1 = Math.max(la1, lat);
    };
    for (const r of rings) r.forEach(take);
    if (!Number.isFinite(lo0)) cameras.forEach((c) => take(c.position));
    if (!Number.isFinite(lo0)) [lo0, la0, lo1, la1] = [0, 0, 0.01, 0.01];
    this.lon0 = (lo0 + lo1) / 2;
    this.lat0 = (la0 + la1) / 2;
    this.cosLat = Math.cos((this.lat0 * Math.PI) / 180);
    const [x0, y0] = this.xy([lo0, la1]);
    const [x1, y1] = this.xy([lo1, la0]);
    this.bounds = { x0, y0, x1: Math.max(x1, x0 + 1), y1: Math.max(y1, y0 + 1) };
  }

  private xy(p: ReadonlyArray<number>): Pt {
    return [((p[0] ?? 0) - this.lon0) * this.cosLat * UNIT, -((p[1] ?? 0) - this.lat0) * UNIT];
  }

  private pathOf(rings: number[][][]): string {
    return rings
      .map((ring) =>
        ring
          .map((p, i) => {
            const [x, y] = this.xy(p);
            return `${i ? "L" : "M"}${x.toFixed(2)} ${y.toFixed(2)}`;
          })
          .join("") + "Z",
      )
      .join("");
  }

  private edgesPath(edges: [number[], number[]][]): string {
    return edges
      .map(([a, b]) => {
        const [ax, ay] = this.xy(a);
        const [bx, by] = this.xy(b);
        return `M${ax.toFixed(2)} ${ay.toFixed(2)}L${bx.toFixed(2)} ${by.toFixed(2)}`;
      })
      .join("");
  }

  private centroid(ring: number[][]): Pt {
    // The vertex average of the ring (without its closing repeat): enough for a label's place.
    const pts = ring.slice(0, -1).map((p) => this.xy(p));
    const n = pts.length || 1;
    return [pts.reduce((s, p) => s + p[0], 0) / n, pts.reduce((s, p) => s + p[1], 0) / n];
  }

  private centreOfRings(rings: number[][][]): Pt {
    const cs = rings.map((r) => this.centroid(r));
    return [cs.reduce((s, p) => s + p[0], 0) / cs.length, cs.reduce((s, p) => s + p[1], 0) / cs.length];
  }

  private addLabel(at: Pt, text: string, cls: string): void {
    const g = svg("g", { class: cls });
    g.append(svg("text", { "text-anchor": "middle", y: 4 }, text));
    this.labelLayer.append(g);
    this.labels.push({ el: g, x: at[0], y: at[1] });
  }

  /** Fit the district into the stage with a margin. */
  fit(): void {
    const w = this.stage.clientWidth;
    const hgt = this.stage.clientHeight;
    if (!w || !hgt) return;
    const b = this.bounds;
    const k = Math.min((w * 0.92) / (b.x1 - b.x0), (hgt * 0.92) / (b.y1 - b.y0));
    this.fitK = k;
    this.k = k;
    this.tx = w / 2 - ((b.x0 + b.x1) / 2) * k;
    this.ty = hgt / 2 - ((b.y0 + b.y1) / 2) * k;
    this.fitted = true;
    this.schedule();
  }

  private zoomAt(sx: number, sy: number, factor: number): void {
    const k = Math.min(this.fitK * MAX_ZOOM, Math.max(this.fitK * MIN_ZOOM, this.k * factor));
    const f = k / this.k;
    this.tx = sx - (sx - this.tx) * f;
    this.ty = sy - (sy - this.ty) * f;
    this.k = k;
    this.schedule();
  }

  private zoomAtCentre(factor: number): void {
    this.zoomAt(this.stage.clientWidth / 2, this.stage.clientHeight / 2, factor);
  }

  private onWheel(e: WheelEvent): void {
    e.preventDefault();
    const r = this.svgEl.getBoundingClientRect();
    this.zoomAt(e.clientX - r.left, e.clientY - r.top, Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015)));
  }

  private onPointerDown(e: PointerEvent): void {
    if (e.button !== 0) return;
    this.drag = { id: e.pointerId, x: e.clientX, y: e.clientY, tx: this.tx, ty: this.ty, moved: false };
  }

  private onPointerMove(e: PointerEvent): void {
    const d = this.drag;
    if (!d || d.id !== e.pointerId) return;
    const dx = e.clientX - d.x;
    const dy = e.clientY - d.y;
    if (!d.moved) {
      if (Math.hypot(dx, dy) < DRAG_PX) return;
      // Captured only once it is a drag: a plain click still reaches the marker under it.
      d.moved = true;
      this.svgEl.setPointerCapture(e.pointerId);
      this.svgEl.classList.add("dragging");
    }
    this.tx = d.tx + dx;
    this.ty = d.ty + dy;
    this.schedule();
  }

  private onPointerUp(e: PointerEvent): void {
    const d = this.drag;
    if (!d || d.id !== e.pointerId) return;
    this.drag = null;
    if (d.moved) {
      this.suppressClick = true;
      window.setTimeout(() => (this.suppressClick = false), 0);
      this.svgEl.classList.remove("dragging");
      if (this.svgEl.hasPointerCapture(e.pointerId)) this.svgEl.releasePointerCapture(e.pointerId);
    }
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = window.requestAnimationFrame(() => {
      this.frame = 0;
      this.redraw();
    });
  }

  private redraw(): void {
    this.world.setAttribute("transform", `matrix(${this.k} 0 0 ${this.k} ${this.tx} ${this.ty})`);
    this.svgEl.classList.toggle("zoomed", this.k >= this.fitK * LABEL_ZOOM);
    for (const m of this.labels) this.moveOne(m);
    for (const marks of [this.cameraMarks, this.deviceMarks, this.caseMarks, this.workerMarks] as Map<unknown, Marker>[]) for (const m of marks.values()) this.moveOne(m);
    if (this.pickMark) this.moveOne(this.pickMark);
  }

  private moveOne(m: Marker): void {
    m.el.setAttribute("transform", `translate(${(m.x * this.k + this.tx).toFixed(1)} ${(m.y * this.k + this.ty).toFixed(1)})`);
  }
}
