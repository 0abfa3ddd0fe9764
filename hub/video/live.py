"""Live view: camera H.264 passed through (no re-encode) as fragmented MP4, fanned out to viewers.

Two halves per camera:

* ``LiveTap`` runs in the camera's decode thread. While someone watches (``LiveFeed.wanted``)
  it muxes every demuxed packet into fMP4 with PyAV (one muxer per camera, however many viewers),
  starting at a keyframe, and posts the init segment and each fragment to the event loop.
* ``LiveFeed`` lives on the event loop: it keeps the init segment and the fragments since the
  last keyframe (so a new viewer starts at once, on a keyframe) and hands fragments to each
  ``LiveViewer``. A viewer that falls behind is cut back to the next keyframe: memory per viewer
  is bounded.

Reconnects: when the camera comes back with the same codec parameters the muxer carries on and
timestamps continue where they stopped (MSE sees one continuous timeline). When the parameters
change (or the muxer had to restart), the old init segment no longer applies: viewers that
already have it get ``LiveEnded`` and should subscribe again, which gives them the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av

from hub.rtc.h264 import avcc_length_size, parameter_sets, webrtc_unit
from hub.video.fmp4 import BoxSplitter, fragment_is_keyframe, mse_mime
from hub.video.interfaces import LiveEnded

log = logging.getLogger(__name__)

MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof+frag_every_frame"
MAX_VIEWER_FRAGMENTS = 150
"""About 6 s at 25 fps: beyond this a viewer is behind and skips to the next keyframe."""
MAX_VIEWER_BYTES = 16 * 1024 * 1024
MAX_GOP_FRAGMENTS = 600
"""Cap on the keyframe cache for cameras with absurdly long GOPs."""
WARM_SECONDS = 10.0
"""Keep muxing this long after the last viewer left. A wall re-points tiles all the time (layout
changes, tours, a camera moved or switched between main and sub): a viewer that comes back
within this time starts at once from the keyframe cache instead of waiting for the camera's
next keyframe. Costs one remux per camera (no decode) while warm."""


class _Sink:
    """File-like target for PyAV's muxer: re-chunks writes into whole boxes."""

    def __init__(self) -> None:
        self.splitter = BoxSplitter()
        self.fragments: list[bytes] = []

    def write(self, data: Any) -> int:
        self.fragments.extend(self.splitter.feed(bytes(data)))
        return len(data)

    def flush(self) -> None:
        return None


class Fmp4Muxer:
    """One PyAV mp4 muxer fed demuxed H.264 packets; timestamps are rebased to start at 0."""

    def __init__(self, template: Any) -> None:
        self._sink = _Sink()
        self._out: Any = av.open(
            self._sink,
            "w",
            format="mp4",
            options={"movflags": MOVFLAGS, "flush_packets": "1"},
        )
        self._stream: Any = self._out.add_stream_from_template(template)
        self.time_base: Fraction = template.time_base or Fraction(1, 90_000)
        self._stream.time_base = self.time_base
        self.signature = _signature(template)
        self._in_base: Fraction = self.time_base
        self._origin: int | None = None
        self._offset = 0
        self._last_dts: int | None = None
        self._step = _frame_step(template, self.time_base)
        self.mime: str | None = None
        self._first_packet: bytes | None = None
        self.closed = False

    @property
    def init(self) -> bytes | None:
        return self._sink.splitter.init

    def compatible(self, template: Any) -> bool:
        return _signature(template) == self.signature

    def continue_from(self, template: Any) -> None:
        """A new connection with the same parameters: keep the timeline going without a gap."""
        self._in_base = template.time_base or self._in_base
        self._origin = None
        self._offset = (self._last_dts + self._step) if self._last_dts is not None else 0
        self._step = _frame_step(template, self.time_base)

    def mux(self, packet: Any) -> list[tuple[bytes, bool]]:
        """Mux one packet; return (fragment, starts with keyframe) for fragments completed now."""
        ts = packet.dts if packet.dts is not None else packet.pts
        if ts is None or packet.size == 0:
            return []
        if self.mime is None:
            self._first_packet = bytes(packet)
        if self._origin is None:
            self._origin = ts
        rel = ts - self._origin
        if self._in_base != self.time_base:
            rel = round(rel * self._in_base / self.time_base)
        dts = self._offset + rel
        if self._last_dts is not None and dts <= self._last_dts:
            # Cameras repeat or reorder timestamps; the mp4 muxer (and MSE) need them increasing.
            dts = self._last_dts + 1
        pts_gap = 0
        if packet.pts is not None and packet.dts is not None:
            pts_gap = packet.pts - packet.dts
            if self._in_base != self.time_base:
                pts_gap = round(pts_gap * self._in_base / self.time_base)
        self._last_dts = dts
        packet.dts = dts
        packet.pts = dts + max(0, pts_gap)
        packet.time_base = self.time_base
        packet.stream = self._stream
        self._out.mux(packet)
        if self.mime is None and self.init is not None:
            extradata = self._stream.codec_context.extradata
            self.mime = mse_mime(bytes(extradata) if extradata else None, self._first_packet)
        done = self._sink.fragments
        self._sink.fragments = []
        return [(f, bool(fragment_is_keyframe(f))) for f in done]

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._out.close()
        except Exception as exc:  # closing a half-written muxer must not kill the decode thread
            log.debug("closing live muxer: %s", exc)


def _signature(template: Any) -> tuple[Any, ...]:
    cc = template.codec_context
    extradata = bytes(cc.extradata) if cc.extradata else b""
    return (cc.name, cc.width, cc.height, extradata)


def _frame_step(template: Any, time_base: Fraction) -> int:
    rate = template.average_rate or template.guessed_rate
    step: int = round(Fraction(1, 25) / time_base)
    if rate and 1 <= rate <= 240:
        step = round(1 / (Fraction(rate) * time_base))
    return max(1, step)


PacketListener = Callable[[bytes, int, bool], None]
"""(H.264 access unit in Annex B with SPS/PPS before keyframes, 90 kHz timestamp, keyframe),
called on the ingest thread for every packet (``LiveTap.listen``)."""


class LiveTap:
    """Decode-thread side of one camera's live feed."""

    def __init__(self, feed: LiveFeed) -> None:
        self.feed = feed
        self._muxer: Fmp4Muxer | None = None
        self._template: Any = None
        self._gen = 0
        self.packets_muxed = 0
        self._listeners: tuple[PacketListener, ...] = ()
        self._params = b""
        self._length_size: int | None = None
        self._h264 = False

    def listen(self, listener: PacketListener) -> Callable[[], None]:
        """Also hand every packet to ``listener`` (a camera shared into a call: forwarded as
        H.264 without re-encoding); returns the function that stops it."""
        self._listeners = (*self._listeners, listener)

        def stop() -> None:
            self._listeners = tuple(x for x in self._listeners if x is not listener)

        return stop

    def on_connect(self, stream: Any) -> None:
        cc = stream.codec_context
        self._h264 = cc.name == "h264"
        extradata = bytes(cc.extradata) if cc.extradata else None
        self._params = parameter_sets(extradata)
        self._length_size = avcc_length_size(extradata)
        self._template = stream
        if self._muxer is not None:
            if self._muxer.compatible(stream):
                self._muxer.continue_from(stream)
            else:
                log.info(
                    "camera %s: stream parameters changed; restarting live", self.feed.camera_id
                )
                self._retire()

    def on_packet(self, packet: Any) -> None:
        if self._listeners and self._h264:
            self._tell(packet)
        if not self.feed.wanted:
            if self._muxer is not None:
                self._retire()
            return
        if self._muxer is None:
            if not packet.is_keyframe or self._template is None:
                return
            self._gen += 1
            try:
                self._muxer = Fmp4Muxer(self._template)
            except Exception as exc:
                log.warning("camera %s: cannot start live muxer: %s", self.feed.camera_id, exc)
                return
        muxer = self._muxer
        had_init = muxer.init is not None
        try:
            fragments = muxer.mux(packet)
        except Exception as exc:
            log.warning("camera %s: live mux failed, restarting: %s", self.feed.camera_id, exc)
            self._retire()
            return
        self.packets_muxed += 1
        if not had_init and muxer.init is not None:
            self.feed.post_init(self._gen, muxer.mime or mse_mime(None), muxer.init)
        for fragment, key in fragments:
            self.feed.post_fragment(self._gen, fragment, key)

    def _tell(self, packet: Any) -> None:
        ts = packet.pts if packet.pts is not None else packet.dts
        base = packet.time_base or (self._template.time_base if self._template else None)
        if ts is None or base is None:
            return
        key = bool(packet.is_keyframe)
        unit = webrtc_unit(bytes(packet), key, self._params, self._length_size)
        ts90 = int(ts * base * 90_000)
        for listener in self._listeners:
            try:
                listener(unit, ts90, key)
            except Exception:  # a listener's bug must not stop the camera
                log.exception("camera %s: packet listener failed", self.feed.camera_id)

    def close(self) -> None:
        if self._muxer is not None:
            self._retire()

    def _retire(self) -> None:
        assert self._muxer is not None
        self._muxer.close()
        self._muxer = None
        self.feed.post_retire(self._gen)


class LiveViewer:
    """One subscriber (implements ``hub.video.interfaces.LiveSubscription``)."""

    def __init__(self, feed: LiveFeed) -> None:
        self._feed = feed
        self._queue: deque[bytes] = deque()
        self._bytes = 0
        self._wake = asyncio.Event()
        self._skipping = False
        self.gen: int | None = None
        self.ended: str | None = None
        self.skips = 0

    async def init(self) -> tuple[str, bytes]:
        feed = self._feed
        while True:
            if self.ended is not None:
                raise LiveEnded(self.ended)
            if feed.init is not None:
                mime, segment = feed.init
                self.gen = feed.gen
                self._queue.extend(feed.gop)
                self._bytes = sum(len(f) for f in self._queue)
                self._wake.set()
                return mime, segment
            await feed.changed()

    async def next(self) -> bytes:
        while not self._queue:
            if self.ended is not None:
                raise LiveEnded(self.ended)
            self._wake.clear()
            await self._wake.wait()
        out = b"".join(self._queue)
        self._queue.clear()
        self._bytes = 0
        return out

    def close(self) -> None:
        self._feed.remove(self)
        self._end("closed")

    def _push(self, fragment: bytes, key: bool) -> None:
        if self._skipping:
            if not key:
                return
            self._skipping = False
        self._queue.append(fragment)
        self._bytes += len(fragment)
        if len(self._queue) > MAX_VIEWER_FRAGMENTS or self._bytes > MAX_VIEWER_BYTES:
            # Too far behind: drop what is queued and resume at the next keyframe.
            self._queue.clear()
            self._bytes = 0
            self._skipping = True
            self.skips += 1
        self._wake.set()

    def _end(self, reason: str) -> None:
        if self.ended is None:
            self.ended = reason
        self._wake.set()


class LiveFeed:
    """Event-loop side of one camera's live feed: init segment, keyframe cache, viewers."""

    def __init__(self, camera_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self.camera_id = camera_id
        self._loop = loop
        self.wanted = False
        """Read by the decode thread: mux only while someone watches."""
        self.viewers: set[LiveViewer] = set()
        self.init: tuple[str, bytes] | None = None
        self.gen = 0
        self.gop: list[bytes] = []
        self._changed = asyncio.Event()
        self.closed = False
        self._cool: asyncio.TimerHandle | None = None

    def subscribe(self) -> LiveViewer:
        viewer = LiveViewer(self)
        if self.closed:
            viewer._end("camera stopped")
            return viewer
        self._cancel_cool()
        self.viewers.add(viewer)
        self.wanted = True
        return viewer

    def remove(self, viewer: LiveViewer) -> None:
        self.viewers.discard(viewer)
        if not self.viewers and self._cool is None:
            if WARM_SECONDS <= 0:
                self.wanted = False
            else:
                self._cool = self._loop.call_later(WARM_SECONDS, self._cool_down)

    def _cool_down(self) -> None:
        self._cool = None
        if not self.viewers:
            self.wanted = False

    def _cancel_cool(self) -> None:
        if self._cool is not None:
            self._cool.cancel()
            self._cool = None

    async def changed(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    def close(self, reason: str = "camera stopped") -> None:
        self.closed = True
        self._cancel_cool()
        self.wanted = False
        for viewer in list(self.viewers):
            viewer._end(reason)
        self.viewers.clear()
        self._notify()

    # -- called from the decode thread -----------------------------------------------------

    def post_init(self, gen: int, mime: str, segment: bytes) -> None:
        self._post(self._on_init, gen, mime, segment)

    def post_fragment(self, gen: int, fragment: bytes, key: bool) -> None:
        self._post(self._on_fragment, gen, fragment, key)

    def post_retire(self, gen: int) -> None:
        self._post(self._on_retire, gen)

    def _post(self, fn: Any, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
            self._loop.call_soon_threadsafe(fn, *args)

    # -- on the loop -------------------------------------------------------------------------

    def _on_init(self, gen: int, mime: str, segment: bytes) -> None:
        if self.closed:
            return
        for viewer in list(self.viewers):
            if viewer.gen is not None and viewer.gen != gen:
                viewer._end("stream restarted; subscribe again")
                self.viewers.discard(viewer)
        self.gen = gen
        self.init = (mime, segment)
        self.gop = []
        self._notify()

    def _on_fragment(self, gen: int, fragment: bytes, key: bool) -> None:
        if gen != self.gen or self.closed:
            return
        if key or len(self.gop) >= MAX_GOP_FRAGMENTS:
            self.gop = []
        if key or self.gop:
            self.gop.append(fragment)
        for viewer in self.viewers:
            if viewer.gen == gen:
                viewer._push(fragment, key)

    def _on_retire(self, gen: int) -> None:
        if gen != self.gen:
            return
        for viewer in list(self.viewers):
            if viewer.gen == gen:
                viewer._end("stream restarted; subscribe again")
                self.viewers.discard(viewer)
        self.init = None
        self.gop = []
        self.wanted = bool(self.viewers)

    def _notify(self) -> None:
        self._changed.set()
