"""Evidence clips: stream-copied MP4 from the ring, starting before the event and ending after."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import av
import pytest
from media_helpers import make_clip

from hub.video.clips import ClipRecorder, write_clip
from hub.video.evidence import EvidenceStore
from hub.video.fmp4 import iter_boxes
from hub.video.ring import PacketRing

FPS = 25
T0 = 1_780_000_000.0  # wall clock of the first packet


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "cam.mp4", seconds=14.0, fps=FPS, gop=FPS)


class Feeder:
    """A camera's ingest thread in slow motion: packets one by one, wall clock from T0."""

    def __init__(self, ring: PacketRing, path: Path) -> None:
        self.ring = ring
        self.container = av.open(str(path))
        stream = self.container.streams.video[0]
        ring.on_connect(stream)
        self.packets = (p for p in self.container.demux(stream) if p.size)
        self.n = 0

    def until(self, seconds: float) -> None:
        while self.n < seconds * FPS:
            pkt = next(self.packets, None)
            if pkt is None:
                return
            self.ring.on_packet(pkt, T0 + self.n / FPS)
            self.n += 1

    def close(self) -> None:
        self.container.close()


def probe(path: Path) -> tuple[float, int, bool, int]:
    """(duration s, frames, first frame is a keyframe, first pts) as a player sees the file."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = list(c.decode(s))
        duration = float(s.duration * s.time_base) if s.duration else c.duration / 1e6
        return duration, len(frames), frames[0].key_frame, frames[0].pts


def test_write_clip_from_the_ring(source: Path, tmp_path: Path) -> None:
    ring = PacketRing("cam", keep_seconds=8.0, max_bytes=64 << 20)
    feed = Feeder(ring, source)
    start = T0 + 7.3  # the event
    pre, post = 2.0, 3.0
    feed.until(8.0)  # the clip job starts a moment after the event
    c = ring.collect("ev", since=start - pre, until=start + post)
    assert c is not None
    feed.until(14.0)
    feed.close()
    assert c.reason == "complete"
    info = write_clip(tmp_path / "ev.mp4", c.template, c.packets)
    duration, frames, first_key, first_pts = probe(info.path)
    # The keyframe at or before start - pre (5.3 s -> the one at 5.0 s) to start + post (10.3 s).
    first_wall = c.packets[0].wall
    assert first_wall == pytest.approx(T0 + 5.0)
    assert first_key and first_pts == 0
    assert frames == len(c.packets) == info.packets
    assert start - first_wall >= pre  # the clip starts before the event ...
    assert first_wall + duration >= start + post  # ... and ends after it
    assert duration == pytest.approx(info.seconds, abs=0.05)
    assert duration == pytest.approx(5.32, abs=0.1)
    # faststart: the moov atom before the media data, so a browser can play while loading.
    kinds = [k for k, _ in iter_boxes(info.path.read_bytes())]
    assert kinds.index(b"moov") < kinds.index(b"mdat")
    assert not list(tmp_path.glob("*.tmp"))


def test_write_clip_refuses_nothing(tmp_path: Path, source: Path) -> None:
    ring = PacketRing("cam", keep_seconds=1.0, max_bytes=1 << 20)
    Feeder(ring, source).close()
    assert ring.template is not None
    with pytest.raises(ValueError):
        write_clip(tmp_path / "x.mp4", ring.template, [])


class Done:
    def __init__(self) -> None:
        self.got: list[tuple[str, str | None]] = []
        self.event = threading.Event()

    def __call__(self, key: str, rel: str | None) -> None:
        self.got.append((key, rel))
        self.event.set()


def test_recorder_writes_beside_the_snapshot(source: Path, tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    done = Done()
    rec = ClipRecorder(store, pre=1.0, post=2.0, on_clip=done, clock=lambda: T0)
    rec.start()
    ring = PacketRing("cam", keep_seconds=3.0, max_bytes=64 << 20)
    feed = Feeder(ring, source)
    try:
        feed.until(4.0)
        eid = "0190f0f0-0000-7000-8000-000000000001"
        assert rec.begin(ring, eid, T0 + 3.5)
        assert not rec.begin(ring, eid, T0 + 3.5)  # one clip per event
        feed.until(6.0)
        assert done.event.wait(10)
    finally:
        feed.close()
        rec.stop()
    ((key, rel),) = done.got
    day = datetime.fromtimestamp(T0 + 3.5, UTC)
    assert key == eid and rel == store.relative_path(eid, day).removesuffix(".jpg") + ".mp4"
    duration, *_ = probe(tmp_path / rel)
    assert 3.0 <= duration <= 4.2  # from the keyframe at 2 s to 5.5 s
    assert rec.written == 1 and rec.pending() == 0


def test_silent_camera_gets_what_there_is_after_the_grace(source: Path, tmp_path: Path) -> None:
    now = [T0]
    done = Done()
    rec = ClipRecorder(
        EvidenceStore(tmp_path), pre=1.0, post=5.0, on_clip=done, grace=2.0, clock=lambda: now[0]
    )
    rec.start()
    ring = PacketRing("cam", keep_seconds=3.0, max_bytes=64 << 20)
    feed = Feeder(ring, source)
    try:
        feed.until(4.0)
        assert rec.begin(ring, "a", T0 + 3.0)
        feed.until(5.0)  # then the camera goes silent
        assert not done.event.wait(1.0)
        now[0] = T0 + 3.0 + 5.0 + 2.5  # past until + grace
        assert done.event.wait(5)
    finally:
        feed.close()
        rec.stop()
    ((key, rel),) = done.got
    assert key == "a" and rel is not None
    duration, *_ = probe(tmp_path / rel)
    assert 2.5 <= duration <= 3.2  # 2 s .. 5 s: what arrived


def test_stream_end_and_stop_write_what_there_is(source: Path, tmp_path: Path) -> None:
    done = Done()
    rec = ClipRecorder(EvidenceStore(tmp_path), pre=1.0, post=30.0, on_clip=done, clock=lambda: T0)
    rec.start()
    ring = PacketRing("cam", keep_seconds=3.0, max_bytes=64 << 20)
    other = PacketRing("cam-2", keep_seconds=3.0, max_bytes=64 << 20)
    feed, feed2 = Feeder(ring, source), Feeder(other, source)
    try:
        feed.until(3.0)
        feed2.until(3.0)
        assert rec.begin(ring, "ended", T0 + 2.0)
        assert rec.begin(other, "stopped", T0 + 2.0)
        feed.until(5.0)
        ring.close()  # a file that does not loop reached its end
        assert done.event.wait(5)
        assert done.got == [("ended", done.got[0][1])] and done.got[0][1]
    finally:
        feed.close()
        feed2.close()
        rec.stop()  # the other one is written at stop
    assert [k for k, _ in done.got] == ["ended", "stopped"]
    assert all(rel and (tmp_path / rel).is_file() for _, rel in done.got)
    assert not rec.begin(other, "late", T0)  # stopped


def test_non_h264_stream_still_gets_a_clip(tmp_path: Path) -> None:
    """MPEG-4 Part 2: MP4 carries it (browsers may not play it); the clip is written."""
    src = tmp_path / "mpeg4.mp4"
    with av.open(str(src), "w") as out:
        s = out.add_stream("mpeg4", rate=FPS)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        s.codec_context.gop_size = FPS
        for i in range(3 * FPS):
            f = av.VideoFrame(64, 64, "yuv420p")
            f.pts = i
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    ring = PacketRing("cam", keep_seconds=3.0, max_bytes=64 << 20)
    feed = Feeder(ring, src)
    feed.until(1.5)
    c = ring.collect("ev", since=T0 + 0.5, until=T0 + 2.0)
    assert c is not None
    feed.until(3.0)
    feed.close()
    info = write_clip(tmp_path / "ev.mp4", c.template, c.packets)
    assert probe(info.path)[1] == len(c.packets)
