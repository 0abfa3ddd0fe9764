"""Grid workers' API: the field app's heartbeat (duty and GPS), the workers' states for the
wall and the map, and a worker's track (活动轨迹)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from hub.bus.contracts import WorkerStatus
from hub.config.common import LonLat
from hub.dispatch.routes import CasesUnavailableError
from hub.dispatch.workers import WorkerService
from hub.errors import NotFoundError
from hub.store.users import User
from hub.web.auth import WALL_ROLES, require_roles
from hub.web.params import Time
from hub.web.state import hub_state

router = APIRouter(prefix="/api/workers", tags=["workers"])
FieldWorker = Annotated[User, Depends(require_roles("worker"))]
Watcher = Annotated[User, Depends(require_roles(*WALL_ROLES, "worker"))]
Wall = Depends(require_roles(*WALL_ROLES))
Username = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
MAX_TRACK_SPAN = timedelta(days=7)


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    position: LonLat | None = None
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000, allow_inf_nan=False)
    on_duty: bool | None = None
    """Start (true) or end (false) the shift; omitted: unchanged."""


class Track(BaseModel):
    username: str
    points: list[tuple[datetime, float, float]]
    """(time, lon, lat), oldest first."""


def workers(request: Request) -> WorkerService:
    svc = hub_state(request).workers
    if svc is None:
        raise CasesUnavailableError("the case loop is not running")
    return svc


Workers = Annotated[WorkerService, Depends(workers)]


@router.post("/me/heartbeat")
async def heartbeat(svc: Workers, user: FieldWorker, body: Heartbeat) -> WorkerStatus:
    """From the field app every 30 s or so while on duty: position and duty."""
    pos = None if body.position is None else (body.position[0], body.position[1])
    return await svc.report(
        user.username, position=pos, accuracy_m=body.accuracy_m, on_duty=body.on_duty
    )


@router.get("", dependencies=[Wall])
async def list_workers(svc: Workers) -> list[WorkerStatus]:
    """Every worker of the site with state, last position and cases in hand."""
    return await svc.statuses()


@router.get("/{username}/track")
async def track(
    svc: Workers,
    user: Watcher,
    username: Username,
    since: Time,
    until: Time | None = None,
) -> Track:
    """A worker's GPS track in [since, until) (at most 7 days, 5,000 points). A worker may
    read only their own."""
    if user.role == "worker" and user.username != username:
        raise NotFoundError(f"no worker {username!r}")
    end = until or svc.clock()
    end = min(end, since + MAX_TRACK_SPAN)
    points = await svc.track(username, since=since, until=end)
    return Track(username=username, points=points)
