"""Bad input on demand, for the ingest's dead-letter tests: each kind yields (topic, payload)
pairs a device (or a forger holding its credentials) might send."""

from __future__ import annotations

import json
from typing import Literal, get_args

from hub.config import Device, DeviceProfile

MalformedKind = Literal[
    "bad_json",
    "not_utf8",
    "wrong_type",
    "out_of_range",
    "unknown_key",
    "missing_values",
    "bad_ts",
    "oversized",
    "flood",
    "foreign_topic",
]
MALFORMED_KINDS: tuple[MalformedKind, ...] = get_args(MalformedKind)


def _telemetry(device_id: str) -> str:
    return f"hub/v1/devices/{device_id}/telemetry"


def _valid_values(profile: DeviceProfile) -> dict[str, object]:
    out: dict[str, object] = {}
    for f in profile.telemetry:
        if f.type == "boolean":
            out[f.key] = False
        elif f.type == "string":
            out[f.key] = "ok"
        else:
            lo = f.min if f.min is not None else 0.0
            hi = f.max if f.max is not None else lo + 100.0
            out[f.key] = round(lo + 0.25 * (hi - lo), 3)
    return out


def _dump(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def malformed(
    kind: MalformedKind,
    device: Device,
    profile: DeviceProfile,
    *,
    seq: int,
    ts: float,
    other_device: str = "dev-other-0001",
    max_payload: int = 64 * 1024,
) -> list[tuple[str, bytes]]:
    """The messages of one round of `kind`. Only ``flood`` carries sequence numbers (after
    `seq`): it is valid telemetry, just too much of it; the others carry none."""
    topic = _telemetry(device.id)
    values = _valid_values(profile)
    numeric = next((f for f in profile.telemetry if f.type == "number"), None)
    ts = round(ts, 3)
    if kind == "bad_json":
        return [(topic, b'{"ts": ' + str(ts).encode() + b', "values": {')]
    if kind == "not_utf8":
        return [(topic, b'{"values": {"k": "\xff\xfe"}}')]
    if kind == "wrong_type":
        bad = dict(values)
        for f in profile.telemetry:
            bad[f.key] = "high" if f.type == "number" else 42
        return [
            (topic, _dump({"ts": ts, "values": bad})),
            (topic, _dump({"ts": ts, "values": [1]})),
        ]
    if kind == "out_of_range":
        if numeric is None:
            raise ValueError(f"profile {profile.id} has no numeric field")
        hi = numeric.max if numeric.max is not None else 1e9
        return [(topic, _dump({"ts": ts, "values": {**values, numeric.key: hi * 10 + 1000}}))]
    if kind == "unknown_key":
        return [(topic, _dump({"ts": ts, "values": {**values, "no_such_key": 1.0}}))]
    if kind == "missing_values":
        return [(topic, _dump({"ts": ts})), (topic, _dump([])), (topic, _dump(3.14))]
    if kind == "bad_ts":
        return [
            (topic, _dump({"ts": "yesterday", "values": values})),
            (topic, _dump({"ts": -1e12, "values": values})),
        ]
    if kind == "oversized":
        pad = "x" * (max_payload + 1024)
        return [(topic, _dump({"ts": ts, "values": values, "pad": pad}))]
    if kind == "flood":
        n = profile.max_messages_per_minute * 2
        return [
            (topic, _dump({"ts": ts + i * 0.001, "seq": seq + 1 + i, "values": values}))
            for i in range(n)
        ]
    if kind == "foreign_topic":
        return [(_telemetry(other_device), _dump({"ts": ts, "values": values}))]
    raise ValueError(f"unknown malformed kind {kind!r}")
