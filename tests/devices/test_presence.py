"""Presence from status messages, last wills (stale ones ignored) and inactivity deadlines."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
from broker_fixtures import RunningBroker, connect_client
from ingest_helpers import Publisher, running_ingest

from hub.bus.contracts import DEVICE_PRESENCE
from hub.devices.presence import Presence
from hub.devices.repo import DeviceState
from hub.devices.validate import Status
from hub.store.db import open_store


def _status(state: str, session: str, ts: float, will: bool = False) -> bytes:
    doc: dict[str, object] = {"state": state, "session": session, "ts": ts}
    if will:
        doc["reason"] = "will"
    return orjson.dumps(doc)


async def test_status_and_stale_will(mqtt_broker: RunningBroker, tmp_path: Path) -> None:
    creds = await mqtt_broker.provision("dev-1")
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    topic = "hub/v1/devices/dev-1/status"
    try:
        async with running_ingest(mqtt_broker, tmp_path, store=store) as ing:
            sub = ing.bus.subscribe(DEVICE_PRESENCE)
            dev = await asyncio.to_thread(connect_client, mqtt_broker, "dev-1", creds.password)
            try:
                await asyncio.to_thread(dev.publish, topic, _status("online", "s2", 200.0), 1, True)
                msg = await asyncio.wait_for(sub.get(), 5)
                assert msg.data.state == "online" and msg.data.reason == "status"
                # The will of an older session arrives late: ignored.
                await asyncio.to_thread(dev.publish, topic, _status("offline", "s1", 100.0, True))
                await asyncio.sleep(0.3)
                assert ing.service.presence.states["dev-1"].state == "online"
                assert sub.queue.empty()
            finally:
                await asyncio.to_thread(dev.close)
        # After a hub restart the stored session still rules out the stale will...
        async with running_ingest(mqtt_broker, tmp_path, store=store) as ing:
            sub = ing.bus.subscribe(DEVICE_PRESENCE)
            s = ing.service.presence.states["dev-1"]
            assert (s.state, s.session, s.session_ts) == ("online", "s2", 200.0)
            dev = await asyncio.to_thread(connect_client, mqtt_broker, "dev-1", creds.password)
            try:
                await asyncio.to_thread(dev.publish, topic, _status("offline", "s1", 150.0, True))
                await asyncio.sleep(0.3)
                assert ing.service.presence.states["dev-1"].state == "online"
                # ...while the current session's will applies.
                await asyncio.to_thread(dev.publish, topic, _status("offline", "s2", 300.0, True))
                msg = await asyncio.wait_for(sub.get(), 5)
            finally:
                await asyncio.to_thread(dev.close)
            assert (msg.data.state, msg.data.reason) == ("offline", "will")
        states = {s.device_id: s for s in await ing.service.repo.load_states()}
        assert (states["dev-1"].state, states["dev-1"].reason) == ("offline", "will")
    finally:
        await store.close()


async def test_real_last_will_sets_offline(mqtt_broker: RunningBroker, tmp_path: Path) -> None:
    """A device that drops its connection: Mosquitto publishes its will, the hub sees it."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    creds = await mqtt_broker.provision("dev-2")
    async with running_ingest(mqtt_broker, tmp_path) as ing:
        sub = ing.bus.subscribe(DEVICE_PRESENCE)
        now = time.time()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="dev-2", protocol=mqtt.MQTTv5)
        c.username_pw_set("dev-2", creds.password)
        c.will_set("hub/v1/devices/dev-2/status", _status("offline", "x", now, True), 1, True)
        c.connect(mqtt_broker.host, mqtt_broker.port)
        c.loop_start()
        c.publish("hub/v1/devices/dev-2/status", _status("online", "x", now), 1, True)
        msg = await asyncio.wait_for(sub.get(), 5)
        assert msg.data.state == "online"
        c.loop_stop()
        c.socket().close()  # an unclean drop: the broker fires the will
        msg = await asyncio.wait_for(sub.get(), 10)
        assert (msg.data.state, msg.data.reason) == ("offline", "will")


async def test_inactivity_deadline(mqtt_broker: RunningBroker, tmp_path: Path) -> None:
    creds = await mqtt_broker.provision("dev-idle")
    async with running_ingest(mqtt_broker, tmp_path) as ing:
        sub = ing.bus.subscribe(DEVICE_PRESENCE)
        pub = await asyncio.to_thread(Publisher, mqtt_broker, "dev-idle", creds.password)
        try:
            pub.publish({"values": {"level": 1}})
            msg = await asyncio.wait_for(sub.get(), 5)
            assert (msg.data.state, msg.data.reason) == ("online", "telemetry")
            t0 = time.monotonic()
            for _ in range(4):  # keeps it online past one timeout
                await asyncio.sleep(0.25)
                pub.publish({"values": {"level": 1}})
            msg = await asyncio.wait_for(sub.get(), 5)
            assert (msg.data.state, msg.data.reason) == ("offline", "inactivity")
            assert time.monotonic() - t0 >= 1.0
        finally:
            await asyncio.to_thread(pub.close)
        states = {s.device_id: s for s in await ing.service.repo.load_states()}
        assert states["dev-idle"].state == "offline"


async def test_one_timer_serves_many_devices() -> None:
    expired: list[str] = []

    async def on_expired(states: list[DeviceState]) -> None:
        expired.extend(s.device_id for s in states)

    p = Presence(lambda d: 0.2 if d.startswith("t") else None, on_expired)
    p.start()
    try:
        now = time.time()
        for i in range(1000):
            p.seen(f"t{i}", now, None)
        p.seen("never", now, None)  # no timeout in its profile
        assert len(p._deadlines._heap) == 1000  # one entry per device, not per message
        for i in range(1000):
            p.seen(f"t{i}", now, None)
        assert len(p._deadlines._heap) == 1000
        await asyncio.sleep(0.5)
        assert sorted(expired) == sorted(f"t{i}" for i in range(1000))
        assert p.states["never"].state == "online"
        assert p.status(Status("t1", "online", "a", now, False), now) is True
    finally:
        await p.stop()
