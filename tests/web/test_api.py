"""The HTTP API against a real server: site, cameras, events, snapshots, users, errors, metrics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from web_helpers import PASSWORDS, RunningHub, detection, record

from hub.bus.contracts import DETECTIONS

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


@pytest.fixture
def admin(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['admin']}"}


@pytest.fixture
def operator(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['operator']}"}


def assert_problem(r: object, status: int) -> dict[str, object]:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = r.json()  # type: ignore[attr-defined]
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    assert "Traceback" not in r.text  # type: ignore[attr-defined]
    return body


async def test_health(hub: RunningHub) -> None:
    r = await hub.client.get("/api/health")
    assert r.json() == {"status": "ok", "version": "0.1.0"}


async def test_site(hub: RunningHub, operator: dict[str, str]) -> None:
    body = (await hub.client.get("/api/site", headers=operator)).json()
    assert body["name"] == "测试区 Test district"
    assert body["timezone"] == "Asia/Shanghai"
    street = body["district"]["streets"][0]
    assert street["id"] == "s1"
    grids = street["communities"][0]["grids"]
    assert [(g["id"], g["camera_ids"]) for g in grids] == [("g1", ["cam-a"]), ("g2", ["cam-b"])]


async def test_cameras(hub: RunningHub, operator: dict[str, str]) -> None:
    r = await hub.client.get("/api/cameras", headers=operator)
    cams = r.json()
    assert [c["id"] for c in cams] == ["cam-a", "cam-b"]
    a = cams[0]
    assert (a["grid_id"], a["community_id"], a["street_id"]) == ("g1", "c1", "s1")
    assert a["position"] == [119.95, 31.85] and a["heading"] == 90
    assert a["zones"][0]["id"] == "z1" and len(a["zones"][0]["polygon"]) == 3
    assert a["lines"][0]["directions"] == ["forward", "backward"]
    assert a["health"]["state"] == "online" and a["health"]["camera_id"] == "cam-a"
    assert "secret" not in r.text and "rtsp" not in r.text  # camera URLs hold credentials
    one = await hub.client.get("/api/cameras/cam-b", headers=operator)
    assert one.json()["analysis_fps"] == 1
    missing = await hub.client.get("/api/cameras/nope", headers=operator)
    assert_problem(missing, 404)


async def test_event_from_bus_to_api(hub: RunningHub, operator: dict[str, str]) -> None:
    ev = detection(snapshot="cam-a/1.jpg")
    await record(hub, ev)
    r = await hub.client.get(f"/api/events/{ev.id}", headers=operator)
    body = r.json()
    assert body["id"] == str(ev.id)
    assert body["camera_name"] == "河海路口"
    assert body["snapshot_url"] == f"/api/events/{ev.id}/snapshot"
    assert body["seq"] >= 1
    assert datetime.fromisoformat(body["start"]) == ev.start
    assert body["boxes"] == [{"x": 0.1, "y": 0.2, "w": 0.05, "h": 0.2}]


async def test_event_end_reaches_the_api(hub: RunningHub, operator: dict[str, str]) -> None:
    ev = detection(type="loitering", snapshot="cam-a/2.jpg", dwell_seconds=30.0)
    await record(hub, ev)
    body = (await hub.client.get(f"/api/events/{ev.id}", headers=operator)).json()
    assert body["end"] is None
    end = ev.start + timedelta(seconds=42)
    await hub.bus.publish(DETECTIONS, ev.model_copy(update={"end": end, "dwell_seconds": 72.0}))
    for _ in range(500):
        body = (await hub.client.get(f"/api/events/{ev.id}", headers=operator)).json()
        if body["end"] is not None:
            break
        await asyncio.sleep(0.01)
    assert datetime.fromisoformat(body["end"]) == end
    assert body["dwell_seconds"] == 72.0 and body["snapshot_url"] == f"/api/events/{ev.id}/snapshot"
    page = (await hub.client.get("/api/events", headers=operator)).json()
    assert [i["id"] for i in page["items"]] == [str(ev.id)]  # updated, not added
    assert datetime.fromisoformat(page["items"][0]["end"]) == end


async def test_event_pages_and_filters(hub: RunningHub, operator: dict[str, str]) -> None:
    t0 = datetime(2026, 1, 1, 8, tzinfo=UTC)
    evs = [
        detection(
            camera_id="cam-a" if i % 2 else "cam-b",
            type="intrusion" if i % 3 else "line_crossing",
            start=t0 + timedelta(minutes=i),
        )
        for i in range(7)
    ]
    await record(hub, *evs)
    seen: list[str] = []
    before = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if before is not None:
            params["before_seq"] = before
        page = (await hub.client.get("/api/events", headers=operator, params=params)).json()
        seen += [e["id"] for e in page["items"]]
        before = page["next_before_seq"]
        if before is None:
            break
    assert seen == [str(e.id) for e in reversed(evs)]  # newest first, every event once

    r = await hub.client.get("/api/events", headers=operator, params={"camera_id": "cam-b"})
    assert {e["camera_id"] for e in r.json()["items"]} == {"cam-b"}
    assert len(r.json()["items"]) == 4
    r = await hub.client.get("/api/events", headers=operator, params={"type": "line_crossing"})
    assert len(r.json()["items"]) == 3
    # Shanghai time 16:02 is 08:02 UTC: offsets are honoured.
    r = await hub.client.get(
        "/api/events",
        headers=operator,
        params={"since": "2026-01-01T16:02:00+08:00", "until": "2026-01-01T08:05:00Z"},
    )
    assert [e["start"][11:16] for e in r.json()["items"]] == ["08:04", "08:03", "08:02"]


async def test_snapshot(hub: RunningHub, operator: dict[str, str]) -> None:
    evidence = hub.settings.data_dir / "evidence" / "cam-a"
    evidence.mkdir(parents=True)
    (evidence / "snap.jpg").write_bytes(b"\xff\xd8\xff\xe0fake-jpeg")
    ev = detection(snapshot="cam-a/snap.jpg")
    await record(hub, ev)
    r = await hub.client.get(f"/api/events/{ev.id}/snapshot", headers=operator)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg"
    assert r.content.startswith(b"\xff\xd8")
    token = operator["Authorization"].split()[1]
    r = await hub.client.get(f"/api/events/{ev.id}/snapshot", params={"access_token": token})
    assert r.status_code == 200  # how an <img> fetches it


@pytest.mark.parametrize("snapshot", ["../jwt.secret", "../../site.yaml", "/etc/passwd", "link"])
async def test_snapshot_path_traversal_refused(
    hub: RunningHub, operator: dict[str, str], snapshot: str
) -> None:
    evidence = hub.settings.data_dir / "evidence"
    evidence.mkdir(parents=True, exist_ok=True)
    (evidence / "link").symlink_to(hub.settings.data_dir / "jwt.secret")
    ev = detection(snapshot=snapshot)
    await record(hub, ev)
    r = await hub.client.get(f"/api/events/{ev.id}/snapshot", headers=operator)
    assert_problem(r, 404)
    secret = (hub.settings.data_dir / "jwt.secret").read_text().strip()
    assert secret not in r.text


async def test_problem_details(hub: RunningHub, operator: dict[str, str]) -> None:
    body = assert_problem(await hub.client.get("/api/events/not-a-uuid", headers=operator), 422)
    assert body["errors"][0]["loc"] == ["path", "event_id"]  # type: ignore[index]
    body = assert_problem(
        await hub.client.get("/api/events", headers=operator, params={"limit": 0}), 422
    )
    assert body["errors"][0]["loc"] == ["query", "limit"]  # type: ignore[index]
    body = assert_problem(
        await hub.client.get("/api/events/0190f3a0-0000-7000-8000-000000000000", headers=operator),
        404,
    )
    assert body["type"] == "urn:cityhub:problem:not-found"
    assert body["instance"] == "/api/events/0190f3a0-0000-7000-8000-000000000000"
    assert_problem(await hub.client.get("/api/nothing-here", headers=operator), 404)
    # The query string (it may hold a token) never appears in the problem.
    token = operator["Authorization"].split()[1]
    r = await hub.client.get("/api/events/x", params={"access_token": token})
    assert token not in r.text
    # Form fields that fail validation are named, their values (passwords) are not echoed.
    r = await hub.client.post("/api/auth/token", data={"username": "admin"})
    body = assert_problem(r, 422)
    assert body["errors"][0]["loc"] == ["body", "password"]  # type: ignore[index]


async def test_unexpected_error_is_a_bare_500(hub: RunningHub, operator: dict[str, str]) -> None:
    def broken() -> list[object]:
        raise RuntimeError("secret internals /etc/hub")

    hub.video.health = broken  # type: ignore[method-assign]
    r = await hub.client.get("/api/cameras", headers=operator)
    body = assert_problem(r, 500)
    assert "secret internals" not in r.text
    assert body["title"] == "Internal Server Error"


async def test_users_admin_api(hub: RunningHub, admin: dict[str, str]) -> None:
    r = await hub.client.get("/api/users", headers=admin)
    assert {u["username"] for u in r.json()} == set(PASSWORDS)

    r = await hub.client.post(
        "/api/users", headers=admin, json={"username": "王伟", "role": "worker"}
    )
    assert r.status_code == 201
    created = r.json()
    assert created["must_change_password"] is True and len(created["password"]) >= 16
    login = await hub.client.post(
        "/api/auth/token", data={"username": "王伟", "password": created["password"]}
    )
    assert login.json()["must_change_password"] is True

    r = await hub.client.post(
        "/api/users", headers=admin, json={"username": "zhao", "role": "operator", "password": "p"}
    )
    assert_problem(r, 422)  # too short
    r = await hub.client.post(
        "/api/users", headers=admin, json={"username": "a b", "role": "operator"}
    )
    assert_problem(r, 422)
    r = await hub.client.post("/api/users", headers=admin, json={"username": "x", "role": "god"})
    assert_problem(r, 422)
    r = await hub.client.post(
        "/api/users", headers=admin, json={"username": "worker", "role": "worker"}
    )
    assert_problem(r, 409)

    r = await hub.client.patch(
        "/api/users/王伟", headers=admin, json={"role": "operator", "password": "new-pass-123"}
    )
    assert r.json()["role"] == "operator" and r.json()["must_change_password"] is True
    assert await hub.login("王伟", "new-pass-123")
    r = await hub.client.patch("/api/users/王伟", headers=admin, json={"active": False})
    assert r.json()["active"] is False
    r = await hub.client.patch("/api/users/ghost", headers=admin, json={"active": False})
    assert_problem(r, 404)
    r = await hub.client.patch("/api/users/王伟", headers=admin, json={"colour": "red"})
    assert_problem(r, 422)


async def test_last_admin_cannot_be_removed(hub: RunningHub, admin: dict[str, str]) -> None:
    r = await hub.client.patch("/api/users/admin", headers=admin, json={"role": "operator"})
    assert_problem(r, 409)
    r = await hub.client.patch("/api/users/admin", headers=admin, json={"active": False})
    assert_problem(r, 409)
    await hub.client.patch("/api/users/supervisor", headers=admin, json={"role": "admin"})
    r = await hub.client.patch("/api/users/admin", headers=admin, json={"role": "operator"})
    assert r.status_code == 200


async def test_metrics(hub: RunningHub, operator: dict[str, str]) -> None:
    await record(hub, detection())
    await hub.client.get("/api/cameras", headers=operator)
    r = await hub.client.get("/metrics", headers=operator)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert "hub_events_recorded_total" in text
    assert 'hub_http_requests_total{method="GET",route="/api/cameras",status="200"}' in text
    assert "hub_http_request_duration_seconds_bucket" in text


async def test_openapi_behind_auth(hub: RunningHub, operator: dict[str, str]) -> None:
    r = await hub.client.get("/api/openapi.json", headers=operator)
    assert "/api/events" in r.json()["paths"]
    assert (await hub.client.get("/docs")).status_code in (404, 200)  # no public Swagger page
    assert "swagger" not in (await hub.client.get("/docs")).text.lower()
