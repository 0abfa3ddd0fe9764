"""The alarms API and its WebSocket messages, against a real hub server (telemetry published on
its bus the way ingest does)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from web_helpers import PASSWORDS, SITE_YAML, RunningHub, make_settings, run_hub_with_users
from websockets.asyncio.client import connect

from hub.bus.contracts import DEVICE_TELEMETRY, DeviceTelemetry, DeviceTelemetryBatch

DEVICES_YAML = """\
device_profiles:
  - id: gauge
    name: 水位计
    kind: water_level
    telemetry:
      - {key: level, unit: m, min: 0, max: 10}
    alarm_rules:
      - id: level-high
        name: 水位过高
        key: level
        create: {critical: {op: ">=", value: 8}, warning: {op: ">=", value: 5}}
devices:
  - {id: wl-001, name: 河海桥水位, profile: gauge, grid: g1, position: [119.9505, 31.85]}
  - {id: wl-002, name: 三井桥水位, profile: gauge, grid: g2, position: [120.06, 31.86]}
"""


@pytest.fixture
async def ahub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    settings = make_settings(tmp_path)
    settings.site.write_text(SITE_YAML + DEVICES_YAML, encoding="utf-8")
    async with run_hub_with_users(settings) as h:
        yield h


async def _telemetry(h: RunningHub, device_id: str, level: float) -> None:
    await h.bus.publish(
        DEVICE_TELEMETRY,
        DeviceTelemetryBatch(
            readings=[DeviceTelemetry(device_id=device_id, ts=time.time(), values={"level": level})]
        ),
    )


async def _wait_alarms(h: RunningHub, headers: dict[str, str], n: int, **q: Any) -> list[Any]:
    async with asyncio.timeout(5):
        while True:
            r = await h.client.get("/api/alarms", params=q, headers=headers)
            assert r.status_code == 200, r.text
            items: list[Any] = r.json()["items"]
            if len(items) >= n:
                return items
            await asyncio.sleep(0.02)


async def test_alarm_lifecycle_over_the_api(ahub: RunningHub) -> None:
    op = await ahub.auth("operator")
    sup = await ahub.auth("supervisor")
    await _telemetry(ahub, "wl-001", 6.0)
    (a,) = await _wait_alarms(ahub, sup, 1, state="active")
    assert {
        "id", "device_id", "device_name", "profile", "grid_id", "rule_id", "rule_name",
        "severity", "state", "created_at", "updated_at", "acknowledged_at", "cleared_at",
        "count", "value", "key", "position", "assignee", "cameras",
    } <= set(a)  # fmt: skip
    assert (a["device_name"], a["rule_name"], a["severity"]) == (
        "河海桥水位",
        "水位过高",
        "warning",
    )
    assert a["position"] == [119.9505, 31.85] and a["value"] == 6.0 and a["key"] == "level"
    # cam-a is ~50 m west of the gauge and faces east; cam-b is kilometres away.
    assert [c["camera_id"] for c in a["cameras"]] == ["cam-a"]
    assert a["cameras"][0]["camera_name"] == "河海路口"

    r = await ahub.client.post(f"/api/alarms/{a['id']}/ack", headers=sup)
    assert r.status_code == 403
    r = await ahub.client.post(f"/api/alarms/{a['id']}/ack", headers=op)
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    r = await ahub.client.post(
        f"/api/alarms/{a['id']}/assign", json={"assignee": "nobody"}, headers=op
    )
    assert r.status_code == 404
    r = await ahub.client.post(
        f"/api/alarms/{a['id']}/assign", json={"assignee": "worker"}, headers=op
    )
    assert r.status_code == 200 and r.json()["assignee"] == "worker"
    assert (await _wait_alarms(ahub, sup, 1, state="open"))[0]["id"] == a["id"]
    r = await ahub.client.post(f"/api/alarms/{a['id']}/clear", headers=op)
    assert r.status_code == 200 and r.json()["state"] == "cleared"

    r = await ahub.client.get(f"/api/alarms/{a['id']}", headers=sup)
    assert r.status_code == 200
    tl = r.json()["timeline"]
    assert [(c["action"], c["actor"]) for c in tl] == [
        ("created", "system"),
        ("acked", "operator"),
        ("assigned", "operator"),
        ("cleared", "operator"),
    ]
    assert (await ahub.client.get("/api/alarms/999", headers=sup)).status_code == 404
    r = await ahub.client.get("/api/alarms", params={"state": "open"}, headers=sup)
    assert r.json() == {"items": [], "next_before_id": None}


async def test_listing_filters_and_pages(ahub: RunningHub) -> None:
    sup = await ahub.auth("supervisor")
    await _telemetry(ahub, "wl-001", 9.0)
    await _telemetry(ahub, "wl-002", 5.0)
    items = await _wait_alarms(ahub, sup, 2)
    assert [i["device_id"] for i in items] == ["wl-002", "wl-001"]
    r = await ahub.client.get("/api/alarms", params={"severity": "critical"}, headers=sup)
    assert [i["device_id"] for i in r.json()["items"]] == ["wl-001"]
    r = await ahub.client.get("/api/alarms", params={"device_id": "wl-002"}, headers=sup)
    assert [i["device_id"] for i in r.json()["items"]] == ["wl-002"]
    page1 = (await ahub.client.get("/api/alarms", params={"limit": 1}, headers=sup)).json()
    assert len(page1["items"]) == 1 and page1["next_before_id"] == page1["items"][0]["id"]
    page2 = (
        await ahub.client.get(
            "/api/alarms", params={"limit": 1, "before_id": page1["next_before_id"]}, headers=sup
        )
    ).json()
    assert [i["device_id"] for i in page2["items"]] == ["wl-001"]
    assert page2["next_before_id"] is None
    r = await ahub.client.get("/api/alarms", params={"state": "bogus"}, headers=sup)
    assert r.status_code == 422


async def test_alarm_routes_need_a_token_and_a_wall_role(ahub: RunningHub) -> None:
    worker = await ahub.auth("worker")
    for method, path in [
        ("GET", "/api/alarms"),
        ("GET", "/api/alarms/1"),
        ("POST", "/api/alarms/1/ack"),
        ("POST", "/api/alarms/1/clear"),
    ]:
        assert (await ahub.client.request(method, path)).status_code == 401
        assert (await ahub.client.request(method, path, headers=worker)).status_code == 403


async def test_alarm_changes_reach_the_websocket(ahub: RunningHub) -> None:
    token = await ahub.login("operator", PASSWORDS["operator"])
    async with connect(f"{ahub.ws_url}/api/ws?access_token={token}") as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        await _telemetry(ahub, "wl-001", 8.5)

        async def next_alarm() -> dict[str, Any]:
            async with asyncio.timeout(5):
                while True:
                    msg = json.loads(await ws.recv())
                    if msg["type"] == "alarm":
                        data: dict[str, Any] = msg["data"]
                        return data

        a = await next_alarm()
        assert (a["device_id"], a["severity"], a["state"]) == ("wl-001", "critical", "active")
        assert a["cameras"][0]["camera_id"] == "cam-a"
        h = {"Authorization": f"Bearer {token}"}
        await ahub.client.post(f"/api/alarms/{a['id']}/ack", headers=h)
        b = await next_alarm()
        assert (b["id"], b["state"]) == (a["id"], "acknowledged")
