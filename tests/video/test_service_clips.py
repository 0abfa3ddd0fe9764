"""The video service cuts a clip for each event and publishes it after the event's start."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import pytest
from media_helpers import make_clip

from hub.bus import MemoryBus
from hub.bus.contracts import DETECTIONS, DetectionEvent
from hub.config import Camera, Settings, Site
from hub.video.analytics import AnalysisFrame, FrameResult, RawEvent
from hub.video.service import CameraService


class OneIntrusion:
    """An intrusion on each camera at its 8th analysed frame, ended at its 10th."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.open: dict[str, RawEvent] = {}

    def process(self, frames: Sequence[AnalysisFrame]) -> list[FrameResult]:
        out = []
        for f in frames:
            n = self.seen[f.camera_id] = self.seen.get(f.camera_id, 0) + 1
            res = FrameResult(f.camera_id, f.media_time, f.wall_time, motion=0.1)
            if n == 8:
                ev = RawEvent(
                    camera_id=f.camera_id,
                    type="intrusion",
                    zone_id="z1",
                    line_id=None,
                    direction=None,
                    track_id=1,
                    media_time=f.media_time,
                    wall_time=f.wall_time,
                    box=(0.1, 0.4, 0.2, 0.2),
                    track_boxes=[],
                    confidence=0.8,
                    frame_media_time=f.media_time,
                )
                self.open[f.camera_id] = ev
                res.events.append(ev)
            elif n == 10 and f.camera_id in self.open:
                ev = self.open.pop(f.camera_id)
                ev.end_media_time, ev.end_wall_time = f.media_time, f.wall_time
                res.ended.append(ev)
            out.append(res)
        return out

    def close_events(self, camera_id: str | None = None) -> list[RawEvent]:
        return []


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    d = tmp_path_factory.mktemp("svc-clips")
    url = make_clip(d / "a.mp4", seconds=4.0, width=320, height=180, gop=12)
    return Site.for_cameras(
        [
            Camera(
                id="cam-a",
                name="A",
                url=str(url),
                grid="g1",
                position=[121.05, 31.05],
                analysis_fps=5,
            )
        ]
    )


async def test_clip_published_after_the_start_with_the_same_id(tmp_path: Path, site: Site) -> None:
    bus = MemoryBus()
    sub = bus.subscribe(DETECTIONS)
    settings = Settings(data_dir=tmp_path, clip_pre_seconds=1.0, clip_post_seconds=1.5)
    svc = CameraService(settings, site, bus, core=OneIntrusion())  # type: ignore[arg-type]
    await svc.start()
    got: list[DetectionEvent] = []
    try:
        while not any(e.clip for e in got):
            got.append((await asyncio.wait_for(sub.get(), 10)).data)
    finally:
        await svc.stop()
    start, end, with_clip = got
    assert start.end is None and start.clip is None and start.snapshot
    assert end.id == start.id and end.end is not None and end.clip is None
    # The clip comes last, in the event's latest state (ended), beside the snapshot.
    assert with_clip.id == start.id and with_clip.end == end.end
    assert with_clip.snapshot == start.snapshot
    assert with_clip.clip == start.snapshot.removesuffix(".jpg") + ".mp4"
    path = tmp_path / "evidence" / with_clip.clip
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = list(c.decode(s))
        duration = float(s.duration * s.time_base)
    assert frames[0].key_frame
    # 1 s before the event (back to a keyframe: GOP 12 at 25 fps) to 1.5 s after it.
    assert 2.5 - 0.1 <= duration <= 2.5 + 0.5 + 0.1
    assert svc._awaiting_clip == {}


async def test_clips_off(tmp_path: Path, site: Site) -> None:
    bus = MemoryBus()
    sub = bus.subscribe(DETECTIONS)
    settings = Settings(data_dir=tmp_path, clips=False, clip_post_seconds=0.5)
    svc = CameraService(settings, site, bus, core=OneIntrusion())  # type: ignore[arg-type]
    await svc.start()
    got: list[Any] = []
    try:
        got = [(await asyncio.wait_for(sub.get(), 10)).data for _ in range(2)]
        await asyncio.sleep(1.0)
    finally:
        await svc.stop()
    assert [e.clip for e in got] == [None, None]
    assert not list((tmp_path / "evidence").rglob("*.mp4"))
