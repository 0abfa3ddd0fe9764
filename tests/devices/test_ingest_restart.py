"""Acceptance: a 10,000-message QoS 1 stream from several devices survives a broker restart and,
separately, an ingest restart, with nothing lost (counted by per-device sequence numbers)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from broker_fixtures import RunningBroker, start_test_broker
from ingest_helpers import DEVICE_IDS, Publisher, running_ingest, wait_for
from sqlalchemy import distinct, func, select

from hub.store.db import Store, open_store
from hub.store.models import TelemetryRow

PER_DEVICE = 2500  # x 4 devices = 10,000 messages


async def _distinct_seqs(store: Store) -> dict[str, int]:
    t = TelemetryRow
    q = (
        select(t.device_id, func.count(distinct(t.seq)))
        .where(t.key == "level")
        .group_by(t.device_id)
    )
    async with store.engine.connect() as conn:
        return {d: n for d, n in (await conn.execute(q)).all()}


async def _publishers(broker: RunningBroker) -> list[Publisher]:
    pubs = []
    for d in DEVICE_IDS:
        creds = await broker.provision(d)
        pubs.append(await asyncio.to_thread(Publisher, broker, d, creds.password))
    return pubs


async def _acked(pubs: list[Publisher], n: int) -> None:
    await wait_for(lambda: sum(p.acked for p in pubs) >= n, 60)


async def _finish(pubs: list[Publisher], streams: list[asyncio.Future[None]], store: Store) -> None:
    await asyncio.gather(*streams)
    for p in pubs:
        assert await asyncio.to_thread(p.wait_acked, 60), f"{p.device_id}: publishes not acked"

    async def complete() -> bool:
        return await _distinct_seqs(store) == dict.fromkeys(DEVICE_IDS, PER_DEVICE)

    try:
        await wait_for(complete, 20)
    except AssertionError:
        async with store.engine.connect() as conn:
            rows = (await conn.execute(select(TelemetryRow.device_id, TelemetryRow.seq))).all()
        have: dict[str, set[int]] = {}
        for d, q in rows:
            have.setdefault(d, set()).add(q)
        missing = {
            d: (lost[:5], len(lost))
            for d in DEVICE_IDS
            for lost in [sorted(set(range(1, PER_DEVICE + 1)) - have.get(d, set()))]
        }
        raise AssertionError(f"missing (first, count) {missing}") from None
    finally:
        for p in pubs:
            await asyncio.to_thread(p.close)
    got = await _distinct_seqs(store)
    assert got == dict.fromkeys(DEVICE_IDS, PER_DEVICE)


@pytest.mark.slow
async def test_broker_restart_loses_nothing(mqtt_broker: RunningBroker, tmp_path: Path) -> None:
    async with running_ingest(mqtt_broker, tmp_path) as ing:
        pubs = await _publishers(mqtt_broker)
        streams = [asyncio.ensure_future(asyncio.to_thread(p.stream, 1, PER_DEVICE)) for p in pubs]
        await _acked(pubs, 3000)
        await mqtt_broker.restart()
        await _finish(pubs, streams, ing.store)
        assert ing.service.link is not None and ing.service.link.gen >= 2  # it did reconnect


@pytest.fixture
async def gated_broker(tmp_path: Path) -> AsyncIterator[RunningBroker]:
    b = await start_test_broker(tmp_path / "gated-broker", gate_devices=True)
    try:
        yield b
    finally:
        await b.stop()


@pytest.mark.slow
async def test_broker_restart_loses_nothing_through_shared_subscriptions(
    gated_broker: RunningBroker, tmp_path: Path
) -> None:
    """Mosquitto 2.0 forgets $share subscriptions across a restart; the embedded broker keeps
    devices out after its start until the ingest has subscribed again, so nothing published
    falls into that gap (without the gate this lost 125-1,251 messages per device)."""
    b = gated_broker
    async with running_ingest(b, tmp_path, shared=True) as ing:
        assert ing.service.link is not None and ing.service.link.shared
        await wait_for(lambda: b.broker.accounts is not None and not b.broker.accounts.gated)
        pubs = await _publishers(b)
        streams = [asyncio.ensure_future(asyncio.to_thread(p.stream, 1, PER_DEVICE)) for p in pubs]
        await _acked(pubs, 3000)
        await b.restart()
        await _finish(pubs, streams, ing.store)
        assert ing.service.link.gen >= 2


@pytest.mark.slow
async def test_a_crashed_broker_is_restarted(gated_broker: RunningBroker, tmp_path: Path) -> None:
    b = gated_broker
    async with running_ingest(b, tmp_path, shared=True) as ing:
        pubs = await _publishers(b)
        pid = b.broker.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # no persistence written: a real crash
        await wait_for(lambda: b.broker.restarts == 1 and b.broker.pid not in (None, pid), 15)
        # Devices get back in once the ingest has resubscribed, and their data flows again.
        assert ing.service.link is not None
        streams = [asyncio.ensure_future(asyncio.to_thread(p.stream, 1, 50)) for p in pubs]
        await asyncio.gather(*streams)
        await wait_for(
            lambda: ing.service.worker is not None and ing.service.worker.accepted >= 4 * 50, 20
        )
        for p in pubs:
            await asyncio.to_thread(p.close)


@pytest.mark.slow
async def test_ingest_restart_loses_nothing(mqtt_broker: RunningBroker, tmp_path: Path) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    try:
        pubs = await _publishers(mqtt_broker)
        async with running_ingest(mqtt_broker, tmp_path, store=store) as ing:
            streams = [
                asyncio.ensure_future(asyncio.to_thread(p.stream, 1, PER_DEVICE)) for p in pubs
            ]
            await _acked(pubs, 3000)
            # Stop abruptly: whatever sits in the inbox unstored is never acked.
            worker = ing.service.worker
            assert worker is not None
        stored_at_stop = sum((await _distinct_seqs(store)).values())
        await asyncio.sleep(0.5)  # the stream goes on while no ingest runs
        async with running_ingest(mqtt_broker, tmp_path, store=store):
            await _finish(pubs, streams, store)
        assert stored_at_stop < len(DEVICE_IDS) * PER_DEVICE  # it really stopped mid-stream
    finally:
        await store.close()
