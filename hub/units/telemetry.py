"""One telemetry report from a unit: JSON, bounded, validated, or refused with a reason."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.bus.contracts import UnitPosition

MAX_BYTES = 2048
CLOCK_SKEW_SECONDS = 300.0
"""A report stamped further than this from the hub's clock is stamped with the hub's time."""


class TelemetryError(ValueError):
    """The report is refused; the message says why (never echoing the payload)."""


class TelemetryIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    t: float | None = Field(default=None, ge=0, le=4102444800)
    """Epoch seconds of the fix (the unit's clock)."""
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    alt_m: float | None = Field(default=None, ge=-500, le=20_000)
    heading: float | None = Field(default=None, ge=0, le=360)
    speed_mps: float | None = Field(default=None, ge=0, le=200)
    battery_pct: float | None = Field(default=None, ge=0, le=100)


def parse(unit_id: str, raw: bytes, now: float) -> UnitPosition:
    if len(raw) > MAX_BYTES:
        raise TelemetryError(f"report larger than {MAX_BYTES} bytes")
    try:
        report = TelemetryIn.model_validate_json(raw)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors()})
        raise TelemetryError(f"invalid report ({', '.join(fields)[:100]})") from None
    ts = report.t if report.t is not None and abs(report.t - now) <= CLOCK_SKEW_SECONDS else now
    return UnitPosition(
        unit_id=unit_id,
        ts=datetime.fromtimestamp(ts, UTC),
        lon=report.lon,
        lat=report.lat,
        alt_m=report.alt_m,
        heading=None if report.heading is None else report.heading % 360,
        speed_mps=report.speed_mps,
        battery_pct=report.battery_pct,
    )
