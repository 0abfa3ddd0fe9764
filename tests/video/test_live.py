"""Live fMP4 passthrough: box re-chunking, codec strings, fan-out, keyframe starts, ffprobe."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import av
import pytest
from media_helpers import make_clip

from hub.config import Camera, Settings
from hub.video import live as live_mod
from hub.video.fmp4 import BoxSplitter, avc1_codec, fragment_is_keyframe, iter_boxes
from hub.video.interfaces import LiveEnded
from hub.video.live import Fmp4Muxer, LiveFeed, LiveTap
from hub.video.source import CameraSource

FFPROBE = shutil.which("ffprobe")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A keyframe every 0.4 s keeps the keyframe waits in these tests short.
    return make_clip(tmp_path_factory.mktemp("live") / "clip.mp4", seconds=3.0, gop=10)


def _ffprobe_frames(path: Path) -> list[dict[str, object]]:
    assert FFPROBE is not None
    out = subprocess.run(
        [
            FFPROBE,
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_frames",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        check=True,
        text=True,
    )
    frames: list[dict[str, object]] = json.loads(out.stdout)["frames"]
    return frames


def test_box_splitter_reassembles_arbitrary_chunks(clip: Path) -> None:
    with av.open(str(clip)) as c:
        stream = c.streams.video[0]
        muxer = Fmp4Muxer(stream)
        frags = [f for p in c.demux(stream) for f, _ in muxer.mux(p)]
    assert muxer.init is not None
    whole = muxer.init + b"".join(frags)
    rng = random.Random(3)
    splitter = BoxSplitter()
    got: list[bytes] = []
    pos = 0
    while pos < len(whole):
        n = rng.randint(1, 700)
        got += splitter.feed(whole[pos : pos + n])
        pos += n
    assert splitter.init == muxer.init
    assert got == frags


def test_avc1_codec_strings() -> None:
    sps = bytes([0x67, 0x42, 0xC0, 0x1E, 0xAB])
    assert avc1_codec(b"\x00\x00\x00\x01" + sps + b"\x00\x00\x00\x01\x68\xce") == "avc1.42C01E"
    assert avc1_codec(bytes([1, 0x4D, 0x40, 0x28, 0xFF])) == "avc1.4D4028"
    assert avc1_codec(None, len(sps).to_bytes(4, "big") + sps) == "avc1.42C01E"
    assert avc1_codec(None, None) == "avc1.42E01F"


def test_muxer_keeps_one_timeline_across_reconnects(tmp_path: Path, clip: Path) -> None:
    """Two connections through one muxer: MSE sees increasing timestamps, no restart."""
    out = bytearray()
    muxer: Fmp4Muxer | None = None
    for _ in range(2):
        with av.open(str(clip)) as c:
            stream = c.streams.video[0]
            if muxer is None:
                muxer = Fmp4Muxer(stream)
            else:
                assert muxer.compatible(stream)
                muxer.continue_from(stream)
            for p in c.demux(stream):
                out += b"".join(f for f, _ in muxer.mux(p))
    assert muxer is not None and muxer.init is not None
    muxer.close()
    path = tmp_path / "joined.mp4"
    path.write_bytes(muxer.init + bytes(out))
    if FFPROBE:
        frames = _ffprobe_frames(path)
        ts = [float(str(f["pts_time"])) for f in frames]
        assert len(ts) >= 2 * 75 - 2
        assert all(b > a for a, b in itertools.pairwise(ts))
        assert ts[-1] == pytest.approx(6.0, abs=0.2)


class _Live:
    def __init__(self, source: CameraSource, feed: LiveFeed, medias: list[float]) -> None:
        self.source = source
        self.feed = feed
        self.medias = medias


@pytest.fixture
async def live_camera(tmp_path: Path, clip: Path) -> AsyncIterator[_Live]:
    feed = LiveFeed("cam-live", asyncio.get_running_loop())
    cam = Camera(
        id="cam-live", name="live", url=str(clip), grid="g1", position=[0, 0], detector="off"
    )
    medias: list[float] = []
    src = CameraSource(
        cam,
        Settings(data_dir=tmp_path),
        live=LiveTap(feed),
        on_frame=lambda f, m, w: medias.append(m),
    )
    src.start()
    yield _Live(src, feed, medias)
    src.request_stop()
    assert await asyncio.to_thread(src.join, 5)
    feed.close()


async def test_live_init_and_fragments_play_in_ffprobe(tmp_path: Path, live_camera: _Live) -> None:
    viewer = live_camera.feed.subscribe()
    mime, init = await asyncio.wait_for(viewer.init(), 5)
    assert mime.startswith('video/mp4; codecs="avc1.42')
    assert [k for k, _ in iter_boxes(init)] == [b"ftyp", b"moov"]
    segments = [await asyncio.wait_for(viewer.next(), 5) for _ in range(8)]
    body = b"".join(segments)
    kinds = [k for k, _ in iter_boxes(body)]
    assert kinds and len(kinds) % 2 == 0
    assert kinds == [b"moof", b"mdat"] * (len(kinds) // 2)
    assert fragment_is_keyframe(body) is True  # the first fragment a viewer gets is a keyframe
    viewer.close()
    # Muxing the packets for live must not disturb the timestamps analytics sees.
    steps = [b - a for a, b in zip(live_camera.medias, live_camera.medias[1:], strict=False)]
    assert steps and all(0.15 < s < 0.25 for s in steps), steps
    path = tmp_path / "live.mp4"
    path.write_bytes(init + body)
    if FFPROBE:
        frames = _ffprobe_frames(path)
        assert len(frames) == len(kinds) // 2
        assert frames[0]["key_frame"] == 1
        assert (frames[0]["width"], frames[0]["height"]) == (320, 180)


async def test_late_viewer_starts_on_a_keyframe(live_camera: _Live) -> None:
    first = live_camera.feed.subscribe()
    _, init1 = await asyncio.wait_for(first.init(), 5)
    await asyncio.sleep(0.55)  # somewhere inside a GOP
    late = live_camera.feed.subscribe()
    _, init2 = await asyncio.wait_for(late.init(), 5)
    assert init2 == init1  # one muxer for both viewers
    seg = await asyncio.wait_for(late.next(), 5)
    assert fragment_is_keyframe(seg) is True
    first.close()
    late.close()


async def test_slow_viewer_skips_to_next_keyframe(
    live_camera: _Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_mod, "MAX_VIEWER_FRAGMENTS", 6)
    slow = live_camera.feed.subscribe()
    await asyncio.wait_for(slow.init(), 5)
    await asyncio.sleep(1.2)  # 30 fragments arrive; at most 6 may wait
    assert len(slow._queue) <= 6
    assert slow.skips >= 1
    seg = await asyncio.wait_for(slow.next(), 5)
    assert fragment_is_keyframe(seg) is True
    slow.close()


async def test_muxing_stops_without_viewers_and_viewers_end_on_close(
    live_camera: _Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_mod, "WARM_SECONDS", 0)
    feed = live_camera.feed
    viewer = feed.subscribe()
    await asyncio.wait_for(viewer.init(), 5)
    viewer.close()
    assert not feed.wanted
    await asyncio.sleep(0.3)
    assert feed.init is None  # the muxer retired
    with pytest.raises(LiveEnded):
        await viewer.next()
    again = feed.subscribe()
    await asyncio.wait_for(again.init(), 5)
    feed.close()
    with pytest.raises(LiveEnded):
        while True:
            await asyncio.wait_for(again.next(), 5)


async def test_feed_stays_warm_after_the_last_viewer(
    live_camera: _Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tile re-pointed back within WARM_SECONDS starts from the keyframe cache at once."""
    monkeypatch.setattr(live_mod, "WARM_SECONDS", 0.5)
    feed = live_camera.feed
    viewer = feed.subscribe()
    await asyncio.wait_for(viewer.init(), 5)
    viewer.close()
    assert feed.wanted
    await asyncio.sleep(0.2)
    again = feed.subscribe()
    assert feed.init is not None and feed.gop, "init and keyframe cache kept while warm"
    await asyncio.wait_for(again.init(), 0.1)
    again.close()
    await asyncio.sleep(0.8)
    assert not feed.wanted
