"""Typed events that travel on the bus. Topics are constants here so producers and consumers agree.

Times are UTC. ``media_time`` is seconds since the start of the stream or file the event came
from (what `hub analyze` reports); ``start``/``end`` are wall-clock capture times.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from hub.ids import new_id

TOPIC_DETECTIONS = "video.detections"
TOPIC_CAMERA_HEALTH = "video.health"
TOPIC_EVENTS_RECORDED = "events.recorded"
"""A DetectionEvent after the store accepted it: its JSON plus ``seq`` and ``created_at``."""

DetectionType = Literal["intrusion", "line_crossing", "loitering"]
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
    last_frame_age: float | None = None
    """Seconds since the last decoded frame; None before the first frame."""
    last_error: str | None = None
    width: int | None = None
    height: int | None = None
    codec: str | None = None


# ---------------------------------------------------------------------------------------------
# Devices (MQTT sensors)
# ---------------------------------------------------------------------------------------------

TOPIC_DEVICE_PRESENCE = "devices.presence"
"""DevicePresence, on every online/offline change."""
TOPIC_DEVICE_TELEMETRY = "devices.telemetry"
"""DeviceTelemetryBatch: accepted (validated and stored) telemetry, one message per ingest batch
(up to 2,000 readings): a message per reading cost as much as validating it."""
TOPIC_DEVICE_EVENTS = "devices.events"
"""DeviceEvent: what devices publish on hub/v1/devices/{id}/events."""

PresenceState = Literal["online", "offline"]
PresenceReason = Literal["status", "will", "inactivity", "telemetry"]


class DevicePresence(BaseModel):
    device_id: str
    state: PresenceState
    reason: PresenceReason
    """status: the device's status message; will: its last will; inactivity: no message within
    the profile's timeout; telemetry: a message from a device that was offline."""
    ts: datetime


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


# ---------------------------------------------------------------------------------------------
# Alarms (device rules)
# ---------------------------------------------------------------------------------------------

TOPIC_ALARMS = "alarms"
"""The full alarm JSON (hub.devices.alarms.alarm_json) on every change: created, refreshed,
severity changed, acknowledged, assigned, cleared. The incident loop consumes it."""
