// Words the operators use: Chinese first, English beside it (see DOMAIN.md).
import type { AlarmState, CameraState, Direction, EventType, Severity } from "./types";

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

export const KIND_LABEL: Record<string, string> = {
  smoke: "烟感 Smoke",
  water_level: "水位 Water level",
  manhole: "井盖 Manhole",
  gas: "燃气 Gas",
  air_quality: "空气质量 Air quality",
  door: "门磁 Door",
  gps: "定位器 GPS",
};

/** A one-glyph mark per device kind for dense lists. */
// One CJK character per kind: it renders wherever the Chinese labels do (emoji need a colour
// emoji font that control-room PCs and headless browsers often lack).
export const KIND_ICON: Record<string, string> = {
  smoke: "烟",
  water_level: "水",
  manhole: "井",
  gas: "燃",
  air_quality: "气",
  door: "门",
  gps: "位",
};

export const DEVICE_STATE_LABEL: Record<string, string> = {
  online: "在线 Online",
  offline: "离线 Offline",
  unknown: "未知 Unknown",
};

export const SEVERITY_LABEL: Record<Severity, string> = {
  critical: "紧急 Critical",
  major: "重要 Major",
  minor: "次要 Minor",
  warning: "提示 Warning",
};

export const ALARM_STATE_LABEL: Record<AlarmState, string> = {
  active: "未处理 Active",
  acknowledged: "已确认 Acknowledged",
  cleared: "已清除 Cleared",
};
