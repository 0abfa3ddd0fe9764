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
  | { type: "alarm"; data: Alarm }
  | { type: "case"; data: CaseChange }
  | { type: "worker"; data: WorkerStatus }
  | { type: "unit"; data: UnitPosition }
  | { type: "call"; data: CallChangeMessage };

export type Case = Schemas["Case"];
export type CaseDetail = Schemas["CaseDetail"];
export type CasePage = Schemas["CasePage"];
export type CaseActionBody = Schemas["CaseAction"];
export type CaseActionName = CaseActionBody["action"];
export type CaseLight = Case["light"];
export type CaseSource = Case["source"];
export type CaseStage = NonNullable<Case["stage"]>;
export type TimelineEntry = Schemas["TimelineEntry"];
export type EvidenceItem = Schemas["EvidenceItem"];
export type Recommendation = Schemas["Recommendation"];
export type Catalogue = Schemas["Catalogue"];
export type CaseCategory = Schemas["Category"];
export type UserInfo = Schemas["UserOut"];
export type Department = Schemas["Department"];

/** Co-dispatch (联合派遣): one department's part of a case, and the bodies that move parts. */
export type CasePart = Schemas["CasePart"];
export type PartState = CasePart["state"];
export type CoDispatchBody = Schemas["CoDispatch"];
export type CoDispatchResult = Schemas["CoDispatchResult"];
export type PartStepBody = Schemas["PartStep"];
export type PartActionName = PartStepBody["action"];
export type PartStepResult = Schemas["PartStepResult"];
/** The body of POST /api/cases (operator entry); send a position, a grid, or both. */
export type NewCaseBody = Omit<Schemas["NewCase"], "category"> & { category?: string };
export type TimeLimit = Schemas["TimeLimit"];

/** The case loop's states (the API types `state` as a plain string). */
export type CaseState = "reported" | "accepted" | "opened" | "voided" | "dispatched" | "received" | "on_scene" | "handled" | "closed" | "evaluated";

/** `detail` of a detection's evidence (the API types it as a plain object; `ref` is the event id). */
export interface DetectionEvidence {
  camera_id?: string;
  camera_name?: string;
  type?: string;
  zone_id?: string | null;
  line_id?: string | null;
  snapshot?: string | null;
  start?: string;
}

/** `detail` of an alarm's evidence (`ref` is the alarm id). */
export interface AlarmEvidence {
  device_id?: string;
  device_name?: string;
  rule_id?: string | null;
  rule_name?: string | null;
  severity?: string;
  value?: unknown;
  cameras?: (string | null)[];
}

/** `data` of a `case` message of the hub WebSocket. */
export interface CaseChange {
  case: Case;
  action: string;
  actor: string;
  notify: string[];
}

/** A grid worker's state and last position (`GET /api/workers`, `worker` messages). */
export type WorkerStatus = Schemas["WorkerStatus"];
/** Where a drone or camera vehicle is (its telemetry; `/api/units` and `unit` messages). */
export type UnitPosition = Schemas["UnitPosition"];
export type WorkerState = WorkerStatus["state"];
export type Track = Schemas["Track"];

/** Supervision figures of the case loop (`GET /api/stats/cases`). */
export type CaseStats = Schemas["Stats"];
export type CaseStatsRow = Schemas["StatsRow"];

/** A dispatch call (`/api/calls`) and its changes (`call` messages). */
export type Call = Schemas["Call"];
export type CallStream = Call["streams"][number];
export type CallJoin = Schemas["JoinOut"];
export interface CallChangeMessage {
  call: Call;
  action: string;
  actor: string | null;
  detail: string | null;
  notify: string[];
}
