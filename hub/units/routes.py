"""``/api/units``: where the drones and camera vehicles are, and their tracks, for the wall."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from hub.bus.contracts import UnitPosition
from hub.errors import HubError
from hub.units.service import UnitService
from hub.web.auth import WALL_ROLES, require_roles
from hub.web.params import Time
from hub.web.state import hub_state

router = APIRouter(prefix="/api/units", tags=["units"])
Wall = Depends(require_roles(*WALL_ROLES))
UnitId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")]
MAX_TRACK_SPAN = timedelta(days=1)


class UnitsUnavailableError(HubError):
    status = 503
    title = "Units unavailable"


def units(request: Request) -> UnitService:
    svc = hub_state(request).units
    if svc is None:
        raise UnitsUnavailableError("the unit service is not running")
    return svc


Units = Annotated[UnitService, Depends(units)]


@router.get("", dependencies=[Wall])
async def list_units(svc: Units) -> list[UnitPosition]:
    """Each unit's last reported position (units never heard from are left out)."""
    return svc.latest()


@router.get("/{unit_id}/track", dependencies=[Wall])
async def track(
    svc: Units, unit_id: UnitId, since: Time, until: Time | None = None
) -> list[UnitPosition]:
    """A unit's reports in [since, until) (at most one day, 20,000 points), oldest first."""
    end = min(until or datetime.now(UTC), since + MAX_TRACK_SPAN)
    return await svc.track(unit_id, since=since, until=end)
