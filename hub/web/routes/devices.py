"""Devices (IoT sensors): list with presence and last values, telemetry series for charts,
dead letters, provisioning (admin)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from hub.config import Device, LonLat, TelemetryField
from hub.devices.repo import MAX_DEAD_LETTER_PAGE
from hub.devices.service import DeviceService
from hub.devices.validate import Reason
from hub.errors import HubError, NotFoundError, ReservedNameError
from hub.web.auth import WALL_ROLES, require_roles
from hub.web.params import FILTER_TEXT, MAX_ROW_ID, TIME_RANGE, FilterText, Time
from hub.web.schemas import Out
from hub.web.state import hub_state

router = APIRouter(prefix="/api/devices", tags=["devices"])
Wall = Depends(require_roles(*WALL_ROLES))
Admin = Depends(require_roles("admin"))

DEFAULT_RANGE = 86_400.0
MAX_POINTS = 5000


class BadRangeError(HubError):
    status = 422
    title = "Invalid range"


class DevicesUnavailableError(HubError):
    status = 503
    title = "Devices unavailable"


def _service(request: Request) -> DeviceService:
    svc = hub_state(request).devices
    if svc is None:
        raise DevicesUnavailableError("the device service is not running")
    return svc


def _epoch(t: datetime | None, default: float) -> float:
    return default if t is None else t.timestamp()


Lon = Annotated[float, Field(ge=-180, le=180)]
Lat = Annotated[float, Field(ge=-90, le=90)]


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")
    name: str = Field(min_length=1, max_length=128, pattern=FILTER_TEXT)
    profile: str = Field(max_length=64)
    grid: str = Field(max_length=64)
    # The bounds keep NaN and infinities out too: SQLite turns NaN into a refused NULL, and JSON
    # cannot carry either back.
    position: tuple[Lon, Lat]
    enabled: bool = True


# -- responses -------------------------------------------------------------------------------


class TelemetryFieldOut(TelemetryField, Out):
    """A telemetry key the device's profile declares."""


class DeviceOut(Out):
    """A device with its presence and the last value of each key it reported."""

    id: str
    name: str
    profile: str
    kind: str
    """The profile's kind: smoke, water_level, manhole, gas, air_quality, door, gps, other."""
    grid: str
    grid_name: str | None
    position: LonLat
    enabled: bool
    source: Literal["site", "api"]
    """Defined in the site file or provisioned through the API."""
    state: Literal["online", "offline", "unknown"]
    state_reason: str | None
    state_changed_at: float | None
    """Epoch seconds (UTC), as ``last_seen``."""
    last_seen: float | None
    last_values: dict[str, int | float | bool | str | None]
    telemetry: list[TelemetryFieldOut]


class MqttTopics(Out):
    telemetry: str
    status: str
    events: str


class MqttCredentials(Out):
    username: str
    password: str | None
    """Shown once; null when the hub runs without MQTT ingest (no broker)."""
    topics: MqttTopics


class DeviceProvisioned(DeviceOut):
    mqtt: MqttCredentials


class DeadLetterOut(Out):
    id: int
    ts: float
    """Epoch seconds (UTC) of the rejection."""
    reason: str
    device_id: str | None
    topic: str
    detail: str
    payload: str
    """What the device sent, cut short."""


class DeadLetterPage(Out):
    items: list[DeadLetterOut]
    next_before_id: int | None
    rejected_since_start: dict[str, int]
    """Every rejection since this hub started, by reason (the items are only a sample)."""


class RawPoint(Out):
    t: float
    value: float


class BucketPoint(Out):
    t: float
    """Start of the bucket."""
    avg: float
    min: float
    max: float
    count: int


class SeriesOut(Out):
    device_id: str
    key: str
    resolution: Literal["raw"] | int | float
    """``raw``: one point per reading; else the width in seconds of each bucket."""
    points: list[RawPoint | BucketPoint]


# -- routes ----------------------------------------------------------------------------------


@router.get("", dependencies=[Wall])
async def list_devices(request: Request, grid: FilterText | None = None) -> list[DeviceOut]:
    svc = _service(request)
    return [DeviceOut.model_validate(svc.describe(k)) for k in svc.devices(grid)]


@router.get("/dead-letters", dependencies=[Wall])
async def dead_letters(
    request: Request,
    reason: Reason | None = None,
    device_id: FilterText | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_DEAD_LETTER_PAGE)] = 100,
) -> DeadLetterPage:
    """A sample of rejected messages (newest first) and the counts of all rejections since
    this hub started, by reason."""
    svc = _service(request)
    rows = await svc.dead_letters(
        reason=reason, device_id=device_id, before_id=before_id, limit=limit + 1
    )
    page = [DeadLetterOut.model_validate(r) for r in rows[:limit]]
    return DeadLetterPage(
        items=page,
        next_before_id=page[-1].id if len(rows) > limit else None,
        rejected_since_start=svc.rejected_since_start(),
    )


@router.get("/{device_id}", dependencies=[Wall])
async def get_device(request: Request, device_id: str) -> DeviceOut:
    svc = _service(request)
    return DeviceOut.model_validate(svc.describe(svc.get(device_id)))


@router.get("/{device_id}/telemetry", dependencies=[Wall])
async def telemetry(
    request: Request,
    device_id: str,
    key: FilterText,
    since: Annotated[Time | None, Query(description=TIME_RANGE)] = None,
    until: Annotated[Time | None, Query(description=TIME_RANGE)] = None,
    max_points: Annotated[int, Query(ge=2, le=MAX_POINTS)] = 500,
) -> SeriesOut:
    """A series of one key: raw readings when they fit in ``max_points``, else min/max/avg
    buckets (from raw data or the 1-minute / 1-hour rollups, whichever the range needs).
    ``t`` is epoch seconds (UTC). Default range: the last 24 hours."""
    svc = _service(request)
    if key not in svc.get(device_id).fields:
        raise NotFoundError(f"device {device_id!r} reports no key {key!r}")
    now = time.time()
    end = _epoch(until, now)
    start = _epoch(since, end - DEFAULT_RANGE)
    if start >= end:
        raise BadRangeError("since must be before until")
    return SeriesOut.model_validate(await svc.series(device_id, key, start, end, max_points, now))


@router.post("", status_code=201, dependencies=[Admin])
async def provision(request: Request, body: DeviceCreate) -> DeviceProvisioned:
    """Provision a device: stored, and its MQTT account created. The password is returned
    once (``mqtt.password``); the hub keeps only its hash in the broker's password file."""
    svc = _service(request)
    if svc.is_service_account(body.id):
        raise ReservedNameError(f"device id {body.id!r} is a broker service account")
    device = Device.model_validate({**body.model_dump(), "position": list(body.position)})
    known, password = await svc.provision(device)
    topic = f"hub/v1/devices/{known.device.id}"
    return DeviceProvisioned.model_validate(
        {
            **svc.describe(known),
            "mqtt": MqttCredentials(
                username=known.device.id,
                password=password,
                topics=MqttTopics(
                    telemetry=f"{topic}/telemetry",
                    status=f"{topic}/status",
                    events=f"{topic}/events",
                ),
            ),
        }
    )


@router.delete("/{device_id}", status_code=204, dependencies=[Admin])
async def deprovision(request: Request, device_id: str) -> Response:
    await _service(request).deprovision(device_id)
    return Response(status_code=204)
