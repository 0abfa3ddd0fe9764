// On duty (上岗): the phone's position goes to the hub every HEARTBEAT_MS, so the center sees
// where its workers are and recommends the nearest; off duty, nothing is sent.
import { heartbeat, type WorkerStatus } from "./api";

export const HEARTBEAT_MS = 15_000;
/** A fix older than this is not sent as the worker's position. */
const FIX_MAX_AGE_MS = 120_000;

export interface Fix {
  lon: number;
  lat: number;
  accuracy: number;
  at: number;
}

export type GpsState = "off" | "locating" | "fixed" | "denied" | "unavailable";

export class DutyTracker {
  fix: Fix | null = null;
  gps: GpsState = "off";
  onDuty = false;
  private watch: number | null = null;
  private timer: number | undefined;
  private sending = false;

  constructor(
    private readonly onChange: () => void,
    private readonly onStatus: (s: WorkerStatus) => void,
    private readonly onError: (msg: string) => void,
  ) {}

  /** Start or end the shift on the hub; the hub's answer is the truth shown. */
  async setDuty(on: boolean): Promise<void> {
    const status = await heartbeat({ on_duty: on, ...this.position() });
    this.onDuty = status.on_duty;
    if (this.onDuty) this.startWatching();
    else this.stopWatching();
    this.onStatus(status);
    this.onChange();
  }

  /** Resume what the hub says (a reload keeps the shift going). */
  resume(status: WorkerStatus): void {
    this.onDuty = status.on_duty;
    if (this.onDuty) this.startWatching();
    this.onChange();
  }

  stop(): void {
    this.stopWatching();
  }

  /** The latest fix as a heartbeat's position, when it is fresh. */
  position(): { position?: [number, number]; accuracy_m?: number } {
    const f = this.fix;
    if (!f || Date.now() - f.at > FIX_MAX_AGE_MS) return {};
    return { position: [f.lon, f.lat], accuracy_m: Math.min(100_000, Math.round(f.accuracy)) };
  }

  private startWatching(): void {
    if (this.watch === null) {
      if (!("geolocation" in navigator)) {
        this.gps = "unavailable";
      } else {
        this.gps = this.fix ? "fixed" : "locating";
        this.watch = navigator.geolocation.watchPosition(
          (p) => {
            this.fix = { lon: p.coords.longitude, lat: p.coords.latitude, accuracy: p.coords.accuracy, at: Date.now() };
            const first = this.gps !== "fixed";
            this.gps = "fixed";
            this.onChange();
            if (first) void this.beat();
          },
          (e) => {
            this.gps = e.code === e.PERMISSION_DENIED ? "denied" : "unavailable";
            this.onChange();
          },
          { enableHighAccuracy: true, maximumAge: 10_000, timeout: 30_000 },
        );
      }
    }
    window.clearInterval(this.timer);
    this.timer = window.setInterval(() => void this.beat(), HEARTBEAT_MS);
  }

  private stopWatching(): void {
    if (this.watch !== null) navigator.geolocation.clearWatch(this.watch);
    this.watch = null;
    window.clearInterval(this.timer);
    this.timer = undefined;
    this.gps = "off";
  }

  private async beat(): Promise<void> {
    if (this.sending || !this.onDuty) return;
    this.sending = true;
    try {
      this.onStatus(await heartbeat(this.position()));
    } catch (err) {
      // The next beat tries again; the worker sees that the link is down.
      this.onError(err instanceof Error ? err.message : String(err));
    } finally {
      this.sending = false;
    }
  }
}
