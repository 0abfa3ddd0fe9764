"""The video service publishes an event's start and, with the same id and snapshot, its end."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from media_helpers import make_clip

from hub.bus import MemoryBus
from hub.bus.contracts import DETECTIONS, DetectionEvent
from hub.config import Camera, Settings, Site
from hub.video import service as service_mod
from hub.video.analytics import AnalysisFrame, FrameResult, RawEvent
from hub.video.service import CameraService


def _raw(f: AnalysisFrame, type_: str, **kw: Any) -> RawEvent:
    return RawEvent(
        camera_id=f.camera_id,
        type=type_,
        zone_id=None if type_ == "line_crossing" else "z1",
        line_id="l1" if type_ == "line_crossing" else None,
        direction="forward" if type_ == "line_crossing" else None,
        track_id=3,
        media_time=f.media_time,
        wall_time=f.wall_time,
        box=(0.1, 0.4, 0.2, 0.2),
        track_boxes=[],
        confidence=0.8,
        frame_media_time=f.media_time,
        **kw,
    )


class EndingCore:
    """Per camera: an intrusion at frame 3 that ends at frame 6, a line crossing at frame 3, a
    loitering at frame 8 that stays open until ``close_events``."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.open: dict[str, list[RawEvent]] = {}
        self.last: dict[str, AnalysisFrame] = {}
        self.lock = threading.Lock()

    def process(self, frames: Sequence[AnalysisFrame]) -> list[FrameResult]:
        out = []
        for f in frames:
            n = self.seen[f.camera_id] = self.seen.get(f.camera_id, 0) + 1
            self.last[f.camera_id] = f
            res = FrameResult(f.camera_id, f.media_time, f.wall_time, motion=0.1)
            opened = self.open.setdefault(f.camera_id, [])
            if n == 3:
                intrusion = _raw(f, "intrusion")
                line = _raw(f, "line_crossing", end_media_time=f.media_time)
                line.end_wall_time = f.wall_time
                res.events += [intrusion, line]
                opened.append(intrusion)
            elif n == 6:
                ev = opened.pop(0)
                res.ended.append(
                    dataclasses.replace(
                        ev, end_media_time=f.media_time - 0.2, end_wall_time=f.wall_time - 0.2
                    )
                )
            elif n == 8:
                ev = _raw(f, "loitering", dwell_seconds=5.0)
                res.events.append(ev)
                opened.append(ev)
            out.append(res)
        return out

    def close_events(self, camera_id: str | None = None) -> list[RawEvent]:
        ended = []
        for cid, opened in self.open.items():
            if camera_id is not None and cid != camera_id:
                continue
            f = self.last[cid]
            for ev in opened:
                ended.append(
                    dataclasses.replace(
                        ev,
                        end_media_time=f.media_time,
                        end_wall_time=f.wall_time,
                        dwell_seconds=7.5,
                    )
                )
            opened.clear()
        return ended


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    d = tmp_path_factory.mktemp("svc-ev")
    a = make_clip(d / "a.mp4", seconds=3.0, width=320, height=180, gop=10)
    b = make_clip(d / "b.mp4", seconds=3.0, width=320, height=180, gop=10)
    return Site.for_cameras(
        [
            Camera(
                id=cid,
                name=cid.upper(),
                url=str(url),
                grid="g1",
                position=[121.05, 31.05],
                detector="off",
            )
            for cid, url in (("cam-a", a), ("cam-b", b))
        ]
    )


_seen: dict[int, set[tuple[Any, ...]]] = {}


async def _events(sub: Any, n: int, wait: float = 8.0) -> list[DetectionEvent]:
    """The next ``n`` messages that say something new about an event: a clip's message (the
    same state again with ``clip`` set, tests/video/test_service_clips.py) is skipped."""
    seen = _seen.setdefault(id(sub), set())
    out: list[DetectionEvent] = []
    while len(out) < n:
        ev: DetectionEvent = (await asyncio.wait_for(sub.get(), wait)).data
        state = (ev.id, ev.end, ev.dwell_seconds)
        if state not in seen:
            seen.add(state)
            out.append(ev)
    return out


async def test_start_then_end_with_the_same_id_and_snapshot(tmp_path: Path, site: Site) -> None:
    bus = MemoryBus()
    sub = bus.subscribe(DETECTIONS)
    core = EndingCore()
    svc = CameraService(Settings(data_dir=tmp_path), site, bus, core=core)  # type: ignore[arg-type]
    await svc.start()
    try:
        got = await _events(sub, 8)  # per camera: intrusion, line, intrusion end, loitering
    finally:
        await svc.stop()
    got += await _events(sub, 2)  # the loitering events, ended by stop()
    for cam in ("cam-a", "cam-b"):
        mine = [e for e in got if e.camera_id == cam]
        by_type: dict[str, list[DetectionEvent]] = {}
        for e in mine:
            by_type.setdefault(e.type, []).append(e)
        start, end = by_type["intrusion"]
        assert start.end is None and end.id == start.id
        assert start.snapshot and end.snapshot == start.snapshot
        assert (tmp_path / "evidence" / start.snapshot).is_file()
        assert end.end is not None and end.end > start.start
        assert abs((datetime.now(UTC) - end.end).total_seconds()) < 10
        assert end.model_dump(exclude={"end"}) == start.model_dump(exclude={"end"})
        (line,) = by_type["line_crossing"]
        assert line.end == line.start
        loiter, loiter_end = by_type["loitering"]
        assert loiter.end is None and loiter.dwell_seconds == 5.0
        assert loiter_end.id == loiter.id and loiter_end.end is not None
        assert loiter_end.dwell_seconds == 7.5 and loiter_end.snapshot == loiter.snapshot
        assert svc._cams[cam].open_events == set()
    assert svc._open == {}


async def test_a_lost_stream_ends_its_open_events(
    tmp_path: Path, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_mod, "lost_after", lambda camera: 0.5)
    bus = MemoryBus()
    sub = bus.subscribe(DETECTIONS)
    core = EndingCore()
    svc = CameraService(
        Settings(data_dir=tmp_path),
        site,
        bus,
        core=core,  # type: ignore[arg-type]
        health_interval=0.1,
    )
    await svc.start()
    try:
        got = await _events(sub, 8)
        loiter = next(e for e in got if e.camera_id == "cam-a" and e.type == "loitering")
        src = svc.source("cam-a")
        assert src is not None
        src.request_stop()  # cam-a goes silent; cam-b keeps streaming
        (end,) = await _events(sub, 1)
        assert end.id == loiter.id and end.end is not None and end.dwell_seconds == 7.5
        assert svc._cams["cam-b"].open_events  # untouched
    finally:
        await svc.stop()
