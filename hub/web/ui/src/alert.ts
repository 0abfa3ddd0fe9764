// The wall's alert sound: a short two-tone chime made with Web Audio (no sound file to ship or
// fetch), muted by the operator with one button; the choice is remembered on this machine.
import { h } from "./dom";

const KEY = "hub.muted";

export class AlertSound {
  readonly button: HTMLButtonElement;
  private ctx: AudioContext | null = null;
  private muted = localStorage.getItem(KEY) === "1";
  private lastAt = 0;

  constructor() {
    this.button = h("button", { class: "ghost", id: "sound-toggle", type: "button" });
    this.button.addEventListener("click", () => this.setMuted(!this.muted));
    this.paint();
    // Browsers start audio only after a user gesture: the first click or key on the page.
    const unlock = (): void => {
      void this.context()?.resume();
    };
    document.addEventListener("pointerdown", unlock, { once: true, capture: true });
    document.addEventListener("keydown", unlock, { once: true, capture: true });
  }

  get isMuted(): boolean {
    return this.muted;
  }

  setMuted(m: boolean): void {
    this.muted = m;
    localStorage.setItem(KEY, m ? "1" : "0");
    this.paint();
  }

  /** Chime, unless muted; a burst of cases within two seconds chimes once. */
  play(urgent = false): void {
    this.button.dataset["played"] = String(Number(this.button.dataset["played"] ?? "0") + 1);
    if (this.muted) return;
    const now = Date.now();
    if (now - this.lastAt < 2000) return;
    this.lastAt = now;
    const ctx = this.context();
    if (!ctx || ctx.state !== "running") return;
    const tones = urgent ? [880, 660, 880, 660] : [880, 660];
    tones.forEach((f, i) => {
      const t = ctx.currentTime + i * 0.22;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = f;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.25, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.2);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + 0.21);
    });
  }

  private context(): AudioContext | null {
    if (!this.ctx && typeof AudioContext !== "undefined") this.ctx = new AudioContext();
    return this.ctx;
  }

  private paint(): void {
    this.button.textContent = this.muted ? "🔇 已静音 Muted" : "🔔 提示音 Sound";
    this.button.title = this.muted ? "打开提示音 Unmute alerts" : "静音 Mute alerts";
    this.button.dataset["muted"] = this.muted ? "1" : "0";
  }
}
