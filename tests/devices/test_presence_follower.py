"""Presence when ingest runs in other processes: an ingest worker without presence publishes
what it read, and the device service with HUB_INGEST_ELSEWHERE follows presence from the bus."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from broker_fixtures import ConnectRefused, RunningBroker, connect_client
from ingest_helpers import RecordingLink, device_site, wait_for

from hub.bus.contracts import DEVICE_PRESENCE, DEVICE_STATUS, DevicePresence
from hub.bus.memory import MemoryBus
from hub.config import Settings
from hub.devices.ingest import IngestWorker
from hub.devices.mqtt_wire import Inbound
from hub.devices.repo import DeviceState
from hub.devices.service import DeviceService
from hub.store.db import Store, open_store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    st = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    yield st
    await st.close()


def _msg(mid: int, device_id: str, kind: str, doc: object) -> Inbound:
    return (1, mid, 1, f"hub/v1/devices/{device_id}/{kind}", orjson.dumps(doc))


def _status(state: str, session: str, ts: float, will: bool = False) -> dict[str, object]:
    doc: dict[str, object] = {"state": state, "session": session, "ts": ts}
    return {**doc, "reason": "will"} if will else doc


async def _states(svc: DeviceService) -> dict[str, DeviceState]:
    return {s.device_id: s for s in await svc.repo.load_states()}


async def test_presence_follows_what_ingest_processes_publish(store: Store, tmp_path: Path) -> None:
    bus = MemoryBus()
    settings = Settings(data_dir=tmp_path / "api", ingest_elsewhere=True)
    api = DeviceService(settings, device_site(), store, bus)  # no broker: it reads no MQTT
    # An ingest process: the same store and bus, no presence of its own.
    ingest_side = DeviceService(Settings(data_dir=tmp_path / "ingest"), device_site(), store, bus)
    link = RecordingLink()
    worker = IngestWorker(
        link, ingest_side.registry, ingest_side.repo, None, bus, max_payload=65536
    )  # type: ignore[arg-type]
    presence = bus.subscribe(DEVICE_PRESENCE)
    statuses = bus.subscribe(DEVICE_STATUS)
    await api.start()
    try:
        assert api.link is None and api.follower is not None
        now = time.time()
        await worker.process(
            [
                _msg(1, "dev-1", "telemetry", {"seq": 1, "values": {"level": 2.5}}),
                _msg(2, "dev-2", "status", _status("online", "s1", now)),
                _msg(3, "dev-3", "events", {"type": "door_open"}),
            ]
        )
        assert link.acked == [1, 2, 3]
        # Status messages go on the bus as they came; presence is not kept here.
        assert (await statuses.get()).data.device_id == "dev-2"

        async def all_online() -> bool:
            st = await _states(api)
            return all(d in st and st[d].state == "online" for d in ("dev-1", "dev-2", "dev-3"))

        await wait_for(all_online, 5)
        st = await _states(api)
        assert st["dev-1"].reason == "telemetry" and st["dev-1"].last_values == {"level": 2.5}
        assert st["dev-2"].reason == "status" and st["dev-2"].session == "s1"
        changes: list[DevicePresence] = [
            (await asyncio.wait_for(presence.get(), 5)).data for _ in range(3)
        ]
        assert {(c.device_id, c.state) for c in changes} == {
            ("dev-1", "online"),
            ("dev-2", "online"),
            ("dev-3", "online"),
        }

        # Every ingest process receives a status (plain subscription): the same one twice
        # changes nothing the second time; a last will takes the device offline once.
        will = _msg(4, "dev-2", "status", _status("offline", "s1", now + 1, will=True))
        await worker.process([will])
        await worker.process([will])

        async def dev2_offline() -> bool:
            return (await _states(api))["dev-2"].state == "offline"

        await wait_for(dev2_offline, 5)
        assert (await _states(api))["dev-2"].reason == "will"
        assert (await asyncio.wait_for(presence.get(), 5)).data.reason == "will"
        await asyncio.sleep(0.3)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(presence.get(), 0.3)
        assert api.follower.followed == 5  # one batch, one status, one event, two wills

        # Silence is judged where presence is kept: the idle sensor times out there.
        await worker.process([_msg(5, "dev-idle", "telemetry", {"values": {"level": 1}})])
        got = (await asyncio.wait_for(presence.get(), 5)).data
        assert (got.device_id, got.state) == ("dev-idle", "online")
        got = (await asyncio.wait_for(presence.get(), 5)).data
        assert (got.device_id, got.state, got.reason) == ("dev-idle", "offline", "inactivity")
    finally:
        await api.stop()
        await ingest_side.repo.close()


async def test_the_ingest_processes_accounts_are_made_with_the_hubs_password(
    mqtt_broker: RunningBroker, store: Store, tmp_path: Path
) -> None:
    """HUB_INGEST_ACCOUNTS: the process keeping the broker writes one account per ingest
    process; each logs in with the hub's password (its $share group derives from it)."""
    settings = Settings(
        data_dir=tmp_path / "api", ingest_elsewhere=True, ingest_accounts=["ingest-1", "ingest-2"]
    )
    svc = DeviceService(settings, device_site(), store, MemoryBus(), mqtt_broker.broker)
    await svc.start(mqtt_broker.url)
    try:
        assert svc.link is None  # it reads no MQTT itself
        for name in ("ingest-1", "ingest-2"):
            assert mqtt_broker.accounts.is_service(name)
            client = await asyncio.to_thread(
                connect_client, mqtt_broker, name, mqtt_broker.hub_password, client_id=name
            )
            await asyncio.to_thread(client.close)
        with pytest.raises(ConnectRefused):
            await asyncio.to_thread(connect_client, mqtt_broker, "ingest-1", "not-the-password")
    finally:
        await svc.stop()
