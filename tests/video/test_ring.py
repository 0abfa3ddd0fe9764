"""The packet ring: whole GOPs from a keyframe, bounded in seconds and bytes; clip collectors."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from media_helpers import make_clip

from hub.video.ring import TIME_BASE, Collector, PacketRing

FPS = 25
GOP = 25  # one keyframe a second


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("ring") / "a.mp4", seconds=12.0, fps=FPS, gop=GOP)


def feed(
    ring: PacketRing, path: Path, t0: float = 1000.0, upto: int | None = None
) -> Iterator[Any]:
    """Feed the file's packets, one every 1/FPS s of wall clock from ``t0``; yields each."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        ring.on_connect(stream)
        i = 0
        for pkt in c.demux(stream):
            if pkt.size == 0:
                continue
            if upto is not None and i >= upto:
                return
            ring.on_packet(pkt, t0 + i / FPS)
            yield pkt
            i += 1


def drain(it: Iterator[Any]) -> int:
    return sum(1 for _ in it)


def held(ring: PacketRing) -> list[Any]:
    return [p for g in ring._gops for p in g.packets]


def test_keeps_whole_gops_back_to_a_keyframe_before_keep_seconds(clip: Path) -> None:
    ring = PacketRing("cam", keep_seconds=3.0, max_bytes=50_000_000)
    assert drain(feed(ring, clip)) == 12 * FPS
    pkts = held(ring)
    assert pkts[0].key  # starts at a keyframe
    newest = pkts[-1].wall
    assert pkts[0].wall <= newest - 3.0  # far enough back for the pre-roll
    assert pkts[0].wall > newest - 3.0 - 1.0  # but no more than one GOP beyond it
    n, nbytes, span = ring.stats()
    assert n == len(pkts) and nbytes == sum(len(p.data) for p in pkts) and span >= 3.0
    # Timestamps: one timeline in 1/90000, increasing, a frame apart.
    dts = [p.dts for p in pkts]
    assert all(b - a == round(1 / (FPS * TIME_BASE)) for a, b in itertools.pairwise(dts))


def test_byte_bound_drops_oldest_gops(clip: Path) -> None:
    probe = PacketRing("cam", keep_seconds=100.0, max_bytes=50_000_000)
    drain(feed(probe, clip))
    total = probe.stats()[1]
    bound = total // 4
    ring = PacketRing("cam", keep_seconds=100.0, max_bytes=bound)
    for _ in feed(ring, clip):
        assert ring.stats()[1] <= bound
        pkts = held(ring)
        assert not pkts or pkts[0].key
    assert 0 < ring.stats()[2] < 12 / 4 + 1.5


def test_seconds_bound_for_long_gops(tmp_path: Path) -> None:
    long_gop = make_clip(tmp_path / "long.mp4", seconds=10.0, fps=FPS, gop=4 * FPS)
    ring = PacketRing("cam", keep_seconds=1.0, max_seconds=5.0, max_bytes=50_000_000)
    for _ in feed(ring, long_gop):
        assert ring.stats()[2] <= 5.0 + 4.0  # at most one GOP past the hard bound
        pkts = held(ring)
        assert not pkts or pkts[0].key


def test_a_gop_larger_than_the_byte_bound_is_dropped(clip: Path) -> None:
    ring = PacketRing("cam", keep_seconds=5.0, max_bytes=1024 * 1024)
    ring.max_bytes = 2000  # below one GOP of this clip
    drain(feed(ring, clip, upto=3 * GOP))
    assert ring.dropped_gops > 0
    assert ring.stats()[1] <= 2000


def test_collector_starts_at_the_keyframe_before_since_and_ends_after_until(clip: Path) -> None:
    ring = PacketRing("cam", keep_seconds=6.0, max_bytes=50_000_000)
    t0 = 1000.0
    it = feed(ring, clip, t0)
    for _ in range(7 * FPS):  # 7 s in
        next(it)
    done: list[Collector] = []
    c = ring.collect("ev", since=t0 + 4.5, until=t0 + 9.2, on_done=done.append)
    assert c is not None and not c.done.is_set()
    drain(it)
    assert done == [c] and c.reason == "complete"
    assert c.packets[0].key and c.packets[0].wall == pytest.approx(t0 + 4.0)
    assert c.packets[-1].wall <= t0 + 9.2 < c.packets[-1].wall + 2 / FPS
    dts = [p.dts for p in c.packets]
    assert dts == sorted(dts)


def test_collector_in_an_empty_ring_waits_for_a_keyframe(clip: Path) -> None:
    ring = PacketRing("cam", keep_seconds=2.0, max_bytes=50_000_000)
    with av.open(str(clip)) as c:
        ring.on_connect(c.streams.video[0])
    col = ring.collect("ev", since=0.0, until=1e12)
    assert col is not None
    pkts = [p for p in av.open(str(clip)).demux() if p.size]
    for i, p in enumerate(pkts[5:40]):  # starts mid-GOP
        ring.on_packet(p, 10.0 + i / FPS)
    assert col.packets[0].key and len(col.packets) == 40 - GOP


def test_stream_end_and_byte_bound_finish_collectors_with_what_they_have(clip: Path) -> None:
    ring = PacketRing("cam", keep_seconds=2.0, max_bytes=50_000_000)
    t0 = 1000.0
    it = feed(ring, clip, t0)
    for _ in range(3 * FPS):
        next(it)
    ended = ring.collect("a", since=t0 + 1.0, until=t0 + 100.0)
    full = ring.collect("b", since=t0 + 1.0, until=t0 + 100.0, max_bytes=3_000)
    assert ended is not None and full is not None
    for _ in range(3 * FPS):
        next(it)
    assert full.reason == "full" and full.nbytes <= 3_000
    ring.close()
    assert ended.reason == "ended" and ended.packets[0].key and len(ended.packets) > 4 * FPS
    assert ring.collect("late", since=0, until=1) is None  # closed: no clips


def test_new_codec_parameters_end_collectors(clip: Path, tmp_path: Path) -> None:
    other = make_clip(tmp_path / "big.mp4", seconds=1.0, width=640, height=360)
    ring = PacketRing("cam", keep_seconds=2.0, max_bytes=50_000_000)
    drain(feed(ring, clip, upto=2 * FPS))
    c = ring.collect("ev", since=0.0, until=1e12)
    assert c is not None
    drain(feed(ring, clip, t0=2000.0, upto=FPS))  # same parameters (a loop): continues
    assert not c.done.is_set()
    with av.open(str(other)) as o:
        ring.on_connect(o.streams.video[0])
    assert c.reason == "changed"
    assert ring.stats()[0] == 0


def test_a_stream_mp4_cannot_carry_gives_no_clips(tmp_path: Path) -> None:
    raw = tmp_path / "raw.nut"
    with av.open(str(raw), "w") as out:
        s = out.add_stream("rawvideo", rate=5)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for i in range(5):
            f = av.VideoFrame(32, 32, "yuv420p")
            f.pts = i
            for p in s.encode(f):
                out.mux(p)
    ring = PacketRing("cam", keep_seconds=2.0, max_bytes=50_000_000)
    drain(feed(ring, raw))  # no crash
    assert ring.template is None and ring.collect("ev", since=0, until=1) is None
