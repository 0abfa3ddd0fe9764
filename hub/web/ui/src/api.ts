// HTTP and WebSocket plumbing. Every 401 ends the session and returns to the login page.
import { clearSession, type Session, saveSession, token } from "./auth";
import type {
  Alarm,
  AlarmPage,
  Camera,
  Case,
  CaseActionBody,
  CaseDetail,
  CasePage,
  CaseStats,
  Catalogue,
  CoDispatchBody,
  CoDispatchResult,
  Device,
  EventPage,
  EventType,
  NewCaseBody,
  PartStepBody,
  PartStepResult,
  Recommendation,
  Series,
  SiteInfo,
  TokenResponse,
  Call,
  CallJoin,
  UnitPosition,
  Track,
  UserInfo,
  WorkerStatus,
} from "./types";

/** One invalid field of a 422 problem (`loc` as ["body", "title"]; the input is never echoed). */
export interface FieldError {
  loc: (string | number)[];
  msg: string;
}

/** An API error carrying the RFC 9457 problem `detail`, which is what the user should read, and
 * for a 422 the fields that were invalid. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly errors: FieldError[] = [],
  ) {
    super(detail);
  }
}

type Unauthorized = (reason: string) => void;
let onUnauthorized: Unauthorized = () => undefined;

export function setUnauthorizedHandler(fn: Unauthorized): void {
  onUnauthorized = fn;
}

export function unauthorized(reason: string): void {
  clearSession();
  onUnauthorized(reason);
}

async function problem(res: Response): Promise<ApiError> {
  let detail = `${res.status} ${res.statusText}`;
  let errors: FieldError[] = [];
  try {
    const body: unknown = await res.json();
    if (body && typeof body === "object") {
      const b = body as { detail?: unknown; title?: unknown; errors?: unknown };
      if (typeof b.detail === "string" && b.detail) detail = b.detail;
      else if (Array.isArray(b.detail)) detail = b.detail.map((d: { msg?: string }) => d.msg ?? "").join("; ");
      else if (typeof b.title === "string" && b.title) detail = b.title;
      if (Array.isArray(b.errors)) {
        errors = (b.errors as { loc?: unknown; msg?: unknown }[])
          .filter((e) => e && Array.isArray(e.loc))
          .map((e) => ({ loc: e.loc as (string | number)[], msg: typeof e.msg === "string" ? e.msg : "" }));
      }
    }
  } catch {
    // Not JSON: the status line is all we have.
  }
  return new ApiError(res.status, detail, errors);
}

// A 503 with Retry-After is the hub's store busy for a moment (the write was rolled back, so
// sending it again is safe): waited out a few times before the user sees an error.
const BUSY_RETRIES = 3;
const BUSY_WAIT_MAX_S = 5;

export async function request<T>(path: string, init: RequestInit = {}, auth = true, retried = false, busy = 0): Promise<T> {
  const headers = new Headers(init.headers);
  headers.set("Accept", "application/json");
  const used = auth ? token() : "";
  if (auth) headers.set("Authorization", `Bearer ${used}`);
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers });
  } catch {
    throw new ApiError(0, "无法连接服务器 Cannot reach the hub");
  }
  if (res.status === 401 && auth) {
    const err = await problem(res);
    // Sent with a token this tab has replaced since (a password change): once more, not out.
    if (!retried && (await renewedSince(used))) return request<T>(path, init, auth, true);
    unauthorized(err.detail);
    throw err;
  }
  const wait = Number(res.headers.get("Retry-After"));
  if (res.status === 503 && wait > 0 && busy < BUSY_RETRIES && !(init.body instanceof ReadableStream)) {
    await new Promise((r) => window.setTimeout(r, Math.min(wait, BUSY_WAIT_MAX_S) * 1000));
    return request<T>(path, init, auth, retried, busy + 1);
  }
  if (!res.ok) throw await problem(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export function login(username: string, password: string): Promise<TokenResponse> {
  const body = new URLSearchParams({ username, password, grant_type: "password" });
  return request<TokenResponse>("/api/auth/token", { method: "POST", body }, false);
}

// A password change ends every session of the user on the hub, this tab's included; while it
// is under way, a request refused or a socket closed for that reason waits for the new token
// instead of logging the user out.
let renewing: Promise<unknown> | null = null;

/** Every session of the user ends with the old password; the hub answers with this tab's new
 * token, which is saved before the returned promise settles. */
export function changePassword(oldPassword: string, newPassword: string): Promise<Session> {
  const p = request<TokenResponse>("/api/auth/password", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ old_password: oldPassword, new_password: newPassword }),
  }).then(saveSession);
  const settled = p.then(
    () => undefined,
    () => undefined,
  );
  renewing = settled;
  void settled.then(() => {
    if (renewing === settled) renewing = null;
  });
  return p;
}

/** A socket opened with `usedToken` was closed as unauthorized: reconnect (`retry`) when this
 * tab has a newer token by now or once a password change under way brings one; otherwise the
 * session is over. */
export function sessionEnded(usedToken: string, reason: string, retry: () => void): void {
  void renewedSince(usedToken).then((renewed) => (renewed ? retry() : unauthorized(reason)));
}

async function renewedSince(usedToken: string): Promise<boolean> {
  if (renewing) await renewing;
  const now = token();
  return !!now && now !== usedToken;
}

/** Ends every session of the user on the hub (tokens and open sockets), not only this tab's. */
export function logout(): Promise<unknown> {
  return request("/api/auth/logout", { method: "POST" });
}

export function getSite(): Promise<SiteInfo> {
  return request<SiteInfo>("/api/site");
}

export function getCameras(): Promise<Camera[]> {
  return request<Camera[]>("/api/cameras");
}

export interface EventQuery {
  type?: EventType | "";
  limit?: number;
  beforeSeq?: number | null;
  cameraId?: string;
  gridId?: string;
  streetId?: string;
  /** Words in the camera's id, name or place. */
  q?: string;
  since?: string;
  until?: string;
}

export function getEvents(q: EventQuery): Promise<EventPage> {
  const p = new URLSearchParams();
  if (q.type) p.set("type", q.type);
  if (q.cameraId) p.set("camera_id", q.cameraId);
  if (q.gridId) p.set("grid_id", q.gridId);
  if (q.streetId) p.set("street_id", q.streetId);
  if (q.q) p.set("q", q.q);
  if (q.since) p.set("since", q.since);
  if (q.until) p.set("until", q.until);
  p.set("limit", String(q.limit ?? 50));
  if (q.beforeSeq !== undefined && q.beforeSeq !== null) p.set("before_seq", String(q.beforeSeq));
  return request<EventPage>(`/api/events?${p.toString()}`);
}

export function getDevices(): Promise<Device[]> {
  return request<Device[]>("/api/devices");
}

export function getDevice(id: string): Promise<Device> {
  return request<Device>(`/api/devices/${encodeURIComponent(id)}`);
}

/** A telemetry series of one key over the last `seconds` (epoch-second `t`). */
export function getTelemetry(id: string, key: string, seconds: number, maxPoints = 300): Promise<Series> {
  const p = new URLSearchParams({
    key,
    since: new Date(Date.now() - seconds * 1000).toISOString(),
    max_points: String(maxPoints),
  });
  return request<Series>(`/api/devices/${encodeURIComponent(id)}/telemetry?${p.toString()}`);
}

export function getAlarms(q: { state?: string; limit?: number } = {}): Promise<AlarmPage> {
  const p = new URLSearchParams();
  if (q.state) p.set("state", q.state);
  p.set("limit", String(q.limit ?? 100));
  return request<AlarmPage>(`/api/alarms?${p.toString()}`);
}

export function alarmAction(id: string | number, action: "ack" | "clear"): Promise<Alarm | undefined> {
  return request<Alarm | undefined>(`/api/alarms/${encodeURIComponent(String(id))}/${action}`, { method: "POST" });
}

export interface CaseQuery {
  /** "open" (every running state), a state, or "" for all. */
  state?: string;
  light?: string;
  gridId?: string;
  source?: string;
  /** Cases with this request waiting for an answer. */
  pending?: "extension" | "return";
  limit?: number;
  beforeId?: number | null;
}

/** Newest first, filtered and paged on the hub (`next_before_id` pages on). */
export function getCases(q: CaseQuery = {}): Promise<CasePage> {
  const p = new URLSearchParams();
  if (q.state) p.set("state", q.state);
  if (q.light) p.set("light", q.light);
  if (q.gridId) p.set("grid_id", q.gridId);
  if (q.source) p.set("source", q.source);
  if (q.pending) p.set("pending", q.pending);
  p.set("limit", String(q.limit ?? 50));
  if (q.beforeId !== undefined && q.beforeId !== null) p.set("before_id", String(q.beforeId));
  return request<CasePage>(`/api/cases?${p.toString()}`);
}

export function getCase(id: number): Promise<CaseDetail> {
  return request<CaseDetail>(`/api/cases/${id}`);
}

export function getRecommendations(id: number): Promise<Recommendation[]> {
  return request<Recommendation[]>(`/api/cases/${id}/recommendations`);
}

/** One step of the loop; 409 when `version` is stale (reload and decide again). */
export function caseAction(id: number, body: Partial<CaseActionBody> & Pick<CaseActionBody, "action" | "version">): Promise<Case> {
  return request<Case>(`/api/cases/${id}/actions`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** A case entered at the center (operator or admin): 201 with the case; 422 with the invalid
 * fields (`errors`), or with the hub's reason (no such category or grid, no place). */
export function createCase(body: NewCaseBody): Promise<Case> {
  return request<Case>("/api/cases", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** 联合派遣 Co-dispatch: the case to several departments at once; 409 when `version` is stale. */
export function coDispatch(id: number, body: CoDispatchBody): Promise<CoDispatchResult> {
  return request<CoDispatchResult>(`/api/cases/${id}/parts`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** One step of a department's part (`version` is the case's); 409 when stale. */
export function partAction(caseId: number, partId: number, body: Partial<PartStepBody> & Pick<PartStepBody, "action" | "version">): Promise<PartStepResult> {
  return request<PartStepResult>(`/api/cases/${caseId}/parts/${partId}/actions`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

export function getCategories(): Promise<Catalogue> {
  return request<Catalogue>("/api/categories");
}

/** Admin only: the accounts (the assignee picker offers the active workers). */
export function getUsers(): Promise<UserInfo[]> {
  return request<UserInfo[]>("/api/users");
}

/** Every worker of the site with state, last position and cases in hand (the map). */
export function getWorkers(): Promise<WorkerStatus[]> {
  return request<WorkerStatus[]>("/api/workers");
}

/** Each drone's and camera vehicle's last reported position. */
export function getUnits(): Promise<UnitPosition[]> {
  return request<UnitPosition[]>("/api/units");
}

/** A worker's GPS track (活动轨迹) from `since` (ISO), oldest first. */
export function getTrack(username: string, since: string): Promise<Track> {
  return request<Track>(`/api/workers/${encodeURIComponent(username)}/track?since=${encodeURIComponent(since)}`);
}

export type StatsGroup = CaseStats["by"];

export interface StatsQuery {
  by: StatsGroup;
  /** ISO instants; the hub counts the cases reported in [since, until). */
  since?: string | null;
  until?: string | null;
}

function statsParams(q: StatsQuery): string {
  const p = new URLSearchParams({ by: q.by });
  if (q.since) p.set("since", q.since);
  if (q.until) p.set("until", q.until);
  return p.toString();
}

/** Supervision figures of the case loop (结案率, 按期结案率, 返工率, mean times), grouped. */
export function getCaseStats(q: StatsQuery): Promise<CaseStats> {
  return request<CaseStats>(`/api/stats/cases?${statsParams(q)}`);
}

/** The same figures as a CSV file, fetched with the bearer header (the token stays out of the
 * URL) and handed back with the name the hub suggests. */
export async function getCaseStatsCsv(q: StatsQuery): Promise<{ blob: Blob; filename: string }> {
  const path = `/api/stats/cases.csv?${statsParams(q)}`;
  let res: Response;
  try {
    res = await fetch(path, { headers: { Authorization: `Bearer ${token()}`, Accept: "text/csv" } });
  } catch {
    throw new ApiError(0, "无法连接服务器 Cannot reach the hub");
  }
  if (res.status === 401) {
    const err = await problem(res);
    unauthorized(err.detail);
    throw err;
  }
  if (!res.ok) throw await problem(res);
  const named = /filename="?([^";]+)"?/.exec(res.headers.get("Content-Disposition") ?? "");
  return { blob: await res.blob(), filename: named?.[1] ?? `cases-by-${q.by}.csv` };
}

/** URL of an authenticated resource that the browser loads itself (img src, WebSocket). */
export function withToken(path: string): string {
  const sep = path.includes("?") ? "&" : "?";
  return `${path}${sep}access_token=${encodeURIComponent(token())}`;
}

export function wsUrl(path: string): string {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${withToken(path)}`;
}

export function snapshotUrl(ev: { id: string; snapshot_url?: string | null }): string {
  return withToken(ev.snapshot_url || `/api/events/${encodeURIComponent(ev.id)}/snapshot`);
}

/** Close code the hub uses for a bad or expired token on a WebSocket. */
export const WS_UNAUTHORIZED = 4401;

// -- dispatch calls ------------------------------------------------------------------------------

const jsonPost = (body: unknown): RequestInit => ({ method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

/** Start a call (the wall's roles): it rings the invitees' field apps. */
export function createCall(invite: string[], caseId?: number | null, title?: string): Promise<Call> {
  return request<Call>("/api/calls", jsonPost({ invite, case_id: caseId ?? null, ...(title ? { title: title.slice(0, 100) } : {}) }));
}

export function getCall(id: string): Promise<Call> {
  return request<Call>(`/api/calls/${encodeURIComponent(id)}`);
}

export function getCalls(): Promise<Call[]> {
  return request<Call[]>("/api/calls");
}

/** Answer or join: the call token (signalling only) and the ICE servers (TURN credentials). */
export function joinCall(id: string): Promise<CallJoin> {
  return request<CallJoin>(`/api/calls/${encodeURIComponent(id)}/join`, { method: "POST" });
}

export function declineCall(id: string): Promise<Call> {
  return request<Call>(`/api/calls/${encodeURIComponent(id)}/decline`, { method: "POST" });
}

export function leaveCall(id: string): Promise<void> {
  return request<void>(`/api/calls/${encodeURIComponent(id)}/leave`, { method: "POST" });
}

export function endCall(id: string): Promise<Call> {
  return request<Call>(`/api/calls/${encodeURIComponent(id)}/end`, { method: "POST" });
}

/** Share a street camera or a drone into the call. */
export function shareFeed(id: string, cameraId: string): Promise<Call> {
  return request<Call>(`/api/calls/${encodeURIComponent(id)}/feeds`, jsonPost({ camera_id: cameraId }));
}

/** An SDP offer to the call's signalling (publish or subscribe) with the call token: the answer
 * and the connection's Location. */
export async function callOffer(path: string, callToken: string, sdp: string): Promise<{ answer: string; location: string }> {
  let res: Response;
  try {
    res = await fetch(path, { method: "POST", headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${callToken}` }, body: sdp });
  } catch {
    throw new ApiError(0, "无法连接服务器 Cannot reach the hub");
  }
  if (res.status !== 201) throw await problem(res);
  return { answer: await res.text(), location: res.headers.get("Location") ?? "" };
}
