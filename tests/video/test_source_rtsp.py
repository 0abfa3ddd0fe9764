"""CameraSource against a real RTSP server (VLC): a frozen server, a server that restarts, and a
reader too slow for its camera."""

from __future__ import annotations

import signal
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
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # VLC ends the RTP session each time the file loops: a long clip keeps one session.
    return make_clip(tmp_path_factory.mktemp("rtsp") / "cam.mp4", seconds=60.0, gop=12)


@pytest.fixture
def vlc(clip: Path) -> Iterator[VlcServer]:
    server = VlcServer(clip).start()
    yield server
    server.stop()


def _source(url: str, tmp_path: Path, **kw: Any) -> CameraSource:
    cam = Camera(
        id="cam-rtsp", name="rtsp", url=url, grid="g1", position=[0, 0], detector="off",
        analysis_fps=kw.pop("analysis_fps", 5.0),
    )  # fmt: skip
    settings = Settings(
        data_dir=tmp_path, stall_seconds=1.5, reconnect_min_seconds=0.2, reconnect_max_seconds=1.0
    )
    return CameraSource(cam, settings, **kw)


def _wait(cond: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_frozen_server_is_stalled_then_recovers(tmp_path: Path, vlc: VlcServer) -> None:
    src = _source(vlc.url, tmp_path)
    src.start()
    try:
        assert _wait(lambda: src.state_now() == "online", 10)
        vlc.signal(signal.SIGSTOP)  # the camera freezes: the socket stays open, nothing arrives
        assert _wait(lambda: src.state_now() == "stalled", 5)
        assert _wait(lambda: src.stats.stalls >= 1, 5)
        frames = src.stats.frames_in
        vlc.signal(signal.SIGCONT)
        assert _wait(lambda: src.stats.frames_in > frames + 10, 15)
        assert src.state_now() == "online"
        assert src.stats.reconnects >= 1
    finally:
        vlc.signal(signal.SIGCONT)
        assert src.stop(8)


def test_server_restart_reconnects_within_15s(tmp_path: Path, clip: Path) -> None:
    first = VlcServer(clip).start()
    src = _source(first.url, tmp_path)
    src.start()
    second: VlcServer | None = None
    try:
        assert _wait(lambda: src.state_now() == "online", 10)
        first.stop()
        assert _wait(lambda: src.state_now() in ("offline", "stalled"), 5)
        time.sleep(1.0)
        second = VlcServer(clip, port=first.port).start()
        t = time.monotonic()
        frames = src.stats.frames_in
        assert _wait(lambda: src.stats.frames_in > frames + 5, 15)
        assert time.monotonic() - t < 15
        assert src.state_now() == "online"
        assert src.stats.reconnects >= 1
    finally:
        assert src.stop(8)
        if second is not None:
            second.stop()


def test_a_reader_slower_than_its_camera_stays_near_live(tmp_path: Path, vlc: VlcServer) -> None:
    # Every frame goes to a consumer that takes 80 ms: half the camera's 25 fps. Over TCP the
    # rest would wait in socket buffers, and the reader fall further behind every second.
    seen: list[tuple[float, float]] = []

    def slow(frame: Any, media: float, wall: float) -> None:
        seen.append((time.monotonic(), media))
        time.sleep(0.08)

    src = _source(vlc.url, tmp_path, analysis_fps=25.0, on_frame=slow)
    src.start()
    try:
        assert _wait(lambda: len(seen) > 0, 10)
        time.sleep(15)
    finally:
        assert src.stop(8)
    # How late each frame came: wall time passed against media time passed, from the first.
    t0, m0 = seen[0]
    late = [(t - t0) - (m - m0) for t, m in seen]
    skipped = src.stats.frames_skipped_late
    print(f"{len(seen)} frames, {skipped} skipped, max late {max(late):.2f} s")
    assert skipped > 0
    # Within the limit (2 s) and one GOP (12 frames) of waiting for a keyframe, not 7 s behind.
    assert max(late) < 2.0 + 0.5 + 0.3, late
    # And it still analyses about what it can: no more thrown away than needed.
    assert len(seen) > 0.6 * 15 / 0.08
