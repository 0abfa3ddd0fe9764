"""A value the store refuses (validation let it through) must not stall ingest, and a store that
is down must not turn good data into dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from ingest_helpers import DEVICE_IDS, RecordingLink, device_site

from hub.bus.memory import MemoryBus
from hub.config import Settings
from hub.devices import ingest as ingest_mod
from hub.devices.ingest import IngestWorker
from hub.devices.mqtt_wire import Inbound
from hub.devices.repo import DeviceRepo, DeviceState, TelemetryTuple
from hub.devices.service import DeviceService
from hub.store.db import Store, open_store

POISON = 6.66


class _FlakyRepo(DeviceRepo):
    """The real SQLite repo, refusing any batch with the POISON value, or every batch while
    ``down``."""

    down = False
    calls = 0

    async def write_batch(
        self,
        telemetry: list[TelemetryTuple],
        dead_letters: Sequence[dict[str, Any]],
        states: Sequence[DeviceState],
    ) -> None:
        self.calls += 1
        if self.down or any(r[4] == POISON for r in telemetry):
            raise ValueError("refused by the store")
        await super().write_batch(telemetry, dead_letters, states)


@pytest.fixture
async def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    monkeypatch.setattr(ingest_mod, "POISON_AFTER", 0.2)
    store: Store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    svc = DeviceService(Settings(data_dir=tmp_path), device_site(), store, MemoryBus())
    repo = _FlakyRepo(store.engine)
    link = RecordingLink()
    worker = IngestWorker(link, svc.registry, repo, svc.presence, svc.bus, max_payload=65536)  # type: ignore[arg-type]
    try:
        yield worker, repo, link
    finally:
        await store.close()


def _batch(levels: list[float]) -> list[Inbound]:
    return [
        (1, i + 1, 1, f"hub/v1/devices/{DEVICE_IDS[i % 4]}/telemetry",
         orjson.dumps({"seq": i, "values": {"level": v}}))
        for i, v in enumerate(levels)
    ]  # fmt: skip


async def test_a_poison_value_is_dead_lettered_and_the_rest_stored(rig: Any) -> None:
    worker, repo, link = rig
    levels = [1.0] * 40
    levels[17] = POISON
    await asyncio.wait_for(worker.process(_batch(levels)), 10)
    assert await repo.count_telemetry() == 39
    assert sorted(link.acked) == list(range(1, 41))  # everything acked: nothing stalls
    (letter,) = await repo.dead_letters(reason="store_refused")
    assert letter["device_id"] == DEVICE_IDS[17 % 4] and "6.66" in letter["payload"]
    assert worker.rejected["store_refused"] == 1


async def test_a_store_outage_is_waited_for_not_dead_lettered(rig: Any) -> None:
    worker, repo, link = rig
    repo.down = True
    task = asyncio.create_task(worker.process(_batch([1.0] * 40)))
    await asyncio.sleep(2.0)  # several retries and bisections, all failing
    assert not task.done() and link.acked == [] and repo.calls > 5
    repo.down = False
    await asyncio.wait_for(task, 10)
    assert await repo.count_telemetry() == 40
    assert await repo.dead_letters() == []


async def test_a_batch_of_poison_only_is_not_retried_forever(rig: Any) -> None:
    # One message at a quiet time is a whole batch: that nothing of it goes in must not be
    # taken for a store outage, or the ingest retries it (and holds every later batch) forever.
    worker, repo, link = rig
    await asyncio.wait_for(worker.process(_batch([POISON])), 10)
    assert link.acked == [1] and await repo.count_telemetry() == 0
    (letter,) = await repo.dead_letters(reason="store_refused")
    assert letter["device_id"] == DEVICE_IDS[0]
    # A batch whose first half is all poison still has its good half stored.
    await asyncio.wait_for(worker.process(_batch([POISON, POISON, 1.0, 2.0])), 10)
    assert await repo.count_telemetry() == 2
    assert worker.rejected["store_refused"] == 3
