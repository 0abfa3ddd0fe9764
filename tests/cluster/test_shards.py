"""Camera shards over live workers: each name served by one worker, never two at once, moved
when a worker dies or joins."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
import redis_server

from hub.cluster.leases import Lease
from hub.cluster.shards import Shards, preferred

NAMES = [f"cam-{i:02d}" for i in range(30)]


class Worker:
    """Serves names the way a video worker would: ``serving`` is what it analyses now."""

    def __init__(
        self,
        redis: Any,
        prefix: str,
        name: str,
        log: list[tuple[str, str, str]],
        stop_takes: float = 0.02,
    ) -> None:
        self.name = name
        self.leases: dict[str, Lease] = {}
        self.log = log
        self.stop_takes = stop_takes
        self.shards = Shards(
            redis,
            prefix=prefix,
            kind="camera",
            holder=name,
            names=NAMES,
            on_adopt=self.adopt,
            on_release=self.release,
            ttl=1.0,
            member_ttl=1.0,
            interval=0.1,
        )

    @property
    def serving(self) -> set[str]:
        """What it analyses now: a video worker analyses a frame only under a valid lease."""
        return {n for n, lease in self.leases.items() if lease.valid()}

    async def adopt(self, lease: Lease) -> None:
        self.leases[lease.name] = lease
        self.log.append(("adopt", self.name, lease.name))

    async def release(self, name: str) -> None:
        await asyncio.sleep(self.stop_takes)  # stopping a camera takes a moment
        self.leases.pop(name, None)
        self.log.append(("release", self.name, name))

    def kill(self) -> None:
        """kill -9: no release, no goodbye; what it served stops with the process."""
        assert self.shards._task is not None
        self.shards._task.cancel()
        self.leases.clear()


@pytest.fixture
async def redis() -> AsyncIterator[Any]:
    r = aioredis.Redis.from_url(redis_server.shared().url)
    yield r
    await r.aclose()


async def _until(cond: Any, within: float) -> float:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    while not cond():
        if loop.time() - t0 > within:
            raise AssertionError(f"not within {within:.1f} s")
        await asyncio.sleep(0.02)
    return loop.time() - t0


async def test_names_spread_over_workers_and_move_without_overlap(redis: Any) -> None:
    prefix = f"t{secrets.token_hex(4)}"
    log: list[tuple[str, str, str]] = []
    workers = [Worker(redis, prefix, f"w{i}", log) for i in range(3)]
    overlaps: list[str] = []
    stop = asyncio.Event()

    async def watch() -> None:
        while not stop.is_set():
            seen: dict[str, str] = {}
            for w in workers:
                for n in w.serving:
                    if n in seen:
                        overlaps.append(f"{n}: {seen[n]} and {w.name}")
                    seen[n] = w.name
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    for w in workers:
        await w.shards.start()

    def all_served(ws: list[Worker]) -> bool:
        served = [n for w in ws for n in w.serving]
        return sorted(served) == NAMES

    names = [w.name for w in workers]

    def balanced(ws: list[Worker], live: list[str]) -> bool:
        # each serves what rendezvous hashing gives it, and all are served
        return all(
            w.serving == {n for n in NAMES if preferred(n, live) == w.name} for w in ws
        ) and all_served(ws)

    await _until(lambda: balanced(workers, names), 5)
    assert all(len(w.serving) >= 4 for w in workers)

    # One dies: its names come back on the others, within lease + heartbeat + a step.
    dead = workers[1]
    orphaned = set(dead.serving)
    mark = len(log)
    dead.kill()
    took = await _until(lambda: all_served([workers[0], workers[2]]), 5)
    assert took < 2.5
    assert [e for e in log[mark:] if e[0] == "release"] == []  # only the dead one's moved
    assert {e[2] for e in log[mark:]} == orphaned

    # A new one joins: it takes its share from the others, without a restart of theirs.
    late = Worker(redis, prefix, "w3", log)
    workers.append(late)
    await late.shards.start()
    live = [workers[0], workers[2], late]
    await _until(lambda: balanced(live, ["w0", "w2", "w3"]), 5)
    assert late.serving

    # Leaving in order hands everything over at once.
    await late.shards.stop()
    await _until(lambda: all_served([workers[0], workers[2]]), 3)
    stop.set()
    await watcher
    for w in (workers[0], workers[2]):
        await w.shards.stop()
    assert overlaps == []


async def test_a_slow_stop_does_not_cost_the_other_names_their_leases(redis: Any) -> None:
    """Stopping a camera can take seconds (a silent camera's blocking read): meanwhile the
    worker keeps renewing the leases of all its other cameras."""
    prefix = f"t{secrets.token_hex(4)}"
    log: list[tuple[str, str, str]] = []
    slow = Worker(redis, prefix, "w0", log, stop_takes=2.5)  # more than twice the lease
    await slow.shards.start()
    await _until(lambda: len(slow.serving) == len(NAMES), 3)
    joined = Worker(redis, prefix, "w1", log)
    await joined.shards.start()
    await _until(lambda: sorted(slow.serving | joined.serving) == NAMES and joined.serving, 3)
    await asyncio.sleep(3.0)  # the slow stops finish meanwhile
    assert [e for e in log if e[0] == "release" and e[2] in slow.serving] == []
    assert slow.serving == {n for n in NAMES if preferred(n, ["w0", "w1"]) == "w0"}
    assert slow.serving.isdisjoint(joined.serving)
    await joined.shards.stop()
    await slow.shards.stop()
