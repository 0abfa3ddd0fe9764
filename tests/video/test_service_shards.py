"""Video workers of a cluster: the cameras spread over two sharded CameraServices through leases
in Redis; when one dies, the other takes its cameras; no camera is analysed by both at once."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import redis_server
from cluster.one_grid import ONE_GRID_SITE
from media_helpers import make_clip

from hub.bus import MemoryBus
from hub.bus.contracts import DETECTIONS, DetectionEvent
from hub.cluster.leases import Lease
from hub.cluster.shards import Shards
from hub.config import Settings, parse_site
from hub.video.analytics import AnalysisFrame, FrameResult, RawEvent
from hub.video.service import CameraService

CAMERAS = [f"cam-{i}" for i in range(6)]
SITE = ONE_GRID_SITE


class EveryFifthFrame:
    """An intrusion on every 5th analysed frame of each camera (one a second at 5 fps)."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def process(self, frames: Sequence[AnalysisFrame]) -> list[FrameResult]:
        out = []
        for f in frames:
            n = self.seen[f.camera_id] = self.seen.get(f.camera_id, 0) + 1
            res = FrameResult(f.camera_id, f.media_time, f.wall_time, motion=0.1)
            if n % 5 == 0:
                res.events.append(
                    RawEvent(
                        camera_id=f.camera_id,
                        type="intrusion",
                        zone_id=None,
                        line_id=None,
                        direction=None,
                        track_id=n,
                        media_time=f.media_time,
                        wall_time=f.wall_time,
                        box=(0.1, 0.4, 0.2, 0.2),
                        track_boxes=[],
                        confidence=0.9,
                        frame_media_time=f.media_time,
                        end_media_time=f.media_time,
                        end_wall_time=f.wall_time,
                    )
                )
            out.append(res)
        return out


@pytest.fixture
async def redis() -> AsyncIterator[Any]:
    r = aioredis.Redis.from_url(redis_server.shared().url)
    yield r
    await r.aclose()


def _worker(
    name: str, site: Any, bus: MemoryBus, redis: Any, prefix: str, tmp: Path
) -> tuple[CameraService, Shards]:
    settings = Settings(
        data_dir=tmp / name, stall_seconds=2, reconnect_min_seconds=0.2, clips=False
    )
    svc = CameraService(settings, site, bus, core=EveryFifthFrame(), sharded=True)  # type: ignore[arg-type]

    async def adopt(lease: Lease) -> None:
        await svc.adopt(lease.name, lease)

    shards = Shards(
        redis,
        prefix=prefix,
        kind="camera",
        holder=name,
        names=CAMERAS,
        on_adopt=adopt,
        on_release=svc.release,
        ttl=1.5,
        member_ttl=1.5,
        interval=0.2,
    )
    return svc, shards


async def test_cameras_move_to_the_survivor_and_are_never_analysed_twice(
    tmp_path: Path, redis: Any
) -> None:
    clip = make_clip(tmp_path / "a.mp4", seconds=2.0, width=320, height=180, gop=10)
    cams = "".join(
        f"  - {{id: {c}, name: {c}, url: {clip}, grid: g1, position: [121.05, 31.05], "
        "analysis_fps: 5}\n"
        for c in CAMERAS
    )
    site = parse_site(SITE.format(cameras=cams))
    bus = MemoryBus()
    events = bus.subscribe(DETECTIONS)
    got: list[tuple[float, DetectionEvent]] = []

    async def collect() -> None:
        while True:
            got.append((time.monotonic(), (await events.get()).data))

    collector = asyncio.create_task(collect())
    prefix = f"t{secrets.token_hex(4)}"
    (a, a_shards), (b, b_shards) = (
        _worker(n, site, bus, redis, prefix, tmp_path) for n in ("wa", "wb")
    )
    try:
        for svc, shards in ((a, a_shards), (b, b_shards)):
            await svc.start()
            await shards.start()
        await asyncio.sleep(4)
        served_a = {c for c in CAMERAS if a.serves(c)}
        served_b = {c for c in CAMERAS if b.serves(c)}
        assert served_a and served_b and served_a.isdisjoint(served_b)
        assert served_a | served_b == set(CAMERAS)
        assert {h.camera_id for h in a.health()} == served_a  # each tells only its own
        fences_a = {c: a_shards.owned[c].token for c in served_a}
        recent = {e.camera_id for t, e in got if t > time.monotonic() - 2}
        assert recent == set(CAMERAS)
        assert all(e.fence is not None for _, e in got)

        # wa dies (kill -9: no release). Its cameras run on wb within the lease's time.
        a_shards._task.cancel()  # type: ignore[union-attr]
        died = time.monotonic()
        await a.stop()
        await asyncio.sleep(0.1)
        async with asyncio.timeout(8):
            while not all(b.serves(c) for c in CAMERAS):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        moved = time.monotonic() - died
        await asyncio.sleep(2.5)
        after = {e.camera_id for t, e in got if t > time.monotonic() - 2}
        assert after == set(CAMERAS)
        assert moved < 1.5 + 1.5 + 1.0  # lease ttl, heartbeat, a step or two
        for c in served_a:  # the survivor's events of a moved camera carry a newer token
            assert b_shards.owned[c].token > fences_a[c]
            assert max(e.fence or 0 for _, e in got if e.camera_id == c) > fences_a[c]
    finally:
        collector.cancel()
        await b_shards.stop()
        await b.stop()
        await a.stop()
    # Never two at once: per camera, event times under one token never interleave another's.
    by_cam: dict[str, list[tuple[float, int]]] = {}
    for _, e in got:
        by_cam.setdefault(e.camera_id, []).append((e.start.timestamp(), e.fence or 0))
    for cam, seq in by_cam.items():
        fences = [f for _, f in sorted(seq)]
        assert fences == sorted(fences), cam
