"""Bounded per-camera frame queues and the analytics worker(s) that drain them in batches.

Decode threads put sampled ``AnalysisFrame``s here; a full queue drops its oldest frame (the
newest is what matters for live analytics) and counts it, so memory never grows when analytics
falls behind. Each worker takes everything queued across all cameras (up to ``batch_max``,
round-robin so one busy camera cannot starve the rest) as one batch: per-batch Python overhead
stays flat as cameras are added.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class FrameQueue(Generic[T]):
    """A drop-oldest bounded queue for one camera; ``dropped`` counts what it threw away."""

    def __init__(self, maxlen: int, ready: threading.Condition) -> None:
        self.maxlen = max(1, maxlen)
        self._items: deque[T] = deque()
        self._ready = ready
        self.dropped = 0
        self.put_count = 0

    def put(self, item: T) -> None:
        with self._ready:
            if len(self._items) >= self.maxlen:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self.put_count += 1
            self._ready.notify()

    def __len__(self) -> int:
        return len(self._items)

    def _take(self) -> T | None:
        return self._items.popleft() if self._items else None


class _Worker(Generic[T]):
    def __init__(self, owner: BatchWorkers[T], name: str) -> None:
        self.owner = owner
        self.ready = threading.Condition()
        self.queues: list[FrameQueue[T]] = []
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)
        self.stopping = False
        self._rr = 0

    def collect(self) -> list[T]:
        batch: list[T] = []
        queues = self.queues
        n = len(queues)
        if n == 0:
            return batch
        limit = self.owner.batch_max
        # Round-robin, one frame per camera per pass, starting after where the last batch began.
        start = self._rr
        self._rr = (self._rr + 1) % n
        progress = True
        while progress and len(batch) < limit:
            progress = False
            for i in range(n):
                item = queues[(start + i) % n]._take()
                if item is not None:
                    batch.append(item)
                    progress = True
                    if len(batch) >= limit:
                        break
        return batch

    def run(self) -> None:
        owner = self.owner
        while True:
            with self.ready:
                batch = self.collect()
                while not batch and not self.stopping:
                    self.ready.wait()
                    batch = self.collect()
                if not batch:
                    return
            try:
                owner.process(batch)
            except Exception:
                # One bad batch (or a bug in a detector) must not stop analytics for everyone.
                owner.errors += 1
                log.exception("analytics batch of %d frames failed", len(batch))
            owner.batches += 1
            owner.frames += len(batch)


class BatchWorkers(Generic[T]):
    """``threads`` workers calling ``process(batch)``; each camera's queue belongs to one worker.

    Pinning a camera to one worker keeps its frames in order and its tracker state single-threaded
    even with several workers.
    """

    def __init__(
        self,
        process: Callable[[Sequence[T]], None],
        *,
        batch_max: int,
        threads: int = 1,
        name: str = "analytics",
    ) -> None:
        self.process = process
        self.batch_max = max(1, batch_max)
        self._workers = [_Worker(self, f"{name}-{i}") for i in range(max(1, threads))]
        self._count = 0
        self.batches = 0
        self.frames = 0
        self.errors = 0

    def queue(self, maxlen: int) -> FrameQueue[T]:
        worker = self._workers[self._count % len(self._workers)]
        self._count += 1
        q: FrameQueue[T] = FrameQueue(maxlen, worker.ready)
        worker.queues.append(q)
        return q

    def start(self) -> None:
        for w in self._workers:
            w.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then end the threads."""
        for w in self._workers:
            with w.ready:
                w.stopping = True
                w.ready.notify_all()
        for w in self._workers:
            if w.thread.is_alive():
                w.thread.join(timeout)
