"""CameraSource against local files and misbehaving peers (no simulator needed)."""

from __future__ import annotations

import itertools
import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from media_helpers import corrupt_annexb, make_clip

from hub.config import Camera, Settings
from hub.video.source import CameraSource, backoff_delay


def _settings(tmp_path: Path, **kw: Any) -> Settings:
    base: dict[str, Any] = dict(
        data_dir=tmp_path,
        stall_seconds=2.0,
        reconnect_min_seconds=0.2,
        reconnect_max_seconds=1.0,
    )
    base.update(kw)
    return Settings(**base)


def _camera(url: str, cid: str = "cam-a", **kw: Any) -> Camera:
    return Camera(
        id=cid, name=cid, url=url, grid="g1", position=[121.4, 31.2], detector="off", **kw
    )


class Collector:
    def __init__(self) -> None:
        self.items: list[tuple[float, float, bool, int]] = []
        self.lock = threading.Lock()

    def __call__(self, frame: Any, media: float, wall: float) -> None:
        with self.lock:
            self.items.append((media, wall, bool(frame.key_frame), frame.width))


def wait_for(cond: Any, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", seconds=2.0)


@pytest.fixture
def run_source() -> Iterator[Any]:
    started: list[CameraSource] = []

    def start(src: CameraSource) -> CameraSource:
        started.append(src)
        src.start()
        return src

    yield start
    for src in started:
        assert src.stop(5), f"{src.camera.id} did not stop"


def test_backoff_is_capped_exponential_with_jitter() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, 0.5, 10.0, rng) for n in range(12)]
    for n, d in enumerate(delays):
        cap = min(10.0, 0.5 * 2**n)
        assert cap / 2 <= d <= cap
    assert max(delays) <= 10.0
    assert len({round(backoff_delay(3, 0.5, 10.0, rng), 6) for _ in range(20)}) > 1


def test_file_source_samples_by_media_time(tmp_path: Path, clip: Path, run_source: Any) -> None:
    got = Collector()
    cam = _camera(str(clip), analysis_fps=5)
    src = run_source(CameraSource(cam, _settings(tmp_path), on_frame=got))
    assert wait_for(lambda: len(got.items) >= 8, 6)
    h = src.health(fps_in=0, fps_analysed=0, frames_analysed=0, frames_dropped=0)
    assert h.state == "online"
    assert (h.width, h.height, h.codec) == (320, 180, "h264")
    medias = [m for m, _, _, _ in got.items[:8]]
    steps = [b - a for a, b in itertools.pairwise(medias)]
    assert all(0.15 < s < 0.25 for s in steps), steps
    # Paced like a camera: 8 samples at 5 fps take about 1.4 s of wall time, not a burst.
    walls = [w for _, w, _, _ in got.items[:8]]
    assert walls[-1] - walls[0] > 1.0


def test_file_loops_with_monotonic_media_time(tmp_path: Path, run_source: Any) -> None:
    short = make_clip(tmp_path / "short.mp4", seconds=0.6, gop=5)
    got = Collector()
    src = run_source(
        CameraSource(_camera(str(short), analysis_fps=10), _settings(tmp_path), on_frame=got)
    )
    assert wait_for(lambda: len(got.items) >= 15, 6)
    medias = [m for m, _, _, _ in got.items]
    assert all(b > a for a, b in itertools.pairwise(medias))
    assert src.stats.reconnects == 0  # looping a file is not a reconnect
    # Nor does the camera go back to "connecting" each time the file starts again.
    states = set()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        states.add(src.stats.state)
        time.sleep(0.002)
    assert states == {"online"}


def test_keyframes_only_decodes_only_keyframes(tmp_path: Path, run_source: Any) -> None:
    clip = make_clip(tmp_path / "gop.mp4", seconds=3.0, gop=10)  # a keyframe every 0.4 s
    got = Collector()
    cam = _camera(str(clip), analysis_fps=1)
    assert cam.decode_keyframes_only
    src = run_source(CameraSource(cam, _settings(tmp_path), on_frame=got))
    time.sleep(1.6)
    assert got.items, "no frames"
    assert all(key for _, _, key, _ in got.items)
    # About 1.6 s / 0.4 s keyframes were decoded, not 40 frames.
    assert 2 <= src.stats.frames_in <= 6, src.stats.frames_in


def test_corrupt_stream_counts_errors_and_spares_other_cameras(
    tmp_path: Path, run_source: Any
) -> None:
    raw = make_clip(tmp_path / "raw.h264", seconds=2.0, fmt="h264", gop=10)
    bad = corrupt_annexb(raw, tmp_path / "bad.h264", every=3)
    good_clip = make_clip(tmp_path / "good.mp4", seconds=2.0)
    bad_frames, good_frames = Collector(), Collector()
    s = _settings(tmp_path)
    bad_src = run_source(
        CameraSource(_camera(str(bad), "cam-bad", analysis_fps=25), s, on_frame=bad_frames)
    )
    good_src = run_source(
        CameraSource(_camera(str(good_clip), "cam-good", analysis_fps=25), s, on_frame=good_frames)
    )
    assert wait_for(lambda: bad_src.stats.decode_errors > 0 and good_src.stats.frames_in >= 40, 6)
    assert good_src.stats.decode_errors == 0
    assert good_src.state_now() == "online"
    assert not bad_src.finished.is_set()


def test_unreachable_camera_backs_off_and_stops_quickly(tmp_path: Path, run_source: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = run_source(CameraSource(_camera(f"rtsp://127.0.0.1:{port}/x"), _settings(tmp_path)))
    assert wait_for(lambda: src.stats.reconnects >= 2, 5)
    assert src.state_now() in ("connecting", "offline")  # never online
    assert src.stats.last_error
    t = time.monotonic()
    assert src.stop(5)
    assert time.monotonic() - t < 1.5


def test_silent_server_cannot_hang_the_thread(tmp_path: Path, run_source: Any) -> None:
    """A peer that accepts TCP and never answers: the open times out, the thread moves on."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        settings = _settings(tmp_path, stall_seconds=1.0)
        src = run_source(CameraSource(_camera(f"rtsp://127.0.0.1:{port}/x"), settings))
        # Each attempt must time out (about 5 s open timeout at most) and be retried.
        assert wait_for(lambda: src.stats.reconnects >= 1, 12)
        assert len(accepted) >= 1
        assert src.stats.last_error
    finally:
        stop.set()
        t.join()
        for c in accepted:
            c.close()
        srv.close()


def test_fps_far_above_nominal_is_suspect_and_reopened(
    tmp_path: Path, clip: Path, run_source: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.video import source as source_mod

    # Make the clip's own 25 fps look "far above" nominal, in a short window.
    monkeypatch.setattr(source_mod, "SUSPECT_WINDOW_SECONDS", 0.5)
    monkeypatch.setattr(source_mod, "SUSPECT_FPS_FACTOR", 0.2)
    src = run_source(CameraSource(_camera(str(clip)), _settings(tmp_path)))
    assert wait_for(lambda: src.stats.suspect_fps >= 1 and src.stats.reconnects >= 1, 5)
    assert src.stats.stalls >= 1
    assert "far above nominal" in (src.stats.last_error or "")
