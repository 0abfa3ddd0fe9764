"""``/api/whip/<camera id>``: the WHIP endpoint (RFC 9725) where drones and vehicles publish.

Only the unit itself may publish: the bearer token must belong to a ``device`` account whose
username is the camera id (one account, one password, one token per unit), so a unit holding its
own token can neither publish as another unit nor end another unit's session. ``PATCH`` (trickle
ICE, ICE restart) is not supported: a unit sends its candidates in the offer and, after losing
its network, publishes again (the new session replaces the old one at once).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from hub.errors import ForbiddenError, HubError
from hub.rtc.sdp import SDP, read_offer
from hub.store.users import User
from hub.video.whip import WhipSessions
from hub.web.auth import CurrentUser
from hub.web.state import hub_state

router = APIRouter(prefix="/api/whip", tags=["whip"])
UnitId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")]
SessionId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{16,64}$")]


class WhipUnavailableError(HubError):
    status = 503
    title = "WHIP ingest unavailable"


class TrickleUnsupportedError(HubError):
    status = 422
    title = "Trickle ICE not supported"


def _sessions(request: Request) -> WhipSessions:
    s = hub_state(request).whip
    if s is None:
        raise WhipUnavailableError("this hub takes no published video")
    return s


def _check_unit(user: User, camera_id: str) -> None:
    if user.role != "device" or user.username != camera_id:
        raise ForbiddenError("only the unit itself may publish or end its video")


@router.post(
    "/{camera_id}",
    status_code=201,
    response_class=Response,
    responses={
        201: {
            "content": {SDP: {}},
            "description": "The SDP answer; `Location` names the session (for DELETE)",
        }
    },
)
async def publish(request: Request, camera_id: UnitId, user: CurrentUser) -> Response:
    """Publish: the body is the unit's SDP offer; the answer comes back with a Location."""
    _check_unit(user, camera_id)
    offer = await read_offer(request)
    session, answer = await _sessions(request).publish(camera_id, offer)
    return Response(
        answer,
        status_code=201,
        media_type=SDP,
        headers={"Location": f"/api/whip/{camera_id}/{session.id}"},
    )


@router.delete(
    "/{camera_id}/{session_id}",
    status_code=200,
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Ended (empty body)"}},
)
async def stop(
    request: Request, camera_id: UnitId, session_id: SessionId, user: CurrentUser
) -> Response:
    """End a session (the unit stopped publishing)."""
    _check_unit(user, camera_id)
    sessions = _sessions(request)
    await sessions.end(sessions.session(camera_id, session_id), "deleted")
    return Response(status_code=200)


@router.patch(
    "/{camera_id}/{session_id}",
    status_code=204,
    response_class=Response,
    responses={
        204: {"description": "Never sent: this hub answers every PATCH with 422"},
        422: {"description": "Trickle ICE and ICE restart are not supported"},
    },
)
async def patch(
    request: Request, camera_id: UnitId, session_id: SessionId, user: CurrentUser
) -> Response:
    """Trickle ICE / ICE restart: not supported (422), as RFC 9725 allows."""
    _check_unit(user, camera_id)
    _sessions(request).session(camera_id, session_id)
    raise TrickleUnsupportedError(
        "send every ICE candidate in the offer; to restart, publish again"
    )
