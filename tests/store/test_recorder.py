"""The recorder: bus -> store -> ``events.recorded``; retries, duplicates, draining at stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from hub.bus.contracts import DETECTIONS, EVENTS_RECORDED, Box, DetectionEvent
from hub.bus.memory import MemoryBus
from hub.store import Store, open_store
from hub.store.events import EventRepo, StoredEvent, UpsertOutcome
from hub.store.recorder import EventRecorder


def event(**kw: Any) -> DetectionEvent:
    base: dict[str, Any] = {
        "camera_id": "cam-a",
        "type": "intrusion",
        "zone_id": "z1",
        "track_id": 1,
        "start": datetime.now(UTC),
        "media_time": 0.0,
        "confidence": 0.5,
    }
    return DetectionEvent.model_validate({**base, **kw})


class FlakyEvents:
    """The real repository, whose first ``failures`` writes fail like a locked database."""

    def __init__(self, repo: EventRepo, failures: int) -> None:
        self.repo = repo
        self.failures = failures
        self.calls = 0

    async def upsert(self, ev: DetectionEvent) -> tuple[StoredEvent, UpsertOutcome]:
        self.calls += 1
        if self.calls <= self.failures:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return await self.repo.upsert(ev)


@pytest.fixture
async def store(sqlite_url: str) -> AsyncIterator[Store]:
    s = await open_store(sqlite_url)
    yield s
    await s.close()


async def test_records_then_announces(store: Store) -> None:
    bus = MemoryBus()
    recorded = bus.subscribe(EVENTS_RECORDED)
    rec = EventRecorder(store.events, bus)
    await rec.start()
    try:
        ev = event()
        await bus.publish(DETECTIONS, ev)
        msg = await asyncio.wait_for(recorded.get(), 5)
        assert msg.data.id == ev.id
        stored = await store.events.get(ev.id)
        assert stored is not None and msg.data.seq == stored.seq  # stored before announced

        # Redelivery of the same event: stored once, announced once.
        await bus.publish(DETECTIONS, ev)
        # A payload of the wrong type never reaches the bus.
        with pytest.raises(TypeError):
            await bus.publish(DETECTIONS, Box(x=0, y=0, w=1, h=1))  # type: ignore[arg-type]
        ev2 = event()
        await bus.publish(DETECTIONS, ev2)
        msg = await asyncio.wait_for(recorded.get(), 5)
        assert msg.data.id == ev2.id
        assert len(await store.events.list()) == 2
    finally:
        await rec.stop()


async def test_end_updates_the_stored_event_and_is_announced_again(store: Store) -> None:
    bus = MemoryBus()
    recorded = bus.subscribe(EVENTS_RECORDED)
    rec = EventRecorder(store.events, bus)
    await rec.start()
    try:
        start = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
        ev = event(type="loitering", start=start, snapshot="cam-a/x.jpg", dwell_seconds=10.0)
        await bus.publish(DETECTIONS, ev)
        first = await asyncio.wait_for(recorded.get(), 5)
        assert first.data.end is None

        ended = ev.model_copy(
            update={"end": start + timedelta(seconds=12.5), "dwell_seconds": 22.5}
        )
        await bus.publish(DETECTIONS, ended)
        second = await asyncio.wait_for(recorded.get(), 5)
        assert second.data.id == ev.id and second.data.seq == first.data.seq
        assert second.data.end == start + timedelta(seconds=12.5)
        assert second.data.dwell_seconds == 22.5
        assert second.data.snapshot == "cam-a/x.jpg"

        # Replaying either message changes nothing and announces nothing.
        await bus.publish(DETECTIONS, ev)
        await bus.publish(DETECTIONS, ended)
        marker = event()
        await bus.publish(DETECTIONS, marker)
        nxt = await asyncio.wait_for(recorded.get(), 5)
        assert nxt.data.id == marker.id

        stored = await store.events.get(ev.id)
        assert stored is not None
        assert stored.event.end == start + timedelta(seconds=12.5)
        assert stored.event.dwell_seconds == 22.5
        assert len(await store.events.list()) == 2
    finally:
        await rec.stop()


async def test_failed_writes_are_retried(store: Store) -> None:
    bus = MemoryBus()
    recorded = bus.subscribe(EVENTS_RECORDED)
    flaky = FlakyEvents(store.events, failures=3)
    rec = EventRecorder(flaky, bus, retry_min=0.01, retry_max=0.05)  # type: ignore[arg-type]
    await rec.start()
    try:
        ev = event()
        await bus.publish(DETECTIONS, ev)
        msg = await asyncio.wait_for(recorded.get(), 5)
        assert msg.data.id == ev.id
        assert flaky.calls == 4
        assert await store.events.get(ev.id) is not None
    finally:
        await rec.stop()


async def test_stop_records_what_was_queued(store: Store) -> None:
    bus = MemoryBus()
    rec = EventRecorder(store.events, bus)
    await rec.start()
    evs = [event(track_id=i) for i in range(30)]
    for ev in evs:
        await bus.publish(DETECTIONS, ev)
    await rec.stop()
    assert len(await store.events.list(limit=100)) == 30


async def test_stop_when_idle_is_quick(store: Store) -> None:
    bus = MemoryBus()
    rec = EventRecorder(store.events, bus)
    await rec.start()
    await asyncio.sleep(0.01)
    t = asyncio.get_running_loop().time()
    await rec.stop()
    assert asyncio.get_running_loop().time() - t < 1.0
