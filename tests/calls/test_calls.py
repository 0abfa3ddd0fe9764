"""Dispatch calls against the real hub: an operator and field workers as aiortc participants
(synthetic video and a tone), a street camera shared into the call, a network loss, the end;
the call token's scope; bad offers; abandoned connections reaped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from video.media_helpers import make_clip
from video.whip_helpers import Resources, WhipHub, run_whip_hub, track_peers

from hub.bus.contracts import CALLS, CallChange
from simulators.calls.media import CardTrack, ToneTrack
from simulators.calls.participant import CallError, Participant

pytestmark = pytest.mark.integration


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[WhipHub]:
    clip = make_clip(tmp_path / "street.mp4", seconds=4, fps=15, gop=15)
    street = {
        "id": "cam-street",
        "name": "街口 Street",
        "url": str(clip),
        "grid": "g1",
        "position": [119.95, 31.85],
        "tampering": False,
    }
    # Offers are rate-limited per participant; the resource test sends 200 on purpose.
    async with run_whip_hub(
        tmp_path,
        [street],
        call_connect_seconds=2.0,
        call_rejoin_seconds=20.0,
        offers_per_minute=1000,
    ) as h:
        yield h


async def _until(cond: Callable[[], bool], seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if cond():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def _person(hub: WhipHub, username: str) -> Participant:
    return Participant(hub.client, await hub.token(username), username)


async def _start(hub: WhipHub, invite: list[str]) -> dict[str, Any]:
    r = await hub.client.post(
        "/api/calls", json={"invite": invite}, headers=await hub.auth("operator")
    )
    assert r.status_code == 201, r.text
    call: dict[str, Any] = r.json()
    return call


async def _both_publish(call: dict[str, Any], op: Participant, w1: Participant) -> None:
    """Both join and send a test card and a tone (440 Hz from the operator, 660 Hz back)."""
    await op.join(call["id"])
    await w1.join(call["id"])
    await op.publish(CardTrack(label=1), ToneTrack(440))
    await w1.publish(CardTrack(label=2), ToneTrack(660))


async def test_operator_and_worker_see_and_hear_each_other_and_a_shared_camera(
    hub: WhipHub,
) -> None:
    changes = hub.bus.subscribe(CALLS)
    call = await _start(hub, ["w1"])
    created: CallChange = (await asyncio.wait_for(changes.get(), 5)).data
    assert created.action == "created" and set(created.notify) == {"operator", "w1"}
    assert call["state"] == "ringing"

    op, w1 = await _person(hub, "operator"), await _person(hub, "w1")
    try:
        await _both_publish(call, op, w1)
        await op.subscribe_all()
        await w1.subscribe_all()
        assert (await op.refresh())["state"] == "active"

        def both_ways() -> bool:
            got = [*op.received.values(), *w1.received.values()]
            return len(got) == 2 and all(
                g.video_frames >= 10 and g.audio_frames >= 25 and g.audio_peak > 0.05 for g in got
            )

        await _until(both_ways, 20)

        # The operator shares the street camera: the worker receives it, as H.264.
        r = await hub.client.post(
            f"/api/calls/{call['id']}/feeds",
            json={"camera_id": "cam-street"},
            headers=await hub.auth("operator"),
        )
        assert r.status_code == 201, r.text
        feed = next(s for s in r.json()["streams"] if s["owner"] == "cam-street")
        assert feed["kind"] == "camera" and feed["video"] == "H264" and feed["audio"] is None
        got = await w1.subscribe(feed)
        await _until(lambda: got.video_frames >= 10, 20)
        assert got.last_size == (320, 180)

        # The worker hangs up: the operator stays; when they leave too, the call ends and
        # every token of it dies.
        await w1.leave()
        r = await hub.client.get(f"/api/calls/{call['id']}", headers=await hub.auth("operator"))
        assert [p["state"] for p in r.json()["participants"]] == ["joined", "left"]
        await op.leave()
        r = await hub.client.get(f"/api/calls/{call['id']}", headers=await hub.auth("operator"))
        assert r.json()["state"] == "ended" and r.json()["end_reason"] == "everyone left"
        assert hub.state.calls is not None and hub.state.calls.open_peers() == 0
        with pytest.raises(CallError) as exc:
            await w1.publish()
        assert exc.value.status == 401
    finally:
        await op.close_media()
        await w1.close_media()


async def test_a_network_loss_of_five_seconds_does_not_end_the_call(hub: WhipHub) -> None:
    call = await _start(hub, ["w1"])
    op, w1 = await _person(hub, "operator"), await _person(hub, "w1")
    try:
        for p, label in ((op, 1), (w1, 2)):
            await p.join(call["id"])
            await p.publish(CardTrack(label=label), ToneTrack())
        await op.subscribe_all()
        await w1.subscribe_all()
        await _until(lambda: op.connected() and w1.connected(), 10)
        got = next(iter(op.received.values()))
        await _until(lambda: got.video_frames >= 5, 10)

        # The worker's network goes away for 5 s: every datagram it sends or gets is lost.
        restore = _cut_network(w1)
        await asyncio.sleep(5)
        restore()
        before = got.video_frames
        # Either ICE carries on by itself (consent never expired), or the participant makes its
        # failed connections again: both keep the call and the streams.
        for _ in range(100):
            await w1.recover()
            if got.video_frames > before + 10:
                break
            await asyncio.sleep(0.2)
        assert got.video_frames > before + 10, (before, got.video_frames)
        r = await hub.client.get(f"/api/calls/{call['id']}", headers=await hub.auth("operator"))
        body = r.json()
        assert body["state"] == "active"
        assert {p["username"]: p["state"] for p in body["participants"]} == {
            "operator": "joined",
            "w1": "joined",
        }
    finally:
        await op.leave()
        await w1.leave()


def _cut_network(p: Participant) -> Callable[[], None]:
    """Drop every datagram of the participant's peer connections until the returned function
    is called (the ICE transports' sockets stop sending and receiving)."""
    patched: list[tuple[Any, Any, Any]] = []
    pcs = [p.publisher] + [s.pc for s in p.subs.values()]
    seen: set[int] = set()
    for pc in pcs:
        if pc is None:
            continue
        for t in pc.getTransceivers():
            ice = t.sender.transport.transport
            for proto in ice._connection._protocols:
                if id(proto) in seen:  # audio and video share one transport (BUNDLE)
                    continue
                seen.add(id(proto))
                transport = proto.transport
                patched.append((proto, transport.sendto, proto.datagram_received))
                transport.sendto = lambda *a, **k: None
                proto.datagram_received = lambda *a, **k: None

    def restore() -> None:
        for proto, sendto, received in patched:
            proto.transport.sendto = sendto
            proto.datagram_received = received

    return restore


async def test_the_call_token_is_scoped_and_outsiders_see_nothing(hub: WhipHub) -> None:
    call = await _start(hub, ["w1"])
    other = await _start(hub, ["w1"])
    w1 = await _person(hub, "w1")
    body = await w1.join(call["id"])
    token = body["call_token"]
    assert token not in str(await hub.client.get("/api/calls", headers=await hub.auth("w1")))
    # Not invited: the call does not exist for them.
    w2h = await hub.auth("w2")
    assert (await hub.client.get(f"/api/calls/{call['id']}", headers=w2h)).status_code == 404
    assert (await hub.client.post(f"/api/calls/{call['id']}/join", headers=w2h)).status_code == 404
    assert (await hub.client.get("/api/calls", headers=w2h)).json() == []
    # Workers do not start calls or share feeds.
    w1h = await hub.auth("w1")
    r = await hub.client.post("/api/calls", json={"invite": ["w2"]}, headers=w1h)
    assert r.status_code == 403
    r = await hub.client.post(
        f"/api/calls/{call['id']}/feeds", json={"camera_id": "cam-street"}, headers=w1h
    )
    assert r.status_code == 403
    # The call token works for this call's signalling only; the API token not at all.
    sdp = "v=0\r\n"
    call_h = {"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"}
    assert (await hub.client.get("/api/calls", headers=call_h)).status_code == 401
    r = await hub.client.post(f"/api/calls/{other['id']}/publish", content=sdp, headers=call_h)
    assert r.status_code == 401
    api_h = {**w1h, "Content-Type": "application/sdp"}
    r = await hub.client.post(f"/api/calls/{call['id']}/publish", content=sdp, headers=api_h)
    assert r.status_code == 401
    r = await hub.client.post(f"/api/calls/{call['id']}/publish", content=sdp, headers=call_h)
    assert r.status_code == 422  # the token is right; the offer carries no media
    # Declining, by someone who has joined, is refused; leaving ends the token.
    assert (
        await hub.client.post(f"/api/calls/{call['id']}/decline", headers=w1h)
    ).status_code == 409
    await w1.leave()
    r = await hub.client.post(f"/api/calls/{call['id']}/publish", content=sdp, headers=call_h)
    assert r.status_code == 401


async def test_bad_offers_are_refused_and_abandoned_connections_reaped(
    hub: WhipHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    peers = track_peers(monkeypatch)
    call = await _start(hub, ["w1"])
    w1 = await _person(hub, "w1")
    await w1.join(call["id"])
    headers = {**w1._call, "Content-Type": "application/sdp"}
    url = f"/api/calls/{call['id']}/publish"

    async def post(body: str | bytes, **h: str) -> httpx.Response:
        return await hub.client.post(url, content=body, headers={**headers, **h})

    assert (await post("v=0", **{"Content-Type": "text/plain"})).status_code == 415
    assert (await post("not sdp")).status_code == 400
    assert (
        await post("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96\r\n")
    ).status_code == 400
    assert (await post("v=0\r\n" + "a=x:" + "y" * 5000 + "\r\n")).status_code == 400

    # A real offer, whose peer then vanishes: 200 of them, publish and subscribe.
    op = await _person(hub, "operator")
    await op.join(call["id"])
    await op.publish(CardTrack(), ToneTrack())
    await op.close_media()
    stream = next(s for s in (await w1.refresh())["streams"] if s["owner"] == "operator")
    calls = hub.state.calls
    assert calls is not None
    await asyncio.sleep(0.5)
    before = Resources.now(peers)
    for i in range(100):
        pub = Participant(hub.client, "", "w1")
        pub.call_id, pub._call_token = call["id"], w1._call_token
        await pub.publish(CardTrack(), ToneTrack())
        await pub.close_media()
        await w1.subscribe(stream)
        await w1.close_media()
        if i == 0:
            assert calls.open_peers() >= 1
    del pub  # the test's own last client, not the hub's
    await _until(lambda: calls.open_peers() <= 1, 10)  # the operator's own publish may remain
    await _until(lambda: Resources.now(peers).back_from(before, fds=4, threads=2), 15)
    grown = Resources.now(peers).rss_mb - before.rss_mb
    assert grown < 48, f"resident memory grew {grown:.1f} MB over 200 reaped connections"
    body = await w1.refresh()
    assert body["state"] != "ended"


async def test_a_call_about_a_case_goes_on_its_timeline(hub: WhipHub) -> None:
    op_h = await hub.auth("operator")
    r = await hub.client.post(
        "/api/cases", json={"category": "02.01", "title": "道路塌陷", "grid_id": "g1"}, headers=op_h
    )
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    r = await hub.client.post(
        "/api/calls", json={"invite": ["w1", "w2"], "case_id": case_id}, headers=op_h
    )
    assert r.status_code == 201, r.text
    call = r.json()
    assert call["case_id"] == case_id and "案件" in call["title"]
    r = await hub.client.post("/api/calls", json={"invite": ["w1"], "case_id": 10**9}, headers=op_h)
    assert r.status_code == 404
    op, w1 = await _person(hub, "operator"), await _person(hub, "w1")
    await op.join(call["id"])
    await w1.join(call["id"])
    r = await hub.client.post(f"/api/calls/{call['id']}/decline", headers=await hub.auth("w2"))
    assert r.status_code == 200
    r = await hub.client.post(
        f"/api/calls/{call['id']}/feeds", json={"camera_id": "cam-street"}, headers=op_h
    )
    assert r.status_code == 201
    r = await hub.client.post(f"/api/calls/{call['id']}/end", headers=await hub.auth("w1"))
    assert r.status_code == 403  # a worker hangs up; only the center ends it for everyone
    r = await hub.client.post(f"/api/calls/{call['id']}/end", headers=op_h)
    assert r.status_code == 200 and r.json()["end_reason"] == "ended"

    wanted = ["call_started", "call_joined", "call_joined", "call_declined", "call_feed_shared",
              "call_ended"]  # fmt: skip

    async def timeline() -> list[dict[str, Any]]:
        # The shared camera's recording may or may not have reached a keyframe: not asked here.
        r = await hub.client.get(f"/api/cases/{case_id}", headers=op_h)
        return [e for e in r.json()["timeline"]
                if e["action"].startswith("call_") and e["action"] != "call_recorded"]  # fmt: skip

    for _ in range(50):
        entries = await timeline()
        if len(entries) >= len(wanted):
            break
        await asyncio.sleep(0.1)
    assert [e["action"] for e in entries] == wanted
    assert entries[1]["actor"] == "operator" and entries[2]["actor"] == "w1"
    assert entries[2]["role"] == "worker"
    assert entries[-1]["detail"]["participants"] == ["operator", "w1"]
    assert all(e["detail"]["call_id"] == call["id"] for e in entries)


async def test_a_call_about_a_case_is_recorded_and_attached_to_it(hub: WhipHub) -> None:
    """Each stream (the operator, the worker, the shared camera) becomes a file on the case;
    the files play with both tracks in step; workers who may not see the case get 404."""
    op_h = await hub.auth("operator")
    r = await hub.client.post(
        "/api/cases", json={"category": "02.01", "title": "井盖缺失", "grid_id": "g1"}, headers=op_h
    )
    case_id = r.json()["id"]
    r = await hub.client.post(
        "/api/calls", json={"invite": ["w1"], "case_id": case_id}, headers=op_h
    )
    call = r.json()
    op, w1 = await _person(hub, "operator"), await _person(hub, "w1")
    try:
        await _both_publish(call, op, w1)
        r = await hub.client.post(
            f"/api/calls/{call['id']}/feeds", json={"camera_id": "cam-street"}, headers=op_h
        )
        assert r.status_code == 201
        await w1.subscribe_all()
        await _until(lambda: sum(g.video_frames for g in w1.received.values()) >= 60, 20)
        await asyncio.sleep(2.0)
        r = await hub.client.post(f"/api/calls/{call['id']}/end", headers=op_h)
        assert r.status_code == 200
    finally:
        await op.close_media()
        await w1.close_media()

    async def recordings() -> list[dict[str, Any]]:
        r = await hub.client.get(f"/api/cases/{case_id}", headers=op_h)
        return [e for e in r.json()["evidence"] if e["kind"] == "recording"]

    for _ in range(100):
        found = await recordings()
        if found:
            break
        await asyncio.sleep(0.1)
    assert sorted(e["detail"]["owner"] for e in found) == ["cam-street", "operator", "w1"]
    r = await hub.client.get(f"/api/cases/{case_id}", headers=op_h)
    case = r.json()
    assert case["evidence_count"] == len(case["evidence"])
    [entry] = [e for e in case["timeline"] if e["action"] == "call_recorded"]
    assert sorted(entry["detail"]["recordings"]) == sorted(e["ref"] for e in found)

    for e in found:
        d = e["detail"]
        assert d["call_id"] == call["id"] and d["container"] == "mp4" and d["seconds"] > 1.5
        url = f"/api/recordings/{e['ref']}"
        r = await hub.client.get(url, headers=op_h)
        assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
        assert len(r.content) == d["bytes"]
        path = hub.settings.data_dir.parent / "recording.mp4"
        path.write_bytes(r.content)
        import shutil

        shutil.copy(path, f"/tmp/rec-{d['owner']}.mp4")
        got = _probe(path)
        assert got["video"] >= 15, (d["owner"], got)
        if d["kind"] == "person":
            # 20 ms Opus frames over the same span as the video: the tracks are in step.
            assert got["audio"] >= 50, (d["owner"], got)
            assert abs(got["audio_end"] - got["video_end"]) < 1.0, got
        r = await hub.client.get(url, headers={**op_h, "Range": "bytes=0-99"})
        assert r.status_code == 206 and len(r.content) == 100
        r = await hub.client.get(url, headers=await hub.auth("w2"))
        assert r.status_code == 404  # not their case
    r = await hub.client.get("/api/recordings/" + "0" * 32, headers=op_h)
    assert r.status_code == 404
    r = await hub.client.get("/api/recordings/..%2f..%2fhub.db", headers=op_h)
    assert r.status_code in (404, 422)


def _probe(path: Path) -> dict[str, Any]:
    import av

    got: dict[str, Any] = {"video": 0, "audio": 0, "video_end": 0.0, "audio_end": 0.0}
    with av.open(str(path)) as c:
        for frame in c.decode(*c.streams):
            kind = "video" if isinstance(frame, av.VideoFrame) else "audio"
            got[kind] += 1
            got[f"{kind}_end"] = max(got[f"{kind}_end"], float(frame.pts * frame.time_base))
    return got


async def test_a_participant_flooding_offers_gets_429(tmp_path: Path) -> None:
    async with run_whip_hub(tmp_path, offers_per_minute=2) as hub:
        call = await _start(hub, ["w1"])
        w1 = await _person(hub, "w1")
        await w1.join(call["id"])
        h = {**w1._call, "Content-Type": "application/sdp"}
        url = f"/api/calls/{call['id']}/publish"
        codes = [(await hub.client.post(url, content="v=0", headers=h)).status_code
                 for _ in range(3)]  # fmt: skip
        assert codes == [422, 422, 429]
        # Another participant is not held back by this one.
        op = await _person(hub, "operator")
        await op.join(call["id"])
        op_h = {**op._call, "Content-Type": "application/sdp"}
        r = await hub.client.post(url, content="v=0", headers=op_h)
        assert r.status_code == 422


async def test_a_user_whose_sessions_end_leaves_the_call(hub: WhipHub) -> None:
    call = await _start(hub, ["w1", "w2"])
    w1, op = await _person(hub, "w1"), await _person(hub, "operator")
    await w1.join(call["id"])
    await op.join(call["id"])
    r = await hub.client.post("/api/auth/logout", headers=w1._user)
    assert r.status_code == 204
    body = await op.refresh()
    assert {p["username"]: p["state"] for p in body["participants"]}["w1"] == "left"
    assert body["state"] != "ended"  # the operator is still in it
    h = {**w1._call, "Content-Type": "application/sdp"}
    r = await hub.client.post(f"/api/calls/{call['id']}/publish", content="v=0", headers=h)
    assert r.status_code == 401
