"""One deadline scheduler for the hub: device presence, missing-data alarm rules and (next) case
time limits all wait on it the same way.

A :class:`Deadlines` holds at most one pending deadline per key (the earliest asked for) in a heap
served by one task that sleeps until the earliest one is due: no polling, O(log n) per schedule
however many keys wait. Deadlines are wall-clock times (epoch seconds), because they come from
stored times and must mean the same after a restart; the owner rebuilds them from its store at
start by scheduling again. Entries made stale by an earlier reschedule or a cancel are skipped
when they surface.

When deadlines come due, ``on_due(keys, now)`` runs with every key due by ``now``, in due order;
it decides what the deadline means then (the device may have been heard from since) and may
schedule the key again. Tests drive time themselves with :meth:`Deadlines.fire_due` and an
injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from hub.aio import cancel_and_wait

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class Deadlines(Generic[K]):
    def __init__(
        self,
        on_due: Callable[[list[K], float], Awaitable[None]],
        *,
        clock: Callable[[], float] = time.time,
        name: str = "deadlines",
    ) -> None:
        self._on_due = on_due
        self.clock = clock
        self.name = name
        self._heap: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._order = itertools.count()  # ties in time keep scheduling order; keys never compared
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: K) -> bool:
        return key in self._due

    def due(self, key: K) -> float | None:
        """The key's pending deadline, if any."""
        return self._due.get(key)

    def next_due(self) -> float | None:
        """The earliest pending deadline (skipping stale heap entries)."""
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def schedule(self, key: K, due: float) -> None:
        """Wait for ``due`` for this key, unless an earlier deadline of it is already pending."""
        current = self._due.get(key)
        if current is not None and current <= due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._order), key))
        if self._heap[0][2] == key and self._heap[0][0] == due:
            self._wake.set()

    def cancel(self, key: K) -> None:
        self._due.pop(key, None)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        self._task = None

    async def fire_due(self, now: float | None = None) -> int:
        """Run ``on_due`` for every key due by ``now`` (the clock by default); how many."""
        now = self.clock() if now is None else now
        keys: list[K] = []
        while self._heap and self._heap[0][0] <= now:
            due, _, key = heapq.heappop(self._heap)
            if self._due.get(key) == due:
                del self._due[key]
                keys.append(key)
        if keys:
            try:
                await self._on_due(keys, now)
            except Exception:
                # The scheduler must outlive any one owner's bug; the keys are not retried.
                log.exception("%s: handling %d due deadlines failed", self.name, len(keys))
        return len(keys)

    def _drop_stale(self) -> None:
        while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            first = self.next_due()
            delay = None if first is None else first - self.clock()
            if delay is None or delay > 0:
                # asyncio.timeout, not wait_for: 3.11's wait_for wraps the wait in a task of its
                # own, and a cancel landing as the event is set left that task pending forever
                # (a stop that never returned).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
            await self.fire_due()
