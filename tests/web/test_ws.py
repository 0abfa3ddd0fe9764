"""WebSockets against a real server: the event/health stream and live video."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from web_helpers import INIT, SEGMENTS, RunningHub, detection, record
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from hub.bus.contracts import DETECTIONS
from hub.web.fanout import WsClient


async def recv_json(ws: ClientConnection, type_: str, within: float = 5) -> dict[str, Any]:
    """The next message of this type (health ticks may come in between)."""
    async with asyncio.timeout(within):
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == type_:
                result: dict[str, Any] = msg
                return result


async def eventually(cond: Callable[[], bool], within: float = 3.0) -> None:
    # Polling on purpose: the conditions are server-side state with no event to wait on.
    async with asyncio.timeout(within):
        while not cond():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_events_ws(hub: RunningHub, tokens: dict[str, str]) -> None:
    async with connect(f"{hub.ws_url}/api/ws?access_token={tokens['operator']}") as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello"
        assert hello["data"]["username"] == "operator" and hello["data"]["role"] == "operator"
        assert "server_time" in hello["data"]
        health = await recv_json(ws, "health")
        assert [h["camera_id"] for h in health["data"]] == ["cam-a", "cam-b"]

        ev = detection(snapshot="cam-a/x.jpg")
        await hub.bus.publish(DETECTIONS, ev)
        msg = await recv_json(ws, "event")
        data = msg["data"]
        assert data["id"] == str(ev.id)
        assert data["camera_name"] == "河海路口"
        assert data["snapshot_url"] == f"/api/events/{ev.id}/snapshot"
        # Clients hear of an event only once it is stored: clicking it works.
        stored = await hub.state.store.events.get(ev.id)
        assert stored is not None and stored.seq == data["seq"]

        # A duplicate delivery (same id) is stored once and announced once.
        await hub.bus.publish(DETECTIONS, ev)
        ev2 = detection()
        await record(hub, ev2)
        assert (await recv_json(ws, "event"))["data"]["id"] == str(ev2.id)

        # The event's end: the same id again, now with an end; a replay is not announced.
        ended = ev.model_copy(update={"end": ev.start + timedelta(seconds=9)})
        await hub.bus.publish(DETECTIONS, ended)
        again = (await recv_json(ws, "event"))["data"]
        assert again["id"] == str(ev.id) and again["seq"] == data["seq"]
        assert datetime.fromisoformat(again["end"]) == ev.start + timedelta(seconds=9)
        assert again["snapshot_url"] == data["snapshot_url"]
        await hub.bus.publish(DETECTIONS, ended)
        ev3 = detection()
        await record(hub, ev3)
        assert (await recv_json(ws, "event"))["data"]["id"] == str(ev3.id)

        # Health keeps ticking every second.
        await recv_json(ws, "health", within=3)


async def test_events_ws_refuses_device_role(hub: RunningHub, tokens: dict[str, str]) -> None:
    async with connect(f"{hub.ws_url}/api/ws?access_token={tokens['device']}") as ws:
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 4403


async def test_client_disconnect_unregisters(hub: RunningHub, tokens: dict[str, str]) -> None:
    async with connect(f"{hub.ws_url}/api/ws?access_token={tokens['operator']}") as ws:
        await recv_json(ws, "hello")
        assert len(hub.state.fanout._clients) == 1
    await eventually(lambda: not hub.state.fanout._clients)


def test_slow_client_overflows_instead_of_buffering() -> None:
    client = WsClient(maxsize=3)
    for i in range(10):
        client.offer(f"m{i}")
    assert client.queue.qsize() == 3
    assert client.overflowed.is_set()


async def test_slow_client_is_dropped(hub: RunningHub, tokens: dict[str, str]) -> None:
    # A raw client that completes the handshake and then never reads: the server's socket
    # buffer fills, its send blocks, the per-client queue fills and the client is dropped.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    port = int(hub.url.rsplit(":", 1)[1])
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(
        (
            f"GET /api/ws?access_token={tokens['operator']} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
    try:
        for _ in range(300):
            if hub.state.fanout._clients:
                break
            await asyncio.sleep(0.01)
        assert len(hub.state.fanout._clients) == 1
        big = json.dumps({"type": "event", "data": "x" * 20_000})
        for _ in range(2000):
            hub.state.fanout.broadcast(big)
            await asyncio.sleep(0.001)
            if not hub.state.fanout._clients:
                break
        assert not hub.state.fanout._clients, "a stalled client was kept"
    finally:
        writer.close()


async def test_live_ws(hub: RunningHub, tokens: dict[str, str]) -> None:
    async with connect(f"{hub.ws_url}/api/live/cam-a?access_token={tokens['operator']}") as ws:
        init = json.loads(await ws.recv())
        assert init["type"] == "init" and init["mime"].startswith("video/mp4")
        assert await ws.recv() == INIT
        for seg in SEGMENTS:
            assert await ws.recv() == seg
        assert json.loads(await ws.recv()) == {"type": "end"}
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1000
    await eventually(lambda: hub.video.subscriptions[0].closed)


async def test_live_video_is_not_deflated(hub: RunningHub, tokens: dict[str, str]) -> None:
    """Compressing H.264 gains nothing and costs the event loop's thread (it starved a password
    change behind four tiles): the hub declines permessage-deflate even when a browser offers it."""
    async with connect(f"{hub.ws_url}/api/live/cam-a?access_token={tokens['operator']}") as ws:
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        await ws.recv()


async def test_live_ws_client_leaves_early(hub: RunningHub, tokens: dict[str, str]) -> None:
    hub.video.segments = [b"seg"] * 100_000
    async with connect(f"{hub.ws_url}/api/live/cam-b?access_token={tokens['operator']}") as ws:
        await ws.recv()
        await ws.recv()
    # The feed is released, not leaked.
    await eventually(lambda: bool(hub.video.subscriptions) and hub.video.subscriptions[0].closed)


@pytest.mark.parametrize("camera", ["nope", "cam-zzz"])
async def test_live_ws_unknown_camera(hub: RunningHub, tokens: dict[str, str], camera: str) -> None:
    async with connect(f"{hub.ws_url}/api/live/{camera}?access_token={tokens['operator']}") as ws:
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 4404


async def test_tokens_are_not_logged(
    hub: RunningHub, tokens: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    async with connect(f"{hub.ws_url}/api/ws?access_token={tokens['operator']}") as ws:
        await recv_json(ws, "hello")
    assert "WebSocket /api/ws?access_token=***" in caplog.text  # uvicorn logged the request
    assert tokens["operator"] not in caplog.text
