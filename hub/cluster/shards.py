"""Shards: a set of names (the cameras) spread over the live workers of a kind, each name held
by one worker at a time through a lease (hub/cluster/leases.py).

Each worker heartbeats into ``{prefix}:members:{kind}`` and, once a ``interval``:
- renews its leases; a lease it could not renew in time is dropped at once (``on_release``);
- gives up the names whose preferred worker is now another live worker (a worker joined): it
  invalidates the lease here first (whoever serves a name checks the lease before acting on
  it), releases it, and stops serving the name in the background;
- claims the free names it is the preferred worker of (``on_adopt`` starts serving them).

The preferred worker of a name is the live worker with the highest hash of (name, worker)
(rendezvous hashing): every worker computes the same, a worker's death moves only its names,
and a new worker takes about 1/N of each of the others'. A dead worker's names move once its
leases expire and its heartbeat has run out, whichever is later.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Counter, Gauge
from redis.exceptions import RedisError

from hub.bus.members import beat
from hub.cluster.leases import Lease, Leases

log = logging.getLogger(__name__)

SHARDS_OWNED = Gauge("hub_shards_owned", "Names (cameras) this worker holds a lease on", ["kind"])
SHARDS_MOVED = Counter(
    "hub_shards_moved_total", "Names this worker adopted, gave up or lost", ["kind", "how"]
)


def preference(name: str, worker: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{name}|{worker}".encode(), digest_size=8).digest())


def preferred(name: str, workers: list[str]) -> str:
    return max(workers, key=lambda w: preference(name, w))


class Shards:
    def __init__(
        self,
        redis: Any,
        *,
        prefix: str,
        kind: str,
        holder: str,
        names: list[str],
        on_adopt: Callable[[Lease], Awaitable[None]],
        on_release: Callable[[str], Awaitable[None]],
        ttl: float = 8.0,
        member_ttl: float = 6.0,
        interval: float = 1.0,
    ) -> None:
        self.redis = redis
        self.kind = kind
        self.holder = holder
        self.names = list(names)
        self.leases = Leases(redis, prefix=prefix, kind=kind, holder=holder, ttl=ttl)
        self.members_key = f"{prefix}:members:{kind}"
        self.member_ttl = member_ttl
        self.interval = interval
        self.on_adopt = on_adopt
        self.on_release = on_release
        self.owned: dict[str, Lease] = {}
        self.live: list[str] = []
        self._releasing: dict[str, asyncio.Task[None]] = {}
        """Names being stopped here (``on_release`` under way)."""
        self._task: asyncio.Task[None] | None = None

    def valid(self, name: str) -> bool:
        """Whether this worker may act for ``name`` now (a lease still in its time)."""
        lease = self.owned.get(name)
        return lease is not None and lease.valid()

    async def start(self) -> None:
        # Be seen before claiming: workers starting together then split the names at once
        # instead of the first one taking all and handing most of them over a moment later.
        await self.redis.zadd(self.members_key, {self.holder: time.time()})
        await asyncio.sleep(min(2 * self.interval, self.member_ttl / 2))
        await self.step()
        self._task = asyncio.create_task(self._run(), name=f"shards-{self.kind}")

    async def stop(self) -> None:
        """Stop serving every name, then hand the leases back (the others take them at once)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for name in list(self.owned):
            await self._give_up(name, "released")
        if self._releasing:  # every name stopped before this returns
            await asyncio.gather(*self._releasing.values(), return_exceptions=True)
        try:
            await self.redis.zrem(self.members_key, self.holder)
        except Exception as exc:  # leaving early is a courtesy: the heartbeat runs out anyway
            log.warning("could not leave %s: %s", self.members_key, exc)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.step()
            except (ConnectionError, TimeoutError, OSError, RedisError) as exc:
                # Redis away: leases run out by themselves (step drops them in time). One line,
                # not a traceback a second.
                log.warning("shard step (%s): Redis unreachable: %s", self.kind, exc)
                await self._drop_expired()
            except Exception:
                log.exception("shard step (%s) failed", self.kind)
                await self._drop_expired()

    async def _drop_expired(self) -> None:
        for name, lease in list(self.owned.items()):
            if not lease.valid():
                await self._lost(name)

    async def step(self) -> None:
        self.live = await beat(self.redis, self.members_key, self.holder, self.member_ttl)
        held = list(self.owned.values())
        for h, ok in zip(held, await self.leases.renew_all(held), strict=True):
            if not ok or not h.valid():
                await self._lost(h.name)
        for name in list(self.owned):
            if preferred(name, self.live) != self.holder:
                await self._give_up(name, "handed over")
        mine = [
            n
            for n in self.names
            if n not in self.owned
            and n not in self._releasing  # still stopping here: adopted again once stopped
            and preferred(n, self.live) == self.holder
        ]
        for name in mine:
            lease = await self.leases.acquire(name)
            if lease is None:
                continue  # still held (by a worker giving it up, or one whose lease runs on)
            self.owned[name] = lease
            SHARDS_MOVED.labels(self.kind, "adopted").inc()
            try:
                await self.on_adopt(lease)
            except Exception:
                log.exception("adopting %s %s failed", self.kind, name)
                await self._give_up(name, "failed")
        SHARDS_OWNED.labels(self.kind).set(len(self.owned))

    async def _lost(self, name: str) -> None:
        log.warning("%s %s: lease lost, stopping it", self.kind, name)
        lease = self.owned.pop(name, None)
        if lease is not None:
            lease.valid_until = 0.0
        SHARDS_MOVED.labels(self.kind, "lost").inc()
        self._stop_serving(name)

    async def _give_up(self, name: str, how: str) -> None:
        lease = self.owned.pop(name)
        SHARDS_MOVED.labels(self.kind, how).inc()
        # Invalid here first: whoever serves the name checks its lease before acting on it
        # (a video worker, before analysing each frame), so from now on nothing is done for it
        # and another worker may take it at once.
        lease.valid_until = 0.0
        try:
            await self.leases.release(lease)
        except Exception as exc:  # it runs out by itself
            log.warning("releasing %s %s failed: %s", self.kind, name, exc)
        self._stop_serving(name)

    def _stop_serving(self, name: str) -> None:
        """``on_release`` in a task of its own: stopping a camera can take seconds (a silent
        camera's blocking read), and the leases of the others must be renewed meanwhile."""

        async def stop() -> None:
            try:
                await self.on_release(name)
            except Exception:
                log.exception("stopping %s %s failed", self.kind, name)
            finally:
                self._releasing.pop(name, None)

        self._releasing[name] = asyncio.create_task(stop(), name=f"shards-release-{name}")
