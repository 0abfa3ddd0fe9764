"""The site: grid hierarchy and cameras with their health."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from hub.errors import NotFoundError
from hub.web.auth import WALL_ROLES, require_roles
from hub.web.schemas import CameraOut, SiteOut
from hub.web.serialize import camera_out, site_out
from hub.web.state import hub_state

router = APIRouter(prefix="/api", tags=["site"])
Wall = Depends(require_roles(*WALL_ROLES))
SiteReaders = Depends(require_roles(*WALL_ROLES, "worker"))


@router.get("/site", dependencies=[SiteReaders])
async def get_site(request: Request) -> SiteOut:
    state = hub_state(request)
    return site_out(state.site, state.timezone)


@router.get("/cameras", dependencies=[Wall])
async def list_cameras(request: Request) -> list[CameraOut]:
    state = hub_state(request)
    health = {h.camera_id: h for h in state.video.health()}
    return [camera_out(state.site, c, health.get(c.id)) for c in state.site.cameras]


@router.get("/cameras/{camera_id}", dependencies=[Wall])
async def get_camera(request: Request, camera_id: str) -> CameraOut:
    state = hub_state(request)
    cam = state.site.camera_by_id.get(camera_id)
    if cam is None:
        raise NotFoundError(f"no camera {camera_id!r}")
    health = next((h for h in state.video.health() if h.camera_id == camera_id), None)
    return camera_out(state.site, cam, health)
