"""``/api/wall/layouts`` and ``/api/wall/tours``: the wall's saved layouts (预案) and tours (轮巡).

Every wall role reads them; admins and operators write them. Bodies are bounded (see
:mod:`hub.wall.models`); a camera the site does not have is a 422, a name in use a 409.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from hub.errors import HubError
from hub.store.users import User
from hub.wall.models import Layout, LayoutIn, Tour, TourIn, layout_cameras
from hub.wall.repo import LayoutRepo, TourRepo
from hub.web.auth import WALL_ROLES, require_roles
from hub.web.params import MAX_ROW_ID
from hub.web.state import hub_state

router = APIRouter(prefix="/api/wall", tags=["wall"])
Reader = Depends(require_roles(*WALL_ROLES))
WRITERS = ("admin", "operator")
Writer = Annotated[User, Depends(require_roles(*WRITERS))]
LayoutId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
TourId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


class UnknownCameraError(HubError):
    status = 422
    title = "Unknown camera"


def _check_cameras(request: Request, ids: set[str]) -> None:
    known = hub_state(request).site.camera_by_id
    missing = sorted(ids - known.keys())
    if missing:
        raise UnknownCameraError(f"no such camera: {', '.join(missing[:5])}")


def _layouts(request: Request) -> LayoutRepo:
    return LayoutRepo(hub_state(request).store.engine)


def _tours(request: Request) -> TourRepo:
    return TourRepo(hub_state(request).store.engine)


Layouts = Annotated[LayoutRepo, Depends(_layouts)]
Tours = Annotated[TourRepo, Depends(_tours)]


@router.get("/layouts", dependencies=[Reader])
async def list_layouts(repo: Layouts) -> list[Layout]:
    """Saved layouts, by name."""
    return await repo.list()


@router.post("/layouts", status_code=201)
async def create_layout(request: Request, user: Writer, repo: Layouts, body: LayoutIn) -> Layout:
    _check_cameras(request, layout_cameras(body))
    return await repo.create(body, user.username)


@router.get("/layouts/{layout_id}", dependencies=[Reader])
async def get_layout(repo: Layouts, layout_id: LayoutId) -> Layout:
    return await repo.get(layout_id)


@router.put("/layouts/{layout_id}")
async def replace_layout(
    request: Request, user: Writer, repo: Layouts, layout_id: LayoutId, body: LayoutIn
) -> Layout:
    _check_cameras(request, layout_cameras(body))
    return await repo.replace(layout_id, body, user.username)


@router.delete("/layouts/{layout_id}", status_code=204)
async def delete_layout(_user: Writer, repo: Layouts, layout_id: LayoutId) -> Response:
    await repo.delete(layout_id)
    return Response(status_code=204)


@router.get("/tours", dependencies=[Reader])
async def list_tours(repo: Tours) -> list[Tour]:
    """Saved tours, by name."""
    return await repo.list()


@router.post("/tours", status_code=201)
async def create_tour(request: Request, user: Writer, repo: Tours, body: TourIn) -> Tour:
    _check_cameras(request, body.camera_ids())
    return await repo.create(body, user.username)


@router.get("/tours/{tour_id}", dependencies=[Reader])
async def get_tour(repo: Tours, tour_id: TourId) -> Tour:
    return await repo.get(tour_id)


@router.put("/tours/{tour_id}")
async def replace_tour(
    request: Request, user: Writer, repo: Tours, tour_id: TourId, body: TourIn
) -> Tour:
    _check_cameras(request, body.camera_ids())
    return await repo.replace(tour_id, body, user.username)


@router.delete("/tours/{tour_id}", status_code=204)
async def delete_tour(_user: Writer, repo: Tours, tour_id: TourId) -> Response:
    await repo.delete(tour_id)
    return Response(status_code=204)
