"""Detection events: pages, one event, its snapshot and its evidence clip."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import StringConstraints

from hub.bus.contracts import DetectionType
from hub.config import Site
from hub.errors import NotFoundError
from hub.geo.grids import GridMap
from hub.store.events import MAX_PAGE
from hub.web.auth import WALL_ROLES, require_roles
from hub.web.params import FILTER_TEXT, MAX_ROW_ID, TIME_RANGE, FilterText, Time
from hub.web.schemas import EventOut, EventPage
from hub.web.serialize import event_out
from hub.web.state import HubState, hub_state

router = APIRouter(
    prefix="/api/events", tags=["events"], dependencies=[Depends(require_roles(*WALL_ROLES))]
)


SearchText = Annotated[str, StringConstraints(max_length=64, pattern=FILTER_TEXT)]


@router.get("")
async def list_events(
    request: Request,
    camera_id: FilterText | None = None,
    grid_id: FilterText | None = None,
    street_id: FilterText | None = None,
    q: Annotated[
        SearchText | None,
        Query(description="Words in the camera's id, name or place (grid, community, street)"),
    ] = None,
    type: DetectionType | None = None,
    since: Annotated[Time | None, Query(description=TIME_RANGE)] = None,
    until: Annotated[Time | None, Query(description=TIME_RANGE)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    before_seq: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> EventPage:
    """Newest first (by ``seq``); ``since``/``until`` bound the event's start; ``grid_id``,
    ``street_id`` and ``q`` narrow to the cameras of a place or matching a search."""
    state = hub_state(request)
    cameras = cameras_matching(state.site, state.grids, grid_id=grid_id, street_id=street_id, q=q)
    if cameras is not None and not cameras:
        return EventPage(items=[], next_before_seq=None)
    rows = await state.store.events.list(
        camera_id=camera_id,
        camera_ids=cameras,
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
    path = await _evidence_file(hub_state(request), event_id, "snapshot")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private"})


@router.get(
    "/{event_id}/clip",
    response_class=FileResponse,
    responses={
        200: {"description": "The event's MP4 evidence clip", "content": {"video/mp4": {}}},
        206: {
            "description": "The byte range asked for (``Range: bytes=...``)",
            "content": {"video/mp4": {}, "multipart/byteranges": {}},
        },
        416: {"description": "No byte of the range asked for is in the clip"},
    },
)
async def get_clip(request: Request, event_id: UUID) -> FileResponse:
    """The clip from a few seconds before the event to a few after (stream copy of the camera's
    H.264). Supports ``Range`` (and ``If-Range``): 206 with the bytes asked for, 416 when none
    of them exist; several ranges (at most 100) come as multipart/byteranges."""
    path = await _evidence_file(hub_state(request), event_id, "clip")
    return FileResponse(path, media_type="video/mp4", headers={"Cache-Control": "private"})


async def _evidence_file(
    state: HubState, event_id: UUID, what: Literal["snapshot", "clip"]
) -> Path:
    """The event's file inside the evidence directory, or 404 (none, removed by retention)."""
    stored = await state.store.events.get(event_id)
    if stored is None:
        raise NotFoundError(f"no {what} for event {event_id}")
    rel = stored.event.snapshot if what == "snapshot" else stored.event.clip
    if not rel or stored.evidence_expired_at is not None:
        raise NotFoundError(f"no {what} for event {event_id}")
    root = (state.settings.data_dir / "evidence").resolve()
    path = (root / rel).resolve()
    # resolve() follows symlinks and "..": whatever it names must still be inside evidence/.
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFoundError(f"no {what} for event {event_id}")
    return path


def cameras_matching(
    site: Site, grids: GridMap, *, grid_id: str | None, street_id: str | None, q: str | None
) -> set[str] | None:
    """The ids of the cameras in the grid / street that match every word of ``q`` (in their
    id, name, grid, community or street, case-insensitive); None when nothing narrows."""
    if grid_id is None and street_id is None and not (q and q.strip()):
        return None
    words = (q or "").casefold().split()
    found: set[str] = set()
    for cam in site.cameras:
        place = grids.place(cam.grid)
        if grid_id is not None and cam.grid != grid_id:
            continue
        if street_id is not None and (place is None or place.street.id != street_id):
            continue
        names = [cam.id, cam.name, cam.grid]
        if place is not None:
            names += [place.grid.name, place.community.name, place.street.name]
        text = " ".join(names).casefold()
        if all(w in text for w in words):
            found.add(cam.id)
    return found
