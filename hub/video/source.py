"""One camera's upstream connection: open, demux, decode, sample, reconnect. Runs in its own thread.

The one connection feeds both analytics (sampled frames, via a callback) and live viewers
(demuxed packets, via a ``LiveTap``), so a camera is never opened twice.

Failure handling, per camera and never touching the others:

* PyAV reads carry a timeout (``av.open(timeout=(open, read))``, ffmpeg's interrupt callback),
  so a camera that goes silent raises after ``Settings.stall_seconds`` instead of hanging the
  thread. A stream that delivers packets but no decodable frames for ``stall_seconds`` is torn
  down the same way. Both count as a stall.
* A stream whose frame rate runs far above its nominal rate is treated as suspect (Frigate's
  "frozen camera" signal: a broken stream replays or bursts) and reopened.
* Reconnects back off exponentially between ``reconnect_min_seconds`` and
  ``reconnect_max_seconds`` with jitter, so many cameras behind one failed switch do not
  reconnect in lockstep.
* RTSP tries TCP interleaved first; a server that answers 461 (VLC, some cameras) makes PyAV
  raise EPROTONOSUPPORT, and the source falls back to UDP and remembers it.
"""

from __future__ import annotations

import errno
import logging
import math
import random
import time
from typing import Any

import av

from hub.bus.contracts import CameraState
from hub.config import Camera, Settings
from hub.redact import source_text
from hub.video.live import LiveTap
from hub.video.live_edge import LiveEdge
from hub.video.ring import PacketRing
from hub.video.source_base import FrameCallback, IngestThread

log = logging.getLogger(__name__)

SUSPECT_FPS_FACTOR = 3.0
"""Received frame rate above this multiple of the nominal rate (sustained) is suspect."""
SUSPECT_WINDOW_SECONDS = 5.0
LATE_LOG_SECONDS = 60.0
"""A camera's catch-ups with live are logged at most this often."""


class _Stalled(Exception):
    pass


class _Ended(Exception):
    """A file reached its end (it loops) or the server closed the stream cleanly."""


def backoff_delay(attempt: int, lo: float, hi: float, rng: random.Random | None = None) -> float:
    """Capped exponential backoff with "equal jitter": uniform in [d/2, d], d = min(hi, lo*2^n)."""
    d = min(hi, math.ldexp(lo, min(attempt, 30)))
    r = float((rng or random).random())
    return d / 2 + r * d / 2


def open_stream(url: str, transport: str, stall: float) -> Any:
    """``av.open`` a camera URL (RTSP over ``transport``, or a file) with bounded blocking."""
    options: dict[str, str] = {}
    if is_file_url(url):
        url = url.removeprefix("file://")
    elif url.startswith(("rtsp://", "rtsps://")):
        options = {
            "rtsp_transport": transport,
            # Socket I/O timeout (microseconds) in ffmpeg's RTSP/TCP layer, besides the
            # interrupt-callback timeout PyAV applies to every blocking call.
            "timeout": str(int(stall * 1_000_000)),
            "fflags": "nobuffer",
        }
    return av.open(url, options=options, timeout=(max(stall, 5.0), stall))


def is_file_url(url: str) -> bool:
    return url.startswith("file://") or "://" not in url


class CameraSource(IngestThread):
    """The ingest thread of one camera the hub pulls from (RTSP or a file)."""

    def __init__(
        self,
        camera: Camera,
        settings: Settings,
        *,
        on_frame: FrameCallback | None = None,
        live: LiveTap | None = None,
        ring: PacketRing | None = None,
        pace_files: bool = True,
        loop_files: bool = True,
    ) -> None:
        super().__init__(camera, settings, on_frame=on_frame)
        self._live = live
        self._ring = ring
        """Recent packets for evidence clips (``hub.video.ring``); fed like the live tap."""
        self._file = is_file_url(camera.url)
        self._pace = pace_files and self._file
        self._loop_files = loop_files
        self._transport = "tcp"
        self._rng = random.Random()
        self._late_logged_at = -math.inf
        self._late_unlogged = 0

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        ever_online = False
        try:
            while not self._stop.is_set():
                if not ever_online:
                    self.stats.state = "connecting"
                frames_before = self.stats.frames_in
                try:
                    self._session()
                    if self._stop.is_set():
                        break
                    raise _Ended("end of stream")
                except _Ended as exc:
                    if self._file and self._loop_files and self.stats.frames_in > frames_before:
                        # A looping file restarts at once; that is not a reconnect, and the
                        # camera stays online (not "connecting") while it reopens.
                        ever_online = True
                        continue
                    if self._file and not self._loop_files:
                        break
                    self._fail(str(exc), "offline")
                except _Stalled as exc:
                    self.stats.stalls += 1
                    self._fail(str(exc), "stalled")
                except Exception as exc:
                    if self._stop.is_set():
                        break
                    if (
                        self._transport == "tcp"
                        and not self._file
                        and getattr(exc, "errno", None) == errno.EPROTONOSUPPORT
                    ):
                        log.info(
                            "camera %s: server refuses RTSP over TCP; using UDP", self.camera.id
                        )
                        self._transport = "udp"
                        continue
                    self._fail(f"{type(exc).__name__}: {exc}", "offline")
                if self.stats.frames_in > frames_before:
                    ever_online = True
                    attempt = 0
                delay = backoff_delay(
                    attempt,
                    self.settings.reconnect_min_seconds,
                    self.settings.reconnect_max_seconds,
                    self._rng,
                )
                attempt += 1
                if self._stop.wait(delay):
                    break
                self.stats.reconnects += 1
        finally:
            if self._live is not None:
                self._live.close()
            if self._ring is not None:
                self._ring.close()
            self.stats.state = "offline"
            self.finished.set()

    def _fail(self, message: str, state: CameraState) -> None:
        # PyAV's errors name the URL, password included, or the local path of a file source.
        message = source_text(message, self.camera.url)
        st = self.stats
        # Say it once per change: a camera down for hours must not flood the log.
        level = logging.DEBUG if message == st.last_error else logging.WARNING
        log.log(level, "camera %s: %s (%s)", self.camera.id, message, state)
        st.last_error = message
        st.state = state

    def _open(self) -> Any:
        if not self._file and self.camera.url.startswith(("rtsp://", "rtsps://")):
            self.stats.transport = self._transport
        return open_stream(self.camera.url, self._transport, self.settings.stall_seconds)

    def _session(self) -> None:
        st = self.stats
        container = self._open()
        try:
            if not container.streams.video:
                raise _Ended("no video stream")
            stream = container.streams.video[0]
            cc = stream.codec_context
            # One decoder thread per camera: frame threading would add latency and memory per
            # camera, and cameras already run in parallel.
            cc.thread_count = 1
            if self.camera.decode_keyframes_only:
                cc.skip_frame = "NONKEY"
            st.codec = cc.name
            st.width = cc.width or None
            st.height = cc.height or None
            nominal = stream.average_rate or stream.guessed_rate
            nominal_fps = float(nominal) if nominal and 1 <= nominal <= 240 else None
            if self._live is not None:
                self._live.on_connect(stream)
            if self._ring is not None:
                self._ring.on_connect(stream)
            self._run_demux(container, stream, nominal_fps)
        finally:
            try:
                container.close()
            except Exception as exc:
                log.debug(
                    "camera %s: close: %s", self.camera.id, source_text(str(exc), self.camera.url)
                )

    def _run_demux(self, container: Any, stream: Any, nominal_fps: float | None) -> None:
        st = self.stats
        stall = self.settings.stall_seconds
        conn_mono = time.monotonic()
        last_progress = conn_mono
        first_pkt_time: float | None = None
        first_frame_time: float | None = None
        window_start = conn_mono
        window_frames = 0
        gap = 0.0
        if self._last_wall is not None:
            gap = max(time.time() - self._last_wall, 0.0)
        # Media time runs on across connections (rebased by the wall-clock gap) so analytics
        # sees one monotonic timeline per camera.
        base = 0.0 if self._last_media is None else self._last_media + max(gap, 1e-3)
        time_base = stream.time_base
        # An unpaced file (benchmarks, offline runs) is meant to run fast; keyframes-only decode
        # yields few frames by design: neither says anything about the camera.
        check_rate = not (self._file and not self._pace) and not self.camera.decode_keyframes_only
        nominal = nominal_fps or 0.0
        if nominal_fps is None:
            check_rate = False
        # Files are analysed whole (paced or not); only a live camera can leave a backlog.
        edge = None if self._file else LiveEdge(self.settings.max_lag_seconds)
        keyframes_only = self.camera.decode_keyframes_only
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except Exception as exc:
                # PyAV's read timeout surfaces as an exit/IO error: a silent camera is a stall.
                silent = time.monotonic() - last_progress
                if silent >= stall * 0.9:
                    raise _Stalled(f"no data for {silent:.1f} s ({exc})") from exc
                raise
            if self._stop.is_set():
                return
            if self._pace and packet.pts is not None and time_base is not None:
                t = float(packet.pts * time_base)
                if first_pkt_time is None:
                    first_pkt_time = t
                ahead = conn_mono + (t - first_pkt_time) - time.monotonic()
                if ahead > 0 and self._stop.wait(ahead):
                    return
            wall = time.time()
            mono = time.monotonic()
            if packet.size > 0:
                st.packets_in += 1
                if packet.is_corrupt:
                    st.decode_errors += 1
                if self._ring is not None:
                    self._ring.on_packet(packet, wall)
            frames: list[Any]
            if edge is not None and packet.size > 0 and not self._catch_up(edge, packet, mono):
                frames = []
            elif keyframes_only and not packet.is_keyframe:
                # The decoder would skip it too (skip_frame NONKEY), after parsing it.
                frames = []
            else:
                frames = self._decode(stream, packet)
            if self._live is not None and packet.size > 0:
                # After decoding: the muxer rewrites the packet's timestamps and stream.
                self._live.on_packet(packet)
            for frame in frames:
                if frame.is_corrupt:
                    st.decode_errors += 1
                t = frame.time
                if t is None:
                    t = mono - conn_mono
                if first_frame_time is None:
                    first_frame_time = t
                media = base + (t - first_frame_time)
                if self._last_media is not None and media <= self._last_media:
                    media = self._last_media + 1e-3
                self._deliver(frame, media, wall)
                last_progress = mono
                window_frames += 1
            if mono - last_progress > stall:
                raise _Stalled(f"no frame for {mono - last_progress:.1f} s")
            if check_rate and mono - window_start >= SUSPECT_WINDOW_SECONDS:
                rate = window_frames / (mono - window_start)
                if rate > SUSPECT_FPS_FACTOR * nominal + 5:
                    st.suspect_fps += 1
                    raise _Stalled(f"{rate:.0f} fps is far above nominal {nominal:.0f}")
                window_start, window_frames = mono, 0

    def _decode(self, stream: Any, packet: Any) -> list[Any]:
        try:
            return list(stream.decode(packet))
        except av.error.FFmpegError as exc:
            self.stats.decode_errors += 1
            self.stats.last_error = source_text(f"decode: {exc}", self.camera.url)
            return []

    def _catch_up(self, edge: LiveEdge, packet: Any, read_at: float) -> bool:
        """Whether to decode this packet of a live camera; False while catching up a backlog."""
        ts = packet.dts if packet.dts is not None else packet.pts
        media = float(ts * packet.time_base) if ts is not None and packet.time_base else None
        was = edge.skipping
        decode = edge.decode(media, read_at, bool(packet.is_keyframe))
        st = self.stats
        st.lag_seconds = edge.lag
        if not decode:
            st.frames_skipped_late += 1
        if edge.skipping and not was:
            # A machine that cannot keep up catches up every few seconds: say so once a minute.
            self._late_unlogged += 1
            if read_at - self._late_logged_at >= LATE_LOG_SECONDS:
                log.warning(
                    "camera %s: %.1f s behind live; skipping decode to the next keyframe near it"
                    " (%d times since the last such message; frames skipped so far: %d)",
                    self.camera.id,
                    edge.lag,
                    self._late_unlogged,
                    st.frames_skipped_late,
                )
                self._late_logged_at, self._late_unlogged = read_at, 0
        return decode
