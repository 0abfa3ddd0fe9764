"""Dispatch calls: setup time, and how many 2-party calls one hub process forwards.

1. Setup: a participant joins a call and publishes (offer to ``connected``, measured by the
   client), then another subscribes to that stream (offer to ``connected``). p50 and p99 over
   ``--setups`` calls, on loopback. Target: p50 < 300 ms.
2. Forwarding: ``--calls`` 2-party calls, each party sending 640x360 15 fps H.264 (a pre-encoded
   loop, sent as is: no encoder on the client side either) and a tone (Opus), each receiving
   the other's stream without decoding it (frames are counted). The hub runs as its own
   process; its CPU time (all threads, from /proc) over ``--seconds`` gives CPU per call.
   Then the same calls about a case, which the hub also records (every stream to a file, in
   its recording thread): the CPU recording adds, and the megabytes it writes.
3. Baseline, in the same run, on the same clients and media: ``bench/reencode_relay.py``, a
   relay that decodes and re-encodes every stream (aiortc's receive and send paths), with
   ``--relay-calls`` calls. Target: forwarding carries >= 5x the calls of the relay on the same
   CPU, i.e. (relay CPU per call) / (hub CPU per call) >= 5.

Both servers must deliver >= 90 % of the frames sent for their CPU per call to count (a
saturated server would look cheap while dropping frames).

    .venv/bin/python bench/bench_calls.py [--setups 40] [--calls 6] [--relay-calls 2] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from aiortc import RTCPeerConnection, RTCSessionDescription

from hub.config import Settings
from hub.rtc.receiver_tap import tap_receiver
from hub.store.db import open_store
from simulators.calls.media import ToneTrack
from simulators.cameras.encode import load_or_encode
from simulators.drones.track import LoopTrack

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "bench-calls-password"
FPS = 15
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


SITE = {
    "site": {"name": "bench", "timezone": "Asia/Shanghai"},
    "district": {"id": "d", "name": "区", "streets": [{"id": "s", "name": "街", "communities": [
        {"id": "c", "name": "社", "grids": [{"id": "g1", "name": "格", "geometry": {
            "type": "Polygon",
            "coordinates": [[[120.0, 31.0], [120.1, 31.0], [120.1, 31.1], [120.0, 31.0]]],
        }}]}]}]},
    "cameras": [],
}  # fmt: skip


async def make_users(settings: Settings, names: list[str]) -> None:
    store = await open_store(settings)
    try:
        await store.users.create("op", "operator", PASSWORD)
        for n in names:
            await store.users.create(n, "worker", PASSWORD)
    finally:
        await store.close()


def start(cmd: list[str], env: dict[str, str], url: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=REPO)
    for _ in range(300):
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{cmd} did not start")


async def connected(pc: RTCPeerConnection, within: float = 10.0) -> None:
    t0 = time.monotonic()
    while pc.connectionState != "connected":
        if pc.connectionState in ("failed", "closed") or time.monotonic() - t0 > within:
            raise RuntimeError(f"connection {pc.connectionState}")
        await asyncio.sleep(0.002)


@dataclass
class Counter:
    video: int = 0
    audio: int = 0


@dataclass
class Leg:
    pcs: list[RTCPeerConnection] = field(default_factory=list)
    counters: list[Counter] = field(default_factory=list)
    call_ids: list[str] = field(default_factory=list)


def counting(pc: RTCPeerConnection, counter: Counter) -> None:
    """Count frames arriving on ``pc``'s receivers without decoding them."""

    @pc.on("track")
    def on_track(track: Any) -> None:
        receiver = next(t.receiver for t in pc.getTransceivers() if t.receiver.track is track)

        def sink(codec: str, data: bytes, ts: int) -> None:
            if track.kind == "video":
                counter.video += 1
            else:
                counter.audio += 1

        tap_receiver(receiver, sink)


async def offer_answer(http: httpx.AsyncClient, pc: RTCPeerConnection, url: str,
                       headers: dict[str, str]) -> None:  # fmt: skip
    await pc.setLocalDescription(await pc.createOffer())
    r = await http.post(url, content=pc.localDescription.sdp,
                        headers={**headers, "Content-Type": "application/sdp"})  # fmt: skip
    if r.status_code != 201:
        raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=r.text, type="answer"))


class HubCalls:
    """The hub's call API, as the bench's clients use it."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.tokens: dict[str, str] = {}

    async def login(self, user: str) -> dict[str, str]:
        if user not in self.tokens:
            r = await self.http.post(
                "/api/auth/token", data={"username": user, "password": PASSWORD}
            )
            self.tokens[user] = r.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    async def call(self, invite: list[str], case_id: int | None = None) -> str:
        r = await self.http.post("/api/calls", json={"invite": invite, "case_id": case_id},
                                 headers=await self.login("op"))  # fmt: skip
        return str(r.json()["id"])

    async def case(self) -> int:
        body = {"category": "02.01", "title": "bench", "grid_id": "g1"}
        r = await self.http.post("/api/cases", json=body, headers=await self.login("op"))
        return int(r.json()["id"])

    async def end(self, call_ids: list[str]) -> None:
        for call_id in call_ids:
            await self.http.post(f"/api/calls/{call_id}/end", headers=await self.login("op"))

    async def join(self, call_id: str, user: str) -> dict[str, str]:
        r = await self.http.post(f"/api/calls/{call_id}/join", headers=await self.login(user))
        return {"Authorization": f"Bearer {r.json()['call_token']}"}

    async def stream_of(self, call_id: str, owner: str) -> str:
        r = await self.http.get(f"/api/calls/{call_id}", headers=await self.login("op"))
        return next(s["id"] for s in r.json()["streams"] if s["owner"] == owner)


def sender(loop_video: Any) -> RTCPeerConnection:
    pc = RTCPeerConnection()
    pc.addTransceiver(LoopTrack(loop_video), direction="sendonly")
    pc.addTransceiver(ToneTrack(), direction="sendonly")
    return pc


def receiver(counter: Counter) -> RTCPeerConnection:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    counting(pc, counter)
    return pc


async def setups(api: HubCalls, users: list[str], video: Any) -> tuple[list[float], list[float]]:
    pub_ms: list[float] = []
    sub_ms: list[float] = []
    for user in users:
        call_id = await api.call([user])
        token = await api.join(call_id, user)
        op_token = await api.join(call_id, "op")
        pc = sender(video)
        t0 = time.perf_counter()
        await offer_answer(api.http, pc, f"/api/calls/{call_id}/publish", token)
        await connected(pc)
        pub_ms.append((time.perf_counter() - t0) * 1000)
        sid = await api.stream_of(call_id, user)
        rx = receiver(Counter())
        t0 = time.perf_counter()
        await offer_answer(api.http, rx, f"/api/calls/{call_id}/streams/{sid}/subscribe", op_token)
        await connected(rx)
        sub_ms.append((time.perf_counter() - t0) * 1000)
        await pc.close()
        await rx.close()
        await api.http.post(f"/api/calls/{call_id}/end", headers=await api.login("op"))
    return pub_ms, sub_ms


async def hub_calls(
    api: HubCalls, users: list[str], n: int, video: Any, *, record: bool = False
) -> Leg:
    """``n`` 2-party calls; with ``record`` each is about a case, so the hub records it."""
    leg = Leg()
    for i in range(n):
        a, b = users[2 * i], users[2 * i + 1]
        call_id = await api.call([a, b], await api.case() if record else None)
        leg.call_ids.append(call_id)
        tokens = {u: await api.join(call_id, u) for u in (a, b)}
        for u in (a, b):
            pc = sender(video)
            await offer_answer(api.http, pc, f"/api/calls/{call_id}/publish", tokens[u])
            leg.pcs.append(pc)
        for me, other in ((a, b), (b, a)):
            sid = await api.stream_of(call_id, other)
            c = Counter()
            pc = receiver(c)
            await offer_answer(api.http, pc, f"/api/calls/{call_id}/streams/{sid}/subscribe",
                               tokens[me])  # fmt: skip
            leg.pcs.append(pc)
            leg.counters.append(c)
    for pc in leg.pcs:
        await connected(pc)
    return leg


async def relay_calls(http: httpx.AsyncClient, n: int, video: Any) -> Leg:
    leg = Leg()
    for i in range(n):
        for who in ("a", "b"):
            pc = sender(video)
            await offer_answer(http, pc, f"/publish/{i}-{who}", {})
            leg.pcs.append(pc)
        for other in ("b", "a"):
            c = Counter()
            pc = receiver(c)
            await offer_answer(http, pc, f"/subscribe/{i}-{other}", {})
            leg.pcs.append(pc)
            leg.counters.append(c)
    for pc in leg.pcs:
        await connected(pc)
    return leg


async def measure(leg: Leg, pid: int, seconds: float, n: int) -> dict[str, float]:
    await asyncio.sleep(3)  # warm: keyframes reached every receiver
    c0, v0 = cpu_seconds(pid), [c.video for c in leg.counters]
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    wall = time.monotonic() - t0
    cpu = cpu_seconds(pid) - c0
    got = sum(c.video - v for c, v in zip(leg.counters, v0, strict=True))
    expected = FPS * wall * len(leg.counters)
    for pc in leg.pcs:
        await pc.close()
    return {
        "calls": n,
        "cpu_per_call": cpu / wall / n,
        "delivered": got / expected,
        "server_cpu": cpu / wall,
    }


async def main(args: argparse.Namespace) -> None:
    video = load_or_encode("plaza", width=640, height=360, fps=FPS, duration=20)
    users = [f"w{i}" for i in range(max(2 * args.calls, args.setups))]
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site.yaml"
        site.write_text(yaml.safe_dump(SITE, allow_unicode=True), encoding="utf-8")
        port = free_port()
        env = {"HUB_SITE": str(site), "HUB_DATA_DIR": f"{tmp}/data", "HUB_PORT": str(port),
               "HUB_MQTT_INGEST": "false", "HUB_LOG_LEVEL": "WARNING",
               "HUB_CALL_MAX_CALLS": "1024"}  # fmt: skip
        settings = Settings(site=site, data_dir=Path(tmp) / "data")
        await make_users(settings, users)
        url = f"http://127.0.0.1:{port}"
        hub = start([sys.executable, "-m", "hub", "serve"], env, f"{url}/api/health")
        try:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                api = HubCalls(http)
                pub, sub = await setups(api, users[: args.setups], video)
                leg = await hub_calls(api, users, args.calls, video)
                fwd = await measure(leg, hub.pid, args.seconds, args.calls)
                await api.end(leg.call_ids)
                # The same calls about a case: each stream is also written to a file.
                leg = await hub_calls(api, users, args.calls, video, record=True)
                rec = await measure(leg, hub.pid, args.seconds, args.calls)
                await api.end(leg.call_ids)
                files = list((Path(tmp) / "data" / "recordings").glob("*.mp4"))
                rec["mb_per_call_second"] = (
                    sum(f.stat().st_size for f in files) / 1e6 / (args.calls * (args.seconds + 3))
                )
        finally:
            hub.terminate()
            hub.wait(30)
        rport = free_port()
        relay = start([sys.executable, str(REPO / "bench" / "reencode_relay.py"), str(rport)],
                      {}, f"http://127.0.0.1:{rport}/docs")  # fmt: skip
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{rport}", timeout=30) as h:
                leg = await relay_calls(h, args.relay_calls, video)
                rel = await measure(leg, relay.pid, args.seconds, args.relay_calls)
        finally:
            relay.terminate()
            relay.wait(30)

    print(f"setup, offer to connected, {len(pub)} calls on loopback:")
    print(f"  publish    p50 {statistics.median(pub):6.0f} ms   p99 {pct(pub, 99):6.0f} ms")
    print(f"  subscribe  p50 {statistics.median(sub):6.0f} ms   p99 {pct(sub, 99):6.0f} ms")
    print(f"  target p50 < 300 ms: {'met' if statistics.median(pub) < 300 else 'NOT met'}")
    for name, r in (("hub forwarding", fwd), ("re-encode relay", rel)):
        print(
            f"{name:16s}: {r['calls']:.0f} calls, server CPU {r['server_cpu'] * 100:5.1f} % of a "
            f"core, {r['cpu_per_call'] * 1000:6.1f} ms CPU per call-second, delivered "
            f"{r['delivered'] * 100:5.1f} % of frames -> about "
            f"{1 / r['cpu_per_call']:5.1f} calls per core"
        )
    print(
        f"forwarding + recording: {rec['cpu_per_call'] * 1000:6.1f} ms CPU per call-second "
        f"({rec['cpu_per_call'] / fwd['cpu_per_call']:.2f}x forwarding alone), delivered "
        f"{rec['delivered'] * 100:5.1f} %, about {rec['mb_per_call_second']:.2f} MB written per "
        f"call-second ({len(files)} files)"
    )
    ok = fwd["delivered"] >= 0.9 and rel["delivered"] >= 0.9
    ratio = rel["cpu_per_call"] / fwd["cpu_per_call"]
    note = "" if ok else " (a server delivered < 90 % of frames: figures not comparable)"
    verdict = "met" if ratio >= 5 and ok else "NOT met"
    print(f"forwarding / re-encode, calls per core: {ratio:.1f}x (target >= 5x): {verdict}{note}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--setups", type=int, default=40)
    ap.add_argument("--calls", type=int, default=6)
    ap.add_argument("--relay-calls", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20.0)
    asyncio.run(main(ap.parse_args()))
