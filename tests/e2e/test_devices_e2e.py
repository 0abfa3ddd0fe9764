"""The wall's device layer in a real browser: device tab, device page with its chart, and an
alarm raised by the sensor simulator's scripted anomaly popping its linked camera onto the wall."""

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

# Simulated seconds per wall second for the drilled detector: a report every second, as many
# as its profile allows (60 a minute) before it counts as flooding.
DRILL_SPEED = 60.0
DRILL_AFTER_S = 2.0  # wall seconds from the drill's start to its anomaly


_TOKENS: dict[str, str] = {}


def _token(hub: Any) -> str:
    # One login per hub: hashing the password costs a second on a loaded machine.
    if hub.url not in _TOKENS:
        body = urllib.parse.urlencode(
            {"username": hub.username, "password": hub.password, "grant_type": "password"}
        ).encode()
        with urllib.request.urlopen(f"{hub.url}/api/auth/token", data=body, timeout=10) as r:
            _TOKENS[hub.url] = json.load(r)["access_token"]
    return _TOKENS[hub.url]


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
    # The broker ties client ids to accounts: a device connects as itself.
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id)
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


def _nearest_camera(hub: Any, device: dict[str, Any]) -> str | None:
    """The camera the hub's own linkage rule puts first for this device, if any sees it."""
    from hub.config import load_site
    from hub.geo.coverage import cameras_for

    linked = cameras_for(device["position"], load_site(hub.site).cameras)
    return str(linked[0]["camera_id"]) if linked else None


def _smoke_device_near_a_camera(hub: Any) -> tuple[dict[str, Any], str]:
    """A smoke detector that some camera sees, and that camera."""
    for d in _get(hub, "/api/devices"):
        if d["kind"] != "smoke" or not d["enabled"] or not d.get("position"):
            continue
        nearest = _nearest_camera(hub, d)
        if nearest:
            return d, nearest
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


def test_a_simulated_smoke_alarm_pops_its_camera_onto_the_wall(
    wall: Any, hub_server: Any, sensor_drill: Any
) -> None:
    assert _status(hub_server, "/api/alarms?limit=1") == 200
    device_id = hub_server.drill_device
    device = next(d for d in _get(hub_server, "/api/devices") if d["id"] == device_id)
    nearest = _nearest_camera(hub_server, device)
    wall.wait_for_selector('#link-state[data-state="connected"]')
    wall.click('.layout-btn[data-layout="1"]')  # linkage must grow the layout when needed
    # The simulator's own scripted anomaly, 2 s (wall) after its fleet starts: the spike passes
    # the critical 8 %/m about a simulated minute (1 s here) later.
    sensor_drill.start(
        f"smoke_spike:{device_id}:{DRILL_AFTER_S * DRILL_SPEED:g}", speed=DRILL_SPEED
    )

    # Critical only: the spike may cross "major" first, and the alarm escalates in place.
    item = f'#alarm-list li.alarm[data-device-id="{device_id}"][data-severity="critical"]'
    try:
        wall.wait_for_selector(item, timeout=25_000)
    except Exception:
        pytest.fail(f"no critical alarm for {device_id}; the drill said:\n{sensor_drill.log()}")
    assert wall.locator("#alarms").is_visible(), "a new alarm brings the alarm tab forward"
    assert "紧急" in wall.inner_text(item)
    alarm_id = wall.get_attribute(item, "data-alarm-id")
    alarm = _get(hub_server, f"/api/alarms/{alarm_id}")
    truth = sensor_drill.truth_lines()
    assert [(t["device_id"], t["rule_id"], t["severity"], t["anomaly"]) for t in truth] == [
        (device_id, "smoke-high", "critical", "smoke_spike")
    ], "one ground-truth line, written when the anomaly started"
    assert (alarm["device_id"], alarm["rule_id"], alarm["severity"]) == (
        truth[0]["device_id"],
        truth[0]["rule_id"],
        truth[0]["severity"],
    )
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
