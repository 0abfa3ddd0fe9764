"""Selective forwarding: encoded frames from one publisher to many subscribers, never decoded.

A ``PublishedTrack`` is one audio or video track that enters a call (a participant's camera or
microphone, a shared street camera, a drone). Its frames arrive encoded (from an aiortc
receiver through ``hub.rtc.receiver_tap``, or from a camera's ingest thread) and are offered to
each subscriber's ``ForwardTrack``, whose ``recv`` returns ``av.Packet``s: aiortc's sender then
only packetizes them (``Encoder.pack``), so forwarding costs a copy and SRTP, not an encode.

A subscriber that starts, or falls behind, waits for the next keyframe (its queue is dropped
rather than grown) and the publisher is asked for one (RTCP PLI); a subscriber's own keyframe
requests (its PLIs) are passed up to the publisher the same way. A camera cannot be asked: its
subscribers wait for its next keyframe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from hub.rtc.h264 import NAL_IDR, nal_types

log = logging.getLogger(__name__)

VIDEO_QUEUE = 30
"""Video frames waiting for one subscriber's sender before it skips to the next keyframe."""
KEYFRAME_REQUEST_SECONDS = 0.5
"""At most one keyframe request to a publisher per this long, however many subscribers wait."""
MAX_GAP_SECONDS = 10
"""A source timestamp further than this past the last one is a jump, not a pause."""
FrameTap = Callable[[bytes, int, bool], None]
"""(encoded frame, timestamp on the track's clock, keyframe), on the event loop."""
AUDIO_QUEUE = 25
"""Audio frames (20 ms each) waiting before the oldest are dropped."""


def is_keyframe(codec: str, data: bytes) -> bool:
    codec = codec.lower()
    if codec == "h264":
        return NAL_IDR in nal_types(data)
    if codec == "vp8":
        return bool(data) and not data[0] & 0x01
    return True  # audio: every frame stands alone


@dataclass
class TrackStats:
    frames: int = 0
    bytes: int = 0
    keyframes: int = 0


class ForwardTrack(MediaStreamTrack):
    """One subscriber's copy of a published track."""

    def __init__(self, source: PublishedTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        """``av.Packet``s, then None when stopped."""
        self._limit = VIDEO_QUEUE if source.kind == "video" else AUDIO_QUEUE
        self._need_key = source.kind == "video"
        self.dropped = 0
        self.sent = 0

    def offer(self, data: bytes, timestamp: int, key: bool) -> None:
        """A frame of the source (event loop)."""
        if self.readyState != "live":
            return
        if self._need_key:
            if not key:
                self.source.ask_keyframe()
                return
            self._need_key = False
        q = self._queue
        if q.qsize() >= self._limit:
            if self.kind == "video":
                # Behind: drop what waits and start again at a keyframe, never a growing delay.
                self.dropped += q.qsize()
                while not q.empty():
                    q.get_nowait()
                if not key:
                    self._need_key = True
                    self.source.ask_keyframe()
                    return
            else:
                q.get_nowait()
                self.dropped += 1
        packet = av.Packet(data)
        packet.pts = packet.dts = timestamp
        packet.time_base = self.source.time_base
        packet.is_keyframe = key
        q.put_nowait(packet)

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            raise MediaStreamError
        self.sent += 1
        return packet

    def stop(self) -> None:
        if self.readyState == "live":
            self._queue.put_nowait(None)
        super().stop()
        self.source.subscribers.discard(self)


@dataclass(eq=False)
class PublishedTrack:
    """One track entering a call, and everyone who receives it."""

    kind: str
    """``audio`` or ``video``."""
    codec: str
    """``H264``, ``VP8`` or ``opus``: subscribers must negotiate the same one."""
    clock_rate: int
    subscribers: set[ForwardTrack] = field(default_factory=set)
    keyframe_request: Callable[[], None] | None = None
    stats: TrackStats = field(default_factory=TrackStats)
    taps: list[FrameTap] = field(default_factory=list)
    """Who else gets every frame (the call's recorder)."""
    _last_key_request: float = -1e9
    _timestamp_offset: int = 0
    _last_timestamp: int | None = None
    _origin: int | None = None

    @property
    def time_base(self) -> Fraction:
        return Fraction(1, self.clock_rate)

    def subscribe(self) -> ForwardTrack:
        track = ForwardTrack(self)
        self.subscribers.add(track)
        self.ask_keyframe()
        return track

    def tap(self, tap: FrameTap) -> Callable[[], None]:
        """Give ``tap`` every frame from now on; returns what stops it."""
        self.taps.append(tap)

        def untap() -> None:
            if tap in self.taps:
                self.taps.remove(tap)

        return untap

    def ask_keyframe(self) -> None:
        now = time.monotonic()
        if now - self._last_key_request < KEYFRAME_REQUEST_SECONDS:
            return
        self._last_key_request = now
        if self.keyframe_request is not None:
            try:
                self.keyframe_request()
            except Exception as exc:  # the publisher may be reconnecting
                log.debug("keyframe request: %s", exc)

    def new_source(self) -> None:
        """The publisher reconnected (a new peer connection, a new RTP clock): keep the
        subscribers' timeline going from where it was instead of jumping."""
        if self._last_timestamp is not None:
            self._timestamp_offset = self._last_timestamp + 1
        self._origin = None

    def on_frame(self, codec: str, data: bytes, timestamp: int) -> None:
        """An encoded frame of this track (event loop)."""
        if codec.lower() != self.codec.lower():
            return
        if self._origin is None:
            self._origin = timestamp
        ts = self._timestamp_offset + (timestamp - self._origin)
        last = self._last_timestamp
        if last is not None and not last < ts <= last + self.clock_rate * MAX_GAP_SECONDS:
            # The source's clock went back or jumped (a camera reconnected, a file looped):
            # carry on from where the subscribers are, one short step on.
            step = self.clock_rate // 30 if self.kind == "video" else 960
            self._timestamp_offset, self._origin = last + step, timestamp
            ts = last + step
        self._last_timestamp = ts
        key = is_keyframe(self.codec, data)
        st = self.stats
        st.frames += 1
        st.bytes += len(data)
        st.keyframes += key
        for sub in list(self.subscribers):
            sub.offer(data, ts, key)
        for tap in self.taps:
            tap(data, ts, key)

    def close(self) -> None:
        for sub in list(self.subscribers):
            sub.stop()


def sink_for(track: PublishedTrack) -> Callable[[str, bytes, int], None]:
    """A ``receiver_tap`` sink feeding ``track``."""
    return track.on_frame


def track_from_codec(kind: str, codec: Any) -> PublishedTrack:
    """A published track for the codec an aiortc receiver negotiated."""
    return PublishedTrack(kind=kind, codec=codec.name, clock_rate=codec.clockRate)
