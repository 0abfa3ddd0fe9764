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
    "bad_time",
    "store_refused",
    "internal_error",
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
MAX_TS_AGE = 30 * 86_400.0
"""Oldest accepted reading or event time, seconds before the hub's clock. A sensor buffers while
its network or the hub is away and sends the backlog later: 30 days covers a month without
backhaul, well past what the broker queues for an offline hub. Older times are far more likely a
broken clock (1970 after a battery change) or forged than a real backlog."""
MAX_TS_AHEAD = 3_600.0
"""Newest accepted time, seconds ahead of the hub's clock: NTP-synced devices are within
seconds, a free-running RTC drifts minutes, and an hour also absorbs a hub clock that is behind.
Further ahead is a wrong clock or time zone; such times would sort after every real reading
(charts, rules, a status's session order) and, unbounded, overflow datetime conversion."""
MAX_TIME_TEXT = 64
MAX_EVENT_TYPE = 64
MAX_EVENT_DEPTH = 16
"""Nesting of an event's ``data``. orjson parses 1024 levels but serialises only 255: deeper data
would fail the bus publish (after the ack); 16 is plenty for a device's event detail."""
MAX_EVENT_ITEMS = 10_000
"""Keys, elements and scalars in one event's ``data``: bounds the check's work and what goes on
the bus, whatever ``HUB_MQTT_MAX_PAYLOAD`` is set to."""
_INT64 = 2**63

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


def _epoch(raw: Any) -> float:
    """A time as epoch seconds, not yet checked against the clock; Rejected if it is none."""
    if isinstance(raw, bool):
        raise Rejected("wrong_type", "ts must be epoch seconds or an ISO-8601 string")
    if isinstance(raw, int | float):
        try:
            return float(raw)
        except OverflowError:  # an int past float range (not from orjson, which caps at u64)
            raise Rejected("bad_time", "ts is not a valid time") from None
    if isinstance(raw, str):
        if len(raw) > MAX_TIME_TEXT:
            raise Rejected("wrong_type", "ts is not an ISO-8601 time")
        try:
            dt = datetime.fromisoformat(raw)
        except ValueError:
            raise Rejected("wrong_type", "ts is not an ISO-8601 time") from None
        if dt.tzinfo is None:
            raise Rejected("wrong_type", "ts must carry a UTC offset")
        try:
            return dt.timestamp()
        except (OverflowError, ValueError):
            raise Rejected("bad_time", "ts is not a valid time") from None
    raise Rejected("wrong_type", "ts must be epoch seconds or an ISO-8601 string")


def parse_ts(raw: Any, now: float) -> float:
    """A reading's or event's time: within ``MAX_TS_AGE`` before and ``MAX_TS_AHEAD`` after
    ``now``; missing means ``now``. Whatever passes fits a datetime, a float column and JSON."""
    c = raw.__class__
    # The common case in two comparisons; NaN and inf fail them and get the full check.
    if (c is float or c is int) and now - MAX_TS_AGE <= raw <= now + MAX_TS_AHEAD:
        return float(raw)
    if raw is None:
        return now
    ts = _epoch(raw)
    if not now - MAX_TS_AGE <= ts <= now + MAX_TS_AHEAD:
        raise Rejected(
            "bad_time",
            f"ts must lie between {MAX_TS_AGE / 86_400:g} days before and "
            f"{MAX_TS_AHEAD:g} s after the hub's clock",
        )
    return ts


def status_ts(raw: Any, now: float) -> float:
    """A status's time orders sessions only, and a device without a clock may send a counter
    (docs/mqtt.md), so any positive time up to ``MAX_TS_AHEAD`` ahead is accepted. The upper
    bound matters: a status from far ahead would make every later session look stale."""
    if raw is None:
        return now
    ts = _epoch(raw)
    if not 0 < ts <= now + MAX_TS_AHEAD:
        raise Rejected(
            "bad_time", f"status ts must be positive and at most {MAX_TS_AHEAD:g} s ahead"
        )
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
        status_ts(doc.get("ts"), now),
        doc.get("reason") == "will",
    )


def event(device_id: str, doc: Any, now: float) -> Event:
    if not isinstance(doc, dict):
        raise Rejected("wrong_type", "an event is an object")
    type_ = doc.get("type")
    if not isinstance(type_, str) or not 0 < len(type_) <= MAX_EVENT_TYPE or "\x00" in type_:
        raise Rejected(
            "wrong_type", f"type must be a string of 1..{MAX_EVENT_TYPE} characters, no NUL"
        )
    data = doc.get("data", {})
    if not isinstance(data, dict):
        raise Rejected("wrong_type", "data must be an object")
    check_json(data)
    return Event(device_id, parse_ts(doc.get("ts"), now), type_, data)


def check_json(data: dict[str, Any]) -> None:
    """Arbitrary device JSON that every consumer can hold: at most ``MAX_EVENT_DEPTH`` deep and
    ``MAX_EVENT_ITEMS`` items (the bus serialises it again), integers within 64 bits (BIGINT,
    orjson's output, most JSON readers), finite numbers, and no NUL in keys or strings
    (PostgreSQL text and jsonb refuse ``\\u0000``)."""
    budget = MAX_EVENT_ITEMS
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_EVENT_DEPTH:
                raise Rejected("oversized", f"data is nested deeper than {MAX_EVENT_DEPTH} levels")
            budget -= len(node)
            if budget < 0:
                raise Rejected("oversized", f"data holds more than {MAX_EVENT_ITEMS} items")
            if isinstance(node, dict):
                for k, v in node.items():
                    if not isinstance(k, str) or "\x00" in k:
                        raise Rejected("wrong_type", "data keys must be strings without NUL")
                    stack.append((v, depth + 1))
            else:
                stack.extend((v, depth + 1) for v in node)
        elif isinstance(node, str):
            if "\x00" in node:
                raise Rejected("wrong_type", "data strings must not contain NUL")
        elif node is None or isinstance(node, bool):
            continue
        elif isinstance(node, int):
            if not -_INT64 <= node < _INT64:
                raise Rejected("wrong_type", "data integers must fit in 64 bits")
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise Rejected("wrong_type", "data numbers must be finite")
        else:
            raise Rejected("wrong_type", "data must be plain JSON")


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
