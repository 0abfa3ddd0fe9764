"""The bus contracts: every topic is a :class:`Topic` naming its one payload type, which producers
build and consumers receive. Nothing else travels on the bus (no hand-built dicts).

On the wire a payload is its JSON (what Redis Streams will carry); the in-process bus goes through
the same JSON, so no consumer can depend on sharing objects with its producer. Consumers must not
mutate a payload they receive: in-process, every subscriber of a message gets the same object.

Times are UTC. ``media_time`` is seconds since the start of the stream or file the event came
from (what `hub analyze` reports); ``start``/``end`` are wall-clock capture times.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field

from hub.config.devices import Severity
from hub.ids import new_id

P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Topic(Generic[P]):
    """A bus topic and the one payload type it carries."""

    name: str
    payload: type[P]
    key: Callable[[P], str] | None = None
    """The partition key: messages with the same key go to the same member of a consumer group
    (per-device and per-camera state, such as alarm rules, stays with one consumer). None: any
    member may get any message."""
    split: Callable[[P, Callable[[str], int]], dict[int, P]] | None = None
    """For a batch payload with many keys: split it by partition (given the key -> partition
    function). Takes precedence over ``key``."""
    retain: int = 10_000
    """About how many messages a backend that keeps them (Redis: MAXLEN ~, per partition) keeps
    for consumers that fall behind."""

    @property
    def keyed(self) -> bool:
        return self.key is not None or self.split is not None

    def route(self, payload: P, partitions: int) -> list[tuple[int, P]]:
        """The payload (or its parts) with the partition, 0..partitions-1, each goes to."""
        if partitions <= 1 or not self.keyed:
            return [(0, payload)]
        if self.split is not None:
            return sorted(self.split(payload, lambda k: partition_of(k, partitions)).items())
        assert self.key is not None
        return [(partition_of(self.key(payload), partitions), payload)]

    def encode(self, payload: P) -> bytes:
        if not isinstance(payload, self.payload):
            raise TypeError(f"{self.name} carries {self.payload.__name__}, not {type(payload)}")
        return payload.model_dump_json().encode()

    def decode(self, raw: bytes | str) -> P:
        return self.payload.model_validate_json(raw)


def partition_of(key: str, partitions: int) -> int:
    """A stable (every process agrees, unlike hash()) partition of ``key``."""
    return zlib.crc32(key.encode()) % partitions


DetectionType = Literal[
    "intrusion",
    "line_crossing",
    "loitering",
    "crowd",
    "tampering",
    "abandoned_object",
    "illegal_parking",
    "fire",
    "smoke",
]
"""``crowd`` 人员聚集, ``tampering`` 遮挡/失焦/移位/冻结, ``abandoned_object`` 遗留物,
``illegal_parking`` 违停; ``fire`` 火焰 and ``smoke`` 烟雾 are heuristics (``cause``
``heuristic``). The same names as the case categories' ``sources.video``."""
CameraState = Literal["connecting", "online", "stalled", "offline", "disabled"]


class Box(BaseModel):
    """Normalised box: x, y of the top-left corner, width, height, all 0..1 of the image."""

    x: float
    y: float
    w: float
    h: float


class DetectionEvent(BaseModel):
    id: UUID = Field(default_factory=new_id)
    camera_id: str
    grid_id: str | None = None
    type: DetectionType
    zone_id: str | None = None
    line_id: str | None = None
    direction: Literal["forward", "backward"] | None = None
    track_id: int
    start: datetime
    end: datetime | None = None
    media_time: float
    """Seconds from stream/file start at which the event happened."""
    boxes: list[Box] = Field(default_factory=list)
    """The object's box at the event frame first, then its recent track (newest first)."""
    confidence: float = Field(ge=0, le=1)
    snapshot: str | None = None
    """Path of the JPEG snapshot (box drawn) relative to the evidence directory."""
    dwell_seconds: float | None = None
    clip: str | None = None
    """Path of the MP4 evidence clip relative to the evidence directory. Written a few seconds
    after the start, so it comes in a later message with the same id (``hub.video.clips``)."""
    object_kind: str | None = None
    """``person`` | ``vehicle`` | ``unknown``: the object of an abandoned_object or
    illegal_parking event."""
    count: int | None = None
    """Crowd: the most people counted in the zone (the end message carries the final peak)."""
    cause: str | None = None
    """Tampering: ``covered`` | ``defocused`` | ``moved`` | ``frozen``; fire and smoke:
    ``heuristic`` (rule-based, 规则判断)."""
    position: list[float] | None = Field(default=None, min_length=2, max_length=2)
    """[lon, lat] of a moving unit (a drone, a camera vehicle) when it saw this; its
    ``grid_id`` is then the grid under it. None: a fixed camera, at its configured place."""
    fence: int | None = None
    """In a cluster: the fencing token of the camera lease the video worker analysed it under
    (hub/cluster/leases.py). A camera's tokens only grow, one per worker that held it in turn,
    so two workers analysing one camera at once would show as interleaved tokens. None: one
    process (no leases)."""


class CameraHealth(BaseModel):
    camera_id: str
    state: CameraState
    fps_in: float = 0.0
    fps_analysed: float = 0.0
    frames_in: int = 0
    frames_analysed: int = 0
    frames_dropped: int = 0
    decode_errors: int = 0
    reconnects: int = 0
    stalls: int = 0
    frames_skipped_late: int = 0
    """Frames not decoded while the reader caught up with live (it had fallen behind)."""
    lag_seconds: float = 0.0
    """How far behind the camera's live edge the hub read its last packet."""
    last_frame_age: float | None = None
    """Seconds since the last decoded frame; None before the first frame."""
    last_error: str | None = None
    width: int | None = None
    height: int | None = None
    codec: str | None = None


class RecordedEvent(DetectionEvent):
    """A DetectionEvent after the store accepted it."""

    seq: int
    created_at: datetime
    evidence_expired_at: datetime | None = None
    """When retention removed the event's snapshot or clip (``hub.video.retention``): its
    evidence is no longer served."""


# ---------------------------------------------------------------------------------------------
# Devices (MQTT sensors)
# ---------------------------------------------------------------------------------------------

PresenceState = Literal["online", "offline"]
PresenceReason = Literal["status", "will", "inactivity", "telemetry"]


class DevicePresence(BaseModel):
    device_id: str
    state: PresenceState
    reason: PresenceReason
    """status: the device's status message; will: its last will; inactivity: no message within
    the profile's timeout; telemetry: a message from a device that was offline."""
    ts: datetime


class DeviceStatus(BaseModel):
    """A device's status message as an ingest process received it (hub/v1/devices/{id}/status),
    for the process that keeps presence (docs/mqtt.md, "Several ingest processes")."""

    device_id: str
    state: PresenceState
    session: str
    ts: float
    """The device's own time of the status, epoch seconds."""
    will: bool = False


class DeviceTelemetry(BaseModel):
    device_id: str
    ts: float
    """Epoch seconds (not ISO like other events: this is the high-volume stream)."""
    seq: int | None = None
    values: dict[str, float | bool | str]


class DeviceTelemetryBatch(BaseModel):
    readings: list[DeviceTelemetry]


class DeviceEvent(BaseModel):
    device_id: str
    ts: datetime
    type: str
    data: dict[str, object] = Field(default_factory=dict)


class UnitPosition(BaseModel):
    """Where a moving camera (a drone or a camera vehicle) is, from its telemetry."""

    unit_id: str
    ts: datetime
    lon: float
    lat: float
    alt_m: float | None = None
    heading: float | None = None
    """Degrees clockwise from north."""
    speed_mps: float | None = None
    battery_pct: float | None = None


# ---------------------------------------------------------------------------------------------
# Dispatch calls (hub/calls)
# ---------------------------------------------------------------------------------------------

CallState = Literal["ringing", "active", "ended"]
ParticipantState = Literal["invited", "joined", "reconnecting", "left", "declined"]
StreamKind = Literal["person", "camera", "drone", "vehicle"]


class CallStream(BaseModel):
    """Media that enters a call: a participant's camera and microphone, or a shared feed."""

    id: str
    kind: StreamKind
    owner: str
    """The participant's username, or the shared camera's id."""
    label: str
    audio: str | None = None
    """The audio codec (``opus``), None: no audio."""
    video: str | None = None
    """The video codec (``H264``, ``VP8``), None: no video."""
    shared_by: str | None = None
    """Who shared the feed into the call (feeds only)."""


class CallParticipant(BaseModel):
    username: str
    name: str
    role: str
    state: ParticipantState
    joined_at: datetime | None = None
    left_at: datetime | None = None


class CallRecording(BaseModel):
    """One stream of a call as recorded (``hub.calls.recording``): evidence of its case."""

    id: str
    stream_id: str
    kind: StreamKind
    owner: str
    label: str
    container: Literal["mp4", "webm"]
    bytes: int
    seconds: float
    started_at: datetime
    ended_at: datetime
    truncated: bool = False
    """The file reached the size limit and stopped before the stream did."""


class Call(BaseModel):
    id: str
    case_id: int | None = None
    title: str
    state: CallState
    created_by: str
    created_at: datetime
    ended_at: datetime | None = None
    end_reason: str | None = None
    participants: list[CallParticipant]
    streams: list[CallStream]
    recordings: list[CallRecording] = Field(default_factory=list)
    """Filled when the call has ended and its files are complete (action ``recorded``)."""


CallAction = Literal[
    "created",
    "joined",
    "declined",
    "left",
    "reconnecting",
    "published",
    "feed_shared",
    "feed_removed",
    "ended",
    "recorded",
]


class CallChange(BaseModel):
    call: Call
    action: CallAction
    actor: str | None = None
    """Who did it (username), None for the hub (a timeout)."""
    detail: str | None = None
    """The stream or feed concerned, or why the call ended."""
    notify: list[str] = Field(default_factory=list)
    """The usernames this concerns (everyone invited): their field apps get it."""


# ---------------------------------------------------------------------------------------------
# Alarms (device rules)
# ---------------------------------------------------------------------------------------------

AlarmState = Literal["active", "acknowledged", "cleared"]


class Alarm(BaseModel):
    """An alarm as stored, on every change."""

    id: int
    device_id: str
    device_name: str
    profile: str
    grid_id: str | None
    rule_id: str
    rule_name: str
    severity: Severity
    state: AlarmState
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None = None
    cleared_at: datetime | None = None
    count: int
    value: Any = None
    key: str | None = None
    position: tuple[float, float]
    """lon, lat"""
    assignee: str | None = None
    cameras: list[dict[str, Any]] = Field(default_factory=list)
    """The cameras that see the device (linkage), nearest first."""


# ---------------------------------------------------------------------------------------------
# Topics
# ---------------------------------------------------------------------------------------------


def _split_readings(
    batch: DeviceTelemetryBatch, part: Callable[[str], int]
) -> dict[int, DeviceTelemetryBatch]:
    by: dict[int, list[DeviceTelemetry]] = {}
    for r in batch.readings:
        by.setdefault(part(r.device_id), []).append(r)
    return {p: DeviceTelemetryBatch(readings=rs) for p, rs in by.items()}


DETECTIONS = Topic("video.detections", DetectionEvent, key=lambda e: e.camera_id)
"""Every detection the analytics core raises (and its updates: same id, ``end`` set)."""
CAMERA_HEALTH = Topic("video.health", CameraHealth)
"""Each camera's health figures, every few seconds."""
UNIT_POSITIONS = Topic("units.positions", UnitPosition)
"""Each accepted telemetry report of a drone or camera vehicle."""
CALLS = Topic("calls", CallChange, key=lambda c: c.call.id)
"""Every change of a dispatch call (created, joined, feed shared, ended...)."""
EVENTS_RECORDED = Topic("events.recorded", RecordedEvent, key=lambda e: e.camera_id)
"""A detection after the store accepted it (created or updated)."""
DEVICE_PRESENCE = Topic("devices.presence", DevicePresence)
"""Every online/offline change of a device."""
DEVICE_TELEMETRY = Topic(
    "devices.telemetry", DeviceTelemetryBatch, split=_split_readings, retain=2_000
)
"""Accepted (validated and stored) telemetry, one message per ingest batch (up to 2,000
readings): a message per reading cost as much as validating it."""
DEVICE_EVENTS = Topic("devices.events", DeviceEvent, key=lambda e: e.device_id)
"""What devices publish on hub/v1/devices/{id}/events, once validated and stored."""
DEVICE_STATUS = Topic("devices.status", DeviceStatus, key=lambda s: s.device_id)
"""Status messages from ingest processes that leave presence to another process (``hub serve
--role devices``); the in-process ingest applies them itself and publishes nothing here."""
ALARMS = Topic("alarms", Alarm, key=lambda a: a.device_id)
"""An alarm on every change: created, refreshed, severity changed, acknowledged, assigned,
cleared. The case loop consumes it."""


# ---------------------------------------------------------------------------------------------
# Cases (the closed loop, hub.dispatch)
# ---------------------------------------------------------------------------------------------

CaseSource = Literal["video", "alarm", "device", "worker", "citizen", "operator"]
Light = Literal["green", "yellow", "red"]


class Case(BaseModel):
    """A case as stored, on every change."""

    id: int
    version: int
    category: str
    kind: Literal["event", "component"]
    title: str
    description: str
    source: CaseSource
    source_ref: str | None = None
    state: str
    pending: Literal["extension", "return"] | None = None
    grid_id: str | None = None
    community_id: str | None = None
    street_id: str | None = None
    position: tuple[float, float] | None = None
    """lon, lat"""
    address: str | None = None
    department: str | None = None
    reporter: str
    assignee: str | None = None
    created_at: datetime
    updated_at: datetime
    yellow_at: datetime | None = None
    deadline: datetime | None = None
    """When the whole case must be closed (its total time limit, in working time); its light
    turns yellow at ``yellow_at``."""
    stage: Literal["accept", "dispatch", "handle", "check"] | None = None
    stage_started_at: datetime | None = None
    stage_yellow_at: datetime | None = None
    stage_deadline: datetime | None = None
    light: Light = "green"
    escalation: int = 0
    """How many levels the case was escalated for being overdue (督办)."""
    evidence_count: int = 0
    last_evidence_at: datetime
    accepted_at: datetime | None = None
    opened_at: datetime | None = None
    dispatched_at: datetime | None = None
    received_at: datetime | None = None
    handled_at: datetime | None = None
    closed_at: datetime | None = None
    evaluated_at: datetime | None = None
    rating: int | None = None
    rework_count: int = 0


class CaseChange(BaseModel):
    """A case after a change, and what the change was."""

    case: Case
    action: str
    """created, evidence, a workflow action (accept, dispatch, ...), light, supervise;
    co_dispatch and part_<step> (part_receive, part_close, ...) for co-dispatched departments'
    parts (:mod:`hub.dispatch.parts`)."""
    actor: str
    notify: list[str] = Field(default_factory=list)
    """Usernames the change concerns directly (the assigned worker, the worker a case or part
    was taken from, the workers of co-dispatched parts, the supervisors asked to act): their
    field apps and walls ring."""


CASES = Topic("cases", CaseChange)
"""Every change of a case; the wall and the field apps follow it."""


# ---------------------------------------------------------------------------------------------
# Grid workers
# ---------------------------------------------------------------------------------------------

WorkerState = Literal["available", "busy", "offline", "off_duty"]


class WorkerStatus(BaseModel):
    """A grid worker as the wall and the map show them."""

    username: str
    name: str
    grids: list[str] = Field(default_factory=list)
    department: str | None = None
    state: WorkerState
    """off_duty: not on duty; offline: on duty but the field app has not been heard from
    lately; busy: on duty with a case in hand (dispatched, received, on scene); available."""
    on_duty: bool
    last_seen: datetime | None = None
    position: tuple[float, float] | None = None
    running_cases: int = 0


WORKERS = Topic("workers", WorkerStatus)
"""A worker's status on every position report, duty change and when they fall silent."""
