// The wall toolbar's own tools: saved layouts (预案), tours (轮巡) and full screen.
import { h } from "./dom";
import { ToursPanel } from "./tour";
import type { Wall } from "./wall";
import { PresetsPanel } from "./wallpresets";

export function wallTools(wall: Wall): HTMLElement {
  const tours = new ToursPanel(wall);
  const presets = new PresetsPanel(wall, () => tours.runner.stop());
  const full = h("button", { class: "wall-btn", id: "wall-fullscreen", text: "⛶ 全屏 Full screen", title: "视频墙全屏 Wall in full screen" });
  full.addEventListener("click", () => wall.toggleFullscreen());
  // A layout picked by hand ends a running tour, as any other change by hand does.
  document.addEventListener("click", (e) => {
    if (e.target instanceof Element && e.target.closest(".layout-btn")) tours.runner.stop();
  });
  // One drop-down open at a time.
  presets.button.addEventListener("click", () => (tours.el.hidden = true));
  tours.button.addEventListener("click", () => (presets.el.hidden = true));
  return h("span", { class: "wall-extra" }, presets.button, tours.button, full, presets.el, tours.el);
}
