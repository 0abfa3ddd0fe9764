// Device layer of the left panel: sensors grouped street -> community -> grid, with presence
// badges and kind labels, a filter box, and presence refreshed by polling /api/devices.
import { ApiError, getDevices } from "./api";
import { h } from "./dom";
import { DEVICE_STATE_LABEL, KIND_ICON, KIND_LABEL } from "./labels";
import { shortName } from "./tree";
import type { Device, SiteInfo } from "./types";

const POLL_MS = 10_000;

function presenceColour(state: string): "green" | "red" | "grey" {
  return state === "online" ? "green" : state === "offline" ? "red" : "grey";
}

export class DevicePanel {
  readonly el: HTMLElement;
  private readonly list: HTMLDivElement;
  private readonly filterInput: HTMLInputElement;
  private readonly note: HTMLDivElement;
  private readonly items = new Map<string, HTMLLIElement>();
  private groups: HTMLDetailsElement[] = [];
  private devices = new Map<string, Device>();
  private site: SiteInfo | null = null;
  private timer: number | undefined;
  private running = false;

  constructor(
    private readonly onOpen: (device: Device) => void,
    private readonly onError: (msg: string) => void,
  ) {
    this.filterInput = h("input", {
      type: "search",
      class: "tree-filter",
      id: "device-filter",
      placeholder: "筛选设备 Filter devices",
      "aria-label": "筛选设备 Filter devices",
    });
    this.filterInput.addEventListener("input", () => this.filter());
    this.list = h("div", { class: "tree-list" });
    this.note = h("div", { class: "empty-note", text: "加载中 Loading" });
    this.el = h("section", { class: "panel tree devices", id: "device-tree" }, this.filterInput, this.note, this.list);
  }

  get all(): Device[] {
    return [...this.devices.values()];
  }

  device(id: string): Device | undefined {
    return this.devices.get(id);
  }

  start(site: SiteInfo): void {
    this.site = site;
    this.running = true;
    void this.poll();
  }

  stop(): void {
    this.running = false;
    window.clearTimeout(this.timer);
  }

  private async poll(): Promise<void> {
    try {
      const devices = await getDevices();
      if (!this.running) return;
      const fresh = devices.length !== this.devices.size || devices.some((d) => !this.items.has(d.id));
      this.devices = new Map(devices.map((d) => [d.id, d]));
      if (fresh) this.render();
      else for (const d of devices) this.setPresence(d);
      this.updateCounts();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      this.note.textContent = "设备不可用 Devices unavailable";
      this.note.hidden = false;
      if (err instanceof ApiError && err.status !== 503) this.onError(err.detail);
    }
    if (this.running) this.timer = window.setTimeout(() => void this.poll(), POLL_MS);
  }

  private render(): void {
    this.list.replaceChildren();
    this.items.clear();
    this.groups = [];
    const byGrid = new Map<string, Device[]>();
    for (const d of [...this.devices.values()].sort((a, b) => a.id.localeCompare(b.id))) {
      const g = byGrid.get(d.grid) ?? [];
      g.push(d);
      byGrid.set(d.grid, g);
    }
    const group = (level: string, name: string, title: string, children: HTMLElement[]): HTMLDetailsElement => {
      const d = h(
        "details",
        { class: `group ${level}`, open: level !== "grid" },
        h("summary", { title }, h("span", { class: "group-name", text: name }), h("span", { class: "count" })),
        ...children,
      );
      this.groups.push(d);
      return d;
    };
    const placed = new Set<string>();
    const gridGroup = (gridId: string, name: string, title: string): HTMLDetailsElement | null => {
      const devs = byGrid.get(gridId);
      if (!devs?.length) return null;
      placed.add(gridId);
      return group("grid", name, title, [h("ul", {}, devs.map((d) => this.item(d)))]);
    };
    const site = this.site;
    const top: HTMLDetailsElement[] = [];
    if (site) {
      const dn = site.district.name;
      for (const st of site.district.streets) {
        const communities: HTMLDetailsElement[] = [];
        for (const cm of st.communities) {
          const grids = cm.grids
            .map((g) => gridGroup(g.id, shortName(g.name, [dn, st.name, cm.name]), g.name))
            .filter((g): g is HTMLDetailsElement => g !== null);
          if (grids.length) communities.push(group("community", shortName(cm.name, [dn, st.name]), cm.name, grids));
        }
        if (communities.length) top.push(group("street", shortName(st.name, [dn]), st.name, communities));
      }
    }
    for (const [gridId, devs] of byGrid) {
      if (placed.has(gridId)) continue;
      const name = devs[0]?.grid_name || gridId;
      const g = gridGroup(gridId, name, name);
      if (g) top.push(g);
    }
    this.list.append(...top);
    this.note.hidden = this.devices.size > 0;
    this.note.textContent = "暂无设备 No devices";
    this.filter();
  }

  private item(d: Device): HTMLLIElement {
    const li = h(
      "li",
      { class: "dev", tabindex: 0, "data-device-id": d.id, "data-kind": d.kind },
      h("span", { class: "badge" }),
      h("span", { class: "kind-icon", text: KIND_ICON[d.kind] ?? "•", title: KIND_LABEL[d.kind] ?? d.kind }),
      h("span", { class: "cam-name", text: d.name }),
      h("span", { class: "kind-label", text: (KIND_LABEL[d.kind] ?? d.kind).split(" ")[0] ?? "" }),
    );
    li.addEventListener("click", () => this.open(d.id));
    li.addEventListener("keydown", (e) => {
      if (e.key === "Enter") this.open(d.id);
    });
    this.items.set(d.id, li);
    this.setPresence(d);
    return li;
  }

  private open(id: string): void {
    const d = this.devices.get(id);
    if (d) this.onOpen(d);
  }

  private setPresence(d: Device): void {
    const li = this.items.get(d.id);
    if (!li) return;
    li.dataset["state"] = d.state;
    const badge = li.querySelector(".badge");
    if (badge) badge.className = `badge ${presenceColour(d.state)}`;
    li.title = `${d.name} (${d.id}) · ${KIND_LABEL[d.kind] ?? d.kind} · ${DEVICE_STATE_LABEL[d.state] ?? d.state}`;
  }

  private updateCounts(): void {
    for (const g of this.groups) {
      const lis = g.querySelectorAll<HTMLLIElement>("li.dev:not([hidden])");
      let online = 0;
      lis.forEach((li) => {
        if (li.dataset["state"] === "online") online += 1;
      });
      const count = g.querySelector(":scope > summary > .count");
      if (count) count.textContent = `${online}/${lis.length}`;
    }
  }

  private filter(): void {
    const q = this.filterInput.value.trim().toLowerCase();
    for (const [id, li] of this.items) {
      const d = this.devices.get(id);
      const text = `${id} ${d?.name ?? ""} ${KIND_LABEL[d?.kind ?? ""] ?? d?.kind ?? ""}`.toLowerCase();
      li.hidden = !!q && !text.includes(q);
    }
    for (const g of [...this.groups].reverse()) {
      const any = g.querySelector("li.dev:not([hidden])") !== null;
      g.hidden = !any;
      if (q && any) g.open = true;
    }
    this.updateCounts();
  }
}
