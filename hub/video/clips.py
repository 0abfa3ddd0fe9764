"""Evidence clips: an event's packets from its camera's ring, remuxed to MP4 (stream copy).

``write_clip`` is the pure part: packets and codec parameters in, a faststart MP4 out (written
to a temporary name, then renamed, so a half-written clip is never served).

``ClipRecorder`` runs the jobs: ``begin`` starts collecting an event's packets in its camera's
ring (the keyframe at or before ``start - pre`` until ``start + post``); when the ring finishes
the collector, the one ``clips`` thread writes the file and reports its path relative to the
evidence directory through ``on_clip`` (``None`` when nothing could be written). A camera that
goes silent gets its clips written ``grace`` seconds after their end with what there is; a
stream that ends (a file, or the service stopping) gets them written at once. Nothing here runs
on the event loop or in an ingest thread besides the ring's cheap appends.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av

from hub.video.evidence import EvidenceStore
from hub.video.ring import TIME_BASE, ClipTemplate, Collector, PacketRing, RingPacket

log = logging.getLogger(__name__)

ClipDone = Callable[[str, str | None], None]
"""(event id, clip path relative to the evidence dir or None), called in the clips thread."""

MAX_PENDING = 2_000
"""Clip jobs collecting at once (all cameras); beyond it new events get no clip (logged)."""


@dataclass(frozen=True, slots=True)
class ClipInfo:
    path: Path
    packets: int
    nbytes: int
    seconds: float
    """From the first packet's decode time to the end of the last packet."""


def write_clip(path: Path, template: ClipTemplate, packets: Sequence[RingPacket]) -> ClipInfo:
    """Remux ``packets`` (starting with a keyframe) into an MP4 at ``path`` with the moov atom
    first. Raises ValueError without packets; PyAV errors pass through."""
    if not packets:
        raise ValueError("no packets")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    base = packets[0].dts
    nbytes = 0
    try:
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = out.add_stream_from_template(template.stream)
            stream.time_base = TIME_BASE
            for p in packets:
                pkt = av.Packet(p.data)
                pkt.dts = p.dts - base
                pkt.pts = p.pts - base
                pkt.duration = p.duration
                pkt.time_base = TIME_BASE
                pkt.is_keyframe = p.key
                pkt.stream = stream
                out.mux(pkt)
                nbytes += len(p.data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    last = packets[-1]
    seconds = float((last.dts + last.duration - base) * TIME_BASE)
    return ClipInfo(path, len(packets), nbytes, seconds)


class ClipRecorder:
    """Collects and writes the clips of every camera; one writer thread."""

    def __init__(
        self,
        store: EvidenceStore,
        *,
        pre: float,
        post: float,
        on_clip: ClipDone,
        grace: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.pre = pre
        self.post = post
        self.grace = grace
        self._on_clip = on_clip
        self._clock = clock
        self._queue: queue.SimpleQueue[Collector | None] = queue.SimpleQueue()
        self._pending: dict[str, Collector] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.written = 0
        self.failed = 0
        self.refused = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="clips", daemon=True)
            self._thread.start()

    def begin(self, ring: PacketRing, event_id: str, start_wall: float) -> bool:
        """Start the clip of an event that started at ``start_wall``; False when it gets none."""
        with self._lock:
            if self._stopping or event_id in self._pending:
                return False
            if len(self._pending) >= MAX_PENDING:
                self.refused += 1
                log.warning("%d clips being collected: none for event %s", MAX_PENDING, event_id)
                return False
            c = ring.collect(
                event_id, start_wall - self.pre, start_wall + self.post, on_done=self._queue.put
            )
            if c is None:
                return False
            self._pending[event_id] = c
        return True

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def stop(self) -> None:
        """Write every clip being collected with what it has, then end the thread."""
        with self._lock:
            self._stopping = True
            collectors = list(self._pending.values())
        for c in collectors:
            c.finish("stopped")
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # -- the clips thread --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                self._expire()
                continue
            if item is None:
                # stop(): everything it finished was queued ahead of this sentinel.
                return
            self._write(item)
            self._expire()

    def _expire(self) -> None:
        """Finish the collectors of cameras that went silent: their packets will not come."""
        now = self._clock()
        with self._lock:
            late = [c for c in self._pending.values() if now > c.until + self.grace]
        for c in late:
            c.finish("timeout")

    def _write(self, c: Collector) -> None:
        with self._lock:
            self._pending.pop(c.key, None)
        rel: str | None = None
        camera = c.ring.camera_id
        if not c.packets:
            log.warning("clip for event %s on %s: no video (%s)", c.key, camera, c.reason)
        else:
            when = datetime.fromtimestamp(c.since + self.pre, UTC)
            rel = self.store.clip_relative_path(c.key, when)
            try:
                info = write_clip(self.store.root / rel, c.template, c.packets)
            except Exception as exc:
                self.failed += 1
                rel = None
                log.warning("clip for event %s on %s failed: %s", c.key, camera, exc)
            else:
                self.written += 1
                level = logging.DEBUG if c.reason == "complete" else logging.INFO
                log.log(
                    level,
                    "clip for event %s on %s: %.1f s, %d bytes (%s)",
                    c.key,
                    camera,
                    info.seconds,
                    info.nbytes,
                    c.reason,
                )
        try:
            self._on_clip(c.key, rel)
        except Exception:
            log.exception("reporting the clip of event %s failed", c.key)
