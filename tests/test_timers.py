"""The deadline scheduler: one pending deadline per key (the earliest), due keys in order, a
task that sleeps until the next one, and a clock the tests can drive."""

from __future__ import annotations

import asyncio
import time

from hub.timers import Deadlines


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def test_earliest_deadline_per_key_wins_and_fires_once() -> None:
    fired: list[tuple[list[str], float]] = []

    async def on_due(keys: list[str], now: float) -> None:
        fired.append((keys, now))

    clock = Clock()
    d: Deadlines[str] = Deadlines(on_due, clock=clock)
    d.schedule("a", 1010)
    d.schedule("a", 1020)  # later: ignored
    d.schedule("b", 1005)
    d.schedule("a", 1008)  # earlier: replaces
    assert len(d) == 2 and d.due("a") == 1008 and "b" in d
    assert d.next_due() == 1005
    assert await d.fire_due(1004) == 0
    assert await d.fire_due(1009) == 2
    assert fired == [(["b", "a"], 1009)]
    # The superseded 1010 entry of "a" never fires.
    assert await d.fire_due(2000) == 0 and len(d) == 0 and d.next_due() is None


async def test_cancel_and_reschedule_later() -> None:
    fired: list[str] = []

    async def on_due(keys: list[str], now: float) -> None:
        fired.extend(keys)

    d: Deadlines[str] = Deadlines(on_due, clock=Clock())
    d.schedule("a", 1010)
    d.cancel("a")
    d.schedule("a", 1030)
    assert d.next_due() == 1030
    await d.fire_due(1015)
    assert fired == []
    await d.fire_due(1030)
    assert fired == ["a"]


async def test_owner_may_schedule_again_from_on_due() -> None:
    seen: list[float] = []
    d: Deadlines[str]

    async def on_due(keys: list[str], now: float) -> None:
        seen.append(now)
        if len(seen) < 3:
            d.schedule("tick", now + 10)

    d = Deadlines(on_due, clock=Clock())
    d.schedule("tick", 1000)
    for t in (1000, 1010, 1020, 1030):
        await d.fire_due(t)
    assert seen == [1000, 1010, 1020]


async def test_a_failing_owner_does_not_stop_the_scheduler() -> None:
    calls: list[list[str]] = []

    async def on_due(keys: list[str], now: float) -> None:
        calls.append(keys)
        if keys == ["bad"]:
            raise RuntimeError("owner bug")

    d: Deadlines[str] = Deadlines(on_due, clock=Clock())
    d.schedule("bad", 1001)
    d.schedule("good", 1002)
    await d.fire_due(1001)
    await d.fire_due(1002)
    assert calls == [["bad"], ["good"]]


async def test_the_task_sleeps_until_the_next_deadline() -> None:
    fired: list[tuple[str, float]] = []

    async def on_due(keys: list[str], now: float) -> None:
        fired.extend((k, now) for k in keys)

    d: Deadlines[str] = Deadlines(on_due)
    d.start()
    try:
        t0 = time.time()
        d.schedule("late", t0 + 0.4)
        await asyncio.sleep(0.05)
        d.schedule("soon", t0 + 0.1)  # earlier than the one the task sleeps for: it wakes
        await asyncio.sleep(0.6)
    finally:
        await d.stop()
    assert [k for k, _ in fired] == ["soon", "late"]
    assert fired[0][1] >= t0 + 0.1 and fired[1][1] >= t0 + 0.4
    assert fired[0][1] < t0 + 0.35  # it did not wait for "late" first
