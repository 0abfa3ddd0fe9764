"""``/api/calls``: dispatch calls between the command center and field units.

Managing a call (start, join, decline, leave, end, share a feed) takes the user's own token.
Signalling (publish, subscribe, close a connection) takes the **call token** that ``join``
returns: scoped to one call and one participant, it is worth nothing elsewhere (not an API
token) and ends when they leave or the call ends. Offers are ``application/sdp`` bodies; the
answer comes back with ``201 Created`` and a ``Location`` to ``DELETE`` (the WHIP/WHEP shape).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from hub.bus.contracts import Call
from hub.calls.service import CallService
from hub.errors import AuthError, HubError
from hub.rtc.ice import IceServer
from hub.rtc.sdp import SDP, read_offer
from hub.web.auth import CurrentUser, token_from
from hub.web.state import hub_state

router = APIRouter(prefix="/api/calls", tags=["calls"])
CallId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,32}$")]
ShortId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,32}$")]
Username = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
ANSWER: dict[int | str, dict[str, Any]] = {
    201: {"content": {SDP: {}}, "description": "The SDP answer; `Location` to DELETE"}
}


class CallsUnavailableError(HubError):
    status = 503
    title = "Calls unavailable"


class CallCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invite: list[Username] = Field(min_length=1, max_length=15)
    """Usernames to ring (grid workers, department staff, other operators)."""
    case_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    title: str | None = Field(default=None, min_length=1, max_length=100)


class FeedShare(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")


class JoinOut(BaseModel):
    call: Call
    call_token: str
    """Bearer token for this call's signalling only."""
    ice_servers: list[IceServer]


def _calls(request: Request) -> CallService:
    svc = hub_state(request).calls
    if svc is None:
        raise CallsUnavailableError("calls are not running on this hub")
    return svc


Calls = Annotated[CallService, Depends(_calls)]


def _member(request: Request, svc: CallService, call_id: str) -> str:
    token = token_from(request)
    if not token:
        raise AuthError("a call token is required")
    return svc.member_for(call_id, token)


@router.get("")
async def list_calls(svc: Calls, user: CurrentUser) -> list[Call]:
    """Running calls: every one for the wall's roles, a worker's own for a worker."""
    return svc.calls(username=user.username, role=user.role)


@router.post("", status_code=201)
async def create_call(svc: Calls, user: CurrentUser, body: CallCreate) -> Call:
    """Start a call (admin, operator, supervisor): the invitees' field apps ring."""
    return await svc.create(
        creator=user.username,
        role=user.role,
        invite=body.invite,
        case_id=body.case_id,
        title=body.title,
    )


@router.get("/{call_id}")
async def get_call(svc: Calls, user: CurrentUser, call_id: CallId) -> Call:
    return svc.get(call_id, username=user.username, role=user.role)


@router.post("/{call_id}/join")
async def join_call(svc: Calls, user: CurrentUser, call_id: CallId) -> JoinOut:
    """Answer (an invitee) or join (the wall's roles): the call token and ICE servers."""
    j = await svc.join(call_id, username=user.username, role=user.role)
    return JoinOut(call=j.call, call_token=j.token, ice_servers=j.ice_servers)


@router.post("/{call_id}/decline")
async def decline_call(svc: Calls, user: CurrentUser, call_id: CallId) -> Call:
    return await svc.decline(call_id, username=user.username, role=user.role)


@router.post("/{call_id}/leave", status_code=204)
async def leave_call(svc: Calls, user: CurrentUser, call_id: CallId) -> None:
    """Hang up: this participant's connections close; the call goes on for the others."""
    svc.get(call_id, username=user.username, role=user.role)
    await svc.leave(call_id, username=user.username)


@router.post("/{call_id}/end")
async def end_call(svc: Calls, user: CurrentUser, call_id: CallId) -> Call:
    """End the call for everyone (the wall's roles, or whoever started it)."""
    return await svc.end(call_id, username=user.username, role=user.role)


@router.post("/{call_id}/feeds", status_code=201)
async def share_feed(svc: Calls, user: CurrentUser, call_id: CallId, body: FeedShare) -> Call:
    """Share a street camera or a drone into the call (forwarded as H.264, not re-encoded)."""
    return await svc.share(call_id, body.camera_id, username=user.username, role=user.role)


@router.delete("/{call_id}/feeds/{stream_id}")
async def unshare_feed(svc: Calls, user: CurrentUser, call_id: CallId, stream_id: ShortId) -> Call:
    return await svc.unshare(call_id, stream_id, username=user.username, role=user.role)


@router.post("/{call_id}/publish", status_code=201, response_class=Response, responses=ANSWER)
async def publish(request: Request, svc: Calls, call_id: CallId) -> Response:
    """Signalling (call token): send your camera and microphone into the call."""
    username = _member(request, svc, call_id)
    sig = await svc.publish(call_id, username, await read_offer(request))
    return Response(sig.answer, 201, media_type=SDP, headers={"Location": sig.location})


@router.post(
    "/{call_id}/streams/{stream_id}/subscribe",
    status_code=201,
    response_class=Response,
    responses=ANSWER,
)
async def subscribe(request: Request, svc: Calls, call_id: CallId, stream_id: ShortId) -> Response:
    """Signalling (call token): receive one stream of the call (a person or a shared feed)."""
    username = _member(request, svc, call_id)
    sig = await svc.subscribe(call_id, username, stream_id, await read_offer(request))
    return Response(sig.answer, 201, media_type=SDP, headers={"Location": sig.location})


@router.delete("/{call_id}/peers/{peer_id}", status_code=204)
async def close_peer(request: Request, svc: Calls, call_id: CallId, peer_id: ShortId) -> None:
    """Signalling (call token): close one of your connections (stop receiving a stream)."""
    await svc.close_peer(call_id, _member(request, svc, call_id), peer_id)
