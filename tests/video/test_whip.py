"""WHIP ingest against the real hub: a simulated drone (aiortc, pre-encoded H.264 sent as is)
publishes; the hub answers, analyses, serves it live, ends it; bad input and other units'
tokens are refused."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from aiortc import RTCPeerConnection
from whip_helpers import Resources, WhipHub, run_whip_hub, track_peers, video_loop

from hub.bus.contracts import DETECTIONS, UNIT_POSITIONS, DetectionEvent
from simulators.drones.flight import Flight
from simulators.drones.publisher import WhipPublisher
from simulators.drones.track import LoopTrack

pytestmark = pytest.mark.integration


@pytest.fixture
async def hub(tmp_path: Path) -> WhipHub:  # type: ignore[misc]
    # Offers are rate-limited per unit; the resource test below sends 100 a unit on purpose.
    async with run_whip_hub(
        tmp_path, whip_connect_seconds=2.0, whip_idle_seconds=3.0, offers_per_minute=1000
    ) as h:
        yield h


def _health(hub: WhipHub, camera_id: str) -> dict[str, object]:
    return next(h for h in hub.video.health() if h.camera_id == camera_id).model_dump()


async def _until(cond, seconds: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.1)):
        if cond():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_drone_publishes_is_analysed_live_and_ends(hub: WhipHub) -> None:
    sub = hub.bus.subscribe(DETECTIONS)
    assert _health(hub, "drone-1")["state"] == "offline"
    assert _health(hub, "drone-1")["last_error"] == "not publishing"

    # It took off in g1 (its configured grid) and flies over g2 now.
    pub = WhipPublisher(
        hub.client,
        "drone-1",
        "drone-1-pass",
        video_loop(),
        flight=Flight([(119.92, 31.88), (119.93, 31.88)]),
    )
    await pub.publish()
    await _until(pub.send_telemetry, 10)
    assert pub.location is not None and pub.location.startswith("/api/whip/drone-1/")
    assert pub.pc is not None
    answer = pub.pc.remoteDescription.sdp
    assert "H264" in answer and "VP8" not in answer
    await _until(lambda: _health(hub, "drone-1")["state"] == "online")
    h = _health(hub, "drone-1")
    assert (h["width"], h["height"]) == (640, 360)

    live = hub.video.subscribe_live("drone-1")
    mime, init = await asyncio.wait_for(live.init(), 15)
    assert mime.startswith('video/mp4; codecs="avc1.') and init[4:8] == b"ftyp"
    segment = await asyncio.wait_for(live.next(), 10)
    assert b"moof" in segment[:64]
    live.close()

    # The plaza scene's first intrusion (lawn) is 2.6 s into the loop.
    async def intrusion() -> DetectionEvent:
        while True:
            ev: DetectionEvent = (await sub.get()).data
            if ev.type == "intrusion" and ev.camera_id == "drone-1":
                return ev

    ev = await asyncio.wait_for(intrusion(), 20)
    assert ev.zone_id == "lawn"
    # Placed where the drone was when it saw it, not where it took off.
    assert ev.grid_id == "g2" and ev.position is not None
    assert abs(ev.position[0] - 119.92) < 0.01 and abs(ev.position[1] - 31.88) < 1e-6
    op_h = await hub.auth("operator")
    for _ in range(50):  # stored a moment after it is announced
        r = await hub.client.get(f"/api/events/{ev.id}", headers=op_h)
        if r.status_code == 200:
            break
        await asyncio.sleep(0.1)
    assert r.status_code == 200 and r.json()["grid_id"] == "g2"
    assert r.json()["position"] == ev.position

    # Telemetry on the data channel moves the unit and is kept as its track.
    positions = hub.bus.subscribe(UNIT_POSITIONS)
    assert pub.send_telemetry()
    first = (await asyncio.wait_for(positions.get(), 5)).data
    assert first.unit_id == "drone-1" and first.alt_m == 60
    assert pub._channel is not None
    pub._channel.send('{"lon": 999, "lat": 0}')  # refused, the session goes on
    await asyncio.sleep(0.3)
    assert pub.send_telemetry(time.time() + 30)
    second = (await asyncio.wait_for(positions.get(), 5)).data
    assert second.lon > first.lon  # 30 s on, eastwards at 8 m/s
    op = await hub.auth("operator")
    r = await hub.client.get("/api/units", headers=op)
    assert r.status_code == 200 and r.json()[0]["lon"] == second.lon
    span = {
        "since": (first.ts - timedelta(seconds=1)).isoformat(),
        "until": (second.ts + timedelta(seconds=1)).isoformat(),
    }
    r = await hub.client.get("/api/units/drone-1/track", params=span, headers=op)
    assert [p["lon"] for p in r.json()] == [first.lon, second.lon]
    r = await hub.client.get("/api/units", headers=await hub.auth("drone-2"))
    assert r.status_code == 403

    await pub.unpublish()
    await _until(lambda: len(hub.state.whip or ()) == 0, 5)
    await _until(lambda: _health(hub, "drone-1")["last_error"] == "not publishing", 5)


async def test_a_new_offer_from_the_same_unit_replaces_its_session(hub: WhipHub) -> None:
    first = WhipPublisher(hub.client, "drone-1", "drone-1-pass", video_loop())
    await first.publish()
    await _until(lambda: _health(hub, "drone-1")["state"] == "online")
    second = WhipPublisher(hub.client, "drone-1", "drone-1-pass", video_loop())
    await second.publish()
    assert len(hub.state.whip or ()) == 1
    await _until(lambda: _health(hub, "drone-1")["state"] == "online")
    assert _health(hub, "drone-1")["reconnects"] == 1
    # The replaced session is gone: its DELETE is a 404, the current one's a 200.
    r = await hub.client.delete(first.location or "", headers=await hub.auth("drone-1"))
    assert r.status_code == 404
    await second.unpublish()
    if first.pc is not None:
        await first.pc.close()


async def _offer() -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection()
    pc.addTransceiver(LoopTrack(video_loop()), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def _post(
    hub: WhipHub, unit: str, sdp: str | bytes, headers: dict[str, str]
) -> httpx.Response:
    return await hub.client.post(
        f"/api/whip/{unit}", content=sdp, headers={"Content-Type": "application/sdp", **headers}
    )


async def test_only_the_unit_itself_may_publish_or_end(hub: WhipHub) -> None:
    pc, sdp = await _offer()
    try:
        r = await hub.client.post(
            "/api/whip/drone-1", content=sdp, headers={"Content-Type": "application/sdp"}
        )
        assert r.status_code == 401
        assert (await _post(hub, "drone-1", sdp, await hub.auth("operator"))).status_code == 403
        assert (await _post(hub, "drone-1", sdp, await hub.auth("drone-2"))).status_code == 403
        mine = await hub.auth("drone-1")
        r = await _post(hub, "drone-1", sdp, mine)
        assert r.status_code == 201, r.text
        location = r.headers["location"]
        theirs = await hub.auth("drone-2")
        assert (await hub.client.delete(location, headers=theirs)).status_code == 403
        assert (await hub.client.patch(location, headers=theirs)).status_code == 403
        # Another unit's id in the path with its own session id: still 403, never a 404 leak.
        other = location.replace("drone-1", "drone-2")
        assert (await hub.client.delete(other, headers=mine)).status_code == 403
        assert len(hub.state.whip or ()) == 1
        assert (await hub.client.delete(location, headers=mine)).status_code == 200
        assert len(hub.state.whip or ()) == 0
    finally:
        await pc.close()


async def test_bad_offers_get_clear_errors_and_leave_nothing(hub: WhipHub) -> None:
    mine = await hub.auth("drone-1")
    pc, sdp = await _offer()
    try:
        r = await hub.client.post(
            "/api/whip/drone-1", content=sdp, headers={**mine, "Content-Type": "text/plain"}
        )
        assert r.status_code == 415
        assert (await _post(hub, "drone-1", "hello", mine)).status_code == 400
        assert (await _post(hub, "drone-1", b"\xff\xfe", mine)).status_code == 415
        garbage = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96\r\n"
        r = await _post(hub, "drone-1", garbage, mine)
        assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem")
        vp8_only = "\r\n".join(
            line
            for line in sdp.split("\r\n")
            if "H264" not in line and not line.startswith("a=fmtp")
        ).replace(" 97 98 99 100 101 102", " 97 98")
        r = await _post(hub, "drone-1", vp8_only, mine)
        assert r.status_code == 422, r.text
        assert "H.264" in r.json()["detail"]
        huge = sdp + "a=x-pad:" + "y" * 3000 + "\r\n"
        r = await _post(hub, "drone-1", huge * 12, mine)
        assert r.status_code in (400, 413)
        # A fixed camera is not a unit that publishes; a unit's account is not a camera.
        assert (await _post(hub, "cam-fixed", sdp, mine)).status_code == 403
        r = await _post(hub, "drone-1", sdp, mine)
        assert r.status_code == 201
        assert (await hub.client.patch(r.headers["location"], headers=mine)).status_code == 422
        r = await hub.client.delete("/api/whip/drone-1/" + "A" * 22, headers=mine)
        assert r.status_code == 404
        assert len(hub.state.whip or ()) == 1
    finally:
        await pc.close()


async def test_abandoned_sessions_are_reaped_and_release_everything(
    hub: WhipHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 offers whose peers never connect: every session is closed, ports and threads freed."""
    peers = track_peers(monkeypatch)
    pc, sdp = await _offer()
    await pc.close()  # the publisher vanishes right after offering
    tokens = {u: await hub.auth(u) for u in ("drone-1", "drone-2")}
    await asyncio.sleep(0.5)
    before = Resources.now(peers)
    for i in range(200):
        unit = "drone-1" if i % 2 else "drone-2"
        r = await _post(hub, unit, sdp, tokens[unit])
        assert r.status_code == 201, r.text
    whip = hub.state.whip
    assert whip is not None and len(whip) == 2  # each new offer replaced its unit's last one
    await _until(lambda: len(whip) == 0, 10)
    await _until(lambda: Resources.now(peers).back_from(before, fds=2, threads=1), 15)
    # Python keeps freed arenas, so memory is bounded rather than equal: 200 sessions that
    # leaked would hold their DTLS contexts, jitter buffers and threads (several MB each).
    grown = Resources.now(peers).rss_mb - before.rss_mb
    assert grown < 48, f"resident memory grew {grown:.1f} MB over 200 reaped sessions"
    assert all(_health(hub, u)["last_error"] == "not publishing" for u in tokens)


async def test_a_flood_of_offers_from_one_unit_is_refused_with_429(tmp_path: Path) -> None:
    async with run_whip_hub(tmp_path, offers_per_minute=3) as hub:
        pc, sdp = await _offer()
        try:
            mine, theirs = await hub.auth("drone-1"), await hub.auth("drone-2")
            codes = [(await _post(hub, "drone-1", sdp, mine)).status_code for _ in range(5)]
            assert codes == [201, 201, 201, 429, 429]
            r = await _post(hub, "drone-1", sdp, mine)
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
            assert r.headers["content-type"].startswith("application/problem")
            # Another unit is not held back by this one's flood; nothing was left open.
            assert (await _post(hub, "drone-2", sdp, theirs)).status_code == 201
            assert len(hub.state.whip or ()) == 2
        finally:
            await pc.close()


async def test_ending_the_units_sessions_ends_its_publishing(hub: WhipHub) -> None:
    pc, sdp = await _offer()
    try:
        mine = await hub.auth("drone-1")
        assert (await _post(hub, "drone-1", sdp, mine)).status_code == 201
        assert len(hub.state.whip or ()) == 1
        assert (await hub.client.post("/api/auth/logout", headers=mine)).status_code == 204
        assert len(hub.state.whip or ()) == 0
    finally:
        await pc.close()
