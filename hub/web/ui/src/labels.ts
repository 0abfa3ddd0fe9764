// Words the operators use: Chinese first, English beside it (see DOMAIN.md).
import type { CameraState, Direction, EventType } from "./types";

export const EVENT_LABEL: Record<EventType, string> = {
  intrusion: "区域入侵 Intrusion",
  line_crossing: "越线 Line crossing",
  loitering: "徘徊 Loitering",
};

export const STATE_LABEL: Record<CameraState, string> = {
  online: "在线 Online",
  connecting: "连接中 Connecting",
  stalled: "卡顿 Stalled",
  offline: "离线 Offline",
  disabled: "停用 Disabled",
};

export const DIRECTION_LABEL: Record<Direction, string> = {
  forward: "正向 Forward",
  backward: "反向 Backward",
};

export function stateColour(state: CameraState | undefined): "green" | "amber" | "red" | "grey" {
  switch (state) {
    case "online":
      return "green";
    case "connecting":
    case "stalled":
      return "amber";
    case "offline":
      return "red";
    default:
      return "grey";
  }
}
