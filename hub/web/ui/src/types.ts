// Shapes of the hub API under the UI's names. They are aliases of the types generated from the
// hub's OpenAPI document (api-types.ts, by scripts/gen-ui-types.sh): change a response model in
// hub/, regenerate, and tsc shows every place in the UI that the change touches. Only types the
// API does not describe (WebSocket messages, refinements of untyped fields) are written here.
import type { components } from "./api-types";

type Schemas = components["schemas"];

export type TokenResponse = Schemas["TokenOut"];

export type SiteInfo = Schemas["SiteOut"];
export type Street = Schemas["StreetOut"];
export type Community = Schemas["CommunityOut"];
export type Grid = Schemas["GridOut"];

export type Health = Schemas["CameraHealthOut"];
export type CameraState = Health["state"];
export type Camera = Schemas["CameraOut"];

export type HubEvent = Schemas["EventOut"];
export type EventType = HubEvent["type"];
export type Direction = NonNullable<HubEvent["direction"]>;
export type EventPage = Schemas["EventPage"];

export type Device = Schemas["DeviceOut"];
export type DeviceState = Device["state"];
export type TelemetryField = Schemas["TelemetryFieldOut"];
export type Series = Schemas["SeriesOut"];
/** One point of a telemetry series: a raw reading (`value`) or a bucket (`avg`, `min`, `max`). */
export type SeriesPoint = Series["points"][number];

export type Severity = Schemas["Alarm"]["severity"];
export type AlarmState = Schemas["Alarm"]["state"];

/** A camera linked to an alarm (the API types `cameras` as plain objects). */
export interface AlarmCamera {
  camera_id: string;
  camera_name?: string | null;
  distance_m?: number | null;
}

export type Alarm = Omit<Schemas["Alarm"], "cameras"> & { cameras?: AlarmCamera[] };
export type AlarmPage = Omit<Schemas["AlarmPage"], "items"> & { items: Alarm[] };

/** Messages of the hub WebSocket (`/api/ws`, see docs/api.md). */
export type HubMessage =
  | { type: "hello"; [k: string]: unknown }
  | { type: "event"; data: HubEvent }
  | { type: "health"; data: Health[] }
  | { type: "alarm"; data: Alarm };
