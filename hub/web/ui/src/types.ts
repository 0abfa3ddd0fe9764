// Shapes of the hub API (see docs/api.md). Only the fields the wall reads are required.

export type CameraState = "connecting" | "online" | "stalled" | "offline" | "disabled";
export type EventType = "intrusion" | "line_crossing" | "loitering";
export type Direction = "forward" | "backward";

export interface TokenResponse {
  access_token: string;
  token_type: string;
  username: string;
  role: string;
  expires_at: string;
  must_change_password: boolean;
}

export interface Grid {
  id: string;
  name: string;
  camera_ids: string[];
}
export interface Community {
  id: string;
  name: string;
  grids: Grid[];
}
export interface Street {
  id: string;
  name: string;
  communities: Community[];
}
export interface SiteInfo {
  name: string;
  timezone: string;
  district: { id: string; name: string; streets: Street[] };
}

export interface Health {
  camera_id: string;
  state: CameraState;
  fps_in?: number;
  fps_analysed?: number;
  frames_dropped?: number;
  decode_errors?: number;
  reconnects?: number;
  last_frame_age?: number | null;
  last_error?: string | null;
  width?: number | null;
  height?: number | null;
}

export interface Camera {
  id: string;
  name: string;
  grid_id: string;
  community_id?: string;
  street_id?: string;
  position?: number[];
  analysis_fps?: number;
  enabled: boolean;
  zones: { id: string; name: string }[];
  lines: { id: string; name: string; directions?: Direction[] }[];
  health?: Health | null;
}

export interface HubEvent {
  id: string;
  seq: number;
  camera_id: string;
  camera_name?: string | null;
  grid_id?: string | null;
  type: EventType;
  zone_id?: string | null;
  line_id?: string | null;
  direction?: Direction | null;
  track_id?: number;
  start: string;
  end?: string | null;
  media_time?: number;
  boxes?: { x: number; y: number; w: number; h: number }[];
  confidence?: number;
  snapshot_url?: string | null;
  dwell_seconds?: number | null;
}

export interface EventPage {
  items: HubEvent[];
  next_before_seq: number | null;
}

export type DeviceState = "online" | "offline" | "unknown";
export type DeviceKind = "smoke" | "water_level" | "manhole" | "gas" | "air_quality" | "door" | "gps";

export interface TelemetryField {
  key: string;
  name?: string;
  unit?: string | null;
  type?: "number" | "boolean" | "string";
}

export interface Device {
  id: string;
  name: string;
  profile: string;
  kind: DeviceKind | string;
  grid: string;
  grid_name?: string | null;
  position?: number[];
  enabled: boolean;
  state: DeviceState | string;
  state_reason?: string | null;
  last_seen?: number | null;
  last_values: Record<string, number | boolean | string | null>;
  telemetry: TelemetryField[];
}

/** One point of a telemetry series: a raw reading (`value`) or a bucket (`avg`, `min`, `max`). */
export interface SeriesPoint {
  t: number;
  value?: number;
  avg?: number;
  min?: number;
  max?: number;
}
export interface Series {
  device_id: string;
  key: string;
  resolution: string | number;
  points: SeriesPoint[];
}

export type Severity = "critical" | "major" | "minor" | "warning";
export type AlarmState = "active" | "acknowledged" | "cleared";

export interface AlarmCamera {
  camera_id: string;
  camera_name?: string | null;
  distance_m?: number | null;
}

export interface Alarm {
  id: string | number;
  device_id: string;
  device_name?: string | null;
  profile?: string | null;
  grid_id?: string | null;
  rule_id?: string | null;
  rule_name?: string | null;
  severity: Severity;
  state: AlarmState;
  created_at: string;
  updated_at?: string | null;
  acknowledged_at?: string | null;
  cleared_at?: string | null;
  count?: number;
  value?: number | boolean | string | null;
  key?: string | null;
  position?: number[] | null;
  assignee?: string | null;
  cameras?: AlarmCamera[];
}

export interface AlarmPage {
  items: Alarm[];
  next_before_id: number | string | null;
}

export type HubMessage =
  | { type: "hello"; [k: string]: unknown }
  | { type: "event"; data: HubEvent }
  | { type: "health"; data: Health[] }
  | { type: "alarm"; data: Alarm };
