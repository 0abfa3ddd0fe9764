"""A drone of the demo district flying over the city in a real browser against the real hub: the
simulator's fleet publishes its video over WHIP and its telemetry on the data channel; the
operator puts it on the wall (it plays), sees its marker move on the map, and its camera's
scripted intrusion (someone on the plaza lawn) arrives as an event, placed where it flew.

This file runs after the map's and the cases' tests (pytest takes files in name order): the
drone's sightings open cases where it flies, which the map test must not find in its grid."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_api import add_user, api, token

from hub.config import load_site
from simulators.drones.fleet import DroneFleet

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
DRONE_PW = "e2e-Drone-Passw0rd!"


class _FleetThread:
    """The simulator's drone fleet on its own event loop, as the city runs it."""

    def __init__(self, fleet: DroneFleet) -> None:
        self.fleet = fleet
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="drone-fleet", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.fleet.start())
        except BaseException as exc:  # reported by the test
            self.error = exc
        self.started.set()
        self.loop.run_forever()

    def __enter__(self) -> _FleetThread:
        self.thread.start()
        assert self.started.wait(120), "the drone fleet did not start"
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc: object) -> None:
        fut = asyncio.run_coroutine_threadsafe(self.fleet.stop(), self.loop)
        with contextlib.suppress(Exception):
            fut.result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def flying(hub_server: Any) -> Iterator[str]:
    """The site's patrol drone, with its device account, in the air and publishing."""
    site = load_site(hub_server.site)
    drone = next(c for c in site.cameras if c.kind == "drone")
    add_user(hub_server, drone.id, "device", DRONE_PW)
    with _FleetThread(DroneFleet(site, hub_server.url, {drone.id: DRONE_PW})):
        yield drone.id


def test_a_drone_plays_on_the_wall_moves_on_the_map_and_raises_an_event(
    wall: Any, hub_server: Any, flying: str
) -> None:
    page, drone = wall, flying
    op = token(hub_server, hub_server.username, hub_server.password)
    item = f'li.cam[data-camera-id="{drone}"]'
    page.wait_for_selector(f'{item}[data-state="online"]', timeout=60_000)

    # On the wall: a double-click in the tree puts it on a tile, which plays its live video.
    page.dblclick(item)
    tile = f'#wall .tile[data-camera-id="{drone}"]'
    page.wait_for_selector(f'{tile}[data-live="playing"]', timeout=30_000)
    page.wait_for_function(
        """sel => { const v = document.querySelector(sel + ' video');
          return !!v && v.readyState >= 2 && v.currentTime > 1 && v.videoWidth === 640; }""",
        arg=tile,
        timeout=30_000,
    )

    # On the map: its quadcopter marker follows the telemetry (1 Hz, 8 m/s).
    page.click("#view-map")
    marker = f'g.map-drone[data-camera-id="{drone}"]'
    page.wait_for_selector(f"{marker}[data-lon]", timeout=30_000)
    first = (page.get_attribute(marker, "data-lon"), page.get_attribute(marker, "data-lat"))
    page.wait_for_function(
        """([sel, lon, lat]) => { const m = document.querySelector(sel);
          return !!m && (m.dataset.lon !== lon || m.dataset.lat !== lat); }""",
        arg=[marker, first[0], first[1]],
        timeout=20_000,
    )
    assert page.get_attribute(marker, "data-state") == "online"

    # The scripted intrusion in its video (the plaza lawn) arrives in the event list, and the
    # stored event is placed where the drone was.
    page.click("#view-wall")
    page.wait_for_selector(
        f'#event-list li.event[data-camera-id="{drone}"][data-type="intrusion"]', timeout=90_000
    )
    deadline = time.monotonic() + 30
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not events:
        page_ = api(hub_server, "GET", f"/api/events?camera_id={drone}&type=intrusion", op)
        events = page_["items"]
        time.sleep(0.5)
    assert events and events[0]["position"] is not None
    page.screenshot(path=str(ARTIFACTS / "drone-on-wall.png"))


WHIP_PUBLISH = """async ([url, token]) => {
  const stream = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 360}});
  const pc = new RTCPeerConnection();
  const tr = pc.addTransceiver(stream.getVideoTracks()[0], {direction: "sendonly"});
  tr.setCodecPreferences(RTCRtpSender.getCapabilities("video").codecs
    .filter(c => c.mimeType === "video/H264"));
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(done => {
    if (pc.iceGatheringState === "complete") return done();
    pc.addEventListener("icegatheringstatechange",
      () => pc.iceGatheringState === "complete" && done());
  });
  const res = await fetch(url, {method: "POST", body: pc.localDescription.sdp,
    headers: {"Content-Type": "application/sdp", "Authorization": "Bearer " + token}});
  if (res.status !== 201) return {status: res.status, text: await res.text()};
  await pc.setRemoteDescription({type: "answer", sdp: await res.text()});
  window.__whip = {pc, location: res.headers.get("Location")};
  return {status: res.status, location: window.__whip.location};
}"""


def test_chromium_publishes_over_whip_as_a_drone(hub_server: Any, browser: Any) -> None:
    """Another WHIP client than our simulator's aiortc: Chromium's own WebRTC stack and H.264
    encoder, publishing a (fake) camera as the drone, as a ground station's browser would."""
    from e2e_page import CHROMIUM, CHROMIUM_ARGS

    site = load_site(hub_server.site)
    drone = next(c for c in site.cameras if c.kind == "drone")
    add_user(hub_server, drone.id, "device", DRONE_PW)
    device = token(hub_server, drone.id, DRONE_PW)
    op = token(hub_server, hub_server.username, hub_server.password)
    fake = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    # Another Chromium of the session's Playwright, with a fake camera.
    camera = browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + fake)
    try:
        page = camera.new_context().new_page()
        page.goto(hub_server.url + "/api/health")
        got = page.evaluate(WHIP_PUBLISH, [f"/api/whip/{drone.id}", device])
        assert got["status"] == 201, got
        assert got["location"].startswith(f"/api/whip/{drone.id}/")
        deadline = time.monotonic() + 30
        health: dict[str, Any] = {}
        while time.monotonic() < deadline:
            cams = api(hub_server, "GET", "/api/cameras", op)
            health = next(c for c in cams if c["id"] == drone.id)["health"] or {}
            if health.get("state") == "online" and health.get("fps_analysed", 0) > 0:
                break
            time.sleep(0.5)
        assert health.get("state") == "online", health
        assert (health.get("width"), health.get("height")) == (640, 360), health
        status = page.evaluate(
            """async token => (await fetch(window.__whip.location,
                {method: "DELETE", headers: {"Authorization": "Bearer " + token}})).status""",
            device,
        )
        assert status == 200
    finally:
        camera.close()
