"""A unit's telemetry report: accepted within bounds, refused with a reason, never echoed."""

from __future__ import annotations

import json

import pytest

from hub.units.telemetry import MAX_BYTES, TelemetryError, parse

NOW = 1_800_000_000.0


def _raw(**kw: object) -> bytes:
    return json.dumps({"lon": 119.95, "lat": 31.85, **kw}).encode()


def test_a_full_report_becomes_a_position() -> None:
    pos = parse("drone-1", _raw(t=NOW - 1, alt_m=60, heading=370 - 10, speed_mps=8,
                                battery_pct=87.5), NOW)  # fmt: skip
    assert pos.unit_id == "drone-1" and (pos.lon, pos.lat) == (119.95, 31.85)
    assert pos.ts.timestamp() == NOW - 1
    assert (pos.alt_m, pos.heading, pos.speed_mps, pos.battery_pct) == (60, 0, 8, 87.5)


def test_a_clock_far_off_is_replaced_by_the_hubs() -> None:
    assert parse("drone-1", _raw(t=NOW - 3600), NOW).ts.timestamp() == NOW
    assert parse("drone-1", _raw(), NOW).ts.timestamp() == NOW


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        _raw(lon=181),
        _raw(lat="north"),
        _raw(battery_pct=101),
        _raw(speed_mps=-1),
        _raw(lon=float("nan")).replace(b"NaN", b"NaN"),
        json.dumps({"lat": 31.8}).encode(),
        b"{" + b" " * MAX_BYTES + b"}",
    ],
)
def test_bad_reports_are_refused_without_echoing(raw: bytes) -> None:
    with pytest.raises(TelemetryError) as exc:
        parse("drone-1", raw, NOW)
    assert "north" not in str(exc.value) and "not json" not in str(exc.value)
