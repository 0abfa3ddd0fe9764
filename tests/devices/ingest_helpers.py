"""A device site, a running DeviceService against the test broker, and paced publishers."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from broker_fixtures import RunningBroker
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.bus.memory import MemoryBus
from hub.config import Device, DeviceProfile, Settings, Site
from hub.devices.mqtt import Endpoint
from hub.devices.mqtt_wire import Inbound
from hub.devices.service import DeviceService
from hub.store.db import Store, open_store

SPOT = [120.05, 31.05]
DEVICE_IDS = ["dev-1", "dev-2", "dev-3", "dev-4"]


def device_site() -> Site:
    """Four gauges, one that floods at 5 messages a minute, one that goes idle in 0.6 s and a
    disabled one."""
    level = {"key": "level", "min": 0, "max": 10}
    profiles = [
        DeviceProfile.model_validate(p)
        for p in (
            {"id": "gauge", "name": "water gauge", "kind": "water_level",
             "max_messages_per_minute": 1_000_000,
             "telemetry": [{**level, "unit": "m"}, {"key": "open", "type": "boolean"},
                           {"key": "note", "type": "string"}]},
            {"id": "slow", "name": "slow sensor", "max_messages_per_minute": 5,
             "telemetry": [level]},
            {"id": "idle", "name": "idle sensor", "inactivity_timeout_seconds": 0.6,
             "telemetry": [level]},
        )
    ]  # fmt: skip

    def dev(id_: str, name: str, profile: str, at: list[float] = SPOT, on: bool = True) -> Device:
        return Device(id=id_, name=name, profile=profile, grid="g1", position=at, enabled=on)

    devices = [dev(d, d, "gauge") for d in DEVICE_IDS] + [
        dev("dev-flood", "flood", "slow"),
        dev("dev-idle", "idle", "idle"),
        dev("dev-off", "disabled", "gauge", at=[120.0, 31.0], on=False),
    ]
    return Site.for_devices(profiles, devices, name="devices")


@dataclass
class Ingest:
    service: DeviceService
    store: Store
    bus: MemoryBus


def endpoint(
    broker: RunningBroker,
    client_id: str = "hub-ingest-test",
    shared: bool = False,
    *,
    account: tuple[str, str] | None = None,
) -> Endpoint:
    """``account``: (username, password) instead of the hub's own."""
    username, password = account or (broker.hub_username, broker.hub_password)
    return Endpoint(
        broker.url,
        username,
        password,
        client_id,
        shared=shared,
        mqtt5=broker.broker.kind != "amqtt",
    )


@contextlib.asynccontextmanager
async def running_ingest(
    broker: RunningBroker,
    tmp: Path,
    *,
    store: Store | None = None,
    bus: MemoryBus | None = None,
    client_id: str | None = "hub-ingest-test",
    shared: bool = False,
    account: tuple[str, str] | None = None,
    wait_connected: bool = True,
    **settings: Any,
) -> AsyncIterator[Ingest]:
    """``client_id=None``: the endpoint the hub itself builds from the broker and the settings
    (its account, a client id and ``$share`` group derived from its password)."""
    own_store = store is None
    st = store or await open_store(f"sqlite+aiosqlite:///{tmp / 'hub.db'}")
    b = bus or MemoryBus(queue_size=1_000_000)
    ep = None
    if client_id is None:
        settings.setdefault("mqtt_shared_subscriptions", shared)
    else:
        ep = endpoint(broker, client_id, shared, account=account)
    svc = DeviceService(
        Settings(data_dir=tmp, **settings), device_site(), st, b, broker.broker, endpoint=ep
    )
    await svc.start(broker.url)
    try:
        if wait_connected:
            assert svc.link is not None
            ok = await asyncio.to_thread(svc.link.connected.wait, 10)
            assert ok, "ingest did not connect"
            await asyncio.sleep(0.2)  # SUBACK
        yield Ingest(svc, st, b)
    finally:
        await svc.stop()
        if own_store:
            await st.close()


class Publisher:
    """One device connection (persistent session) that streams telemetry with seq numbers,
    pacing itself on unacknowledged messages (paho caps in-flight QoS 1 at 65,535)."""

    def __init__(self, broker: RunningBroker, device_id: str, password: str) -> None:
        self.device_id = device_id
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"pub-{device_id}", protocol=mqtt.MQTTv5
        )
        c.username_pw_set(device_id, password)
        c.reconnect_delay_set(0.1, 1)
        c.max_inflight_messages_set(1000)
        self.acked = 0
        self._lock = threading.Lock()
        c.on_publish = self._on_publish
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        c.connect(broker.host, broker.port, keepalive=30, clean_start=False, properties=props)
        c.loop_start()
        self.client = c
        self.sent = 0

    def _on_publish(self, *_a: Any) -> None:
        with self._lock:
            self.acked += 1

    def publish(self, doc: Any, *, kind: str = "telemetry", raw: bytes | None = None) -> None:
        payload = raw if raw is not None else orjson.dumps(doc)
        self.client.publish(f"hub/v1/devices/{self.device_id}/{kind}", payload, qos=1)
        self.sent += 1

    def stream(
        self,
        start: int,
        count: int,
        *,
        window: int = 2000,
        between: Callable[[int], None] | None = None,
    ) -> None:
        for seq in range(start, start + count):
            while self.sent - self.acked > window:
                time.sleep(0.002)
            self.publish({"seq": seq, "values": {"level": (seq % 100) / 10}})
            if between is not None:
                between(seq)

    def wait_acked(self, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.acked >= self.sent:
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def wait_for(pred: Callable[[], Any], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await pred() if asyncio.iscoroutinefunction(pred) else pred():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


class RecordingLink:
    """Stands in for MqttLink when a test feeds IngestWorker directly: an inbox, and the acks."""

    def __init__(self) -> None:
        self.inbox: deque[Inbound] = deque()
        self.gen = 1
        self.acked: list[int] = []

    def ack(self, gen: int, mids: list[int]) -> None:
        self.acked += mids

    def room_freed(self) -> None:
        return None


async def assert_nothing_redelivered(broker: RunningBroker, tmp_path: Path, store: Store) -> None:
    """Every message was acked: an ingest that connects again gets nothing back (the broker
    redelivers what was not acked at connect)."""
    async with running_ingest(broker, tmp_path, store=store) as ing:
        await asyncio.sleep(1.0)
        assert ing.service.worker is not None
        assert ing.service.worker.processed == 0
