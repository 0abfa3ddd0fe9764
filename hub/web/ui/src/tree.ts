// Camera tree: district -> street -> community -> grid -> cameras, with live health badges.
import { h } from "./dom";
import { STATE_LABEL, stateColour } from "./labels";
import { CAMERA_DRAG_TYPE } from "./wall";
import type { Camera, CameraState, SiteInfo } from "./types";

export class CameraTree {
  readonly el: HTMLElement;
  private readonly list: HTMLDivElement;
  private readonly filterInput: HTMLInputElement;
  private readonly items = new Map<string, HTMLLIElement>();
  private groups: HTMLDetailsElement[] = [];
  /** Camera ids in tree order: the order in which an empty wall is filled. */
  order: string[] = [];

  constructor(private readonly onPick: (cameraId: string) => void) {
    this.filterInput = h("input", {
      type: "search",
      class: "tree-filter",
      placeholder: "筛选摄像机 Filter cameras",
      "aria-label": "筛选摄像机 Filter cameras",
    });
    this.filterInput.addEventListener("input", () => this.filter(this.filterInput.value));
    this.list = h("div", { class: "tree-list" });
    this.el = h(
      "aside",
      { class: "panel tree", id: "camera-tree" },
      h("h2", { class: "panel-title", text: "摄像机 Cameras" }),
      this.filterInput,
      this.list,
    );
  }

  render(site: SiteInfo, cameras: Camera[]): void {
    this.list.replaceChildren();
    this.items.clear();
    this.groups = [];
    this.order = [];
    const byId = new Map(cameras.map((c) => [c.id, c]));
    const placed = new Set<string>();

    const camItem = (c: Camera): HTMLLIElement => {
      const badge = h("span", { class: `badge ${stateColour(c.enabled ? c.health?.state : "disabled")}` });
      const li = h(
        "li",
        { class: "cam", draggable: "true", tabindex: 0, "data-camera-id": c.id, title: `${c.name} (${c.id})` },
        badge,
        h("span", { class: "cam-name", text: c.name }),
      );
      li.addEventListener("dragstart", (e) => {
        e.dataTransfer?.setData(CAMERA_DRAG_TYPE, c.id);
        e.dataTransfer?.setData("text/plain", c.id);
        if (e.dataTransfer) e.dataTransfer.effectAllowed = "copy";
      });
      li.addEventListener("dblclick", () => this.onPick(c.id));
      li.addEventListener("keydown", (e) => {
        if (e.key === "Enter") this.onPick(c.id);
      });
      this.items.set(c.id, li);
      this.order.push(c.id);
      placed.add(c.id);
      if (!c.enabled) this.setState(c.id, "disabled");
      else if (c.health) this.setState(c.id, c.health.state);
      return li;
    };

    const group = (level: string, name: string, title: string, children: HTMLElement[]): HTMLDetailsElement => {
      const d = h(
        "details",
        { class: `group ${level}`, open: true },
        h("summary", { title }, h("span", { class: "group-name", text: name }), h("span", { class: "count" })),
        ...children,
      );
      this.groups.push(d);
      return d;
    };

    // A camera tree shows places that have cameras; grids without any would only be noise here.
    const d = site.district;
    const streets: HTMLDetailsElement[] = [];
    for (const st of d.streets) {
      const communities: HTMLDetailsElement[] = [];
      for (const cm of st.communities) {
        const grids: HTMLDetailsElement[] = [];
        for (const g of cm.grids) {
          const cams = g.camera_ids.map((id) => byId.get(id)).filter((c): c is Camera => !!c && !placed.has(c.id));
          if (!cams.length) continue;
          grids.push(group("grid", shortName(g.name, [d.name, st.name, cm.name]), g.name, [h("ul", {}, cams.map(camItem))]));
        }
        if (grids.length) communities.push(group("community", shortName(cm.name, [d.name, st.name]), cm.name, grids));
      }
      if (communities.length) streets.push(group("street", shortName(st.name, [d.name]), st.name, communities));
    }
    const rest = cameras.filter((c) => !placed.has(c.id));
    if (rest.length) streets.push(group("street", "未分组 Ungrouped", "", [h("ul", {}, rest.map(camItem))]));
    this.list.append(group("district", d.name, d.name, streets));
    this.updateCounts();
  }

  setState(cameraId: string, state: CameraState): void {
    const li = this.items.get(cameraId);
    if (!li) return;
    const badge = li.querySelector(".badge");
    if (badge) badge.className = `badge ${stateColour(state)}`;
    li.dataset["state"] = state;
    li.title = `${li.querySelector(".cam-name")?.textContent ?? cameraId} (${cameraId}) · ${STATE_LABEL[state]}`;
  }

  /** Recount "online/total" per group; called after a batch of health updates. */
  updateCounts(): void {
    for (const g of this.groups) {
      const cams = g.querySelectorAll<HTMLLIElement>("li.cam:not([hidden])");
      let online = 0;
      cams.forEach((li) => {
        if (li.dataset["state"] === "online") online += 1;
      });
      const count = g.querySelector(":scope > summary > .count");
      if (count) count.textContent = `${online}/${cams.length}`;
    }
  }

  private filter(text: string): void {
    const q = text.trim().toLowerCase();
    for (const [id, li] of this.items) {
      const name = li.querySelector(".cam-name")?.textContent?.toLowerCase() ?? "";
      li.hidden = !!q && !name.includes(q) && !id.toLowerCase().includes(q);
    }
    // Deepest groups first, so a parent sees whether any child group is still shown.
    for (const g of [...this.groups].reverse()) {
      const any = g.querySelector("li.cam:not([hidden])") !== null;
      g.hidden = !any;
      if (q && any) g.open = true;
    }
    this.updateCounts();
  }
}

/** "三井街道-秀水坊社区-第1网格" under 三井街道 / 秀水坊社区 reads "第1网格": the tree already says where. */
export function shortName(name: string, ancestors: string[]): string {
  let out = name;
  for (const a of ancestors) {
    if (a && out.startsWith(`${a}-`)) out = out.slice(a.length + 1);
  }
  return out || name;
}
