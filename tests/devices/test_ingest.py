"""MQTT ingest against a real Mosquitto: validation, storage, bus, acks."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from broker_fixtures import RunningBroker, connect_client
from ingest_helpers import (
    DEVICE_IDS,
    Publisher,
    assert_nothing_redelivered,
    running_ingest,
    wait_for,
)
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from hub.bus.contracts import DEVICE_TELEMETRY
from hub.devices.ingest import SAMPLE_TOTAL
from hub.devices.validate import HUB_STATE_TOPIC, REASONS
from hub.store.db import open_store
from hub.store.models import TelemetryRow


async def test_telemetry_is_stored_acked_and_published(
    mqtt_broker: RunningBroker, tmp_path: Path
) -> None:
    creds = await mqtt_broker.provision("dev-1")
    # Times the hub accepts: within its window around its clock (validate.MAX_TS_AGE).
    t1 = int(time.time()) - 86_400 + 0.5
    t2 = datetime.fromtimestamp(int(time.time()) - 3600, UTC).isoformat()
    async with running_ingest(mqtt_broker, tmp_path) as ing:
        sub = ing.bus.subscribe(DEVICE_TELEMETRY)
        pub = await asyncio.to_thread(Publisher, mqtt_broker, "dev-1", creds.password)
        try:
            pub.publish({"ts": t1, "seq": 1, "values": {"level": 2.5, "open": True}})
            pub.publish(
                [
                    {"ts": t2, "seq": 2, "values": {"note": "ok"}},
                    {"seq": 3, "values": {"level": 3}},
                ]
            )
            assert await asyncio.to_thread(pub.wait_acked, 10)
            await wait_for(
                lambda: ing.service.worker is not None and ing.service.worker.accepted == 3
            )
            readings: list[dict[str, Any]] = []
            while len(readings) < 3:  # one bus message per ingest batch
                readings += (await asyncio.wait_for(sub.get(), 5)).data.model_dump()["readings"]
        finally:
            await asyncio.to_thread(pub.close)
        assert [r["seq"] for r in readings] == [1, 2, 3]
        assert readings[0]["values"] == {"level": 2.5, "open": True}
        assert readings[0]["ts"] == t1
        async with ing.store.engine.connect() as conn:
            rows = (await conn.execute(select(TelemetryRow).order_by(TelemetryRow.id))).all()
        got = [(r.key, r.seq, r.value, r.text) for r in rows]
        assert got == [
            ("level", 1, 2.5, None),
            ("open", 1, 1.0, None),
            ("note", 2, None, "ok"),
            ("level", 3, 3.0, None),
        ]
        assert rows[0].ts == t1
        state = ing.service.presence.states["dev-1"]
        assert state.state == "online" and state.last_values["level"] == 3.0
        assert DEVICE_IDS


def _mqtt_rejected(reason: str) -> float:
    v = REGISTRY.get_sample_value("hub_mqtt_rejected_total", {"reason": reason})
    return v or 0.0


async def test_ten_thousand_malformed_messages_are_counted_by_reason(
    mqtt_broker: RunningBroker, tmp_path: Path
) -> None:
    """Acceptance: 10,000 bad messages of every kind leave ingest running, each counted."""
    big = orjson.dumps({"values": {"note": "x" * 600}})
    kinds: list[tuple[str, str, bytes]] = [
        ("malformed_json", "hub/v1/devices/dev-1/telemetry", b"{not json"),
        ("wrong_type", "hub/v1/devices/dev-1/telemetry", b'{"values": {"level": "high"}}'),
        ("wrong_type", "hub/v1/devices/dev-2/status", b'{"state": "maybe"}'),
        ("unknown_device", "hub/v1/devices/dev-nope/telemetry", b'{"values": {"level": 1}}'),
        ("unknown_device", "hub/v1/devices/dev-off/telemetry", b'{"values": {"level": 1}}'),
        ("unknown_key", "hub/v1/devices/dev-2/telemetry", b'{"values": {"depth": 1}}'),
        ("out_of_range", "hub/v1/devices/dev-3/telemetry", b'{"values": {"level": 99}}'),
        ("oversized", "hub/v1/devices/dev-3/telemetry", big),
        ("topic_mismatch", "hub/v1/devices/Dev_X/telemetry", b'{"values": {"level": 1}}'),
        (
            "topic_mismatch",
            "hub/v1/devices/dev-4/telemetry",
            b'{"device_id": "dev-1", "values": {"level": 1}}',
        ),
        ("flood", "hub/v1/devices/dev-flood/telemetry", b'{"values": {"level": 1}}'),
    ]
    total = 10_000
    expected: Counter[str] = Counter()
    before = {r: _mqtt_rejected(r) for r in REASONS}
    async with running_ingest(mqtt_broker, tmp_path, mqtt_max_payload=512) as ing:
        # Not the hub's account: its one connection is the ingest's (client id = username).
        hub = await asyncio.to_thread(
            connect_client, mqtt_broker, *await mqtt_broker.service_account("hub-load")
        )

        def blast() -> None:
            infos = []
            for i in range(total):
                reason, topic, payload = kinds[i % len(kinds)]
                expected[reason] += 1
                infos.append(hub.mqtt.publish(topic, payload, qos=1))
                if len(infos) >= 2000:
                    for info in infos:
                        info.wait_for_publish(10)
                    infos.clear()
            for info in infos:
                info.wait_for_publish(10)

        try:
            await asyncio.to_thread(blast)
            # The first 5 flood-device messages are within its limit of 5 per minute.
            expected["flood"] -= 5
            worker = ing.service.worker
            assert worker is not None
            await wait_for(lambda: worker.processed >= total, 30)
            assert dict(worker.rejected) == dict(expected)
            assert worker.accepted == 5
            for r in REASONS:
                assert _mqtt_rejected(r) - before[r] == expected[r], r
            # Still running: a good message goes through.
            await asyncio.to_thread(
                hub.publish, "hub/v1/devices/dev-1/telemetry", b'{"seq": 7, "values": {"level": 1}}'
            )
            await wait_for(lambda: worker.accepted == 6)
        finally:
            await asyncio.to_thread(hub.close)
        # Only a sample went to the dead-letter table: a flood cannot fill the disk.
        letters = await ing.service.repo.dead_letters(limit=500)
        assert 0 < len(letters) <= SAMPLE_TOTAL
        assert {d["reason"] for d in letters} == set(expected)
        oversized = await ing.service.repo.dead_letters(reason="oversized")
        assert oversized and len(oversized[0]["payload"]) <= 1024
        floods = await ing.service.repo.dead_letters(device_id="dev-flood")
        assert {d["reason"] for d in floods} == {"flood"}


async def test_shared_subscription_splits_between_ingest_processes(
    mqtt_broker: RunningBroker, tmp_path: Path
) -> None:
    creds = await mqtt_broker.provision("dev-1")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    # A second ingest process logs in with an account of its own (one connection per account)
    # and the hub's password, from which its $share group derives: the same group.
    second = await mqtt_broker.service_account("hub-ingest-b", mqtt_broker.hub_password)
    async with (
        running_ingest(mqtt_broker, tmp_path / "a", client_id="ingest-a", shared=True) as a,
        running_ingest(
            mqtt_broker, tmp_path / "b", client_id="ingest-b", shared=True, account=second
        ) as b,
    ):
        pub = await asyncio.to_thread(Publisher, mqtt_broker, "dev-1", creds.password)
        try:
            await asyncio.to_thread(pub.stream, 1, 400)
            assert await asyncio.to_thread(pub.wait_acked, 10)
            wa, wb = a.service.worker, b.service.worker
            assert wa is not None and wb is not None
            await wait_for(lambda: wa.accepted + wb.accepted == 400)
        finally:
            await asyncio.to_thread(pub.close)
        assert wa.accepted > 50 and wb.accepted > 50  # both took a share


async def test_hub_state_is_retained_online_and_offline_on_stop(
    mqtt_broker: RunningBroker, tmp_path: Path
) -> None:
    watcher_account = await mqtt_broker.service_account("hub-watcher")
    async with running_ingest(mqtt_broker, tmp_path):
        watcher = await asyncio.to_thread(connect_client, mqtt_broker, *watcher_account)
        try:
            await asyncio.to_thread(watcher.subscribe, HUB_STATE_TOPIC)
            (msg,) = await asyncio.to_thread(watcher.messages, 1)
            assert msg.retain and orjson.loads(msg.payload)["state"] == "online"
        finally:
            await asyncio.to_thread(watcher.close)
    watcher = await asyncio.to_thread(connect_client, mqtt_broker, *watcher_account)
    try:
        await asyncio.to_thread(watcher.subscribe, HUB_STATE_TOPIC)
        (msg,) = await asyncio.to_thread(watcher.messages, 1)
        assert orjson.loads(msg.payload)["state"] == "offline"
    finally:
        await asyncio.to_thread(watcher.close)


async def test_acked_messages_are_not_redelivered_after_restart(
    mqtt_broker: RunningBroker, tmp_path: Path
) -> None:
    """Acks go out batched in one write: the broker must take every one of them."""
    creds = await mqtt_broker.provision("dev-1")
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    total = 3000
    try:
        pub = await asyncio.to_thread(Publisher, mqtt_broker, "dev-1", creds.password)
        try:
            async with running_ingest(mqtt_broker, tmp_path, store=store) as ing:
                worker = ing.service.worker
                assert worker is not None
                await asyncio.to_thread(pub.stream, 1, total)
                assert await asyncio.to_thread(pub.wait_acked, 30)
                await wait_for(lambda: worker.accepted == total, 30)
                await asyncio.sleep(0.5)  # the acks leave the network thread
            await assert_nothing_redelivered(mqtt_broker, tmp_path, store)
        finally:
            await asyncio.to_thread(pub.close)
        async with store.engine.connect() as conn:
            n = (await conn.execute(select(func.count()).select_from(TelemetryRow))).scalar_one()
        assert n == total
    finally:
        await store.close()
