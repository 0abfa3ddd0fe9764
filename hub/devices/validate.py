"""Checks one MQTT message from a device against its profile. Pure functions, no I/O.

Everything a device sends is untrusted: the result is either accepted readings or a rejection
with one of the ``REASONS`` (counted by the ingest and sampled into the dead-letter table).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import orjson

from hub.config import DeviceProfile, TelemetryField

TOPIC_PREFIX = "hub/v1/devices/"
HUB_STATE_TOPIC = "hub/v1/hub/state"

Reason = Literal[
    "malformed_json",
    "wrong_type",
    "unknown_device",
    "unknown_key",
    "out_of_range",
    "oversized",
    "flood",
    "topic_mismatch",
    "store_refused",
]
REASONS: tuple[Reason, ...] = get_args(Reason)

Kind = Literal["telemetry", "status", "events"]
_KINDS: frozenset[str] = frozenset(("telemetry", "status", "events"))
_DEVICE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
MAX_BATCH = 1000
"""Readings in one batch message; more is treated as a wrong type (a device bug or an attack)."""
MAX_TEXT = 256
MAX_SEQ = 2**63 - 1
"""The telemetry table's BIGINT: a larger seq could never be stored and would block the ingest."""

Value = float | bool | str


class Rejected(Exception):
    """A message (or one reading of a batch) the hub refuses."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason: Reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Reading:
    """One accepted telemetry object."""

    device_id: str
    ts: float
    seq: int | None
    values: dict[str, Value]


@dataclass(frozen=True, slots=True)
class Status:
    device_id: str
    state: Literal["online", "offline"]
    session: str
    ts: float
    will: bool


@dataclass(frozen=True, slots=True)
class Event:
    device_id: str
    ts: float
    type: str
    data: dict[str, Any]


def parse_topic(topic: str) -> tuple[str, Kind]:
    """``hub/v1/devices/{id}/{kind}`` -> (id, kind)."""
    if not topic.startswith(TOPIC_PREFIX):
        raise Rejected("topic_mismatch", "not a device topic")
    parts = topic[len(TOPIC_PREFIX) :].split("/")
    if len(parts) != 2 or parts[1] not in _KINDS or not _DEVICE_ID.match(parts[0]):
        raise Rejected("topic_mismatch", "expected hub/v1/devices/{id}/telemetry|status|events")
    kind: Kind = parts[1]  # type: ignore[assignment]
    return parts[0], kind


def load_json(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise Rejected("malformed_json", f"not JSON: {exc}") from None


def parse_ts(raw: Any, now: float) -> float:
    if raw is None:
        return now
    if isinstance(raw, bool):
        raise Rejected("wrong_type", "ts must be epoch seconds or an ISO-8601 string")
    if isinstance(raw, int | float):
        ts = float(raw)
    elif isinstance(raw, str):
        try:
            dt = datetime.fromisoformat(raw)
        except ValueError:
            raise Rejected("wrong_type", "ts is not an ISO-8601 time") from None
        if dt.tzinfo is None:
            raise Rejected("wrong_type", "ts must carry a UTC offset")
        ts = dt.timestamp()
    else:
        raise Rejected("wrong_type", "ts must be epoch seconds or an ISO-8601 string")
    if not math.isfinite(ts) or ts <= 0:
        raise Rejected("wrong_type", "ts is not a valid time")
    return ts


def _check_value(field: TelemetryField, value: Any) -> Value:
    if field.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Rejected("wrong_type", f"{field.key} must be a number")
        v = float(value)
        if not math.isfinite(v):
            raise Rejected("wrong_type", f"{field.key} must be finite")
        if (field.min is not None and v < field.min) or (field.max is not None and v > field.max):
            raise Rejected(
                "out_of_range", f"{field.key}={v} outside physical range {field.min}..{field.max}"
            )
        return v
    if field.type == "boolean":
        if not isinstance(value, bool):
            raise Rejected("wrong_type", f"{field.key} must be a boolean")
        return value
    if not isinstance(value, str):
        raise Rejected("wrong_type", f"{field.key} must be a string")
    if len(value) > MAX_TEXT:
        raise Rejected("wrong_type", f"{field.key} is longer than {MAX_TEXT} characters")
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL: the batch write would fail and be retried forever.
        raise Rejected("wrong_type", f"{field.key} contains a NUL character")
    return value


def field_index(profile: DeviceProfile) -> dict[str, TelemetryField]:
    return {f.key: f for f in profile.telemetry}


FieldCheck = Callable[[Any], Value]
"""A field's value check: the accepted value, or Rejected."""
_MAX_FLOAT = sys.float_info.max


def field_check(field: TelemetryField) -> FieldCheck:
    """``_check_value`` for one field, with the common case (a valid value) decided in a couple of
    comparisons; anything else takes the full check, which says why it is rejected."""
    if field.type == "number":
        # Finite bounds: inf and NaN fail the comparison and get the full check's rejection.
        lo = field.min if field.min is not None else -_MAX_FLOAT
        hi = field.max if field.max is not None else _MAX_FLOAT

        def number(value: Any) -> Value:
            c = value.__class__
            if (c is float or c is int) and lo <= value <= hi:
                return float(value)
            return _check_value(field, value)

        return number
    if field.type == "boolean":
        return lambda value: value if value.__class__ is bool else _check_value(field, value)

    def text(value: Any) -> Value:
        if value.__class__ is str and len(value) <= MAX_TEXT and "\x00" not in value:
            return str(value)
        return _check_value(field, value)

    return text


def field_checks(profile: DeviceProfile) -> dict[str, FieldCheck]:
    return {f.key: field_check(f) for f in profile.telemetry}


def reading(device_id: str, obj: Any, fields: dict[str, FieldCheck], now: float) -> Reading:
    """One telemetry object ``{"ts"?, "seq"?, "values": {...}}``; all of it or nothing."""
    if not isinstance(obj, dict):
        raise Rejected("wrong_type", "a telemetry message is an object or an array of objects")
    values = obj.get("values")
    if not isinstance(values, dict) or not values:
        raise Rejected("wrong_type", "values must be a non-empty object")
    seq = obj.get("seq")
    if seq is not None and (
        isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ
    ):
        raise Rejected("wrong_type", f"seq must be an integer in 0..{MAX_SEQ}")
    other = obj.get("device_id")
    if other is not None and other != device_id:
        raise Rejected("topic_mismatch", f"payload names device {str(other)[:64]!r}")
    out: dict[str, Value] = {}
    for key, value in values.items():
        check = fields.get(key)
        if check is None:
            raise Rejected("unknown_key", f"unknown telemetry key {str(key)[:64]!r}")
        out[key] = check(value)
    return Reading(device_id, parse_ts(obj.get("ts"), now), seq, out)


def telemetry(
    device_id: str, doc: Any, fields: dict[str, FieldCheck], now: float
) -> list[Reading | Rejected]:
    """A message holds one reading or a batch; each reading is accepted or rejected alone."""
    if isinstance(doc, list):
        if not doc or len(doc) > MAX_BATCH:
            return [Rejected("wrong_type", f"a batch holds 1..{MAX_BATCH} readings")]
        items = doc
    else:
        items = [doc]
    out: list[Reading | Rejected] = []
    for obj in items:
        try:
            out.append(reading(device_id, obj, fields, now))
        except Rejected as exc:
            out.append(exc)
    return out


def status(device_id: str, doc: Any, now: float) -> Status:
    if not isinstance(doc, dict):
        raise Rejected("wrong_type", "a status is an object")
    state = doc.get("state")
    if state not in ("online", "offline"):
        raise Rejected("wrong_type", "state must be online or offline")
    session = doc.get("session")
    if not isinstance(session, str) or not 0 < len(session) <= 128 or "\x00" in session:
        raise Rejected("wrong_type", "session must be a string of 1..128 characters, no NUL")
    return Status(
        device_id,
        state,
        session,
        parse_ts(doc.get("ts"), now),
        doc.get("reason") == "will",
    )


def event(device_id: str, doc: Any, now: float) -> Event:
    if not isinstance(doc, dict):
        raise Rejected("wrong_type", "an event is an object")
    type_ = doc.get("type")
    if not isinstance(type_, str) or not 0 < len(type_) <= 64:
        raise Rejected("wrong_type", "type must be a string of 1..64 characters")
    data = doc.get("data", {})
    if not isinstance(data, dict):
        raise Rejected("wrong_type", "data must be an object")
    return Event(device_id, parse_ts(doc.get("ts"), now), type_, data)


class FloodGate:
    """Messages per device per minute, in fixed one-minute windows (cheap: one dict lookup)."""

    def __init__(self) -> None:
        self._windows: dict[str, list[float]] = {}

    def allow(self, device_id: str, limit: int, now: float) -> bool:
        w = self._windows.get(device_id)
        if w is None or now - w[0] >= 60.0:
            self._windows[device_id] = [now, 1.0]
            return True
        w[1] += 1
        return w[1] <= limit
