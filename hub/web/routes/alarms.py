"""Alarms raised by device rules: list, detail with timeline, acknowledge, clear, assign."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from hub.config import Severity
from hub.devices.alarms import MAX_PAGE, AlarmBook
from hub.errors import NotFoundError
from hub.store.users import User
from hub.web.auth import WALL_ROLES, require_roles
from hub.web.params import FILTER_TEXT, MAX_ROW_ID, FilterText
from hub.web.routes.devices import DevicesUnavailableError
from hub.web.state import hub_state

router = APIRouter(prefix="/api/alarms", tags=["alarms"])
Wall = Depends(require_roles(*WALL_ROLES))
Changer = Annotated[User, Depends(require_roles("admin", "operator"))]
AlarmId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


class Assign(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: str | None = Field(min_length=1, max_length=64, pattern=FILTER_TEXT)


def _book(request: Request) -> AlarmBook:
    svc = getattr(hub_state(request), "devices", None)
    if svc is None:
        raise DevicesUnavailableError("the device service is not running")
    book: AlarmBook = svc.alarms
    return book


@router.get("", dependencies=[Wall])
async def list_alarms(
    request: Request,
    state: Literal["active", "acknowledged", "cleared", "open"] | None = None,
    severity: Severity | None = None,
    device_id: FilterText | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> dict[str, Any]:
    """Newest first; ``open`` is active or acknowledged."""
    rows = await _book(request).list(
        state=state, severity=severity, device_id=device_id, limit=limit + 1, before_id=before_id
    )
    page = rows[:limit]
    return {"items": page, "next_before_id": page[-1]["id"] if len(rows) > limit else None}


@router.get("/{alarm_id}", dependencies=[Wall])
async def get_alarm(request: Request, alarm_id: AlarmId) -> dict[str, Any]:
    return await _book(request).get(alarm_id, timeline=True)


@router.post("/{alarm_id}/ack")
async def ack(request: Request, alarm_id: AlarmId, user: Changer) -> dict[str, Any]:
    return await _book(request).ack(alarm_id, user.username)


@router.post("/{alarm_id}/clear")
async def clear(request: Request, alarm_id: AlarmId, user: Changer) -> dict[str, Any]:
    return await _book(request).clear(alarm_id, user.username)


@router.post("/{alarm_id}/assign")
async def assign(
    request: Request, alarm_id: AlarmId, body: Assign, user: Changer
) -> dict[str, Any]:
    if (
        body.assignee is not None
        and await hub_state(request).store.users.get(body.assignee) is None
    ):
        raise NotFoundError(f"no user {body.assignee!r}")
    return await _book(request).assign(alarm_id, body.assignee, user.username)
