"""The video service: every camera's source, the analytics workers, events, health and live view.

Threads and where work happens:

* one ingest thread per enabled camera (``CameraSource``): demux, decode, sample to
  ``analysis_fps``, ``reduce_luma`` and live muxing all run there;
* ``Settings.analytics_threads`` analytics workers (``BatchWorkers``) drain the bounded
  per-camera queues as batches into ``AnalyticsCore.process``;
* one evidence thread renders and saves snapshots, then hops to the event loop to publish the
  ``DetectionEvent`` on ``TOPIC_DETECTIONS``;
* on the loop: live fan-out and a 1 Hz task that publishes health.

Health is published once per second as **one message per camera** on ``TOPIC_CAMERA_HEALTH``
(``CameraHealth.model_dump(mode="json")``), in site-file order. Prometheus metrics are served by
the collector in ``hub.video.metrics`` on prometheus_client's default registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.bus import Bus
from hub.bus.events import TOPIC_CAMERA_HEALTH, TOPIC_DETECTIONS, Box, CameraHealth, DetectionEvent
from hub.config import Camera, Settings, Site
from hub.errors import NotFoundError
from hub.ids import new_id
from hub.video.live import LiveFeed, LiveTap, LiveViewer
from hub.video.metrics import collector
from hub.video.pipeline import BatchWorkers, FrameQueue
from hub.video.source import CameraSource

if TYPE_CHECKING:
    from hub.video.analytics import AnalysisFrame, AnalyticsCore, RawEvent

log = logging.getLogger(__name__)

SnapshotFn = Callable[[str, "RawEvent", object | None], str | None]
"""(event id, raw event, full-resolution image) -> snapshot path relative to the evidence dir."""


class _Camera:
    """Per-camera state owned by the service."""

    def __init__(self, camera: Camera) -> None:
        self.camera = camera
        self.source: CameraSource | None = None
        self.queue: FrameQueue[AnalysisFrame] | None = None
        self.feed: LiveFeed | None = None
        self.analysed = 0
        self.fps_in = 0.0
        self.fps_analysed = 0.0
        self._prev: tuple[float, int, int] | None = None

    def update_rates(self, now: float) -> None:
        frames_in = self.source.stats.frames_in if self.source else 0
        if self._prev is not None:
            t0, f0, a0 = self._prev
            dt = now - t0
            if dt > 0:
                self.fps_in = (frames_in - f0) / dt
                self.fps_analysed = (self.analysed - a0) / dt
        self._prev = (now, frames_in, self.analysed)

    def health(self) -> CameraHealth:
        if self.source is None:
            return CameraHealth(camera_id=self.camera.id, state="disabled")
        return self.source.health(
            fps_in=self.fps_in,
            fps_analysed=self.fps_analysed,
            frames_analysed=self.analysed,
            frames_dropped=self.queue.dropped if self.queue is not None else 0,
        )


class CameraService:
    """Implements ``hub.video.interfaces.VideoService``."""

    def __init__(
        self,
        settings: Settings,
        site: Site,
        bus: Bus,
        *,
        core: AnalyticsCore | None = None,
        snapshot: SnapshotFn | None = None,
        pace_files: bool = True,
        health_interval: float = 1.0,
    ) -> None:
        self.settings = settings
        self.site = site
        self.bus = bus
        self._core = core
        self._snapshot = snapshot
        self._pace_files = pace_files
        self._health_interval = health_interval
        self._cams = {c.id: _Camera(c) for c in site.cameras}
        self._workers: BatchWorkers[AnalysisFrame] | None = None
        self._evidence_pool: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._pending: set[Future[Any]] = set()
        self._core_of: dict[str, AnalyticsCore] = {}
        self._core_lock = threading.Lock()
        self._started = False
        self.events_published = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._loop = loop = asyncio.get_running_loop()
        enabled = [c for c in self.site.cameras if c.enabled]
        threads = max(1, self.settings.analytics_threads)
        if self._core is not None:
            for c in enabled:
                self._core_of[c.id] = self._core
        elif enabled:
            from hub.video.analytics import AnalyticsCore

            # The core is single-threaded: each worker gets its own, holding the cameras
            # pinned to it (BatchWorkers assigns queue i to worker i % threads).
            cores = [AnalyticsCore() for _ in range(threads)]
            for i, c in enumerate(enabled):
                cores[i % threads].add_camera(c)
                self._core_of[c.id] = cores[i % threads]
        if self._snapshot is None:
            self._snapshot = _default_snapshot(self.settings.data_dir / "evidence", self.site)
        self._workers = BatchWorkers(
            self._process,
            batch_max=self.settings.analytics_batch_max,
            threads=self.settings.analytics_threads,
        )
        self._evidence_pool = ThreadPoolExecutor(1, thread_name_prefix="evidence")
        for cam in self._cams.values():
            cam.feed = LiveFeed(cam.camera.id, loop)
            if not cam.camera.enabled:
                cam.feed.close("camera disabled")
                continue
            cam.queue = self._workers.queue(self.settings.frame_queue_per_camera)
            cam.source = CameraSource(
                cam.camera,
                self.settings,
                on_frame=self._frame_sink(cam),
                live=LiveTap(cam.feed),
                pace_files=self._pace_files,
            )
        self._workers.start()
        for cam in self._cams.values():
            if cam.source is not None:
                cam.source.start()
        collector().add(self)
        self._health_task = asyncio.create_task(self._health_loop(), name="video-health")
        log.info("video service started: %d cameras (%d enabled)", len(self._cams), len(enabled))

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        collector().remove(self)
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        sources = [c.source for c in self._cams.values() if c.source is not None]
        for src in sources:
            src.request_stop()
        stuck = await asyncio.to_thread(self._join_sources, sources)
        if stuck:
            log.warning("ingest threads still in a blocking read at stop: %s", stuck)
        if self._workers is not None:
            await asyncio.to_thread(self._workers.stop)
        if self._evidence_pool is not None:
            await asyncio.to_thread(self._evidence_pool.shutdown, True)
        # Let publishes that evidence threads handed to the loop finish.
        pending = [asyncio.wrap_future(f) for f in self._pending]
        if pending:
            await asyncio.wait(pending, timeout=5)
        for cam in self._cams.values():
            if cam.feed is not None:
                cam.feed.close("video service stopped")
        log.info("video service stopped")

    def _join_sources(self, sources: Sequence[CameraSource]) -> list[str]:
        deadline = time.monotonic() + self.settings.stall_seconds + 5
        stuck = []
        for src in sources:
            if not src.join(max(0.1, deadline - time.monotonic())):
                stuck.append(src.camera.id)
        return stuck

    # -- public surface ----------------------------------------------------------------------

    def health(self) -> list[CameraHealth]:
        return [cam.health() for cam in self._cams.values()]

    def subscribe_live(self, camera_id: str) -> LiveViewer:
        cam = self._cams.get(camera_id)
        if cam is None:
            raise NotFoundError(f"no camera {camera_id!r}")
        if cam.feed is None:
            raise NotFoundError(f"camera {camera_id!r}: video service not started")
        return cam.feed.subscribe()

    def source(self, camera_id: str) -> CameraSource | None:
        return self._cams[camera_id].source

    def metrics_extra(self) -> dict[str, Any]:
        w = self._workers
        return {
            "per_camera": {
                cid: {
                    "live_viewers": len(cam.feed.viewers) if cam.feed else 0,
                    "queue_depth": len(cam.queue) if cam.queue is not None else 0,
                }
                for cid, cam in self._cams.items()
            },
            "analytics_batches": w.batches if w else 0,
            "analytics_frames": w.frames if w else 0,
            "analytics_errors": w.errors if w else 0,
            "events_published": self.events_published,
        }

    # -- decode thread -> analytics ----------------------------------------------------------

    def _frame_sink(self, cam: _Camera) -> Callable[[Any, float, float], None]:
        from hub.video.analytics import AnalysisFrame, reduce_luma

        camera = cam.camera
        queue = cam.queue
        assert queue is not None

        def on_frame(frame: Any, media_time: float, wall_time: float) -> None:
            luma = reduce_luma(frame, camera.analysis_width)
            queue.put(AnalysisFrame(camera.id, media_time, wall_time, luma, image=frame))

        return on_frame

    def _process(self, batch: Sequence[AnalysisFrame]) -> None:
        core = self._core_of[batch[0].camera_id]
        if core is self._core and self.settings.analytics_threads > 1:
            with self._core_lock:  # a shared core given by the caller is not thread-safe
                results = core.process(batch)
        else:
            results = core.process(batch)
        for frame in batch:
            self._cams[frame.camera_id].analysed += 1
        for result in results:
            for ev in result.events:
                image = _image_for(batch, ev)
                self._submit_event(ev, image)

    # -- events ------------------------------------------------------------------------------

    def _submit_event(self, ev: RawEvent, image: object | None) -> None:
        pool = self._evidence_pool
        if pool is None:
            return
        with contextlib.suppress(RuntimeError):  # shutting down
            pool.submit(self._render_and_publish, ev, image)

    def _render_and_publish(self, ev: RawEvent, image: object | None) -> None:
        event_id = new_id()
        snapshot: str | None = None
        if self._snapshot is not None:
            try:
                snapshot = self._snapshot(str(event_id), ev, image)
            except Exception:
                log.exception("snapshot for %s event on %s failed", ev.type, ev.camera_id)
        cam = self._cams[ev.camera_id].camera
        event = DetectionEvent(
            id=event_id,
            camera_id=ev.camera_id,
            grid_id=cam.grid,
            type=ev.type,
            zone_id=ev.zone_id,
            line_id=ev.line_id,
            direction=ev.direction,
            track_id=ev.track_id,
            start=datetime.fromtimestamp(ev.wall_time, UTC),
            media_time=ev.media_time,
            boxes=[_box(ev.box)] + [_box(b) for b in ev.track_boxes],
            confidence=min(1.0, max(0.0, ev.confidence)),
            snapshot=snapshot,
            dwell_seconds=ev.dwell_seconds,
        )
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            fut = asyncio.run_coroutine_threadsafe(self._publish_event(event), loop)
        except RuntimeError:
            return
        self._pending.add(fut)
        fut.add_done_callback(self._pending.discard)

    async def _publish_event(self, event: DetectionEvent) -> None:
        await self.bus.publish(TOPIC_DETECTIONS, event.model_dump(mode="json"))
        self.events_published += 1

    # -- health ------------------------------------------------------------------------------

    async def _health_loop(self) -> None:
        while True:
            now = time.monotonic()
            for cam in self._cams.values():
                cam.update_rates(now)
            for h in self.health():
                try:
                    await self.bus.publish(TOPIC_CAMERA_HEALTH, h.model_dump(mode="json"))
                except Exception:
                    log.exception("publishing camera health failed")
            await asyncio.sleep(self._health_interval)


def _box(b: Sequence[float]) -> Box:
    x, y, w, h = b
    return Box(x=x, y=y, w=w, h=h)


def _image_for(batch: Sequence[AnalysisFrame], ev: RawEvent) -> object | None:
    """The full-resolution image of the frame that raised ``ev`` (else that camera's latest)."""
    best: AnalysisFrame | None = None
    for f in batch:
        if f.camera_id != ev.camera_id:
            continue
        if abs(f.media_time - ev.frame_media_time) < 1e-6:
            return f.image
        best = f
    return best.image if best is not None else None


def _default_snapshot(root: Path, site: Site) -> SnapshotFn:
    """Render the event frame with the object's box and the zone or line it concerns."""
    from hub.video.evidence import EvidenceStore

    store = EvidenceStore(root)

    def snapshot(event_id: str, ev: RawEvent, image: object | None) -> str | None:
        if image is None:
            return None
        cam = site.camera(ev.camera_id)
        zone = next((z.polygon for z in cam.zones if z.id == ev.zone_id), None)
        line = next((ln.points for ln in cam.lines if ln.id == ev.line_id), None)
        label = f"{ev.type} #{ev.track_id}"
        when = datetime.fromtimestamp(ev.wall_time, UTC)
        return store.save_snapshot(
            event_id, image, ev.box, when=when, label=label, zone=zone, line=line
        )

    return snapshot
