"""WebSockets: the wall's event/health stream and live video (fragmented MP4 for MSE).

Browsers cannot send headers on a WebSocket, so the token comes as ``?access_token=``. The
socket is accepted before the token is checked so that the client sees the close code (4401
bad token, 4403 role, 4404 unknown camera); a refused handshake would only show 1006.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from hub.errors import AuthError, ForbiddenError, HubError, NotFoundError
from hub.store.users import Role, User
from hub.video.interfaces import LiveEnded, LiveSubscription
from hub.web.auth import WALL_ROLES, token_from, user_from_token
from hub.web.fanout import WsClient, message
from hub.web.sessions import RECHECK_SECONDS
from hub.web.state import hub_state

log = logging.getLogger(__name__)

router = APIRouter(tags=["websocket"])

CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_SESSION_ENDED = 4401  # the same code as a bad token: the client logs in again
CLOSE_TOO_SLOW = 1013  # "try again later": the client fell behind and was dropped
CLOSE_TIMEOUT = 2.0


async def _accept_user(ws: WebSocket, roles: tuple[Role, ...]) -> User | None:
    await ws.accept()
    try:
        user = await user_from_token(ws, token_from(ws))
    except AuthError as exc:
        await ws.close(CLOSE_UNAUTHORIZED, str(exc))
        return None
    except ForbiddenError as exc:
        await ws.close(CLOSE_FORBIDDEN, str(exc))
        return None
    if user.role not in roles:
        await ws.close(CLOSE_FORBIDDEN, "forbidden")
        return None
    return user


class _SessionWatch:
    """Runs until the socket's session is over: the user's sessions were ended here, or the
    token no longer passes (expired, or ended by another hub process); then ``over`` is set."""

    def __init__(self, ws: WebSocket, ended: asyncio.Event) -> None:
        self.ws = ws
        self.ended = ended
        self.over = False

    async def run(self) -> None:
        token = token_from(self.ws)
        # Checked once more now that the socket is tracked: sessions ended between the check at
        # accept and the tracking found no socket to close.
        while not self.ended.is_set():
            try:
                await user_from_token(self.ws, token)
            except HubError:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RECHECK_SECONDS):
                    await self.ended.wait()
        self.over = True


async def _until_disconnect(ws: WebSocket) -> None:
    # Client messages carry nothing yet; reading them is how a disconnect is noticed.
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass


async def _first(*coros: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Run until the first finishes, cancel the rest, return the finished one."""
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await t
    return done.pop()


async def _close(ws: WebSocket, code: int = 1000, reason: str = "") -> None:
    if ws.application_state == WebSocketState.CONNECTED:
        # A client that stopped reading cannot take the close frame either: do not wait on it.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await ws.close(code, reason)


@router.websocket("/api/ws")
async def events_ws(ws: WebSocket) -> None:
    """The wall's stream: events, alarms, cases, workers and camera health."""
    user = await _accept_user(ws, WALL_ROLES)
    if user is None:
        return
    await _stream(ws, user, WsClient(), hub_state(ws).fanout.health_message())


@router.websocket("/api/ws/field")
async def field_ws(ws: WebSocket) -> None:
    """A worker's field app: only the case changes that concern them (a new task, a rework, a
    case taken away), so the inbox updates without polling."""
    user = await _accept_user(ws, ("worker",))
    if user is None:
        return
    await _stream(ws, user, WsClient(worker=user.username))


async def _stream(ws: WebSocket, user: User, client: WsClient, *first: str) -> None:
    """Greet, send ``first``, then whatever the fan-out offers the client, until the socket
    closes, the client falls behind or the user's session ends."""
    state = hub_state(ws)
    hello = {
        "username": user.username,
        "role": user.role,
        "server_time": datetime.now(UTC).isoformat(),
    }
    for text in (message("hello", hello), *first):
        client.offer(text)
    state.fanout.register(client)

    async def write() -> None:
        while True:
            await ws.send_text(await client.queue.get())

    async def overflow() -> None:
        await client.overflowed.wait()

    try:
        with state.sessions.track(user.username) as ended:
            watch = _SessionWatch(ws, ended)
            done = await _first(write(), _until_disconnect(ws), overflow(), watch.run())
        state.fanout.unregister(client)
        if watch.over:
            await _close(ws, CLOSE_SESSION_ENDED, "session ended")
        elif client.overflowed.is_set():
            log.warning("dropping slow WebSocket client %s", user.username)
            await _close(ws, CLOSE_TOO_SLOW, "too slow")
        elif done.exception() is not None and not isinstance(done.exception(), WebSocketDisconnect):
            log.warning("WebSocket failed: %s", done.exception())
            await _close(ws, 1011)
    finally:
        state.fanout.unregister(client)


@router.websocket("/api/live/{camera_id}")
async def live_ws(ws: WebSocket, camera_id: str) -> None:
    user = await _accept_user(ws, WALL_ROLES)
    if user is None:
        return
    state = hub_state(ws)
    camera = state.site.camera_by_id.get(camera_id)
    if camera is None:
        await ws.close(CLOSE_NOT_FOUND, "unknown camera")
        return
    # ?stream=sub: the camera's sub stream (small tiles); main when it has none.
    stream = "sub" if ws.query_params.get("stream") == "sub" and camera.sub_url else "main"
    try:
        sub = state.video.subscribe_live(camera_id, stream)
    except NotFoundError:
        await ws.close(CLOSE_NOT_FOUND, "unknown camera")
        return
    ended = False

    async def pump(sub: LiveSubscription) -> None:
        nonlocal ended
        try:
            mime, init = await sub.init()
            init_msg = {"type": "init", "mime": mime, "stream": stream}
            await ws.send_text(orjson.dumps(init_msg).decode())
            await ws.send_bytes(init)
            while True:
                await ws.send_bytes(await sub.next())
        except LiveEnded:
            ended = True

    try:
        with state.sessions.track(user.username) as session_ended:
            watch = _SessionWatch(ws, session_ended)
            done = await _first(pump(sub), _until_disconnect(ws), watch.run())
        if watch.over:
            await _close(ws, CLOSE_SESSION_ENDED, "session ended")
        elif ended:
            with contextlib.suppress(Exception):
                await ws.send_text('{"type": "end"}')
            await _close(ws, 1000)
        elif (exc := done.exception()) is not None and not isinstance(exc, WebSocketDisconnect):
            log.warning("live WebSocket for %s failed: %s", camera_id, exc)
            await _close(ws, 1011)
    finally:
        sub.close()
