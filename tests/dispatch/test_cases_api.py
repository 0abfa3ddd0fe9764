"""The case API on the real server: a detection becomes a case in its grid, the loop runs
through the routes by the roles that own each step, the wall hears every change, and workers
see and touch only their own tasks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from web.web_helpers import RunningHub, detection, make_settings, record, run_hub_with_users


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    async with run_hub_with_users(make_settings(tmp_path)) as h:
        await h.state.store.users.create("worker2", "worker", "worker2-pass-1")
        yield h


async def _step(
    hub: RunningHub, headers: dict[str, str], case: dict[str, Any], action: str, **kw: Any
) -> dict[str, Any]:
    r = await hub.client.post(
        f"/api/cases/{case['id']}/actions",
        json={"action": action, "version": case["version"], **kw},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def _wait_case(hub: RunningHub, headers: dict[str, str], state: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            r = await hub.client.get("/api/cases", headers=headers)
            assert r.status_code == 200, r.text
            if r.json()["items"] and r.json()["items"][0]["state"] == state:
                item: dict[str, Any] = r.json()["items"][0]
                return item
            await asyncio.sleep(0.02)


async def test_a_detection_runs_the_loop_and_the_wall_hears_each_step(hub: RunningHub) -> None:
    op = await hub.auth("operator")
    sup = await hub.auth("supervisor")
    worker = await hub.auth("worker")
    token = op["Authorization"].split()[1]
    async with websockets.connect(f"{hub.ws_url}/api/ws?access_token={token}") as ws:
        await record(hub, detection("cam-a", type="intrusion"))
        case = await _wait_case(hub, op, "opened")
        # 区域入侵 is dispatched automatically: accepted and opened by the system.
        assert (case["category"], case["state"], case["source"]) == ("17.01", "opened", "video")
        assert case["department"] == "police" and case["stage"] == "dispatch"
        case = await _step(hub, op, case, "dispatch", assignee="worker")
        case = await _step(hub, worker, case, "receive")
        case = await _step(hub, worker, case, "feedback", note="已驱离")
        case = await _step(hub, sup, case, "check_pass")
        case = await _step(hub, sup, case, "evaluate", rating=4)
        assert case["state"] == "evaluated"
        actions: list[str] = []
        async with asyncio.timeout(5):
            while "evaluate" not in actions:
                msg = json.loads(await ws.recv())
                if msg["type"] == "case":
                    actions.append(msg["data"]["action"])
        assert actions == [
            "created", "accept", "open", "dispatch", "receive", "feedback", "check_pass",
            "evaluate",
        ]  # fmt: skip
    r = await hub.client.get(f"/api/cases/{case['id']}", headers=op)
    detail = r.json()
    assert [e["kind"] for e in detail["evidence"]] == ["detection"]
    assert detail["evidence"][0]["detail"]["camera_id"] == "cam-a"
    assert [t["actor"] for t in detail["timeline"]][-3:] == ["worker", "supervisor", "supervisor"]


async def test_workers_see_and_touch_only_their_own_tasks(hub: RunningHub) -> None:
    op = await hub.auth("operator")
    worker = await hub.auth("worker")
    other = {"Authorization": f"Bearer {await hub.login('worker2', 'worker2-pass-1')}"}
    r = await hub.client.post(
        "/api/cases",
        json={"category": "02.01", "title": "道路破损", "grid_id": "g1"},
        headers=op,
    )
    assert r.status_code == 201, r.text
    case = r.json()
    case = await _step(hub, op, case, "accept")
    case = await _step(hub, op, case, "open")
    case = await _step(hub, op, case, "dispatch", assignee="worker")
    assert (await hub.client.get(f"/api/cases/{case['id']}", headers=other)).status_code == 404
    r = await hub.client.post(
        f"/api/cases/{case['id']}/actions",
        json={"action": "receive", "version": case["version"]},
        headers=other,
    )
    assert r.status_code == 404
    assert (await hub.client.get("/api/cases", headers=other)).json()["items"] == []
    mine = (await hub.client.get("/api/cases", headers=worker)).json()
    assert [c["id"] for c in mine["items"]] == [case["id"]] and mine["total"] == 1
    # A worker cannot enter cases at the center, nor dispatch.
    r = await hub.client.post(
        "/api/cases", json={"category": "02.01", "title": "x", "grid_id": "g1"}, headers=worker
    )
    assert r.status_code == 403
    r = await hub.client.post(
        f"/api/cases/{case['id']}/actions",
        json={"action": "check_pass", "version": case["version"]},
        headers=worker,
    )
    assert r.status_code == 403


async def test_stale_versions_and_wrong_steps_get_409(hub: RunningHub) -> None:
    op = await hub.auth("operator")
    r = await hub.client.post(
        "/api/cases", json={"category": "02.01", "title": "道路破损", "grid_id": "g1"}, headers=op
    )
    case = r.json()
    await _step(hub, op, case, "accept")
    r = await hub.client.post(
        f"/api/cases/{case['id']}/actions", json={"action": "void", "version": 1}, headers=op
    )
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    r = await hub.client.post(
        f"/api/cases/{case['id']}/actions", json={"action": "evaluate", "version": 2}, headers=op
    )
    assert r.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"category": "99.99", "title": "x", "grid_id": "g1"},
        {"category": "02.01", "title": "x"},
        {"category": "02.01", "title": "x", "grid_id": "nowhere"},
        {"category": "02.01", "title": "", "grid_id": "g1"},
        {"category": "02.01", "title": "x\x00", "grid_id": "g1"},
        {"category": "02.01", "title": "x" * 201, "grid_id": "g1"},
        {"category": "02.01", "title": "x", "position": [500, 31.8]},
        {"category": "02.01", "title": "x", "grid_id": "g1", "state": "closed"},
    ],
)
async def test_bad_new_cases_are_refused(hub: RunningHub, body: dict[str, Any]) -> None:
    op = await hub.auth("operator")
    r = await hub.client.post("/api/cases", json=body, headers=op)
    assert r.status_code == 422, r.text
    assert (await hub.client.get("/api/cases", headers=op)).json()["total"] == 0


async def test_list_filters_and_pages_on_the_server(hub: RunningHub) -> None:
    op = await hub.auth("operator")
    for i in range(7):
        grid = "g1" if i % 2 else "g2"
        r = await hub.client.post(
            "/api/cases",
            json={"category": "02.01", "title": f"case {i}", "grid_id": grid},
            headers=op,
        )
        assert r.status_code == 201
    r = await hub.client.get("/api/cases", params={"grid_id": "g1", "limit": 2}, headers=op)
    page = r.json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["next_before_id"] is not None
    r = await hub.client.get(
        "/api/cases",
        params={"grid_id": "g1", "limit": 2, "before_id": page["next_before_id"]},
        headers=op,
    )
    assert len(r.json()["items"]) == 1
    r = await hub.client.get("/api/cases", params={"state": ["open", "closed"]}, headers=op)
    assert r.json()["total"] == 7
    r = await hub.client.get("/api/cases", params={"state": "closed"}, headers=op)
    assert r.json()["total"] == 0


async def test_the_catalogue_is_served(hub: RunningHub) -> None:
    r = await hub.client.get("/api/categories", headers=await hub.auth("worker"))
    body = r.json()
    assert len(body["categories"]) >= 30 and len(body["departments"]) >= 12


async def test_stats_for_supervisors_and_csv_export(hub: RunningHub) -> None:
    op = await hub.auth("operator")
    sup = await hub.auth("supervisor")
    await hub.client.post(
        "/api/cases", json={"category": "02.01", "title": "t", "grid_id": "g1"}, headers=op
    )
    r = await hub.client.get("/api/stats/cases", params={"by": "street"}, headers=sup)
    assert r.status_code == 200
    body = r.json()
    assert [(x["key"], x["name"], x["reported"]) for x in body["rows"]] == [("s1", "三井街道", 1)]
    r = await hub.client.get("/api/stats/cases.csv", params={"by": "grid"}, headers=sup)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.text.startswith("\ufeff编码 key") and "第一网格" in r.text
    assert (
        await hub.client.get("/api/stats/cases", headers=await hub.auth("worker"))
    ).status_code == 403
    assert (
        await hub.client.get("/api/stats/cases", params={"by": "x"}, headers=sup)
    ).status_code == 422


async def test_the_supervisors_are_served_to_the_center(tmp_path: Path) -> None:
    """The site's supervisors (督办) with their scope, for the center's roles; not to workers."""
    settings = make_settings(tmp_path)
    text = settings.site.read_text(encoding="utf-8")
    settings.site.write_text(
        text + "supervisors:\n"
        "  - {username: zhao, name: 赵主任, scope: 'street:s1', phone: '13800000000'}\n"
        "  - {username: qian, name: 钱区长, scope: district}\n",
        encoding="utf-8",
    )
    async with run_hub_with_users(settings) as h:
        r = await h.client.get("/api/supervisors", headers=await h.auth("operator"))
        assert r.status_code == 200
        assert r.json() == [
            {"username": "zhao", "name": "赵主任", "scope": "street:s1", "level": "street"},
            {"username": "qian", "name": "钱区长", "scope": "district", "level": "district"},
        ]
        r = await h.client.get("/api/supervisors", headers=await h.auth("worker"))
        assert r.status_code == 403
        assert (await h.client.get("/api/supervisors")).status_code == 401
