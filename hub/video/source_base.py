"""The seam between the camera service and whatever brings a camera's video in.

A *source* is one camera's ingest thread: it receives H.264 from somewhere (an RTSP camera it
pulls from, in ``hub.video.source``; a drone or vehicle that publishes to the hub over WHIP, in
``hub.video.whip_source``), decodes it, samples frames to the camera's ``analysis_fps`` for the
analytics core, and feeds the live view (``LiveTap``) and the clip ring (``PacketRing``) with
the encoded packets. The camera service only sees the ``Source`` protocol below, so it can add
and remove sources of either kind while it runs.

``IngestThread`` holds what every source shares: the counters and health, the sampling grid,
and the thread's life.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from hub.bus.contracts import CameraHealth, CameraState
from hub.config import Camera, Settings

if TYPE_CHECKING:
    from hub.video.live import LiveTap
    from hub.video.ring import PacketRing

log = logging.getLogger(__name__)

FrameCallback = Callable[[Any, float, float], None]
"""(av.VideoFrame, media_time, wall_time) for each frame sampled for analysis."""


@dataclass
class SourceStats:
    """Counters; each has one writer thread, readers take a snapshot."""

    state: CameraState = "connecting"
    frames_in: int = 0
    frames_sampled: int = 0
    packets_in: int = 0
    decode_errors: int = 0
    reconnects: int = 0
    stalls: int = 0
    suspect_fps: int = 0
    frames_skipped_late: int = 0
    """Packets not decoded because the reader was behind the live edge (``hub.video.live_edge``)."""
    lag_seconds: float = 0.0
    """How far behind the live edge the last packet was read."""
    last_frame_mono: float | None = None
    last_error: str | None = None
    width: int | None = None
    height: int | None = None
    codec: str | None = None
    transport: str | None = None


class Source(Protocol):
    """What the camera service needs of one camera's ingest."""

    camera: Camera
    stats: SourceStats
    finished: threading.Event

    def start(self) -> None: ...

    def request_stop(self) -> None: ...

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; False if it is still busy after ``timeout``."""
        ...

    def frame_age(self, now: float | None = None) -> float | None: ...

    def continue_after(self, previous: Source) -> None:
        """Before ``start``: go on from the camera's previous source (one media timeline)."""
        ...

    def health(
        self, *, fps_in: float, fps_analysed: float, frames_analysed: int, frames_dropped: int
    ) -> CameraHealth: ...


@dataclass(frozen=True)
class SourceParts:
    """What a camera's source feeds: analytics, the live view, the clip ring."""

    on_frame: FrameCallback
    live: LiveTap
    ring: PacketRing | None


SourceFactory = Callable[[SourceParts], Source]
UnitLocator = Callable[[str], tuple[list[float], str | None] | None]
"""A unit's current ([lon, lat], grid id or None), or None when it is not known now. Called
from the video service's threads: it must only read."""


@runtime_checkable
class SourceHost(Protocol):
    """A video service that takes sources at run time (``CameraService``)."""

    async def attach_source(self, camera_id: str, make: SourceFactory) -> Source: ...

    async def detach_source(self, camera_id: str, source: Source) -> None: ...

    def locate_units(self, locate: UnitLocator) -> None:
        """Where moving units are: their events are placed there, not where they took off."""
        ...


class IngestThread:
    """Thread life, health and frame sampling shared by every kind of source."""

    thread_prefix = "src"

    def __init__(
        self, camera: Camera, settings: Settings, *, on_frame: FrameCallback | None = None
    ) -> None:
        self.camera = camera
        self.settings = settings
        self.stats = SourceStats()
        self._on_frame = on_frame
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_sample = 0.0
        self._last_media: float | None = None
        self._last_wall: float | None = None
        self.finished = threading.Event()
        """Set when the thread exits."""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name=f"{self.thread_prefix}-{self.camera.id}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        raise NotImplementedError

    def continue_after(self, previous: Source) -> None:
        # Analytics keeps per-camera state (trackers, dwell) across sources: its media time
        # must not go back. The subclass rebases its first frame on these at start.
        if isinstance(previous, IngestThread):
            self._last_media = previous._last_media
            self._last_wall = previous._last_wall
        self.stats.reconnects = previous.stats.reconnects + 1
        self.stats.stalls = previous.stats.stalls

    def request_stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self, timeout: float | None = None) -> bool:
        self.request_stop()
        return self.join(timeout if timeout is not None else self.settings.stall_seconds + 5)

    # -- health ------------------------------------------------------------------------------

    def state_now(self, now: float | None = None) -> CameraState:
        st = self.stats
        age = self.frame_age(now)
        # Watchdog from the outside too: if the thread is stuck in C, health still says so.
        if st.state == "online" and age is not None and age > self.settings.stall_seconds:
            return "stalled"
        return st.state

    def frame_age(self, now: float | None = None) -> float | None:
        last = self.stats.last_frame_mono
        if last is None:
            return None
        return max(0.0, (now if now is not None else time.monotonic()) - last)

    def health(
        self, *, fps_in: float, fps_analysed: float, frames_analysed: int, frames_dropped: int
    ) -> CameraHealth:
        st = self.stats
        return CameraHealth(
            camera_id=self.camera.id,
            state=self.state_now(),
            fps_in=round(fps_in, 2),
            fps_analysed=round(fps_analysed, 2),
            frames_in=st.frames_in,
            frames_analysed=frames_analysed,
            frames_dropped=frames_dropped,
            decode_errors=st.decode_errors,
            reconnects=st.reconnects,
            stalls=st.stalls,
            frames_skipped_late=st.frames_skipped_late,
            lag_seconds=round(st.lag_seconds, 2),
            last_frame_age=(None if (a := self.frame_age()) is None else round(a, 3)),
            last_error=st.last_error,
            width=st.width,
            height=st.height,
            codec=st.codec,
        )

    # -- frames ------------------------------------------------------------------------------

    def _deliver(self, frame: Any, media: float, wall: float) -> None:
        """Count a decoded frame and hand it to analytics if it falls on the sampling grid."""
        st = self.stats
        st.frames_in += 1
        st.last_frame_mono = time.monotonic()
        if st.state != "online":
            st.state = "online"
            if st.last_error is not None:
                log.info("camera %s: online again", self.camera.id)
        st.width, st.height = frame.width, frame.height
        if self._last_media is None or media < self._next_sample - 3600:
            self._next_sample = media
        self._last_media = media
        self._last_wall = wall
        if media + 1e-6 < self._next_sample:
            return
        period = 1.0 / self.camera.analysis_fps
        self._next_sample += period
        if self._next_sample <= media:
            # Behind (keyframes only, or a gap): restart the grid from this frame.
            self._next_sample = media + period
        st.frames_sampled += 1
        if self._on_frame is not None:
            self._on_frame(frame, media, wall)
