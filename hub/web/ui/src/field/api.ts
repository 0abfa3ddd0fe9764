// The field app's calls: the worker's own tasks, photos, reports and duty heartbeats.
import { request } from "../api";
import type { Case, CasePage } from "../types";
import type { components } from "../api-types";

type Schemas = components["schemas"];
export type PhotoInfo = Schemas["PhotoInfo"];
export type WorkerReport = Schemas["WorkerReport"];
export type WorkerStatus = Schemas["WorkerStatus"];

/** The hub answers a worker with their own cases only; `open` is every running state. */
export function myCases(states: string[], limit = 50): Promise<CasePage> {
  const p = new URLSearchParams();
  for (const s of states) p.append("state", s);
  p.set("limit", String(limit));
  return request<CasePage>(`/api/cases?${p.toString()}`);
}

/** A JPEG or PNG as the body; checked by its content on the hub, which re-encodes it. */
export function uploadPhoto(photo: Blob): Promise<PhotoInfo> {
  const type = photo.type === "image/png" ? "image/png" : "image/jpeg";
  return request<PhotoInfo>("/api/photos", { method: "POST", headers: { "Content-Type": type }, body: photo });
}

export function sendReport(body: WorkerReport): Promise<Case> {
  return request<Case>("/api/reports", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

export interface Beat {
  position?: [number, number];
  accuracy_m?: number;
  on_duty?: boolean;
}

export function heartbeat(beat: Beat): Promise<WorkerStatus> {
  return request<WorkerStatus>("/api/workers/me/heartbeat", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(beat),
  });
}
