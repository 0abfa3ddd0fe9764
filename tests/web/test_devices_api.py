"""The device API against a hub with its embedded Mosquitto: provision, ingest, read back."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from web_helpers import DEVICES_YAML, SITE_YAML, RunningHub, make_settings, run_hub_with_users

PASSWORDS = {"admin": "admin-pass-1", "operator": "operator-pass-1", "worker": "worker-pass-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def dhub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    settings = make_settings(
        tmp_path,
        mqtt_ingest=True,
        mqtt_embedded_port=_free_port(),
        mqtt_password="hub-api-test-password",
    )
    settings.site.write_text(SITE_YAML + DEVICES_YAML, encoding="utf-8")
    async with run_hub_with_users(settings) as h:
        yield h


def _publish(port: int, device_id: str, password: str, docs: list[bytes]) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
    c.username_pw_set(device_id, password)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        for d in docs:
            info = c.publish(f"hub/v1/devices/{device_id}/telemetry", d, qos=1)
            info.wait_for_publish(5)
            assert info.is_published()
    finally:
        c.disconnect()
        c.loop_stop()


async def test_provision_ingest_and_read_back(dhub: RunningHub) -> None:
    admin = await dhub.auth("admin")
    operator = await dhub.auth("operator")
    body = {
        "id": "wl-002",
        "name": "三井桥水位",
        "profile": "gauge",
        "grid": "g2",
        "position": [120.05, 31.85],
    }
    assert (await dhub.client.post("/api/devices", json=body, headers=operator)).status_code == 403
    r = await dhub.client.post("/api/devices", json=body, headers=admin)
    assert r.status_code == 201, r.text
    creds = r.json()["mqtt"]
    assert creds["username"] == "wl-002" and len(creds["password"]) >= 16
    assert (await dhub.client.post("/api/devices", json=body, headers=admin)).status_code == 409

    now = time.time()
    docs = [
        orjson.dumps({"ts": now - 10 + i, "seq": i, "values": {"level": i / 2}}) for i in range(10)
    ]
    docs.append(b'{"values": {"level": 55}}')  # outside the physical range
    await asyncio.to_thread(
        _publish, dhub.settings.mqtt_embedded_port, "wl-002", creds["password"], docs
    )
    for _ in range(200):
        r = await dhub.client.get("/api/devices/wl-002", headers=operator)
        if r.json()["last_values"].get("level") == 4.5:
            break
        await asyncio.sleep(0.05)
    dev = r.json()
    assert dev["state"] == "online" and dev["grid"] == "g2" and dev["source"] == "api"

    r = await dhub.client.get("/api/devices", headers=operator)
    assert [d["id"] for d in r.json()] == ["wl-001", "wl-002"]
    assert r.json()[0]["state"] == "unknown"
    r = await dhub.client.get("/api/devices", params={"grid": "g1"}, headers=operator)
    assert [d["id"] for d in r.json()] == ["wl-001"]

    r = await dhub.client.get(
        "/api/devices/wl-002/telemetry", params={"key": "level"}, headers=operator
    )
    series = r.json()
    assert series["resolution"] == "raw"
    assert [p["value"] for p in series["points"]] == [i / 2 for i in range(10)]
    r = await dhub.client.get(
        "/api/devices/wl-002/telemetry",
        params={"key": "level", "max_points": 2, "since": "2000-01-01T00:00:00Z"},
        headers=operator,
    )
    assert r.status_code == 200 and len(r.json()["points"]) <= 2
    r = await dhub.client.get(
        "/api/devices/wl-002/telemetry", params={"key": "nope"}, headers=operator
    )
    assert r.status_code == 404

    for _ in range(100):
        r = await dhub.client.get(
            "/api/devices/dead-letters", params={"reason": "out_of_range"}, headers=operator
        )
        if r.json()["items"]:
            break
        await asyncio.sleep(0.05)
    page = r.json()
    assert page["items"][0]["device_id"] == "wl-002"
    assert page["rejected_since_start"] == {"out_of_range": 1}
    r = await dhub.client.get(
        "/api/devices/dead-letters", params={"reason": "nonsense"}, headers=operator
    )
    assert r.status_code == 422

    assert (await dhub.client.delete("/api/devices/wl-001", headers=admin)).status_code == 409
    assert (await dhub.client.delete("/api/devices/wl-002", headers=admin)).status_code == 204
    assert (await dhub.client.get("/api/devices/wl-002", headers=operator)).status_code == 404
    svc = dhub.state.devices
    assert svc is not None and svc.broker is not None and svc.broker.accounts is not None
    assert not svc.broker.accounts.has_device("wl-002")  # its MQTT account is gone too


async def test_device_routes_need_a_token(dhub: RunningHub) -> None:
    for method, path in [
        ("GET", "/api/devices"),
        ("GET", "/api/devices/wl-001"),
        ("GET", "/api/devices/wl-001/telemetry?key=level"),
        ("GET", "/api/devices/dead-letters"),
        ("POST", "/api/devices"),
        ("DELETE", "/api/devices/wl-001"),
    ]:
        r = await dhub.client.request(method, path)
        assert r.status_code == 401, (method, path)
    worker = await dhub.auth("worker")
    assert (await dhub.client.get("/api/devices", headers=worker)).status_code == 403
