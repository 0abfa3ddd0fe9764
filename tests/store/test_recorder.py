"""The recorder: bus -> store -> ``events.recorded``; retries, duplicates, draining at stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from hub.bus.events import TOPIC_DETECTIONS, TOPIC_EVENTS_RECORDED, DetectionEvent
from hub.bus.memory import MemoryBus
from hub.store import Store, open_store
from hub.store.events import EventRepo, StoredEvent
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

    async def add(self, ev: DetectionEvent) -> tuple[StoredEvent, bool]:
        self.calls += 1
        if self.calls <= self.failures:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return await self.repo.add(ev)


@pytest.fixture
async def store(sqlite_url: str) -> AsyncIterator[Store]:
    s = await open_store(sqlite_url)
    yield s
    await s.close()


async def test_records_then_announces(store: Store) -> None:
    bus = MemoryBus()
    recorded = bus.subscribe(TOPIC_EVENTS_RECORDED)
    rec = EventRecorder(store.events, bus)
    await rec.start()
    try:
        ev = event()
        await bus.publish(TOPIC_DETECTIONS, ev.model_dump(mode="json"))
        msg = await asyncio.wait_for(recorded.get(), 5)
        assert msg.data["id"] == str(ev.id)
        stored = await store.events.get(ev.id)
        assert stored is not None and msg.data["seq"] == stored.seq  # stored before announced

        # Redelivery of the same event: stored once, announced once.
        await bus.publish(TOPIC_DETECTIONS, ev.model_dump(mode="json"))
        # Garbage on the topic is dropped without stopping the recorder.
        await bus.publish(TOPIC_DETECTIONS, {"camera_id": "cam-a", "type": "alien"})
        ev2 = event()
        await bus.publish(TOPIC_DETECTIONS, ev2.model_dump(mode="json"))
        msg = await asyncio.wait_for(recorded.get(), 5)
        assert msg.data["id"] == str(ev2.id)
        assert len(await store.events.list()) == 2
    finally:
        await rec.stop()


async def test_failed_writes_are_retried(store: Store) -> None:
    bus = MemoryBus()
    recorded = bus.subscribe(TOPIC_EVENTS_RECORDED)
    flaky = FlakyEvents(store.events, failures=3)
    rec = EventRecorder(flaky, bus, retry_min=0.01, retry_max=0.05)  # type: ignore[arg-type]
    await rec.start()
    try:
        ev = event()
        await bus.publish(TOPIC_DETECTIONS, ev.model_dump(mode="json"))
        msg = await asyncio.wait_for(recorded.get(), 5)
        assert msg.data["id"] == str(ev.id)
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
        await bus.publish(TOPIC_DETECTIONS, ev.model_dump(mode="json"))
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
