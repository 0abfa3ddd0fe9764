// The hub's push channel, reconnecting with backoff: the wall's (WS /api/ws: events, health,
// cases, workers) or a worker's (WS /api/ws/field: their own cases).
import { sessionEnded, WS_UNAUTHORIZED, wsUrl } from "./api";
import { token } from "./auth";
import type { HubMessage } from "./types";

export type LinkState = "connecting" | "connected" | "reconnecting" | "closed";

export class HubSocket {
  private ws: WebSocket | null = null;
  private attempts = 0;
  private timer: number | undefined;
  private running = false;

  constructor(
    private readonly onMessage: (msg: HubMessage) => void,
    private readonly onState: (state: LinkState) => void,
    private readonly path = "/api/ws",
  ) {}

  start(): void {
    this.running = true;
    this.connect();
  }

  stop(): void {
    this.running = false;
    window.clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.close(1000);
    }
    this.onState("closed");
  }

  private connect(): void {
    this.onState(this.attempts ? "reconnecting" : "connecting");
    const used = token();
    const ws = new WebSocket(wsUrl(this.path));
    ws.onopen = () => {
      this.attempts = 0;
      this.onState("connected");
    };
    ws.onmessage = (m: MessageEvent<unknown>) => {
      if (typeof m.data !== "string") return;
      try {
        this.onMessage(JSON.parse(m.data) as HubMessage);
      } catch {
        // A malformed message is dropped; the next health tick repairs any state it carried.
      }
    };
    ws.onclose = (e: CloseEvent) => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (e.code === WS_UNAUTHORIZED) {
        sessionEnded(used, "登录已过期 Session expired", () => {
          if (this.running) this.connect();
        });
        return;
      }
      if (!this.running) return;
      this.onState("reconnecting");
      const delay = Math.min(10000, 500 * 2 ** this.attempts) * (0.75 + Math.random() * 0.5);
      this.attempts += 1;
      this.timer = window.setTimeout(() => this.connect(), delay);
    };
    this.ws = ws;
  }
}
