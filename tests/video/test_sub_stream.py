"""Main and sub streams: the stream analytics does not use is relayed to live viewers only
while someone watches; ``analysis_stream`` picks what analytics opens (issue 9)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from media_helpers import VlcServer, make_clip

from hub.bus import MemoryBus
from hub.config import Camera, Settings, Site
from hub.video import live as live_mod
from hub.video.analytics import AnalysisFrame, FrameResult
from hub.video.fmp4 import iter_boxes
from hub.video.service import CameraService


class SizeCore:
    """Records the frame sizes analytics receives, per camera."""

    def __init__(self) -> None:
        self.sizes: set[tuple[int, int]] = set()

    def process(self, frames: Sequence[AnalysisFrame]) -> list[FrameResult]:
        for f in frames:
            img: Any = f.image
            self.sizes.add((img.width, img.height))
        return []


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, stall_seconds=2, reconnect_min_seconds=0.2)


def _site(main: str, sub: str | None, analysis: str = "main") -> Site:
    cam = Camera(
        id="cam-a", name="a", url=main, sub_url=sub, grid="g1", position=[121.05, 31.05],
        analysis_stream=analysis,  # type: ignore[arg-type]
    )  # fmt: skip
    return Site.for_cameras([cam])


def _width(init: bytes) -> int:
    """The track width from the init segment's tkhd (16.16 fixed point)."""
    moov = dict(iter_boxes(init))[b"moov"]
    trak = dict(iter_boxes(moov[8:]))[b"trak"]
    tkhd = dict(iter_boxes(trak[8:]))[b"tkhd"]
    return int.from_bytes(tkhd[-8:-4], "big") >> 16


async def _first_segment(svc: CameraService, stream: str) -> tuple[int, bytes]:
    viewer = svc.subscribe_live("cam-a", stream)
    try:
        _mime, init = await asyncio.wait_for(viewer.init(), 30)
        return _width(init), await asyncio.wait_for(viewer.next(), 10)
    finally:
        viewer.close()


@pytest.fixture
def clips(tmp_path: Path) -> tuple[Path, Path]:
    main = make_clip(tmp_path / "main.mp4", seconds=3, fps=15, width=320, height=180, gop=15)
    sub = make_clip(tmp_path / "sub.mp4", seconds=3, fps=15, width=160, height=96, gop=15)
    return main, sub


async def test_sub_stream_is_relayed_only_while_watched(
    tmp_path: Path, clips: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_mod, "WARM_SECONDS", 0)
    main, sub = clips
    core = SizeCore()
    svc = CameraService(_settings(tmp_path), _site(str(main), str(sub)), MemoryBus(), core=core)  # type: ignore[arg-type]
    await svc.start()
    try:
        relay = svc._cams["cam-a"].relay
        assert relay is not None and relay.stream == "sub"
        relay.linger = 0.5
        await asyncio.sleep(1.0)
        assert relay.connects == 0, "nobody watches the sub stream: it is not opened"
        width, segment = await _first_segment(svc, "main")
        assert width == 320 and segment
        assert relay.connects == 0
        width, segment = await _first_segment(svc, "sub")
        assert width == 160 and segment
        assert relay.connects == 1
        deadline = time.monotonic() + 10
        for _ in range(100):
            if not relay.connected or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert not relay.connected, "the relay lets go after the last viewer left"
        assert core.sizes == {(320, 180)}, "analytics decodes the main stream"
    finally:
        await svc.stop()
    assert relay.join(5)


async def test_main_stream_served_where_there_is_no_sub(
    tmp_path: Path, clips: tuple[Path, Path]
) -> None:
    main, _ = clips
    svc = CameraService(_settings(tmp_path), _site(str(main), None), MemoryBus(), core=SizeCore())  # type: ignore[arg-type]
    await svc.start()
    try:
        assert svc._cams["cam-a"].relay is None
        width, _segment = await _first_segment(svc, "sub")
        assert width == 320
    finally:
        await svc.stop()


@pytest.mark.integration
@pytest.mark.slow
async def test_analysis_on_an_rtsp_sub_stream(tmp_path: Path, clips: tuple[Path, Path]) -> None:
    """The test's own small RTSP stream (VLC) as the sub stream that analytics uses; the main
    stream (a file) is relayed to a viewer that asks for it."""
    main, _ = clips
    sub = make_clip(tmp_path / "rtsp-sub.mp4", seconds=30, fps=15, width=160, height=96, gop=15)
    server = VlcServer(sub).start()
    try:
        core = SizeCore()
        site = _site(str(main), server.url, analysis="sub")
        svc = CameraService(_settings(tmp_path), site, MemoryBus(), core=core)  # type: ignore[arg-type]
        await svc.start()
        try:
            width, _ = await _first_segment(svc, "sub")
            assert width == 160
            width, _ = await _first_segment(svc, "main")
            assert width == 320
            assert core.sizes == {(160, 96)}
        finally:
            await svc.stop()
    finally:
        server.stop()


def test_analysis_stream_sub_needs_a_sub_url() -> None:
    with pytest.raises(ValueError, match="sub_url"):
        _site("rtsp://10.0.0.1/main", None, analysis="sub")
    with pytest.raises(ValueError, match="url must be"):
        _site("rtsp://10.0.0.1/main", "http://10.0.0.1/sub")
