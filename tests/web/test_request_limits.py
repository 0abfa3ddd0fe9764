"""Requests cannot exhaust the hub: bodies and headers are bounded before any handler or auth
check runs, and forwarded client addresses are believed only from configured proxies. Each
attack goes over a raw socket to the real server."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from web_helpers import PASSWORDS, RunningHub, make_settings, run_hub_with_users
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from hub.web.limits import BodyLimitMiddleware

MB = 1024 * 1024


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def _raw(hub: RunningHub) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = hub.url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def _status_while_sending(hub: RunningHub, head: bytes, body_chunks: int) -> bytes:
    """Send ``head`` then up to ``body_chunks`` MiB, stopping when the server answers or hangs
    up; returns the status line the server sent."""
    status, _sent = await _send_until_answered(hub, head, body_chunks)
    return status


async def _send_until_answered(hub: RunningHub, head: bytes, body_chunks: int) -> tuple[bytes, int]:
    """(status line, MiB written before the answer came)."""
    sent = 0
    reader, writer = await _raw(hub)
    status = asyncio.create_task(reader.readline())
    try:
        writer.write(head)
        chunk = b"a" * MB
        for _ in range(body_chunks):
            if status.done():
                break
            try:
                writer.write(chunk)
                await writer.drain()
            except ConnectionError:
                break
            sent += 1
        async with asyncio.timeout(5):
            return await status, sent
    finally:
        status.cancel()
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def test_anonymous_huge_post_refused_before_reading(hub: RunningHub) -> None:
    before = _rss_bytes()
    head = (
        b"POST /api/auth/token HTTP/1.1\r\nHost: hub\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 209715200\r\n\r\n"
    )
    status = await _status_while_sending(hub, head, body_chunks=200)
    assert status.startswith(b"HTTP/1.1 413"), status
    # 200 MB were offered; the hub kept none of it.
    assert _rss_bytes() - before < 50 * MB
    assert (await hub.client.get("/api/health")).status_code == 200


async def test_chunked_body_without_length_is_cut_at_the_limit(hub: RunningHub) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"username=" + b"a" * MB

    r = await hub.client.post(
        "/api/auth/token",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"


async def test_body_limit_applies_to_every_route_and_allows_normal_bodies(
    hub: RunningHub,
) -> None:
    token = await hub.login("admin", PASSWORDS["admin"])
    big = {"username": "x", "role": "worker", "password": "p" * (2 * MB)}
    r = await hub.client.post("/api/users", json=big, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 413
    r = await hub.client.post(
        "/api/users",
        json={"username": "zhao", "role": "worker"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201


async def test_bad_content_length_is_a_client_error(hub: RunningHub) -> None:
    head = b"POST /api/auth/token HTTP/1.1\r\nHost: hub\r\nContent-Length: -5\r\n\r\n"
    status = await _status_while_sending(hub, head, body_chunks=0)
    assert status.split()[1].startswith(b"4"), status


async def probe_once(hub: RunningHub, latencies: list[float]) -> None:
    t0 = time.perf_counter()
    assert (await hub.client.get("/api/health")).status_code == 200
    latencies.append(time.perf_counter() - t0)


@pytest.mark.parametrize("size_mb", [150, 80])
async def test_huge_header_refused_while_it_arrives(hub: RunningHub, size_mb: int) -> None:
    head = b"GET /api/health HTTP/1.1\r\nHost: hub\r\nX-Padding: "
    health: list[float] = []

    async def probe() -> None:
        while True:
            await probe_once(hub, health)
            await asyncio.sleep(0.02)

    prober = asyncio.create_task(probe())
    try:
        status, sent = await _send_until_answered(hub, head, body_chunks=size_mb)
    finally:
        prober.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await prober
    assert status.startswith(b"HTTP/1.1 431"), status
    # Refused after a few MiB at most (what sat in socket buffers), not after all of it.
    assert sent < 10, sent
    await probe_once(hub, health)
    assert max(health) < 0.5, health


async def test_huge_url_and_many_headers_refused(hub: RunningHub) -> None:
    status = await _status_while_sending(
        hub, b"GET /api/health?" + b"q" * (64 * 1024) + b" HTTP/1.1\r\nHost: hub\r\n\r\n", 0
    )
    assert status.startswith(b"HTTP/1.1 431"), status
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(1000))
    status = await _status_while_sending(
        hub, b"GET /api/health HTTP/1.1\r\nHost: hub\r\n" + many + b"\r\n", 0
    )
    assert status.startswith(b"HTTP/1.1 431"), status
    # Ordinary requests on a kept-alive connection are unaffected.
    for _ in range(3):
        assert (await hub.client.get("/api/health")).status_code == 200


async def test_big_websocket_message_closes_the_socket(hub: RunningHub) -> None:
    token = await hub.login("operator", PASSWORDS["operator"])
    async with connect(f"{hub.ws_url}/api/ws?access_token={token}") as ws:
        await ws.recv()
        await ws.send("x" * (2 * MB))
        with pytest.raises(ConnectionClosed) as info:
            async with asyncio.timeout(5):
                while True:
                    await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009


async def _guess_from(hub: RunningHub, username: str, forwarded_for: str) -> int:
    r = await hub.client.post(
        "/api/auth/token",
        data={"username": username, "password": "wrong-guess"},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return r.status_code


async def test_forwarded_for_ignored_from_untrusted_peers(hub: RunningHub) -> None:
    hub.state.throttle.per_address = 3
    codes = [await _guess_from(hub, f"user{i}", f"198.51.100.{i}") for i in range(5)]
    # Each request claimed another address, but the peer is the same: the limit holds.
    assert codes == [401, 401, 401, 429, 429]


@pytest.fixture
async def proxied_hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    settings = make_settings(tmp_path, trusted_proxies="127.0.0.1")
    async with run_hub_with_users(settings) as h:
        yield h


async def test_forwarded_for_believed_from_a_trusted_proxy(proxied_hub: RunningHub) -> None:
    proxied_hub.state.throttle.per_address = 3
    codes = [await _guess_from(proxied_hub, f"user{i}", f"198.51.100.{i}") for i in range(5)]
    assert codes == [401] * 5
    codes = [await _guess_from(proxied_hub, f"other{i}", "203.0.113.9") for i in range(5)]
    assert codes == [401, 401, 401, 429, 429]


async def test_upload_prefixes_get_their_own_limit() -> None:
    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(len(await request.body())))

    app = Starlette(routes=[Route("/{path:path}", echo, methods=["POST"])])
    limited = BodyLimitMiddleware(app, max_bytes=1000, larger=[("/api/uploads/", 5000)])
    transport = httpx.ASGITransport(app=limited)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.post("/api/x", content=b"a" * 1000)).text == "1000"
        assert (await client.post("/api/x", content=b"a" * 1001)).status_code == 413
        assert (await client.post("/api/uploads/p", content=b"a" * 5000)).text == "5000"
        assert (await client.post("/api/uploads/p", content=b"a" * 5001)).status_code == 413
