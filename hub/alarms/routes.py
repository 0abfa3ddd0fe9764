"""``/api/alarms``: list, detail with timeline, acknowledge, clear, assign. Parse, call the
service, answer its typed record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from hub.alarms.models import Alarm, AlarmDetail, AlarmPage, StateFilter
from hub.alarms.service import MAX_PAGE, AlarmService
from hub.config import Severity
from hub.errors import HubError, NotFoundError
from hub.store.users import User
from hub.web.auth import WALL_ROLES, require_roles
from hub.web.params import FILTER_TEXT, MAX_ROW_ID, FilterText
from hub.web.state import hub_state

router = APIRouter(prefix="/api/alarms", tags=["alarms"])
Wall = Depends(require_roles(*WALL_ROLES))
Changer = Annotated[User, Depends(require_roles("admin", "operator"))]
AlarmId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


class AlarmsUnavailableError(HubError):
    status = 503
    title = "Alarms unavailable"


class Assign(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: str | None = Field(min_length=1, max_length=64, pattern=FILTER_TEXT)


def _alarms(request: Request) -> AlarmService:
    """The running service (a dependency: declared after the auth ones, so that a caller
    without the right role hears 401/403 first)."""
    svc = hub_state(request).alarms
    if svc is None:
        raise AlarmsUnavailableError("the alarm service is not running")
    return svc


Service = Annotated[AlarmService, Depends(_alarms)]


@router.get("", dependencies=[Wall])
async def list_alarms(
    alarms: Service,
    state: StateFilter | None = None,
    severity: Severity | None = None,
    device_id: FilterText | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> AlarmPage:
    """Newest first; ``open`` is active or acknowledged."""
    return await alarms.page(
        state=state, severity=severity, device_id=device_id, limit=limit, before_id=before_id
    )


@router.get("/{alarm_id}", dependencies=[Wall])
async def get_alarm(alarms: Service, alarm_id: AlarmId) -> AlarmDetail:
    return await alarms.detail(alarm_id)


@router.post("/{alarm_id}/ack")
async def ack(user: Changer, alarms: Service, alarm_id: AlarmId) -> Alarm:
    return await alarms.ack(alarm_id, user.username)


@router.post("/{alarm_id}/clear")
async def clear(user: Changer, alarms: Service, alarm_id: AlarmId) -> Alarm:
    return await alarms.clear(alarm_id, user.username)


@router.post("/{alarm_id}/assign")
async def assign(
    request: Request, user: Changer, alarms: Service, alarm_id: AlarmId, body: Assign
) -> Alarm:
    if (
        body.assignee is not None
        and await hub_state(request).store.users.get(body.assignee) is None
    ):
        raise NotFoundError(f"no user {body.assignee!r}")
    return await alarms.assign(alarm_id, body.assignee, user.username)
