"""Call recordings: every stream of a case's call written to its own file as it arrives.

A stream (a participant's camera and microphone, a shared street camera or drone) is recorded
from the encoded frames its ``PublishedTrack`` forwards, never decoded or re-encoded: H.264
(with Opus) into fragmented MP4, VP8 (with Opus) into WebM. Fragmented MP4 is written as it
goes (a fragment per keyframe or 2 s), so the writer holds no more than a fragment in memory and
a file cut short by a crash is still readable up to its last fragment.

Timing: within a track the RTP timestamps give the spacing (the jitter of arrival would make
audio crackle); the track is anchored to the time its frame arrived, and anchored again when the
two drift apart by more than ``REANCHOR_SECONDS`` (a network loss, a publisher reconnecting), so
audio and video stay together and a gap in the call is a gap in the file.

All writing happens in one ``call-recordings`` thread; the event loop only queues frames. When
the queue is longer than ``MAX_QUEUED`` (the disk cannot keep up) frames are dropped and video
starts again at its next keyframe. A file stops growing at ``max_bytes`` (``truncated``). Files
are written under a ``.part`` name and renamed when complete, so a recording is never served
half-written.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import logging
import os
import queue
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from prometheus_client import Counter

from hub.bus.contracts import CallRecording, CallStream
from hub.calls.sfu import PublishedTrack

log = logging.getLogger(__name__)

TIME_BASE = Fraction(1, 1000)
REANCHOR_SECONDS = 0.5
MAX_QUEUED = 3000
"""Frames waiting for the writer (all calls): about 20 s of one stream, 3 s of six."""
MIN_FREE_BYTES = 512 * 1024 * 1024
"""A recording does not start when the disk has less free than this."""
MP4_OPTIONS = {
    "movflags": "frag_keyframe+empty_moov+default_base_moof",
    "frag_duration": "2000000",
}

RECORDED_BYTES = Counter(
    "hub_call_recorded_bytes_total", "Bytes of media written to call recordings"
)
RECORDING_DROPS = Counter(
    "hub_call_recording_dropped_total", "Frames call recordings dropped, by reason", ["reason"]
)


def container_for(video: str | None) -> str:
    """``webm`` for VP8, ``mp4`` for H.264 or audio alone."""
    return "webm" if video is not None and video.lower() == "vp8" else "mp4"


def vp8_size(frame: bytes) -> tuple[int, int] | None:
    """Width and height a VP8 keyframe states (RFC 6386 9.1), None for another frame."""
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    w = int.from_bytes(frame[6:8], "little") & 0x3FFF
    h = int.from_bytes(frame[8:10], "little") & 0x3FFF
    return (w, h) if w and h else None


@dataclass(eq=False)
class _Track:
    kind: str
    codec: str
    clock_rate: int
    stream: Any = None
    anchor_ts: int | None = None
    anchor_t: float = 0.0
    last_pts: int = -1


@dataclass(eq=False)
class StreamFile:
    """One stream's recording. Fields below ``tracks`` belong to the writer thread, except
    ``need_key`` (event loop)."""

    id: str
    info: CallStream
    path: Path
    container: str
    tracks: dict[str, _Track]
    max_bytes: int
    need_key: bool = True
    started_at: datetime | None = None
    start_t: float | None = None
    last_t: float = 0.0
    out: Any = None
    written: int = 0
    truncated: bool = False
    errors: int = 0
    failed: bool = False
    """Writing failed (a full disk): the file keeps what it has and takes nothing more."""
    closed: bool = False
    _template: Any = field(default=None, repr=False)

    @property
    def part(self) -> Path:
        return self.path.with_name(self.path.name + ".part")

    # -- writer thread ---------------------------------------------------------------------

    def write(self, kind: str, data: bytes, ts: int, key: bool, t: float) -> None:
        if self.closed or self.truncated or self.failed:
            return
        track = self.tracks.get(kind)
        if track is None:
            return
        if self.out is None:
            if kind != ("video" if "video" in self.tracks else "audio") or not key:
                return  # a file starts at its video's first keyframe
            if not self._open(data):
                return
            self.start_t = t
            self.started_at = datetime.now(UTC)
        if self.written + len(data) > self.max_bytes:
            self.truncated = True
            log.warning("recording %s… reached %d bytes; stopped", self.id[:6], self.max_bytes)
            return
        assert self.start_t is not None
        if track.anchor_ts is None or abs(self._at(track, ts) - t) > REANCHOR_SECONDS:
            track.anchor_ts, track.anchor_t = ts, t
        pts = round((self._at(track, ts) - self.start_t) * 1000)
        if pts <= track.last_pts:
            pts = track.last_pts + 1
        track.last_pts = pts
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        packet.time_base = TIME_BASE
        packet.is_keyframe = key
        packet.stream = track.stream
        self.out.mux(packet)
        self.written += len(data)
        self.last_t = max(self.last_t, t)
        RECORDED_BYTES.inc(len(data))

    @staticmethod
    def _at(track: _Track, ts: int) -> float:
        assert track.anchor_ts is not None
        return track.anchor_t + (ts - track.anchor_ts) / track.clock_rate

    def _open(self, first: bytes) -> bool:
        video = self.tracks.get("video")
        try:
            tpl: Any = None
            size: tuple[int, int] | None = None
            if video is not None and video.codec.lower() == "h264":
                self._template = av.open(io.BytesIO(first), format="h264")
                tpl = self._template.streams.video[0]
                if not tpl.codec_context.width:
                    raise ValueError("no picture size in the keyframe")
            elif video is not None:
                size = vp8_size(first)
                if size is None:
                    raise ValueError("not a VP8 keyframe")
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Created private first: the muxer opens it later, keeping the mode.
            os.close(os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
            options = MP4_OPTIONS if self.container == "mp4" else {}
            out = av.open(str(self.part), "w", format=self.container, options=options)
            if video is not None:
                if tpl is not None:
                    video.stream = out.add_stream_from_template(tpl)
                elif size is not None:
                    video.stream = out.add_stream("libvpx")
                    video.stream.width, video.stream.height = size
                video.stream.time_base = TIME_BASE
            audio = self.tracks.get("audio")
            if audio is not None:
                audio.stream = out.add_stream("libopus", rate=48000)
                audio.stream.time_base = TIME_BASE
            self.out = out
            return True
        except (av.error.FFmpegError, ValueError, IndexError, OSError) as exc:
            if self._template is not None:
                self._template.close()
                self._template = None
            self.errors += 1
            log.warning("recording %s…: cannot start: %s", self.id[:6], exc)
            return False

    def close(self) -> CallRecording | None:
        """Finish the file; its description, or None when nothing was written."""
        if self.closed:
            return None
        self.closed = True
        if self._template is not None:
            self._template.close()
        if self.out is None:
            return None
        try:
            self.out.close()
            if not self.written:  # not a frame fitted: no recording
                self.part.unlink()
                return None
            self.part.replace(self.path)
        except (av.error.FFmpegError, OSError) as exc:
            log.warning("recording %s…: cannot finish: %s", self.id[:6], exc)
            self.part.unlink(missing_ok=True)
            return None
        assert self.started_at is not None and self.start_t is not None
        seconds = round(self.last_t - self.start_t, 3)
        return CallRecording(
            id=self.id,
            stream_id=self.info.id,
            kind=self.info.kind,
            owner=self.info.owner,
            label=self.info.label,
            container=self.container,
            bytes=self.path.stat().st_size,
            seconds=seconds,
            started_at=self.started_at,
            ended_at=self.started_at + timedelta(seconds=seconds),
            truncated=self.truncated,
        )


_Job = (
    tuple[StreamFile, str, bytes, int, bool, float]
    | tuple[StreamFile, concurrent.futures.Future[Any]]
)


class RecordingWriter:
    """Writes every call's recordings in one thread."""

    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self.dir = directory
        self.max_bytes = max_bytes
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="call-recordings", daemon=True)
            self._thread.start()

    async def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            await asyncio.to_thread(self._thread.join, 30)
            self._thread = None

    def path(self, recording_id: str, container: str) -> Path:
        if len(recording_id) != 32 or any(c not in "0123456789abcdef" for c in recording_id):
            raise ValueError("bad recording id")
        if container not in ("mp4", "webm"):
            raise ValueError("bad container")
        return self.dir / f"{recording_id}.{container}"

    def room_on_disk(self) -> bool:
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            return shutil.disk_usage(self.dir).free >= MIN_FREE_BYTES
        except OSError:
            return False

    def new_file(self, info: CallStream, tracks: dict[str, PublishedTrack]) -> StreamFile:
        rid = secrets.token_hex(16)
        container = container_for(info.video)
        return StreamFile(
            id=rid,
            info=info,
            path=self.path(rid, container),
            container=container,
            tracks={k: _Track(k, t.codec, t.clock_rate) for k, t in tracks.items()},
            max_bytes=self.max_bytes,
        )

    def frame(self, f: StreamFile, kind: str, data: bytes, ts: int, key: bool) -> None:
        """A frame of ``f``'s stream (event loop): queued for the writer."""
        if kind == "video" and f.need_key:
            if not key:
                return
            f.need_key = False
        if self._queue.qsize() >= MAX_QUEUED:
            RECORDING_DROPS.labels("behind").inc()
            if kind == "video":
                f.need_key = True
            return
        self._queue.put((f, kind, data, ts, key, time.monotonic()))

    async def close(self, f: StreamFile) -> CallRecording | None:
        done: concurrent.futures.Future[CallRecording | None] = concurrent.futures.Future()
        self._queue.put((f, done))
        if self._thread is None:  # not started (tests): nothing else writes
            return f.close()
        return await asyncio.wrap_future(done)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            f = job[0]
            try:
                if len(job) == 2:
                    job[1].set_result(f.close())
                else:
                    _, kind, data, ts, key, t = job
                    f.write(kind, data, ts, key, t)
            except Exception as exc:  # one bad file must not stop the others
                f.errors += 1
                RECORDING_DROPS.labels("error").inc()
                if len(job) == 2:
                    log.warning("recording %s…: %s: %s", f.id[:6], type(exc).__name__, exc)
                    if not job[1].done():
                        job[1].set_result(None)
                elif not f.failed:  # once: a full disk would fail every frame after
                    f.failed = True
                    log.warning("recording %s… stops: %s: %s", f.id[:6], type(exc).__name__, exc)


class CallRecorder:
    """The recordings of one call: a file per stream, fed by taps on its published tracks."""

    def __init__(self, writer: RecordingWriter) -> None:
        self.writer = writer
        self._files: dict[str, StreamFile] = {}
        self._untap: dict[str, list[Callable[[], None]]] = {}
        self._done: list[CallRecording] = []

    def add(self, info: CallStream, tracks: dict[str, PublishedTrack]) -> None:
        if info.id in self._files or not tracks:
            return
        f = self.writer.new_file(info, tracks)
        self._files[info.id] = f
        untaps = []
        for kind, track in tracks.items():

            def tap(data: bytes, ts: int, key: bool, kind: str = kind) -> None:
                self.writer.frame(f, kind, data, ts, key)

            untaps.append(track.tap(tap))
            if kind == "video":
                track.ask_keyframe()  # start the file now, not at the publisher's next one
        self._untap[info.id] = untaps

    async def remove(self, stream_id: str) -> None:
        """The stream left the call: its file is finished."""
        f = self._files.pop(stream_id, None)
        for untap in self._untap.pop(stream_id, []):
            untap()
        if f is not None:
            rec = await self.writer.close(f)
            if rec is not None:
                self._done.append(rec)

    async def finish(self) -> list[CallRecording]:
        for stream_id in list(self._files):
            await self.remove(stream_id)
        return sorted(self._done, key=lambda r: r.started_at)
