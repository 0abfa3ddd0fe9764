"""Interop with a real third-party RTSP server: VLC, which refuses RTP over TCP (461).

The hub's source must try TCP, fall back to UDP on EPROTONOSUPPORT and get frames.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from media_helpers import VlcServer, make_clip

from hub.config import Camera, Settings
from hub.video.source import CameraSource

pytestmark = [
    pytest.mark.integration,
]


@pytest.fixture(scope="module")
def vlc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VlcServer]:
    # VLC ends the RTP session each time the file loops: a long clip keeps one session.
    clip = make_clip(
        tmp_path_factory.mktemp("vlc") / "vlc.mp4", seconds=60.0, width=640, height=360
    )
    server = VlcServer(clip).start()
    yield server
    server.stop()


def test_source_gets_frames_from_vlc(tmp_path: Path, vlc: VlcServer) -> None:
    frames: list[Any] = []
    cam = Camera(
        id="cam-vlc",
        name="VLC",
        url=vlc.url,
        grid="g1",
        position=[0, 0],
        analysis_fps=5,
        detector="off",
    )
    settings = Settings(data_dir=tmp_path, stall_seconds=3, reconnect_min_seconds=0.2)
    src = CameraSource(cam, settings, on_frame=lambda f, m, w: frames.append((f.width, m)))
    src.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(frames) < 5:
            time.sleep(0.05)
        assert len(frames) >= 5, src.stats
        assert src.stats.transport == "udp"  # TCP was refused with 461 and the source fell back
        assert src.state_now() == "online"
        assert (src.stats.width, src.stats.height, src.stats.codec) == (640, 360, "h264")
        assert src.stats.reconnects == 0  # the fallback is not a reconnect
    finally:
        assert src.stop(5)
