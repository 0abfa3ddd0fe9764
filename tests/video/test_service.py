"""CameraService end to end on local files: batched analytics, events, health, metrics."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from media_helpers import make_clip
from prometheus_client import REGISTRY, generate_latest

from hub.bus import MemoryBus
from hub.bus.contracts import CAMERA_HEALTH, DETECTIONS, CameraHealth
from hub.config import Settings, Site, parse_site
from hub.errors import NotFoundError
from hub.video.analytics import AnalysisFrame, FrameResult, RawEvent
from hub.video.fmp4 import fragment_is_keyframe
from hub.video.service import CameraService

SITE = """
site: {{name: test}}
district:
  id: d1
  name: D
  streets:
    - id: s1
      name: S
      communities:
        - id: c1
          name: C
          grids:
            - id: g1
              name: G1
              geometry:
                type: Polygon
                coordinates: [[[121.0, 31.0], [121.1, 31.0], [121.1, 31.1], [121.0, 31.0]]]
cameras:
  - id: cam-a
    name: A
    url: {a}
    grid: g1
    position: [121.05, 31.05]
    analysis_fps: 5
    zones:
      - id: z1
        polygon: [[0.0, 0.3], [1.0, 0.3], [1.0, 0.8], [0.0, 0.8]]
        inertia_frames: 1
  - id: cam-b
    name: B
    url: {b}
    grid: g1
    position: [121.05, 31.05]
    analysis_fps: 5
  - id: cam-off
    name: "Off"
    url: /nonexistent.mp4
    grid: g1
    position: [121.05, 31.05]
    enabled: false
"""


class StandInCore:
    """Counts batches; raises one intrusion per camera on its 3rd analysed frame."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.batches: list[list[str]] = []
        self.seen: dict[str, int] = {}
        self.threads: set[str] = set()

    def process(self, frames: Sequence[AnalysisFrame]) -> list[FrameResult]:
        self.threads.add(threading.current_thread().name)
        self.batches.append([f.camera_id for f in frames])
        if self.delay:
            time.sleep(self.delay)
        out = []
        for f in frames:
            n = self.seen[f.camera_id] = self.seen.get(f.camera_id, 0) + 1
            assert f.luma.ndim == 2 and f.luma.shape[1] == 256
            res = FrameResult(f.camera_id, f.media_time, f.wall_time, motion=0.1)
            if n == 3:
                res.events.append(
                    RawEvent(
                        camera_id=f.camera_id,
                        type="intrusion",
                        zone_id="z1",
                        line_id=None,
                        direction=None,
                        track_id=7,
                        media_time=f.media_time,
                        wall_time=f.wall_time,
                        box=(0.1, 0.4, 0.2, 0.2),
                        track_boxes=[(0.05, 0.4, 0.2, 0.2)],
                        confidence=0.9,
                        frame_media_time=f.media_time,
                    )
                )
            out.append(res)
        return out


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("svc")
    return (
        make_clip(d / "a.mp4", seconds=3.0, width=640, height=360, gop=10),
        make_clip(d / "b.mp4", seconds=3.0, width=640, height=360, gop=10),
    )


def _site(clips: tuple[Path, Path]) -> Site:
    return parse_site(SITE.format(a=clips[0], b=clips[1]))


def _settings(tmp_path: Path, **kw: Any) -> Settings:
    return Settings(data_dir=tmp_path, stall_seconds=2, reconnect_min_seconds=0.2, **kw)


async def _next(sub: Any, wait: float = 5.0) -> Any:
    return await asyncio.wait_for(sub.get(), wait)


async def test_events_health_metrics_and_clean_stop(
    tmp_path: Path, clips: tuple[Path, Path]
) -> None:
    bus = MemoryBus()
    events = bus.subscribe(DETECTIONS)
    health = bus.subscribe(CAMERA_HEALTH)
    core = StandInCore()
    svc = CameraService(_settings(tmp_path), _site(clips), bus, core=core)  # type: ignore[arg-type]
    await svc.start()
    try:
        got = [(await _next(events)).data for _ in range(2)]
        assert {e.camera_id for e in got} == {"cam-a", "cam-b"}
        for ev in got:
            assert ev.grid_id == "g1" and ev.type == "intrusion" and ev.track_id == 7
            assert len(ev.boxes) == 2 and ev.boxes[0].x == pytest.approx(0.1)
            # start is the capture time of the frame: just now, in UTC
            assert abs((datetime.now(UTC) - ev.start).total_seconds()) < 3
            assert ev.snapshot and (tmp_path / "evidence" / ev.snapshot).stat().st_size > 1000
        # Health: one message per camera per tick, disabled cameras included.
        await asyncio.sleep(1.2)
        seen: dict[str, CameraHealth] = {}
        while len(seen) < 3:
            h = (await _next(health)).data
            seen[h.camera_id] = h
        assert seen["cam-off"].state == "disabled"
        now = {h.camera_id: h for h in svc.health()}
        assert [h.camera_id for h in svc.health()] == ["cam-a", "cam-b", "cam-off"]
        for cid in ("cam-a", "cam-b"):
            assert now[cid].state == "online"
            assert now[cid].fps_in == pytest.approx(25, abs=6)
            assert now[cid].fps_analysed == pytest.approx(5, abs=2)
            assert (now[cid].width, now[cid].height, now[cid].codec) == (640, 360, "h264")
        text = generate_latest(REGISTRY).decode()
        assert 'hub_camera_up{camera="cam-a"} 1.0' in text
        assert 'hub_camera_state{camera="cam-off",state="disabled"} 1.0' in text
        assert 'hub_camera_frames_in_total{camera="cam-b"}' in text
        with pytest.raises(NotFoundError):
            svc.subscribe_live("nope")
    finally:
        await svc.stop()
    alive = [t.name for t in threading.enumerate() if t.name.startswith(("src-", "analytics-"))]
    assert alive == []
    assert 'camera="cam-a"' not in generate_latest(REGISTRY).decode()


async def test_slow_analytics_drops_oldest_and_counts(
    tmp_path: Path, clips: tuple[Path, Path]
) -> None:
    bus = MemoryBus()
    core = StandInCore(delay=0.6)
    settings = _settings(tmp_path, frame_queue_per_camera=2)
    svc = CameraService(settings, _site(clips), bus, core=core)  # type: ignore[arg-type]
    await svc.start()
    try:
        await asyncio.sleep(2.0)
        hs = {h.camera_id: h for h in svc.health()}
        for cid in ("cam-a", "cam-b"):
            cq = svc._cams[cid].queue
            assert hs[cid].frames_dropped > 0, (cq.put_count, cq.dropped, len(cq), core.batches)
            cam = svc._cams[cid]
            assert cam.queue is not None and len(cam.queue) <= 2
        # Every batch holds at most what the queues could hold: 2 per camera.
        assert max(len(b) for b in core.batches) <= 4
        # Under load one batch carries frames of several cameras.
        assert any(len(set(b)) == 2 for b in core.batches)
    finally:
        await svc.stop()


async def test_live_through_the_service(tmp_path: Path, clips: tuple[Path, Path]) -> None:
    svc = CameraService(_settings(tmp_path), _site(clips), MemoryBus(), core=StandInCore())  # type: ignore[arg-type]
    await svc.start()
    try:
        viewer = svc.subscribe_live("cam-b")
        mime, _init = await asyncio.wait_for(viewer.init(), 5)
        assert mime.startswith("video/mp4")
        assert fragment_is_keyframe(await asyncio.wait_for(viewer.next(), 5)) is True
    finally:
        await svc.stop()
    from hub.video.interfaces import LiveEnded

    with pytest.raises(LiveEnded):
        await viewer.next()


async def test_real_core_raises_intrusion_with_snapshot(
    tmp_path: Path, clips: tuple[Path, Path]
) -> None:
    bus = MemoryBus()
    events = bus.subscribe(DETECTIONS)
    svc = CameraService(_settings(tmp_path), _site(clips), bus)
    await svc.start()
    try:
        ev = (await _next(events, 8)).data
        assert ev.camera_id == "cam-a" and ev.zone_id == "z1" and ev.type == "intrusion"
        assert ev.snapshot and (tmp_path / "evidence" / ev.snapshot).exists()
    finally:
        await svc.stop()
