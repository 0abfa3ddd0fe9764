"""A camera that publishes to the hub (a drone or a camera vehicle over WHIP): its ingest thread.

The WebRTC side (``hub.video.whip``) hands over each assembled H.264 access unit as it leaves
aiortc's jitter buffer (Annex B, RTP timestamp) through ``push``; nothing is decoded on the
event loop. This thread then does what ``CameraSource`` does for a pulled camera: feeds the clip
ring and the live view with the encoded units (passed through, never re-encoded), decodes them
with one decoder thread, and samples frames to ``analysis_fps`` for the analytics core.

The live view and clips need a stream template (codec parameters, SPS/PPS): it is made from the
first keyframe that carries SPS and PPS, and made again when they change (a new resolution).

A publisher faster than this thread can decode does not build a backlog: past ``MAX_QUEUED``
units the queue is dropped, decode resumes at the next keyframe (counted in
``frames_skipped_late``), and the publisher is asked for one (``request_keyframe``, a PLI).
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av

from hub.config import Camera, Settings
from hub.rtc.h264 import NAL_IDR, NAL_PPS, NAL_SPS, split_nals
from hub.video.live import LiveTap
from hub.video.ring import PacketRing
from hub.video.source_base import FrameCallback, IngestThread

log = logging.getLogger(__name__)

RTP_CLOCK = 90_000
TIME_BASE = Fraction(1, RTP_CLOCK)
MAX_QUEUED = 60
"""Access units waiting for decode (2-4 s of video) before the thread skips to a keyframe."""
KEYFRAME_REQUEST_SECONDS = 1.0
"""At most one keyframe request per this long."""


class RtpClock:
    """Unwraps 32-bit RTP timestamps into a count that only grows."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._wraps = 0

    def unwrap(self, ts: int) -> int:
        if self._last is not None:
            if ts < self._last and self._last - ts > 1 << 31:
                self._wraps += 1
            elif ts > self._last and ts - self._last > 1 << 31:
                # A unit reordered from before the wrap: leave the count where it was.
                return (self._wraps - 1) * (1 << 32) + ts
        self._last = ts
        return self._wraps * (1 << 32) + ts


class WhipSource(IngestThread):
    """The ingest thread of one published camera, for as long as one WHIP session lasts."""

    thread_prefix = "whip"

    def __init__(
        self,
        camera: Camera,
        settings: Settings,
        *,
        on_frame: FrameCallback | None = None,
        live: LiveTap | None = None,
        ring: PacketRing | None = None,
        request_keyframe: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(camera, settings, on_frame=on_frame)
        self._live = live
        self._ring = ring
        self._request_keyframe = request_keyframe
        self._queue: deque[tuple[bytes, int, float]] = deque()
        self._ready = threading.Condition()
        self._clock = RtpClock()
        self._template_container: Any = None
        self._template: Any = None
        self._sps_pps: bytes | None = None
        self._decoder: Any = None
        self._skip_to_key = True
        """Decode (and mux) nothing before the first keyframe, and after a dropped backlog."""
        self._first_ts: int | None = None
        self._base = 0.0
        self._last_key_request = -1e9
        self.stats.codec = "h264"
        self.stats.transport = "whip"

    # -- event loop side ---------------------------------------------------------------------

    def push(self, data: bytes, rtp_timestamp: int) -> None:
        """One assembled access unit from the publisher (called on the event loop; cheap)."""
        with self._ready:
            if len(self._queue) >= MAX_QUEUED:
                self.stats.frames_skipped_late += len(self._queue)
                self._queue.clear()
                self._skip_to_key = True
                self._ask_keyframe()
            self._queue.append((data, rtp_timestamp, time.time()))
            self._ready.notify()

    def request_stop(self) -> None:
        super().request_stop()
        # The camera keeps its last source (to continue its timeline): it must not keep the
        # ended session's receiver, and with it the whole closed peer connection, alive.
        self._request_keyframe = None
        with self._ready:
            self._ready.notify()

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        st = self.stats
        st.state = "connecting"
        stall = self.settings.stall_seconds
        last_progress = time.monotonic()
        gap = 0.0 if self._last_wall is None else max(time.time() - self._last_wall, 0.0)
        self._base = 0.0 if self._last_media is None else self._last_media + max(gap, 1e-3)
        try:
            while not self._stop.is_set():
                with self._ready:
                    if not self._queue:
                        self._ready.wait(min(0.5, stall))
                    item = self._queue.popleft() if self._queue else None
                now = time.monotonic()
                if item is None:
                    silent = now - last_progress
                    if silent > stall and self.stats.state == "online":
                        st.stalls += 1
                        st.state = "stalled"
                        st.last_error = f"no video for {silent:.1f} s"
                        log.warning("camera %s: %s", self.camera.id, st.last_error)
                        self._ask_keyframe()
                    continue
                if self._unit(*item):
                    last_progress = now
        except Exception as exc:  # a bug here must not take the hub down, only this source
            log.exception("camera %s: WHIP ingest failed", self.camera.id)
            st.last_error = f"{type(exc).__name__}: {exc}"
        finally:
            if self._live is not None:
                self._live.close()
            if self._ring is not None:
                self._ring.close()
            if self._template_container is not None:
                self._template_container.close()
            st.state = "offline"
            self.finished.set()

    def _unit(self, data: bytes, rtp_ts: int, wall: float) -> bool:
        """Handle one access unit; True if it gave a frame."""
        st = self.stats
        st.packets_in += 1
        nals = split_nals(data)
        types = {n[0] & 0x1F for n in nals}
        key = NAL_IDR in types
        if key and NAL_SPS in types and NAL_PPS in types:
            params = b"".join(n for n in nals if n[0] & 0x1F in (NAL_SPS, NAL_PPS))
            self._check_template(data, params)
        if self._skip_to_key:
            if not key or self._template is None:
                self._ask_keyframe()
                return False
            self._skip_to_key = False
        ts = self._clock.unwrap(rtp_ts)
        if self._first_ts is None:
            self._first_ts = ts
        packet = av.Packet(data)
        packet.pts = packet.dts = ts
        packet.time_base = TIME_BASE
        packet.is_keyframe = key
        if self._ring is not None:
            self._ring.on_packet(packet, wall)
        frames = self._decode(packet)
        if self._live is not None:
            self._live.on_packet(packet)  # after decoding: the muxer rewrites the packet
        media = self._base + (ts - self._first_ts) / RTP_CLOCK
        if self._last_media is not None and media <= self._last_media:
            media = self._last_media + 1e-3
        for frame in frames:
            if frame.is_corrupt:
                st.decode_errors += 1
            self._deliver(frame, media, wall)
        return bool(frames)

    def _check_template(self, data: bytes, head: bytes) -> None:
        """Make the stream template from a keyframe whose SPS/PPS (``head``) are new."""
        if head == self._sps_pps and self._template is not None:
            return
        try:
            container = av.open(io.BytesIO(data), format="h264")
            stream = container.streams.video[0]
            stream.time_base = TIME_BASE
            if not stream.codec_context.width:
                raise ValueError("no picture size in the keyframe")
        except (av.error.FFmpegError, ValueError, IndexError) as exc:
            self.stats.decode_errors += 1
            self.stats.last_error = f"keyframe unreadable: {exc}"
            return
        changed = self._template is not None
        if self._template_container is not None:
            self._template_container.close()
        self._template_container, self._template, self._sps_pps = container, stream, head
        cc = stream.codec_context
        self.stats.width, self.stats.height = cc.width, cc.height
        if changed:
            log.info("camera %s: stream is now %dx%d", self.camera.id, cc.width, cc.height)
        self._decoder = av.CodecContext.create("h264", "r")
        self._decoder.thread_count = 1
        if self._live is not None:
            self._live.on_connect(stream)
        if self._ring is not None:
            self._ring.on_connect(stream)

    def _decode(self, packet: Any) -> list[Any]:
        try:
            return list(self._decoder.decode(packet))
        except av.error.FFmpegError as exc:
            self.stats.decode_errors += 1
            self.stats.last_error = f"decode: {exc}"
            self._ask_keyframe()
            return []

    def _ask_keyframe(self) -> None:
        now = time.monotonic()
        if self._request_keyframe is None:
            return
        if now - self._last_key_request < KEYFRAME_REQUEST_SECONDS:
            return
        self._last_key_request = now
        try:
            self._request_keyframe()
        except Exception as exc:  # the session may be closing
            log.debug("camera %s: keyframe request: %s", self.camera.id, exc)
