"""Devices (IoT sensors): list with presence and last values, telemetry series for charts,
dead letters, provisioning (admin)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from hub.config import Device
from hub.devices.repo import MAX_DEAD_LETTER_PAGE
from hub.devices.service import DeviceService
from hub.devices.validate import Reason
from hub.errors import HubError, NotFoundError, ReservedNameError
from hub.web.auth import WALL_ROLES, require_roles
from hub.web.params import FILTER_TEXT, MAX_ROW_ID, TIME_RANGE, FilterText, Time
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
    svc = getattr(hub_state(request), "devices", None)
    if svc is None:
        raise DevicesUnavailableError("the device service is not running")
    assert isinstance(svc, DeviceService)
    return svc


def _epoch(t: datetime | None, default: float) -> float:
    return default if t is None else t.timestamp()


def _broker_account(svc: DeviceService, device_id: str) -> bool:
    """The hub's own broker account or another service account: a device with this id would log
    in as, or be refused as, that account. Without a broker the hub's name is still reserved for
    when ingest is turned on."""
    broker = svc.broker
    if broker is None:
        return device_id == svc.settings.mqtt_username
    accounts = broker.accounts
    return device_id == broker.hub_username or (
        accounts is not None and accounts.is_service(device_id)
    )


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


@router.get("", dependencies=[Wall])
async def list_devices(request: Request, grid: FilterText | None = None) -> list[dict[str, Any]]:
    svc = _service(request)
    return [svc.describe(k) for k in svc.registry.all() if grid is None or k.device.grid == grid]


@router.get("/dead-letters", dependencies=[Wall])
async def dead_letters(
    request: Request,
    reason: Reason | None = None,
    device_id: FilterText | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_DEAD_LETTER_PAGE)] = 100,
) -> dict[str, Any]:
    """A sample of rejected messages (newest first) and the counts of all rejections since
    this hub started, by reason."""
    svc = _service(request)
    rows = await svc.repo.dead_letters(
        reason=reason, device_id=device_id, before_id=before_id, limit=limit + 1
    )
    page = rows[:limit]
    counts = dict(svc.worker.rejected) if svc.worker is not None else {}
    return {
        "items": page,
        "next_before_id": page[-1]["id"] if len(rows) > limit else None,
        "rejected_since_start": counts,
    }


@router.get("/{device_id}", dependencies=[Wall])
async def get_device(request: Request, device_id: str) -> dict[str, Any]:
    svc = _service(request)
    return svc.describe(svc.get(device_id))


@router.get("/{device_id}/telemetry", dependencies=[Wall])
async def telemetry(
    request: Request,
    device_id: str,
    key: FilterText,
    since: Annotated[Time | None, Query(description=TIME_RANGE)] = None,
    until: Annotated[Time | None, Query(description=TIME_RANGE)] = None,
    max_points: Annotated[int, Query(ge=2, le=MAX_POINTS)] = 500,
) -> dict[str, Any]:
    """A series of one key: raw readings when they fit in ``max_points``, else min/max/avg
    buckets (from raw data or the 1-minute / 1-hour rollups, whichever the range needs).
    ``t`` is epoch seconds (UTC). Default range: the last 24 hours."""
    svc = _service(request)
    known = svc.get(device_id)
    if key not in known.fields:
        raise NotFoundError(f"device {device_id!r} reports no key {key!r}")
    now = time.time()
    end = _epoch(until, now)
    start = _epoch(since, end - DEFAULT_RANGE)
    if start >= end:
        raise BadRangeError("since must be before until")
    return await svc.history.series(device_id, key, start, end, max_points, now)


@router.post("", status_code=201, dependencies=[Admin])
async def provision(request: Request, body: DeviceCreate) -> dict[str, Any]:
    """Provision a device: stored, and its MQTT account created. The password is returned
    once (``mqtt.password``); the hub keeps only its hash in the broker's password file."""
    svc = _service(request)
    if _broker_account(svc, body.id):
        raise ReservedNameError(f"device id {body.id!r} is a broker service account")
    device = Device.model_validate({**body.model_dump(), "position": list(body.position)})
    known, password = await svc.provision(device)
    out = svc.describe(known)
    out["mqtt"] = {
        "username": known.device.id,
        "password": password,
        "topics": {
            k: f"hub/v1/devices/{known.device.id}/{k}" for k in ("telemetry", "status", "events")
        },
    }
    return out


@router.delete("/{device_id}", status_code=204, dependencies=[Admin])
async def deprovision(request: Request, device_id: str) -> Response:
    await _service(request).deprovision(device_id)
    return Response(status_code=204)
