"""Sessions end when they must: logout, a new password, an admin reset, a role change or
disabling the account void the user's tokens at once and close their open WebSockets. A user
with a one-time password reaches nothing but the password change. Login guessing is limited
even when the guesses come in parallel. Each test attacks the real HTTP server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from web_helpers import PASSWORDS, FakeLive, RunningHub, make_settings, run_hub_with_users
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from hub.config import Settings
from hub.errors import BusyError
from hub.store import passwords
from hub.web import ws as ws_module
from hub.web.security_headers import CONTENT_SECURITY_POLICY


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _closed_with(ws: ClientConnection, within: float = 3.0) -> int:
    """The close code the server sends, reading (and dropping) messages until then."""
    async with asyncio.timeout(within):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as exc:
            assert exc.rcvd is not None
            return exc.rcvd.code


async def _open_sockets(hub: RunningHub, token: str) -> list[ClientConnection]:
    events = await connect(f"{hub.ws_url}/api/ws?access_token={token}")
    live = await connect(f"{hub.ws_url}/api/live/cam-a?access_token={token}")
    assert "hello" in str(await events.recv())
    return [events, live]


@pytest.fixture
def endless_live(hub: RunningHub, monkeypatch: pytest.MonkeyPatch) -> None:
    # The stand-in live stream ends after three segments; these tests need it to stay open,
    # at a camera's pace rather than as fast as the loop can send.
    async def next_segment(self: FakeLive) -> bytes:
        await asyncio.sleep(0.04)
        return b"seg"

    monkeypatch.setattr(FakeLive, "next", next_segment)


async def test_logout_ends_tokens_and_sockets(
    hub: RunningHub, tokens: dict[str, str], endless_live: None
) -> None:
    token = tokens["operator"]
    other = await hub.login("operator", PASSWORDS["operator"])  # a second device
    sockets = await _open_sockets(hub, token)
    r = await hub.client.post("/api/auth/logout", headers=bearer(token))
    assert r.status_code == 204
    for ws in sockets:
        assert await _closed_with(ws) == 4401
    for t in (token, other):
        r = await hub.client.get("/api/cameras", headers=bearer(t))
        assert r.status_code == 401 and "ended" in r.json()["detail"]
    assert hub.state.sessions.count("operator") == 0
    # Logging in again works.
    fresh = await hub.login("operator", PASSWORDS["operator"])
    assert (await hub.client.get("/api/cameras", headers=bearer(fresh))).status_code == 200


@pytest.mark.parametrize(
    "change",
    [{"password": "a-new-password-1"}, {"role": "supervisor"}, {"active": False}],
    ids=["admin-reset", "role-change", "disable"],
)
async def test_admin_changes_end_the_users_sessions(
    hub: RunningHub, tokens: dict[str, str], endless_live: None, change: dict[str, object]
) -> None:
    sockets = await _open_sockets(hub, tokens["operator"])
    r = await hub.client.patch("/api/users/operator", headers=bearer(tokens["admin"]), json=change)
    assert r.status_code == 200, r.text
    for ws in sockets:
        assert await _closed_with(ws) == 4401
    r = await hub.client.get("/api/auth/me", headers=bearer(tokens["operator"]))
    assert r.status_code == 401
    # Nobody else's session ended.
    r = await hub.client.get("/api/cameras", headers=bearer(tokens["supervisor"]))
    assert r.status_code == 200


async def test_password_change_ends_other_sessions(
    hub: RunningHub, tokens: dict[str, str], endless_live: None
) -> None:
    phone = tokens["operator"]
    desk = await hub.login("operator", PASSWORDS["operator"])
    sockets = await _open_sockets(hub, phone)
    r = await hub.client.post(
        "/api/auth/password",
        headers=bearer(desk),
        json={"old_password": PASSWORDS["operator"], "new_password": "changed-pass-1"},
    )
    assert r.status_code == 200
    for ws in sockets:
        assert await _closed_with(ws) == 4401
    assert (await hub.client.get("/api/auth/me", headers=bearer(phone))).status_code == 401
    assert (await hub.client.get("/api/auth/me", headers=bearer(desk))).status_code == 401
    fresh = r.json()["access_token"]
    assert (await hub.client.get("/api/cameras", headers=bearer(fresh))).status_code == 200


async def test_sockets_notice_sessions_ended_elsewhere(
    hub: RunningHub, tokens: dict[str, str], endless_live: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another hub process (or the CLI) ends the sessions in the store only: each socket finds
    out at its next check."""
    monkeypatch.setattr(ws_module, "RECHECK_SECONDS", 0.2)
    sockets = await _open_sockets(hub, tokens["operator"])
    await hub.state.store.users.end_sessions("operator")
    for ws in sockets:
        assert await _closed_with(ws) == 4401


async def test_one_time_password_reaches_only_the_password_change(
    hub: RunningHub, tokens: dict[str, str]
) -> None:
    r = await hub.client.post(
        "/api/users", headers=bearer(tokens["admin"]), json={"username": "li", "role": "admin"}
    )
    one_time = r.json()["password"]
    token = await hub.login("li", one_time)
    for method, path in (("GET", "/api/cameras"), ("GET", "/api/users"), ("GET", "/metrics")):
        r = await hub.client.request(method, path, headers=bearer(token))
        assert r.status_code == 403, path
        assert r.json()["title"] == "Password change required"
    async with connect(f"{hub.ws_url}/api/ws?access_token={token}") as ws:
        assert await _closed_with(ws) == 4403
    me = await hub.client.get("/api/auth/me", headers=bearer(token))
    assert me.status_code == 200 and me.json()["must_change_password"] is True
    r = await hub.client.post(
        "/api/auth/password",
        headers=bearer(token),
        json={"old_password": one_time, "new_password": "li-own-password"},
    )
    assert r.status_code == 200 and r.json()["must_change_password"] is False
    fresh = r.json()["access_token"]
    assert (await hub.client.get("/api/users", headers=bearer(fresh))).status_code == 200


async def test_parallel_guesses_are_throttled(hub: RunningHub) -> None:
    async def guess() -> int:
        r = await hub.client.post(
            "/api/auth/token", data={"username": "worker", "password": "wrong-guess"}
        )
        return r.status_code

    codes = await asyncio.gather(*(guess() for _ in range(40)))
    assert codes.count(401) <= hub.state.throttle.per_user
    assert codes.count(429) >= 40 - hub.state.throttle.per_user
    r = await hub.client.post(
        "/api/auth/token", data={"username": "worker", "password": PASSWORDS["worker"]}
    )
    assert r.status_code == 429


async def test_a_stolen_token_cannot_guess_the_password(
    hub: RunningHub, tokens: dict[str, str]
) -> None:
    codes = []
    for i in range(hub.state.throttle.per_user + 2):
        r = await hub.client.post(
            "/api/auth/password",
            headers=bearer(tokens["worker"]),
            json={"old_password": f"guess-{i}", "new_password": "whatever-new-1"},
        )
        codes.append(r.status_code)
    assert codes[: hub.state.throttle.per_user] == [403] * hub.state.throttle.per_user
    assert codes[-1] == 429


async def test_throttle_keys_are_small_and_expire(hub: RunningHub) -> None:
    throttle = hub.state.throttle
    throttle.window = 1.5
    throttle.per_address = 1000
    huge = "x" * 500_000
    r = await hub.client.post("/api/auth/token", data={"username": huge, "password": "p"})
    assert r.status_code == 401
    for i in range(50):
        await hub.client.post("/api/auth/token", data={"username": f"u{i}", "password": "p"})
    assert all(len(k) < 40 for k in throttle._attempts)
    assert len(throttle) >= 50
    await asyncio.sleep(1.6)
    await hub.client.post("/api/auth/token", data={"username": "last", "password": "p"})
    assert len(throttle) <= 2


async def test_password_hashes_run_two_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = passwords._hasher
    running = peak = 0
    lock = threading.Lock()

    def slow_verify(hashed: str, password: str) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return False

    monkeypatch.setattr(passwords, "_verify", slow_verify)
    hashed = hasher.hash("x")
    await asyncio.gather(*(passwords.verify_password(hashed, "y") for _ in range(12)))
    assert peak == passwords.HASH_THREADS
    # Beyond the waiting room, callers are told to come back instead of queueing forever.
    monkeypatch.setattr(passwords, "MAX_WAITING", 0)
    results = await asyncio.gather(
        *(passwords.verify_password(hashed, "y") for _ in range(6)), return_exceptions=True
    )
    assert any(isinstance(r, BusyError) for r in results)


def test_short_jwt_secret_refused_without_echoing_it() -> None:
    secret = "only-thirty-one-bytes-long-here"
    assert len(secret) == 31
    with pytest.raises(ValidationError) as info:
        Settings(jwt_secret=secret)
    assert secret not in str(info.value)
    assert "32 bytes" in str(info.value)
    Settings(jwt_secret=secret + "!")


async def test_ui_and_api_carry_a_strict_policy(hub: RunningHub) -> None:
    for path in ("/", "/api/health", "/api/nothing-here"):
        r = await hub.client.get(path)
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY


@pytest.fixture
async def expiring_hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    async with run_hub_with_users(make_settings(tmp_path)) as h:
        yield h


async def test_token_expiry_closes_open_sockets(
    expiring_hub: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = expiring_hub
    monkeypatch.setattr(ws_module, "RECHECK_SECONDS", 0.2)
    hub.state.tokens._ttl = hub.state.tokens._ttl.__class__(seconds=1)
    token = await hub.login("operator", PASSWORDS["operator"])
    async with connect(f"{hub.ws_url}/api/ws?access_token={token}") as ws:
        assert await _closed_with(ws, within=4.0) == 4401


async def test_logout_between_the_token_check_and_the_tracking_still_closes(
    hub: RunningHub, tokens: dict[str, str], endless_live: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A logout that lands after a socket's token was checked but before the socket is tracked
    finds no socket to close; the socket's first own check must catch it, not the 5 s one."""
    monkeypatch.setattr(ws_module, "RECHECK_SECONDS", 60.0)
    accept = ws_module._accept_user

    async def accept_then_logout(ws: object, roles: object) -> object:
        user = await accept(ws, roles)  # type: ignore[arg-type]
        if user is not None:
            await hub.state.store.users.end_sessions(user.username)
            await hub.state.sessions.end(user.username)  # nothing tracked yet: a no-op
        return user

    monkeypatch.setattr(ws_module, "_accept_user", accept_then_logout)
    async with connect(f"{hub.ws_url}/api/live/cam-a?access_token={tokens['operator']}") as ws:
        assert await _closed_with(ws) == 4401
