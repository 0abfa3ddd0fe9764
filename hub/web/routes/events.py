"""Detection events: pages, one event, its snapshot."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse

from hub.bus.contracts import DetectionType
from hub.errors import NotFoundError
from hub.store.events import MAX_PAGE
from hub.web.auth import WALL_ROLES, require_roles
from hub.web.params import MAX_ROW_ID, TIME_RANGE, FilterText, Time
from hub.web.schemas import EventOut, EventPage
from hub.web.serialize import event_out
from hub.web.state import hub_state

router = APIRouter(
    prefix="/api/events", tags=["events"], dependencies=[Depends(require_roles(*WALL_ROLES))]
)


@router.get("")
async def list_events(
    request: Request,
    camera_id: FilterText | None = None,
    type: DetectionType | None = None,
    since: Annotated[Time | None, Query(description=TIME_RANGE)] = None,
    until: Annotated[Time | None, Query(description=TIME_RANGE)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    before_seq: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> EventPage:
    """Newest first (by ``seq``); ``since``/``until`` bound the event's start."""
    state = hub_state(request)
    rows = await state.store.events.list(
        camera_id=camera_id,
        type=type,
        since=since,
        until=until,
        before_seq=before_seq,
        limit=limit + 1,  # one more tells whether another page exists
    )
    page = rows[:limit]
    more = len(rows) > limit
    return EventPage(
        items=[event_out(r.recorded(), state.site) for r in page],
        next_before_seq=page[-1].seq if more else None,
    )


@router.get("/{event_id}")
async def get_event(request: Request, event_id: UUID) -> EventOut:
    state = hub_state(request)
    stored = await state.store.events.get(event_id)
    if stored is None:
        raise NotFoundError(f"no event {event_id}")
    return event_out(stored.recorded(), state.site)


@router.get(
    "/{event_id}/snapshot",
    response_class=FileResponse,
    responses={200: {"description": "The event's JPEG snapshot", "content": {"image/jpeg": {}}}},
)
async def get_snapshot(request: Request, event_id: UUID) -> FileResponse:
    state = hub_state(request)
    stored = await state.store.events.get(event_id)
    if stored is None or not stored.event.snapshot:
        raise NotFoundError(f"no snapshot for event {event_id}")
    root = (state.settings.data_dir / "evidence").resolve()
    path = (root / stored.event.snapshot).resolve()
    # resolve() follows symlinks and "..": whatever it names must still be inside evidence/.
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFoundError(f"no snapshot for event {event_id}")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private"})
