"""The wall's device layer in a real browser: device tab, device page with its chart, and an
alarm raised by a real MQTT publish popping its linked camera onto the wall."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SMOKE_CRITICAL = 12.0  # the smoke profile raises "critical" at >= 8 %/m


def _token(hub: Any) -> str:
    body = urllib.parse.urlencode(
        {"username": hub.username, "password": hub.password, "grant_type": "password"}
    ).encode()
    with urllib.request.urlopen(f"{hub.url}/api/auth/token", data=body, timeout=10) as r:
        token: str = json.load(r)["access_token"]
    return token


def _get(hub: Any, path: str) -> Any:
    req = urllib.request.Request(
        f"{hub.url}{path}", headers={"Authorization": f"Bearer {_token(hub)}"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def _status(hub: Any, path: str) -> int:
    try:
        _get(hub, path)
    except urllib.error.HTTPError as e:
        return e.code
    return 200


def _password(hub: Any, device_id: str) -> str:
    for line in (hub.data_dir / "device-credentials.txt").read_text(encoding="utf-8").splitlines():
        name, _, pw = line.partition(":")
        if name == device_id:
            return str(pw)
    raise AssertionError(f"no credentials for {device_id}")


def _publish(hub: Any, device_id: str, readings: list[dict[str, Any]]) -> None:
    """Publish telemetry as the device itself (its own account), QoS 1, and wait for the acks."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"e2e-{device_id}-{time.monotonic_ns()}")
    c.username_pw_set(device_id, _password(hub, device_id))
    c.connect("127.0.0.1", hub.mqtt_port)
    c.loop_start()
    try:
        infos = [
            c.publish(f"hub/v1/devices/{device_id}/telemetry", json.dumps(r), qos=1)
            for r in readings
        ]
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()
    finally:
        c.disconnect()
        c.loop_stop()


def _smoke_device_near_a_camera(hub: Any) -> tuple[dict[str, Any], str]:
    """A smoke detector that some camera sees (the hub's own linkage rule), and that camera."""
    from hub.config import load_site
    from hub.devices.linkage import cameras_for

    cameras = load_site(hub.site).cameras
    for d in _get(hub, "/api/devices"):
        if d["kind"] != "smoke" or not d["enabled"] or not d.get("position"):
            continue
        linked = cameras_for(d["position"], cameras)
        if linked:
            return d, str(linked[0]["camera_id"])
    raise AssertionError("the demo site has a smoke detector that a camera sees")


def test_device_tab_lists_devices_with_presence(wall: Any, hub_server: Any) -> None:
    wall.click("#tab-devices")
    wall.wait_for_selector("#device-tree li.dev", state="attached")  # grids start folded
    assert wall.locator("#camera-tree").is_hidden()
    n = len(_get(hub_server, "/api/devices"))
    assert wall.locator("#device-tree li.dev").count() == n
    # The fleet connects after the hub: presence arrives with the 10 s poll.
    wall.wait_for_selector(
        '#device-tree li.dev[data-state="online"] .badge.green', state="attached", timeout=40_000
    )
    kinds = set(
        wall.eval_on_selector_all("#device-tree li.dev", "ls => ls.map(l => l.dataset.kind)")
    )
    assert {"smoke", "water_level", "gas"} <= kinds
    assert "烟感" in (wall.text_content("#device-tree") or "")

    wall.fill("#device-filter", "烟感")
    shown = wall.eval_on_selector_all("#device-tree li.dev:not([hidden])", "ls => ls.length")
    assert 0 < shown < n
    assert wall.locator("#device-tree li.dev:not([hidden])").first.is_visible()  # unfolded
    wall.click("#tab-cameras")
    assert wall.locator("#camera-tree").is_visible()


def test_device_page_shows_a_chart_with_points(wall: Any, hub_server: Any) -> None:
    device, _ = _smoke_device_near_a_camera(hub_server)
    now = time.time()
    # Values under every smoke threshold, so this test raises no alarm.
    _publish(
        hub_server,
        device["id"],
        [{"ts": now - 60 * i, "values": {"smoke": 0.2 + 0.1 * i}} for i in range(5, 0, -1)],
    )
    wall.click("#tab-devices")
    wall.fill("#device-filter", device["id"])
    wall.click(f'#device-tree li.dev[data-device-id="{device["id"]}"]')
    wall.wait_for_selector(f'#device-page[data-device-id="{device["id"]}"]')
    assert device["name"] in wall.inner_text("#device-page")
    assert wall.input_value("#device-key") == "smoke"
    wall.wait_for_function(
        "() => +(document.querySelector('#device-page svg.chart')?.dataset.points ?? 0) >= 5"
    )
    assert wall.locator("#device-page svg.chart polyline.chart-line").count() == 1
    assert "%/m" in wall.inner_text("#device-page")
    wall.click("#device-close")
    assert wall.locator("#device-page").count() == 0


def test_an_alarm_pops_its_camera_onto_the_wall(wall: Any, hub_server: Any) -> None:
    if _status(hub_server, "/api/alarms?limit=1") == 404:
        pytest.skip("the hub has no alarm API (/api/alarms returns 404)")
    device, nearest = _smoke_device_near_a_camera(hub_server)
    wall.wait_for_selector('#link-state[data-state="connected"]')
    wall.click('.layout-btn[data-layout="1"]')  # linkage must grow the layout when needed
    _publish(hub_server, device["id"], [{"ts": time.time(), "values": {"smoke": SMOKE_CRITICAL}}])

    item = f'#alarm-list li.alarm[data-device-id="{device["id"]}"]'
    wall.wait_for_selector(item, timeout=20_000)
    assert wall.locator("#alarms").is_visible(), "a new alarm brings the alarm tab forward"
    assert "紧急" in wall.inner_text(item)
    alarm_id = wall.get_attribute(item, "data-alarm-id")
    alarm = _get(hub_server, f"/api/alarms/{alarm_id}")
    assert alarm["cameras"], "the nearest smoke detector to a camera has linked cameras"
    first = alarm["cameras"][0]["camera_id"]
    assert first == nearest
    wall.wait_for_selector(f'#wall .tile[data-index="0"][data-camera-id="{first}"]:not([hidden])')
    assert wall.get_attribute("#wall", "data-layout") in ("1", "4", "1+5")
    if len(alarm["cameras"]) > 1:
        assert wall.get_attribute("#wall", "data-layout") != "1"

    # Acknowledge, then clear: the item updates in place.
    sel = f'#alarm-list li.alarm[data-alarm-id="{alarm_id}"]'
    if wall.get_attribute(sel, "data-state") == "active":
        wall.click(f"{sel} .alarm-ack")
        wall.wait_for_selector(f'{sel}[data-state="acknowledged"]')
    if wall.get_attribute(sel, "data-state") != "cleared":
        wall.click(f"{sel} .alarm-clear")
        wall.wait_for_selector(f'{sel}[data-state="cleared"]')
    assert wall.locator(sel).count() == 1
