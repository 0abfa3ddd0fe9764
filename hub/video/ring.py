"""A camera's recent demuxed packets, for evidence clips cut without re-encoding.

The ingest thread feeds every packet (``on_packet``, before the live muxer rewrites its
timestamps) and every new connection (``on_connect``). The ring keeps whole GOPs: it always
starts at a keyframe, holds packets back to the keyframe at or before ``keep_seconds`` ago
(wall clock of arrival), and never more than ``max_seconds`` nor ``max_bytes`` (the oldest GOPs
go first; a single GOP larger than ``max_bytes`` is dropped whole and the ring waits for the next
keyframe).

A clip is a :class:`Collector`: ``collect(since, until)`` copies the packets from the keyframe
at or before ``since`` and then receives every new packet until one arrives after ``until`` (or
the stream ends, its parameters change, or it holds ``max_bytes``). Its ``on_done`` callback runs
in whichever thread finished it (the ingest thread, mostly): it must only hand the collector on.

Timestamps are rebased onto one timeline per camera in :data:`TIME_BASE`, increasing across
reconnects with the same codec parameters (like the live muxer), so a clip spanning a reconnect
or a looping file still plays. Packets are copied (``bytes(packet)``): the live muxer mutates
the packet objects, and the clip writer reads them from another thread.
"""

from __future__ import annotations

import io
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av

log = logging.getLogger(__name__)

TIME_BASE = Fraction(1, 90_000)
"""Time base of ring timestamps (the RTP clock of video)."""
DEFAULT_STEP = 3600
"""One frame at 25 fps in :data:`TIME_BASE`, when the stream does not say its rate."""
_DONE_LOCK = threading.Lock()
"""Makes finishing a collector (from the ingest or the clip thread) happen once."""
LONG_GOP_SECONDS = 30.0
"""Beyond ``keep_seconds``, how much older the oldest kept keyframe may be (long GOPs)."""


@dataclass(frozen=True, slots=True)
class RingPacket:
    data: bytes
    pts: int
    dts: int
    duration: int
    key: bool
    wall: float
    """Wall-clock arrival time (``time.time()``), the clock events are stamped with."""


@dataclass(frozen=True)
class ClipTemplate:
    """Codec parameters of one connection, for ``add_stream_from_template`` in the clip writer.

    The input stream dies with its container at a reconnect, so its parameters are copied into a
    stream of a never-started in-memory MP4 muxer, which lives as long as anything refers to it.
    """

    stream: Any
    codec: str
    signature: tuple[Any, ...]
    step: int


def signature(stream: Any) -> tuple[Any, ...]:
    cc = stream.codec_context
    extradata = bytes(cc.extradata) if cc.extradata else b""
    return (cc.name, cc.width, cc.height, extradata)


def make_template(stream: Any) -> ClipTemplate:
    """Raises ValueError when MP4 cannot carry the stream's codec."""
    holder = av.open(io.BytesIO(), "w", format="mp4")
    copy = holder.add_stream_from_template(stream)
    rate = stream.average_rate or stream.guessed_rate
    step = DEFAULT_STEP
    if rate and 1 <= rate <= 240:
        step = max(1, round(1 / (Fraction(rate) * TIME_BASE)))
    return ClipTemplate(copy, stream.codec_context.name, signature(stream), step)


@dataclass
class _Gop:
    packets: list[RingPacket]
    nbytes: int

    @property
    def wall(self) -> float:
        return self.packets[0].wall


@dataclass(eq=False)
class Collector:
    """The packets of one clip, filled by the ring until ``until`` has passed."""

    ring: PacketRing
    key: str
    since: float
    until: float
    template: ClipTemplate
    max_bytes: int
    on_done: Callable[[Collector], None] | None = None
    packets: list[RingPacket] = field(default_factory=list)
    nbytes: int = 0
    reason: str | None = None
    """Why collecting stopped: complete, ended (stream over), changed (new codec parameters),
    full (max_bytes), timeout (no packet after ``until`` in time), stopped."""
    done: threading.Event = field(default_factory=threading.Event)

    def _add(self, p: RingPacket) -> str | None:
        """Take one packet; the reason to stop, if this packet ends the clip."""
        if p.wall > self.until:
            return "complete"
        if not self.packets and not p.key:
            return None  # a clip starts at a keyframe
        if self.nbytes + len(p.data) > self.max_bytes:
            return "full"
        self.packets.append(p)
        self.nbytes += len(p.data)
        return None

    def finish(self, reason: str) -> None:
        """Stop collecting (from any thread); the first reason wins."""
        self.ring._finish(self, reason)


class PacketRing:
    """One camera's packet ring; fed by its ingest thread, read by clip jobs."""

    def __init__(
        self,
        camera_id: str,
        *,
        keep_seconds: float,
        max_bytes: int,
        max_seconds: float | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.keep_seconds = keep_seconds
        if max_seconds is None:
            max_seconds = keep_seconds + LONG_GOP_SECONDS
        self.max_seconds = max(keep_seconds, max_seconds)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._gops: deque[_Gop] = deque()
        self._bytes = 0
        self._collectors: list[Collector] = []
        self._template: ClipTemplate | None = None
        self._unsupported: str | None = None
        self._closed = False
        # Timeline (ingest thread only).
        self._num = 1
        self._den = 1
        self._origin: int | None = None
        self._offset = 0
        self._last_dts: int | None = None
        self.dropped_gops = 0
        """GOPs dropped for the byte bound alone (a GOP larger than ``max_bytes``)."""

    # -- ingest thread -----------------------------------------------------------------------

    def on_connect(self, stream: Any) -> None:
        """A new connection (or a file's next loop) with this video stream."""
        with self._lock:
            self._closed = False  # a published camera's ring outlives each publishing session
        try:
            sig = signature(stream)
            same = self._template is not None and self._template.signature == sig
            template = self._template if same else make_template(stream)
        except Exception as exc:
            codec = getattr(getattr(stream, "codec_context", None), "name", "?")
            if self._unsupported != codec:
                log.warning("camera %s: no clips for a %s stream (%s)", self.camera_id, codec, exc)
            self._unsupported = codec
            self._reset(None, "changed")
            return
        self._unsupported = None
        assert template is not None
        if not same:
            if template.codec != "h264":
                log.info(
                    "camera %s: %s stream; its clips may not play in every browser",
                    self.camera_id,
                    template.codec,
                )
            self._reset(template, "changed")
            self._offset = 0
            self._last_dts = None
        elif self._last_dts is not None:
            # Same parameters: keep the timeline going without a gap (one frame on).
            self._offset = self._last_dts + template.step
        base = stream.time_base or TIME_BASE
        ratio = Fraction(base) / TIME_BASE
        self._num, self._den = ratio.numerator, ratio.denominator
        self._origin = None

    def on_packet(self, packet: Any, wall: float) -> None:
        template = self._template
        if template is None or self._closed or packet.size <= 0:
            return
        ts = packet.dts if packet.dts is not None else packet.pts
        if ts is None:
            # Raw Annex B files carry no timestamps: one frame after the last.
            dts = 0 if self._last_dts is None else self._last_dts + template.step
            pts_gap = 0
        else:
            if self._origin is None:
                self._origin = ts
            dts = self._offset + (ts - self._origin) * self._num // self._den
            pts_gap = 0
            if packet.pts is not None and packet.dts is not None:
                pts_gap = max(0, (packet.pts - packet.dts) * self._num // self._den)
        if self._last_dts is not None and dts <= self._last_dts:
            dts = self._last_dts + 1  # cameras repeat or reorder timestamps
        self._last_dts = dts
        duration = packet.duration * self._num // self._den if packet.duration else template.step
        p = RingPacket(bytes(packet), dts + pts_gap, dts, duration, bool(packet.is_keyframe), wall)
        with self._lock:
            self._append(p)
            if self._collectors:
                self._feed(p)

    def close(self) -> None:
        """The stream is over (the source thread exits): finish every collector with what it has."""
        with self._lock:
            self._closed = True
            collectors, self._collectors = self._collectors, []
            self._gops.clear()
            self._bytes = 0
        for c in collectors:
            self._done(c, "ended")

    # -- clip jobs ---------------------------------------------------------------------------

    def collect(
        self,
        key: str,
        since: float,
        until: float,
        *,
        max_bytes: int | None = None,
        on_done: Callable[[Collector], None] | None = None,
    ) -> Collector | None:
        """Start a clip of the packets from the keyframe at or before ``since`` to ``until``
        (wall clock); None when this camera cannot give clips (closed, or no usable stream)."""
        with self._lock:
            template = self._template
            if template is None or self._closed:
                return None
            c = Collector(
                self, key, since, until, template, max_bytes or self.max_bytes, on_done=on_done
            )
            gops = list(self._gops)
            first = 0
            for i, g in enumerate(gops):
                if g.wall <= since:
                    first = i
                else:
                    break
            reason = None
            for g in gops[first:]:
                for p in g.packets:
                    reason = c._add(p)
                    if reason is not None:
                        break
                if reason is not None:
                    break
            if reason is None:
                self._collectors.append(c)
        if reason is not None:
            self._done(c, reason)
        return c

    @property
    def template(self) -> ClipTemplate | None:
        return self._template

    def stats(self) -> tuple[int, int, float]:
        """(packets, bytes, seconds) held now."""
        with self._lock:
            n = sum(len(g.packets) for g in self._gops)
            if not self._gops:
                return 0, 0, 0.0
            span = self._gops[-1].packets[-1].wall - self._gops[0].wall
            return n, self._bytes, span

    # -- internals (callers hold the lock where noted) ---------------------------------------

    def _append(self, p: RingPacket) -> None:
        """Under the lock."""
        gops = self._gops
        if p.key:
            gops.append(_Gop([p], len(p.data)))
        elif gops:
            g = gops[-1]
            g.packets.append(p)
            g.nbytes += len(p.data)
        else:
            return  # the ring starts at a keyframe
        self._bytes += len(p.data)
        cutoff = p.wall - self.keep_seconds
        oldest = p.wall - self.max_seconds
        while len(gops) >= 2 and (
            gops[1].wall <= cutoff or gops[0].wall < oldest or self._bytes > self.max_bytes
        ):
            self._bytes -= gops.popleft().nbytes
        if self._bytes > self.max_bytes:
            # One GOP alone is over the bound: drop it and wait for the next keyframe.
            self.dropped_gops += 1
            gops.clear()
            self._bytes = 0

    def _feed(self, p: RingPacket) -> None:
        """Under the lock."""
        finished: list[tuple[Collector, str]] = []
        keep = []
        for c in self._collectors:
            reason = c._add(p)
            if reason is None:
                keep.append(c)
            else:
                finished.append((c, reason))
        if finished:
            self._collectors = keep
            # Callbacks only hand the collector on; run them outside the loop over collectors.
            for c, reason in finished:
                self._done(c, reason)

    def _finish(self, c: Collector, reason: str) -> None:
        with self._lock:
            if c in self._collectors:
                self._collectors.remove(c)
        self._done(c, reason)

    def _reset(self, template: ClipTemplate | None, reason: str) -> None:
        with self._lock:
            collectors, self._collectors = self._collectors, []
            self._gops.clear()
            self._bytes = 0
            self._template = template
        for c in collectors:
            self._done(c, reason)

    @staticmethod
    def _done(c: Collector, reason: str) -> None:
        with _DONE_LOCK:
            if c.done.is_set():
                return
            c.reason = reason
            c.done.set()
        if c.on_done is not None:
            try:
                c.on_done(c)
            except Exception:
                log.exception("clip %s: on_done failed", c.key)
