"""Co-dispatch through the real server: the routes, their typed answers, who may call them, the
4xx of bad input, the parts in the case detail, the ``pending`` filter, and the field socket of
a part's worker hearing their part."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from web.web_helpers import RunningHub, make_settings, run_hub_with_users

WORKERS_YAML = """\
workers:
  - {username: worker, name: 网格员, grids: [g1]}
  - {username: pol1, name: 公安一, department: police}
  - {username: mun1, name: 市政一, department: municipal}
"""
PASSWORDS = {"pol1": "pol1-pass-1", "mun1": "mun1-pass-1"}


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    settings = make_settings(tmp_path)
    settings.site.write_text(settings.site.read_text(encoding="utf-8") + WORKERS_YAML, "utf-8")
    async with run_hub_with_users(settings) as h:
        for name, pw in PASSWORDS.items():
            await h.state.store.users.create(name, "worker", pw)
        yield h


async def _as(hub: RunningHub, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {await hub.login(name, PASSWORDS[name])}"}


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


async def _dispatched(hub: RunningHub, op: dict[str, str]) -> dict[str, Any]:
    r = await hub.client.post(
        "/api/cases", json={"category": "02.01", "title": "道路塌陷", "grid_id": "g1"}, headers=op
    )
    assert r.status_code == 201, r.text
    case: dict[str, Any] = r.json()
    for action in ("accept", "open"):
        case = await _step(hub, op, case, action)
    return await _step(hub, op, case, "dispatch", assignee="worker")


async def _part(
    hub: RunningHub, headers: dict[str, str], case: dict[str, Any], part: int, action: str,
    **kw: Any,
) -> Any:  # fmt: skip
    return await hub.client.post(
        f"/api/cases/{case['id']}/parts/{part}/actions",
        json={"action": action, "version": case["version"], **kw},
        headers=headers,
    )


async def test_co_dispatch_through_the_api(hub: RunningHub) -> None:
    op = await hub.auth("operator")
    sup = await hub.auth("supervisor")
    worker = await hub.auth("worker")
    pol1 = await _as(hub, "pol1")
    mun1 = await _as(hub, "mun1")
    case = await _dispatched(hub, op)
    token = pol1["Authorization"].split()[1]
    async with websockets.connect(f"{hub.ws_url}/api/ws/field?access_token={token}") as ws:
        r = await hub.client.post(
            f"/api/cases/{case['id']}/parts",
            json={
                "version": case["version"],
                "parts": [
                    {"department": "police", "assignee": "pol1", "note": "维持秩序"},
                    {"department": "municipal", "assignee": "mun1"},
                ],
                "note": "街道吹哨 部门报到",
            },
            headers=op,
        )
        assert r.status_code == 201, r.text
        out = r.json()
        case = out["case"]
        police, municipal = (p["id"] for p in out["parts"])
        assert [p["department_name"] for p in out["parts"]] == ["公安分局", "市政设施管理所"]
        # The police worker's field app hears of the part given to them.
        async with asyncio.timeout(5):
            while True:
                msg = json.loads(await ws.recv())
                if msg["type"] == "case" and msg["data"]["action"] == "co_dispatch":
                    assert "pol1" in msg["data"]["notify"]
                    break

    # Their task list holds the case; its detail lists the parts.
    mine = (await hub.client.get("/api/cases", headers=pol1)).json()
    assert [c["id"] for c in mine["items"]] == [case["id"]]
    detail = (await hub.client.get(f"/api/cases/{case['id']}", headers=pol1)).json()
    assert [(p["department"], p["state"]) for p in detail["parts"]] == [
        ("police", "dispatched"), ("municipal", "dispatched"),
    ]  # fmt: skip

    # Not theirs: 403; theirs: one step each, the case's version moving on.
    r = await _part(hub, mun1, case, police, "receive")
    assert r.status_code == 403, r.text
    r = await _part(hub, pol1, case, police, "receive")
    assert r.status_code == 200, r.text
    assert r.json()["part"]["state"] == "received"
    assert r.json()["case"]["version"] == case["version"] + 1
    r2 = await _part(hub, mun1, case, municipal, "receive")  # the version pol1 moved on
    assert r2.status_code == 409 and r2.headers["content-type"] == "application/problem+json"
    case = r.json()["case"]
    case = (await _part(hub, pol1, case, police, "feedback", note="ok")).json()["case"]
    case = await _step(hub, worker, case, "receive")
    case = await _step(hub, worker, case, "feedback")
    r = await hub.client.post(
        f"/api/cases/{case['id']}/actions",
        json={"action": "check_pass", "version": case["version"]},
        headers=sup,
    )
    assert r.status_code == 409 and "municipal" in r.json()["detail"]
    r = await _part(hub, pol1, case, police, "close")
    assert r.status_code == 403
    case = (await _part(hub, sup, case, police, "close")).json()["case"]
    r = await _part(hub, mun1, case, municipal, "return", note="不属于本部门")
    assert r.status_code == 200, r.text
    case = r.json()["case"]
    case = await _step(hub, sup, case, "check_pass")
    assert case["state"] == "closed"


@pytest.mark.parametrize(
    ("parts", "status"),
    [
        ([{"department": "nowhere"}], 422),
        ([{"department": "police", "assignee": "mun1"}], 422),
        ([{"department": "police"}, {"department": "police"}], 422),
        ([{"department": d} for d in ("police", "fire", "water", "housing", "market",
                                      "emergency", "transport", "greening", "sanitation")], 422),
        ([], 422),
        ([{"department": "Police!"}], 422),
        ([{"department": "police", "extra": 1}], 422),
        ([{"department": "police", "note": "x" * 2001}], 422),
    ],
)  # fmt: skip
async def test_bad_co_dispatches_get_4xx(
    hub: RunningHub, parts: list[dict[str, Any]], status: int
) -> None:
    op = await hub.auth("operator")
    case = await _dispatched(hub, op)
    r = await hub.client.post(
        f"/api/cases/{case['id']}/parts",
        json={"version": case["version"], "parts": parts},
        headers=op,
    )
    assert r.status_code == status, r.text
    detail = (await hub.client.get(f"/api/cases/{case['id']}", headers=op)).json()
    assert detail["parts"] == [] and detail["version"] == case["version"]


async def test_co_dispatch_roles_versions_and_missing_cases(hub: RunningHub) -> None:
    op = await hub.auth("operator")
    case = await _dispatched(hub, op)
    body = {"version": case["version"], "parts": [{"department": "police"}]}
    r = await hub.client.post(
        f"/api/cases/{case['id']}/parts", json=body, headers=await hub.auth("worker")
    )
    assert r.status_code == 403
    r = await hub.client.post(
        f"/api/cases/{case['id']}/parts", json={**body, "version": 1}, headers=op
    )
    assert r.status_code == 409
    r = await hub.client.post("/api/cases/999999/parts", json=body, headers=op)
    assert r.status_code == 404
    r = await hub.client.post(f"/api/cases/{case['id']}/parts", json=body, headers=op)
    assert r.status_code == 201
    part = r.json()["parts"][0]["id"]
    case = r.json()["case"]
    r = await _part(hub, op, case, part, "fly")
    assert r.status_code == 422
    r = await _part(hub, op, case, part, "receive", photos=["nope"])
    assert r.status_code == 422
    r = await _part(hub, op, case, part, "receive", assignee="pol1")
    assert r.status_code == 422
    r = await _part(hub, await _as(hub, "pol1"), case, part, "receive")
    assert r.status_code == 404  # not assigned yet: not theirs to see


async def test_pending_filter_and_own_reports(hub: RunningHub) -> None:
    op = await hub.auth("operator")
    worker = await hub.auth("worker")
    case = await _dispatched(hub, op)
    await _dispatched(hub, op)
    await _step(hub, worker, case, "request_extension", extension="2 working_days")
    r = await hub.client.get("/api/cases", params={"pending": "extension"}, headers=op)
    assert [c["id"] for c in r.json()["items"]] == [case["id"]] and r.json()["total"] == 1
    r = await hub.client.get("/api/cases", params={"pending": "return"}, headers=op)
    assert r.json()["total"] == 0
    r = await hub.client.get("/api/cases", params={"pending": "x"}, headers=op)
    assert r.status_code == 422
    # A patrol report (随手拍) by a police worker: theirs to see, not to touch.
    pol1 = await _as(hub, "pol1")
    r = await hub.client.post(
        "/api/reports",
        json={"category": "02.01", "title": "路面破损", "position": [119.95, 31.85]},
        headers=pol1,
    )
    assert r.status_code == 201, r.text
    mine = r.json()
    assert (await hub.client.get(f"/api/cases/{mine['id']}", headers=pol1)).status_code == 200
    listed = (await hub.client.get("/api/cases", headers=pol1)).json()
    assert [c["id"] for c in listed["items"]] == [mine["id"]]
    r = await hub.client.post(
        f"/api/cases/{mine['id']}/actions",
        json={"action": "receive", "version": mine["version"]},
        headers=pol1,
    )
    assert r.status_code in (403, 409)
