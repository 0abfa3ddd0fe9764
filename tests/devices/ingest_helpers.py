"""A device site, a running DeviceService against the test broker, and paced publishers."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
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
from hub.config import Settings, Site, parse_site
from hub.devices.mqtt import Endpoint
from hub.devices.service import DeviceService
from hub.store.db import Store, open_store

GRID = """\
site: {name: devices}
district:
  id: d
  name: d
  streets:
    - id: s
      name: s
      communities:
        - id: c
          name: c
          grids:
            - id: g1
              name: 第一网格
              geometry:
                type: Polygon
                coordinates: [[[120.0, 31.0], [120.1, 31.0], [120.1, 31.1], [120.0, 31.0]]]
"""

PROFILES = """\
device_profiles:
  - id: gauge
    name: water gauge
    kind: water_level
    max_messages_per_minute: 1000000
    telemetry:
      - {key: level, unit: m, min: 0, max: 10}
      - {key: open, type: boolean}
      - {key: note, type: string}
  - id: slow
    name: slow sensor
    max_messages_per_minute: 5
    telemetry:
      - {key: level, min: 0, max: 10}
  - id: idle
    name: idle sensor
    inactivity_timeout_seconds: 0.6
    telemetry:
      - {key: level, min: 0, max: 10}
"""

DEVICE_IDS = ["dev-1", "dev-2", "dev-3", "dev-4"]


def site_yaml(extra_devices: str = "") -> str:
    devices = "".join(
        f"  - {{id: {d}, name: {d}, profile: gauge, grid: g1, position: [120.05, 31.05]}}\n"
        for d in DEVICE_IDS
    )
    devices += (
        "  - {id: dev-flood, name: flood, profile: slow, grid: g1, position: [120.05, 31.05]}\n"
        "  - {id: dev-idle, name: idle, profile: idle, grid: g1, position: [120.05, 31.05]}\n"
        "  - {id: dev-off, name: disabled, profile: gauge, grid: g1, position: [120.0, 31.0],"
        " enabled: false}\n"
    )
    return GRID + PROFILES + "devices:\n" + devices + extra_devices


def device_site() -> Site:
    return parse_site(site_yaml())


@dataclass
class Ingest:
    service: DeviceService
    store: Store
    bus: MemoryBus


def endpoint(
    broker: RunningBroker, client_id: str = "hub-ingest-test", shared: bool = False
) -> Endpoint:
    return Endpoint(
        broker.url,
        broker.hub_username,
        broker.hub_password,
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
    client_id: str = "hub-ingest-test",
    shared: bool = False,
    wait_connected: bool = True,
    **settings: Any,
) -> AsyncIterator[Ingest]:
    own_store = store is None
    st = store or await open_store(f"sqlite+aiosqlite:///{tmp / 'hub.db'}")
    b = bus or MemoryBus(queue_size=1_000_000)
    svc = DeviceService(
        Settings(data_dir=tmp, **settings),
        device_site(),
        st,
        b,
        endpoint=endpoint(broker, client_id, shared),
    )
    await svc.start()
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
