"""Login, tokens, roles, and that nothing but the public surface answers without a token."""

from __future__ import annotations

import stat
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import BaseRoute
from web_helpers import PASSWORDS, RunningHub
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

# Every route that answers without a token. Adding a public route means adding it here.
PUBLIC = {
    ("GET", "/api/health"),
    ("POST", "/api/auth/token"),
    ("GET", "/"),  # the UI: the login page must load
    ("GET", "/assets/{path:path}"),
    ("GET", "/{path:path}"),
}
# Open311 GeoReport v2 for outside systems: no user token, but an ``api_key`` on every call,
# refused with the spec's error array (403) without a valid one (tests/dispatch/test_open311.py).
OPEN311 = "/api/open311/v2/"

PARAMS = {
    "{event_id}": str(uuid.uuid4()),
    "{camera_id}": "cam-a",
    "{username}": "operator",
    "{device_id}": "dev-1",
    "{alarm_id}": "1",
    "{case_id}": "1",
    "{part_id}": "1",
    "{photo_id}": "0" * 32,
    "{recording_id}": "0" * 32,
    "{path:path}": "x.js",
    "{fmt}": "json",
    "{service_code}": "01.01",
    "{request_id}": "1",
    "{layout_id}": "1",
    "{tour_id}": "1",
    "{session_id}": "A" * 22,
    "{unit_id}": "drone-1",
    "{call_id}": "A" * 16,
    "{stream_id}": "A" * 12,
    "{peer_id}": "A" * 12,
}


def _fill(path: str) -> str:
    for k, v in PARAMS.items():
        path = path.replace(k, v)
    assert "{" not in path, f"add a sample value for the parameter in {path}"
    return path


def _routes(hub: RunningHub) -> list[tuple[BaseRoute, str, set[str]]]:
    """(route, full path, methods), also through included routers (FastAPI >= 0.150 keeps
    those as one entry in app.routes)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI flattens included routes itself
        return [(r, r.path, set(getattr(r, "methods", ()))) for r in hub.app.routes]  # type: ignore[attr-defined]
    return [
        (c.original_route, str(c.path), set(c.methods or ()))
        for c in iter_route_contexts(hub.app.routes)
    ]


def _http_routes(hub: RunningHub) -> list[tuple[str, str]]:
    out = []
    for r, path, methods in _routes(hub):
        if isinstance(r, APIRoute):
            out += [(m, path) for m in sorted(methods) if m != "HEAD"]
    return out


def _ws_routes(hub: RunningHub) -> list[str]:
    return [path for r, path, _ in _routes(hub) if isinstance(r, APIWebSocketRoute)]


def _forged(hub: RunningHub, **claims: object) -> str:
    base = {"sub": "admin", "role": "admin", "exp": datetime.now(UTC) + timedelta(hours=1)}
    return jwt.encode({**base, **claims}, "not-the-secret-" * 4, algorithm="HS256")


async def test_login_ok(hub: RunningHub) -> None:
    r = await hub.client.post(
        "/api/auth/token", data={"username": "operator", "password": PASSWORDS["operator"]}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["username"] == "operator" and body["role"] == "operator"
    assert body["must_change_password"] is False
    expires = datetime.fromisoformat(body["expires_at"])
    assert expires > datetime.now(UTC) + timedelta(hours=1)
    me = await hub.client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["username"] == "operator" and me.json()["role"] == "operator"


@pytest.mark.parametrize(
    ("username", "password"), [("operator", "wrong-password"), ("nobody", "whatever-pw")]
)
async def test_login_bad(hub: RunningHub, username: str, password: str) -> None:
    r = await hub.client.post("/api/auth/token", data={"username": username, "password": password})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["title"] == "Not authenticated"
    assert password not in r.text


async def test_failed_logins_are_throttled(hub: RunningHub) -> None:
    for _ in range(hub.state.throttle.per_user):
        r = await hub.client.post("/api/auth/token", data={"username": "worker", "password": "x"})
        assert r.status_code == 401
    r = await hub.client.post(
        "/api/auth/token", data={"username": "worker", "password": PASSWORDS["worker"]}
    )
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
    # Other accounts are not locked by someone guessing this one.
    assert await hub.login("operator", PASSWORDS["operator"])


async def test_disabled_user_refused(hub: RunningHub, tokens: dict[str, str]) -> None:
    await hub.state.store.users.update("operator", active=False)
    r = await hub.client.post(
        "/api/auth/token", data={"username": "operator", "password": PASSWORDS["operator"]}
    )
    assert r.status_code == 403
    # A token issued before the account was disabled stops working at once.
    r = await hub.client.get("/api/cameras", params={"access_token": tokens["operator"]})
    assert r.status_code == 401


async def test_every_protected_route_refuses_without_token(
    hub: RunningHub, tokens: dict[str, str]
) -> None:
    routes = _http_routes(hub)
    assert len(routes) >= 10
    bad_tokens = [None, "garbage", _forged(hub), _forged(hub, exp=datetime(2020, 1, 1))]
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        for token in bad_tokens:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            r = await hub.client.request(method, _fill(path), headers=headers, json={})
            if path.startswith(OPEN311):
                # A user's token is no api_key either.
                assert r.status_code == 403, (method, path, token, r.status_code)
                assert r.json()[0]["code"] == 403
                continue
            assert r.status_code == 401, (method, path, token, r.status_code)
            assert r.json()["status"] == 401
    # An expired token signed with the real secret is refused too.
    real = hub.state.tokens
    expired = jwt.encode(
        {"sub": "admin", "ver": 0, "exp": datetime.now(UTC) - timedelta(seconds=5)},
        real._secret,
        algorithm="HS256",
    )
    r = await hub.client.get("/api/auth/me", params={"access_token": expired})
    assert r.status_code == 401 and r.json()["detail"] == "token expired"


async def test_public_routes_answer_without_token(hub: RunningHub) -> None:
    assert (await hub.client.get("/api/health")).json()["status"] == "ok"
    assert (await hub.client.get("/")).status_code in (200, 503)


async def test_every_websocket_refuses_without_token(hub: RunningHub) -> None:
    paths = _ws_routes(hub)
    assert set(paths) >= {"/api/ws", "/api/live/{camera_id}"}
    for path in paths:
        for query in ("", "?access_token=garbage", f"?access_token={_forged(hub)}"):
            async with connect(hub.ws_url + _fill(path) + query) as ws:
                with pytest.raises(ConnectionClosed) as info:
                    await ws.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 4401, path


ROLE_MATRIX = [
    ("GET", "/api/site", {"admin", "operator", "supervisor", "worker"}),
    ("GET", "/api/cameras", {"admin", "operator", "supervisor"}),
    ("GET", "/api/events", {"admin", "operator", "supervisor"}),
    ("GET", "/metrics", {"admin", "operator", "supervisor"}),
    ("GET", "/api/users", {"admin"}),
    ("GET", "/api/wall/layouts", {"admin", "operator", "supervisor"}),
    ("GET", "/api/wall/tours", {"admin", "operator", "supervisor"}),
    ("GET", "/api/auth/me", set(PASSWORDS)),
]


@pytest.mark.parametrize(("method", "path", "allowed"), ROLE_MATRIX)
async def test_roles(
    hub: RunningHub, tokens: dict[str, str], method: str, path: str, allowed: set[str]
) -> None:
    for role, token in tokens.items():
        r = await hub.client.request(method, path, headers={"Authorization": f"Bearer {token}"})
        expected = 200 if role in allowed else 403
        assert r.status_code == expected, (role, path, r.text)
        if expected == 403:
            assert r.headers["content-type"] == "application/problem+json"


async def test_role_change_applies_to_existing_tokens(
    hub: RunningHub, tokens: dict[str, str]
) -> None:
    await hub.state.store.users.update("operator", role="worker")
    # The role change ends the session: the old token is refused outright.
    r = await hub.client.get("/api/cameras", params={"access_token": tokens["operator"]})
    assert r.status_code == 401
    token = await hub.login("operator", PASSWORDS["operator"])
    r = await hub.client.get("/api/cameras", params={"access_token": token})
    assert r.status_code == 403


async def test_token_in_query(hub: RunningHub, tokens: dict[str, str]) -> None:
    r = await hub.client.get("/api/cameras", params={"access_token": tokens["supervisor"]})
    assert r.status_code == 200


async def test_change_password(hub: RunningHub, tokens: dict[str, str]) -> None:
    auth = {"Authorization": f"Bearer {tokens['worker']}"}
    r = await hub.client.post(
        "/api/auth/password",
        headers=auth,
        json={"old_password": "wrong-one", "new_password": "brand-new-pass"},
    )
    assert r.status_code == 403
    r = await hub.client.post(
        "/api/auth/password",
        headers=auth,
        json={"old_password": PASSWORDS["worker"], "new_password": "short"},
    )
    assert r.status_code == 422
    r = await hub.client.post(
        "/api/auth/password",
        headers=auth,
        json={"old_password": PASSWORDS["worker"], "new_password": "brand-new-pass"},
    )
    assert r.status_code == 200
    fresh = r.json()["access_token"]
    # The old token ended with the old password; the answer carries the caller's new one.
    assert (await hub.client.get("/api/auth/me", headers=auth)).status_code == 401
    r = await hub.client.get("/api/auth/me", headers={"Authorization": f"Bearer {fresh}"})
    assert r.status_code == 200
    assert await hub.login("worker", "brand-new-pass")
    r = await hub.client.post(
        "/api/auth/token", data={"username": "worker", "password": PASSWORDS["worker"]}
    )
    assert r.status_code == 401


async def test_jwt_secret_generated_once_private(hub: RunningHub) -> None:
    path = hub.settings.data_dir / "jwt.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().strip()) >= 32
