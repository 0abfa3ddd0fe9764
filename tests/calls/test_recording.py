"""Call recordings from encoded frames: H.264 and Opus into MP4, VP8 into WebM, timed by the
RTP clock and anchored to arrival; the size limit; a file that starts at a keyframe."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from hub.bus.contracts import CallStream
from hub.calls import recording
from hub.calls.recording import CallRecorder, RecordingWriter, StreamFile, vp8_size
from hub.calls.sfu import PublishedTrack

FPS = 15


def _video(codec: str, n: int, *, gop: int = 15) -> list[tuple[bytes, bool]]:
    enc = av.CodecContext.create("libx264" if codec == "H264" else "libvpx", "w")
    enc.width, enc.height, enc.pix_fmt = 320, 240, "yuv420p"
    enc.time_base = Fraction(1, FPS)
    enc.gop_size = gop
    if codec == "H264":
        enc.options = {"tune": "zerolatency", "preset": "ultrafast"}
    out = []
    rng = np.random.default_rng(1)
    for i in range(n):
        img = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        out += [(bytes(p), bool(p.is_keyframe)) for p in enc.encode(frame)]
    out += [(bytes(p), bool(p.is_keyframe)) for p in enc.encode(None)]
    return out


def _audio(n: int) -> list[bytes]:
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format = 48000, "stereo", "s16"
    out = []
    t = np.arange(960) / 48000
    for i in range(n):
        tone = (np.sin(2 * np.pi * 440 * (t + i * 0.02)) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate, frame.pts = 48000, i * 960
        out += [bytes(p) for p in enc.encode(frame)]
    return out


def _stream(video: str | None = "H264", audio: str | None = "opus") -> CallStream:
    return CallStream(id="s1", kind="person", owner="w1", label="王伟", audio=audio, video=video)


def _file(tmp_path: Path, info: CallStream, max_bytes: int = 1 << 30) -> StreamFile:
    tracks: dict[str, PublishedTrack] = {}
    if info.video:
        tracks["video"] = PublishedTrack("video", info.video, 90000)
    if info.audio:
        tracks["audio"] = PublishedTrack("audio", "opus", 48000)
    return RecordingWriter(tmp_path, max_bytes=max_bytes).new_file(info, tracks)


def _probe(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as c:
        found: dict[str, Any] = {"format": c.format.name}
        for kind in ("video", "audio"):
            streams = getattr(c.streams, kind)
            if not streams:
                continue
            s = streams[0]
            frames = [f for f in c.decode(s)]
            c.seek(0)
            found[kind] = {
                "codec": s.codec_context.name,
                "frames": len(frames),
                "first": float(frames[0].pts * frames[0].time_base) if frames else None,
                "last": float(frames[-1].pts * frames[-1].time_base) if frames else None,
            }
            if kind == "video" and frames:
                found["size"] = (frames[0].width, frames[0].height)
        return found


def _play(f: StreamFile, seconds: float, video: list[tuple[bytes, bool]], audio: list[bytes],
          *, t0: float = 100.0, jitter: float = 0.0, skip_video: int = 0) -> None:  # fmt: skip
    """Write ``seconds`` of interleaved media as the writer thread would get it: RTP
    timestamps on each track's clock, arrival times with some jitter."""
    rng = np.random.default_rng(2)
    events: list[tuple[float, str, bytes, int, bool]] = []
    for i, (data, key) in enumerate(video[: int(seconds * FPS)]):
        if i >= skip_video:
            events.append((i / FPS, "video", data, 1234 + i * 90000 // FPS, key))
    for i, data in enumerate(audio[: int(seconds * 50)]):
        events.append((i * 0.02, "audio", data, 999 + i * 960, True))
    for t, kind, data, ts, key in sorted(events, key=lambda e: e[0]):
        f.write(kind, data, ts, key, t0 + t + float(rng.uniform(0, jitter)))


def test_h264_and_opus_become_an_mp4_with_both_tracks_in_step(tmp_path: Path) -> None:
    f = _file(tmp_path, _stream())
    _play(f, 4.0, _video("H264", 60), _audio(200), jitter=0.08)
    rec = f.close()
    assert rec is not None and rec.container == "mp4"
    assert f.path.exists() and not f.part.exists()
    assert f.path.stat().st_mode & 0o777 == 0o600
    got = _probe(f.path)
    assert got["format"].startswith("mov")
    assert got["video"]["codec"] == "h264" and got["video"]["frames"] == 60
    assert got["audio"]["codec"] == "opus" and got["audio"]["frames"] >= 195
    assert got["size"] == (320, 240)
    # Timed by the RTP clocks, not by jittery arrival: both tracks end near 4 s.
    assert abs(got["video"]["last"] - 59 / FPS) < 0.1
    assert abs(got["audio"]["last"] - 3.98) < 0.1
    assert 3.9 <= rec.seconds <= 4.1 and rec.bytes == f.path.stat().st_size
    assert rec.kind == "person" and rec.owner == "w1" and rec.stream_id == "s1"


def test_vp8_becomes_webm(tmp_path: Path) -> None:
    video = _video("VP8", 30)
    assert vp8_size(video[0][0]) == (320, 240) and vp8_size(video[1][0]) is None
    f = _file(tmp_path, _stream(video="VP8"))
    _play(f, 2.0, video, _audio(100))
    rec = f.close()
    assert rec is not None and rec.container == "webm" and f.path.suffix == ".webm"
    got = _probe(f.path)
    assert got["format"].startswith("matroska")
    assert got["video"]["codec"] == "vp8" and got["video"]["frames"] == 30
    assert got["audio"]["frames"] >= 95


def test_the_file_starts_at_a_keyframe_and_a_silent_stream_writes_nothing(
    tmp_path: Path,
) -> None:
    f = _file(tmp_path, _stream())
    f.close()
    assert not list(tmp_path.iterdir())  # nothing arrived: no file, no description
    f = _file(tmp_path, _stream())
    # Joined mid-GOP: the first 5 frames are not keyframes, and audio before video waits.
    _play(f, 2.0, _video("H264", 30), _audio(100), skip_video=5)
    rec = f.close()
    assert rec is not None
    got = _probe(f.path)
    assert got["video"]["frames"] == 15  # from the keyframe at frame 15
    assert got["video"]["first"] == 0.0 and got["audio"]["first"] >= 0.0


def test_a_gap_in_the_call_is_a_gap_in_the_file(tmp_path: Path) -> None:
    """A 3 s network loss: the publisher's RTP clock carries on from where it was (a new
    connection), but arrival says 3 s passed; the file keeps the gap and the tracks together."""
    f = _file(tmp_path, _stream(audio=None))
    video = _video("H264", 30)
    for i, (data, key) in enumerate(video):
        late = 3.0 if i >= 15 else 0.0
        f.write("video", data, i * 6000, key, 10.0 + i / FPS + late)
    rec = f.close()
    assert rec is not None
    got = _probe(f.path)
    assert got["video"]["frames"] == 30
    assert abs(got["video"]["last"] - (29 / FPS + 3.0)) < 0.05


def test_a_recording_stops_at_its_size_limit(tmp_path: Path) -> None:
    video = _video("H264", 60)
    limit = sum(len(d) for d, _ in video[:20]) + 1
    f = _file(tmp_path, _stream(audio=None), max_bytes=limit)
    _play(f, 4.0, video, [])
    rec = f.close()
    assert rec is not None and rec.truncated
    assert f.written < limit
    assert _probe(f.path)["video"]["frames"] == 20
    f = _file(tmp_path, _stream(audio=None), max_bytes=10)  # not even the first frame fits
    _play(f, 1.0, video, [])
    assert f.close() is None and not f.part.exists() and not f.path.exists()


async def test_the_recorder_follows_published_tracks_through_the_writer_thread(
    tmp_path: Path,
) -> None:
    writer = RecordingWriter(tmp_path, max_bytes=1 << 30)
    writer.start()
    try:
        info = _stream(audio=None)
        track = PublishedTrack("video", "H264", 90000)
        asked = []
        track.keyframe_request = lambda: asked.append(1)
        recorder = CallRecorder(writer)
        recorder.add(info, {"video": track})
        assert asked  # the recording starts at a keyframe asked for, not the next natural one
        for i, (data, _key) in enumerate(_video("H264", 45)):
            track.on_frame("H264", data, i * 6000)
            await asyncio.sleep(0)
        [rec] = await recorder.finish()
        assert not track.taps  # the recorder let go of the track
        path = writer.path(rec.id, rec.container)
        assert _probe(path)["video"]["frames"] == 45
        assert await recorder.finish() == [rec]
    finally:
        await writer.stop()


async def test_a_writer_that_falls_behind_drops_frames_and_resumes_at_a_keyframe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recording, "MAX_QUEUED", 10)
    writer = RecordingWriter(tmp_path, max_bytes=1 << 30)  # not started: nothing drains
    f = _file(tmp_path, _stream(audio=None))
    frames = _video("H264", 30)
    for i, (data, key) in enumerate(frames[:20]):
        writer.frame(f, "video", data, i, key)
    assert writer._queue.qsize() == 10 and f.need_key
    writer.frame(f, "video", frames[20][0], 20, frames[20][1])  # not a keyframe: waits
    assert writer._queue.qsize() == 10


def test_ids_and_containers_are_checked_before_they_name_a_path(tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path, max_bytes=1)
    for rid, container in (("../etc/passwd", "mp4"), ("a" * 32, "sh"), ("A" * 32, "mp4")):
        with pytest.raises(ValueError):
            writer.path(rid, container)


async def test_a_write_that_fails_stops_that_file_only_and_keeps_what_it_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    writer = RecordingWriter(tmp_path, max_bytes=1 << 30)
    writer.start()
    try:
        video = _video("H264", 30)
        bad, good = _file(tmp_path, _stream(audio=None)), _file(tmp_path, _stream(audio=None))
        calls = 0
        real_open = StreamFile._open

        class FullDisk:
            """The muxer of ``bad``: the first frame fits, then the disk is full."""

            def __init__(self, out: Any) -> None:
                self.out, self.n = out, 0

            def mux(self, packet: Any) -> None:
                nonlocal calls
                self.n += 1
                if self.n > 1:
                    calls += 1
                    raise OSError(28, "No space left on device")
                self.out.mux(packet)

            def close(self) -> None:
                self.out.close()

        def opened(self: StreamFile, first: bytes) -> bool:
            ok = real_open(self, first)
            if ok and self is bad:
                self.out = FullDisk(self.out)
            return ok

        monkeypatch.setattr(StreamFile, "_open", opened)
        for i, (data, key) in enumerate(video):
            writer.frame(bad, "video", data, i * 6000, key)
            writer.frame(good, "video", data, i * 6000, key)
        rec_bad, rec_good = await writer.close(bad), await writer.close(good)
        assert rec_good is not None and _probe(good.path)["video"]["frames"] == 30
        assert rec_bad is not None and _probe(bad.path)["video"]["frames"] == 1
        assert bad.failed and bad.errors == 1 and calls == 1  # stopped at the first failure
        assert sum("stops" in r.message for r in caplog.records) == 1
    finally:
        await writer.stop()
