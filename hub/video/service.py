"""The video service: every camera's source, the analytics workers, events, health and live view.

Threads and where work happens:

* one ingest thread per enabled camera (``CameraSource``): demux, decode, sample to
  ``analysis_fps``, ``reduce_luma`` and live muxing all run there;
* ``Settings.analytics_threads`` analytics workers (``BatchWorkers``) drain the bounded
  per-camera queues as batches into ``AnalyticsCore.process``;
* one evidence thread renders and saves snapshots, then hops to the event loop to publish the
  ``DetectionEvent`` on ``DETECTIONS``;
* one ``clips`` thread (``hub.video.clips``) writes each event's evidence clip from its camera's
  packet ring (``hub.video.ring``, fed by the ingest thread);
* on the loop: live fan-out and a 1 Hz task that publishes health.

Events that last (intrusion, loitering) are published twice with the same id: when they start
(``end`` null) and when they end (``end`` and the final ``dwell_seconds`` set, the start's
snapshot kept). Both go through the one evidence thread, so an end never overtakes its start.
A line crossing is published once, with ``end == start``. Open events end at their last
sighting when the service stops and when a camera's stream has been silent for longer than
its tracker remembers objects (``lost_after``).

With ``Settings.clips`` on, the evidence thread starts each event's clip (``clip_pre_seconds``
before its start to ``clip_post_seconds`` after) as it publishes the start, and publishes it
once written: the same id again, in the event's latest published state (ended or not) with
``clip`` set. That goes through the evidence thread too, so it never overtakes the start, and an
end published after it carries the clip. A clip that could not be written publishes nothing.

Health is published once per second as **one message per camera** on ``CAMERA_HEALTH``
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
from uuid import UUID

from hub.aio import cancel_and_wait
from hub.bus import Bus
from hub.bus.contracts import CAMERA_HEALTH, DETECTIONS, Box, CameraHealth, DetectionEvent
from hub.cluster.leases import Lease
from hub.config import Camera, Settings, Site
from hub.errors import NotFoundError
from hub.video.live import LiveFeed, LiveTap, LiveViewer
from hub.video.metrics import collector
from hub.video.pipeline import BatchWorkers, FrameQueue
from hub.video.relay import LiveRelay
from hub.video.ring import PacketRing
from hub.video.source import CameraSource
from hub.video.source_base import Source, SourceFactory, SourceParts, UnitLocator

if TYPE_CHECKING:
    from hub.video.analytics import AnalysisFrame, AnalyticsCore, RawEvent
    from hub.video.clips import ClipRecorder

log = logging.getLogger(__name__)

SnapshotFn = Callable[[str, "RawEvent", object | None], str | None]
"""(event id, raw event, full-resolution image) -> snapshot path relative to the evidence dir."""

MAX_OPEN_EVENTS = 10_000
"""Started events kept until their end (for the snapshot path); beyond it the oldest is
forgotten and its end is published without a snapshot path (the store keeps the one it has)."""
RING_MARGIN_SECONDS = 5.0
"""Packets kept beyond the pre-roll: the time from a frame's arrival to its event's clip job."""


def lost_after(camera: Camera) -> float:
    """Seconds without frames after which a camera's open events end: longer than the tracker's
    memory (about a second), and than the gap between keyframes of a keyframes-only camera."""
    return max(5.0, 3.0 / camera.analysis_fps)


class _Camera:
    """Per-camera state owned by the service."""

    def __init__(self, camera: Camera) -> None:
        self.camera = camera
        self.source: Source | None = None
        self.queue: FrameQueue[AnalysisFrame] | None = None
        self.feed: LiveFeed | None = None
        self.tap: LiveTap | None = None
        """The live muxer side; one per camera, so it outlives the sources that come and go."""
        self.parts: SourceParts | None = None
        self.last_source: Source | None = None
        """The source detached last: the next one continues its timeline and counters."""
        self.ring: PacketRing | None = None
        self.relay: LiveRelay | None = None
        """The stream analytics does not use (camera with a ``sub_url``), for live viewers."""
        self.analysed = 0
        self.open_events: set[UUID] = set()
        """Ids of this camera's started, not yet ended events (changed under its core's lock)."""
        self.fps_in = 0.0
        self.fps_analysed = 0.0
        self._prev: tuple[float, int, int] | None = None
        self.lease: Lease | None = None
        """The camera's lease while this worker serves it (sharded service only)."""
        self.fence: int | None = None
        """The token of the last lease it was analysed under: events analysed then and
        published later (snapshots take a moment) carry it even after the lease is gone."""

    def update_rates(self, now: float) -> None:
        frames_in = self.source.stats.frames_in if self.source else 0
        if self._prev is not None:
            t0, f0, a0 = self._prev
            dt = now - t0
            if frames_in < f0:  # a new source started counting from zero
                f0 = 0
            if dt > 0:
                self.fps_in = (frames_in - f0) / dt
                self.fps_analysed = (self.analysed - a0) / dt
        self._prev = (now, frames_in, self.analysed)

    def health(self) -> CameraHealth:
        if self.source is None:
            if self.camera.enabled and self.camera.published:
                return CameraHealth(
                    camera_id=self.camera.id, state="offline", last_error="not publishing"
                )
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
        sharded: bool = False,
    ) -> None:
        self.settings = settings
        self.site = site
        self.bus = bus
        self._core = core
        self._snapshot = snapshot
        self._pace_files = pace_files
        self._health_interval = health_interval
        self._cams = {c.id: _Camera(c) for c in site.cameras}
        self._locate_unit: UnitLocator | None = None
        self._workers: BatchWorkers[AnalysisFrame] | None = None
        self._evidence_pool: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._pending: set[Future[Any]] = set()
        self._core_of: dict[str, AnalyticsCore] = {}
        self._core_locks: dict[int, threading.Lock] = {}
        """One per core (by id): cores are not thread-safe, and besides their worker the health
        task may close a silent camera's events."""
        self._open: dict[UUID, DetectionEvent] = {}
        """Published starts awaiting their end; evidence thread only."""
        self._clips: ClipRecorder | None = None
        self._awaiting_clip: dict[UUID, DetectionEvent] = {}
        """Latest published state of events whose clip is being made; evidence thread only."""
        self._started = False
        self.events_published = 0
        self.sharded = sharded
        """A video worker of a cluster: cameras run only once adopted (``adopt``)."""

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
            share = self.settings.detector_share
            cores = [AnalyticsCore(detector_share=share) for _ in range(threads)]
            for i, c in enumerate(enabled):
                cores[i % threads].add_camera(c)
                self._core_of[c.id] = cores[i % threads]
        for core in set(self._core_of.values()):
            self._core_locks[id(core)] = threading.Lock()
        if self._snapshot is None:
            self._snapshot = _default_snapshot(self.settings.data_dir / "evidence", self.site)
        self._workers = BatchWorkers(
            self._process,
            batch_max=self.settings.analytics_batch_max,
            threads=self.settings.analytics_threads,
        )
        self._evidence_pool = ThreadPoolExecutor(1, thread_name_prefix="evidence")
        if self.settings.clips and enabled:
            self._clips = self._clip_recorder()
            self._clips.start()
        for cam in self._cams.values():
            cam.feed = LiveFeed(cam.camera.id, loop)
            if not cam.camera.enabled:
                cam.feed.close("camera disabled")
                continue
            cam.queue = self._workers.queue(self.settings.frame_queue_per_camera)
            if self._clips is not None:
                cam.ring = PacketRing(
                    cam.camera.id,
                    keep_seconds=self.settings.clip_pre_seconds + RING_MARGIN_SECONDS,
                    max_bytes=self.settings.clip_ring_max_bytes,
                )
            cam.tap = LiveTap(cam.feed)
            cam.parts = SourceParts(self._frame_sink(cam), cam.tap, cam.ring)
            if cam.camera.published or self.sharded:
                # A published camera's source comes with each publishing session
                # (attach_source); a sharded one's when this worker adopts it.
                continue
            self._pull(cam)
        self._workers.start()
        for cam in self._cams.values():
            if cam.source is not None:
                cam.source.start()
            if cam.relay is not None:
                cam.relay.start()
        collector().add(self)
        self._health_task = asyncio.create_task(self._health_loop(), name="video-health")
        log.info("video service started: %d cameras (%d enabled)", len(self._cams), len(enabled))

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        collector().remove(self)
        await cancel_and_wait([self._health_task])
        sources = [c.source for c in self._cams.values() if c.source is not None]
        for src in sources:
            src.request_stop()
        stuck = await asyncio.to_thread(self._join_sources, sources)
        if stuck:
            log.warning("ingest threads still in a blocking read at stop: %s", stuck)
        if self._workers is not None:
            await asyncio.to_thread(self._workers.stop)
        # Nothing analyses any more: end what is still open at its last sighting.
        for cam in self._cams.values():
            if cam.open_events:
                await asyncio.to_thread(self._close_events, cam)
        if self._clips is not None:
            # Write what the clips being collected hold; their messages queue behind the ends.
            await asyncio.to_thread(self._clips.stop)
            self._clips = None
        if self._evidence_pool is not None:
            await asyncio.to_thread(self._evidence_pool.shutdown, True)
        # Let publishes that evidence threads handed to the loop finish.
        pending = [asyncio.wrap_future(f) for f in self._pending]
        if pending:
            await asyncio.wait(pending, timeout=5)
        for cam in self._cams.values():
            if cam.feed is not None:
                cam.feed.close("video service stopped")
            if cam.relay is not None:
                cam.relay.close("video service stopped")
                await asyncio.to_thread(cam.relay.join, self.settings.stall_seconds + 1)
        log.info("video service stopped")

    def _pull(self, cam: _Camera) -> None:
        """The camera's pulled source (and its other stream's relay), not started yet."""
        assert cam.parts is not None and self._loop is not None
        cam.source = CameraSource(
            cam.camera.model_copy(update={"url": cam.camera.analysis_url}),
            self.settings,
            on_frame=cam.parts.on_frame,
            live=cam.tap,
            ring=cam.ring,
            pace_files=self._pace_files,
        )
        if cam.last_source is not None:
            cam.source.continue_after(cam.last_source)
        other = "main" if cam.camera.analysis_stream == "sub" else "sub"
        other_url = cam.camera.url if other == "main" else cam.camera.sub_url
        if other_url:
            cam.relay = LiveRelay(cam.camera, other_url, self.settings, self._loop, stream=other)

    # -- shards (a video worker of a cluster: hub/cluster/shards.py) -------------------------

    def serves(self, camera_id: str) -> bool:
        """Whether this service analyses the camera now (always, unless sharded)."""
        cam = self._cams.get(camera_id)
        return cam is not None and (not self.sharded or cam.lease is not None)

    async def adopt(self, camera_id: str, lease: Lease) -> None:
        """Start analysing a camera this worker now holds the lease of. Its frames are analysed
        only while the lease is valid, and its events carry the lease's fencing token."""
        cam = self._cams.get(camera_id)
        if cam is None or cam.parts is None or not self._started:
            return  # unknown or disabled here: the lease is held, nothing runs
        cam.lease = lease
        cam.fence = lease.token
        if cam.camera.published:
            return  # its unit publishes to whichever process it reaches (attach_source)
        self._pull(cam)
        assert cam.source is not None
        cam.source.start()
        if cam.relay is not None:
            cam.relay.start()
        log.info("camera %s: adopted (fence %d)", camera_id, lease.token)

    async def release(self, camera_id: str) -> None:
        """Stop analysing a camera (its lease is lost or handed over); its open events end."""
        cam = self._cams.get(camera_id)
        if cam is None or cam.lease is None:
            return
        lease, cam.lease = cam.lease, None
        lease.valid_until = 0.0  # no frame is analysed from here on
        if cam.source is not None and not cam.camera.published:
            await self.detach_source(camera_id, cam.source)
        if cam.relay is not None:
            relay, cam.relay = cam.relay, None
            relay.close("camera moved to another worker")
            await asyncio.to_thread(relay.join, self.settings.stall_seconds + 1)
        log.info("camera %s: released", camera_id)

    def _join_sources(self, sources: Sequence[Source]) -> list[str]:
        deadline = time.monotonic() + self.settings.stall_seconds + 5
        stuck = []
        for src in sources:
            if not src.join(max(0.1, deadline - time.monotonic())):
                stuck.append(src.camera.id)
        return stuck

    # -- public surface ----------------------------------------------------------------------

    def health(self) -> list[CameraHealth]:
        """Each camera's health; only the ones it serves when sharded (the others' is their
        worker's to tell)."""
        return [cam.health() for cam in self._cams.values() if self.serves(cam.camera.id)]

    def subscribe_live(self, camera_id: str, stream: str = "main") -> LiveViewer:
        cam = self._cams.get(camera_id)
        if cam is None:
            raise NotFoundError(f"no camera {camera_id!r}")
        if cam.feed is None:
            raise NotFoundError(f"camera {camera_id!r}: video service not started")
        if cam.relay is not None and stream == cam.relay.stream:
            return cam.relay.feed.subscribe()
        return cam.feed.subscribe()  # the analysed stream (also for "sub" without a sub_url)

    def source(self, camera_id: str) -> Source | None:
        return self._cams[camera_id].source

    def share_packets(
        self, camera_id: str, listener: Callable[[bytes, int, bool], None]
    ) -> Callable[[], None]:
        """Every H.264 packet of the camera's analysed stream, as it arrives (on its ingest
        thread), until the returned function is called: a camera shared into a call."""
        cam = self._cams.get(camera_id)
        if cam is None or cam.tap is None:
            raise NotFoundError(f"camera {camera_id!r} is not running")
        return cam.tap.listen(listener)

    def locate_units(self, locate: UnitLocator) -> None:
        """Where moving units (drones, camera vehicles) are now: their events carry that
        position and the grid under it instead of the camera's configured ones."""
        self._locate_unit = locate

    async def attach_source(self, camera_id: str, make: SourceFactory) -> Source:
        """Start a new source for a camera at run time (a unit began publishing).

        A source the camera still has is stopped first; the new one is made by ``make`` from
        the camera's parts and started. Raises NotFoundError for an unknown or disabled camera.
        """
        cam = self._cams.get(camera_id)
        if cam is None or cam.parts is None or not self._started:
            raise NotFoundError(f"no camera {camera_id!r} takes video now")
        old = cam.source
        if old is not None:
            await self.detach_source(camera_id, old)
        source = make(cam.parts)
        if cam.last_source is not None:
            source.continue_after(cam.last_source)
        cam.source = source
        source.start()
        log.info("camera %s: source attached (%s)", camera_id, type(source).__name__)
        return source

    async def detach_source(self, camera_id: str, source: Source) -> None:
        """Stop a camera's source (its unit stopped publishing); its open events end."""
        cam = self._cams.get(camera_id)
        if cam is None or cam.source is not source:
            return
        cam.source = None
        cam.last_source = source
        source.request_stop()
        stuck = await asyncio.to_thread(self._join_sources, [source])
        if stuck:
            log.warning("camera %s: source still busy after stop", camera_id)
        if cam.open_events:
            await asyncio.to_thread(self._close_events, cam)
        log.info("camera %s: source detached", camera_id)

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
            **self._detector_totals(),
        }

    def _detector_totals(self) -> dict[str, float]:
        totals = {"detector_looks": 0.0, "detector_deferred": 0.0, "detector_seconds": 0.0}
        for core in set(self._core_of.values()):
            st = getattr(core, "stats", None)
            if st is None:
                continue
            totals["detector_looks"] += st.looks
            totals["detector_deferred"] += st.deferred
            totals["detector_seconds"] += st.detector_seconds
        return totals

    # -- decode thread -> analytics ----------------------------------------------------------

    def _frame_sink(self, cam: _Camera) -> Callable[[Any, float, float], None]:
        from hub.video.analytics import AnalysisFrame, reduce_luma

        camera = cam.camera
        queue = cam.queue
        assert queue is not None
        # A sharded camera is analysed only under its lease (a published one has none: its
        # unit publishes to whichever process it reaches).
        sharded = self.sharded and not camera.published

        def on_frame(frame: Any, media_time: float, wall_time: float) -> None:
            if sharded and (cam.lease is None or not cam.lease.valid()):
                return  # no valid lease (ran out, or released): another worker may have it
            luma = reduce_luma(frame, camera.analysis_width)
            queue.put(AnalysisFrame(camera.id, media_time, wall_time, luma, image=frame))

        return on_frame

    def _process(self, batch: Sequence[AnalysisFrame]) -> None:
        core = self._core_of[batch[0].camera_id]
        with self._core_locks[id(core)]:
            results = core.process(batch)
            for frame in batch:
                self._cams[frame.camera_id].analysed += 1
            for result in results:
                for ev in result.events:
                    self._event_started(ev, _image_for(batch, ev))
                for ev in result.ended:
                    self._event_ended(ev)

    def _close_events(self, cam: _Camera) -> None:
        """End a camera's open events at their last sighting (stream over or lost)."""
        core = self._core_of.get(cam.camera.id)
        if core is None:
            return
        with self._core_locks[id(core)]:
            # A shared stand-in core may not know how; it then keeps its events open.
            close = getattr(core, "close_events", None)
            ended = close(cam.camera.id) if close is not None else []
            for ev in ended:
                self._event_ended(ev)
        if ended:
            log.info("camera %s: %d open events ended (no frames)", cam.camera.id, len(ended))

    def _event_started(self, ev: RawEvent, image: object | None) -> None:
        if ev.end_media_time is None:
            self._cams[ev.camera_id].open_events.add(ev.id)
        self._submit(self._render_and_publish, ev, image)

    def _event_ended(self, ev: RawEvent) -> None:
        self._cams[ev.camera_id].open_events.discard(ev.id)
        self._submit(self._publish_end, ev)

    # -- events ------------------------------------------------------------------------------

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        pool = self._evidence_pool
        if pool is None:
            return
        with contextlib.suppress(RuntimeError):  # shutting down
            pool.submit(fn, *args)

    def _render_and_publish(self, ev: RawEvent, image: object | None) -> None:
        snapshot: str | None = None
        if self._snapshot is not None:
            try:
                snapshot = self._snapshot(str(ev.id), ev, image)
            except Exception:
                log.exception("snapshot for %s event on %s failed", ev.type, ev.camera_id)
        event = self._detection(ev, snapshot)
        if event.end is None:
            self._open[event.id] = event
            if len(self._open) > MAX_OPEN_EVENTS:
                oldest = next(iter(self._open))
                del self._open[oldest]
                log.warning("more than %d open events: forgot %s", MAX_OPEN_EVENTS, oldest)
        self._begin_clip(ev, event)
        self._publish_threadsafe(event)

    def _begin_clip(self, ev: RawEvent, event: DetectionEvent) -> None:
        """Evidence thread: start the event's clip; its message will follow this one."""
        ring = self._cams[ev.camera_id].ring
        clips = self._clips
        if clips is None or ring is None:
            return
        self._awaiting_clip[event.id] = event
        if not clips.begin(ring, str(event.id), ev.wall_time):
            del self._awaiting_clip[event.id]
        elif len(self._awaiting_clip) > MAX_OPEN_EVENTS:
            del self._awaiting_clip[next(iter(self._awaiting_clip))]

    def _on_clip(self, event_id: str, clip: str | None) -> None:
        """Clips thread: hand the written clip to the evidence thread (behind the start)."""
        self._submit(self._publish_clip, UUID(event_id), clip)

    def _publish_clip(self, event_id: UUID, clip: str | None) -> None:
        latest = self._awaiting_clip.pop(event_id, None)
        if clip is None or latest is None:
            return
        started = self._open.get(event_id)
        if started is not None:
            self._open[event_id] = started.model_copy(update={"clip": clip})
        self._publish_threadsafe(latest.model_copy(update={"clip": clip}))

    def _publish_end(self, ev: RawEvent) -> None:
        assert ev.end_wall_time is not None
        started = self._open.pop(ev.id, None)
        if started is None:
            started = self._detection(ev, None)
        event = started.model_copy(
            update={
                "end": datetime.fromtimestamp(ev.end_wall_time, UTC),
                "dwell_seconds": ev.dwell_seconds,
            }
        )
        if event.id in self._awaiting_clip:
            self._awaiting_clip[event.id] = event
        self._publish_threadsafe(event)

    def _detection(self, ev: RawEvent, snapshot: str | None) -> DetectionEvent:
        fence = self._cams[ev.camera_id].fence
        cam = self._cams[ev.camera_id].camera
        end = None if ev.end_wall_time is None else datetime.fromtimestamp(ev.end_wall_time, UTC)
        grid_id: str | None = cam.grid
        position: list[float] | None = None
        if cam.kind != "fixed" and self._locate_unit is not None:
            found = self._locate_unit(cam.id)
            if found is not None:
                position, grid_id = found
        return DetectionEvent(
            id=ev.id,
            camera_id=ev.camera_id,
            grid_id=grid_id,
            position=position,
            type=ev.type,
            zone_id=ev.zone_id,
            line_id=ev.line_id,
            direction=ev.direction,
            track_id=ev.track_id,
            start=datetime.fromtimestamp(ev.wall_time, UTC),
            end=end,
            media_time=ev.media_time,
            boxes=[_box(ev.box)] + [_box(b) for b in ev.track_boxes],
            confidence=min(1.0, max(0.0, ev.confidence)),
            snapshot=snapshot,
            dwell_seconds=ev.dwell_seconds,
            object_kind=ev.object_kind,
            count=ev.count,
            cause=ev.cause,
            fence=fence,
        )

    def _publish_threadsafe(self, event: DetectionEvent) -> None:
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
        await self.bus.publish(DETECTIONS, event)
        self.events_published += 1

    # -- health ------------------------------------------------------------------------------

    async def _health_loop(self) -> None:
        while True:
            now = time.monotonic()
            for cam in self._cams.values():
                cam.update_rates(now)
                if cam.open_events and cam.source is not None:
                    age = cam.source.frame_age()
                    if age is None or age > lost_after(cam.camera):
                        try:
                            await asyncio.to_thread(self._close_events, cam)
                        except Exception:
                            log.exception("closing events of %s failed", cam.camera.id)
            for h in self.health():
                try:
                    await self.bus.publish(CAMERA_HEALTH, h)
                except Exception:
                    log.exception("publishing camera health failed")
            await asyncio.sleep(self._health_interval)

    def _clip_recorder(self) -> ClipRecorder:
        from hub.video.clips import ClipRecorder
        from hub.video.evidence import EvidenceStore

        s = self.settings
        return ClipRecorder(
            EvidenceStore(s.data_dir / "evidence"),
            pre=s.clip_pre_seconds,
            post=s.clip_post_seconds,
            on_clip=self._on_clip,
            grace=s.stall_seconds + 5.0,
        )


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
