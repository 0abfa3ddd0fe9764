"""MQTT ingest throughput: messages per second one ingest process validates, stores (SQLite),
publishes on the bus and evaluates alarm rules on (4 rules per device), as a ratio of
``mosquitto_sub`` receiving the same stream from the same broker in the same run.

Method (both sides alike): a persistent QoS 1 session subscribes, disconnects; N messages from
several devices are published into the broker (paced: paho caps unacked QoS 1 at 65,535); then
the consumer reconnects and the time to drain all N is measured. Draining a backlog measures what
the consumer can take, not how fast the publishers can push.

    .venv/bin/python bench/bench_ingest.py [--messages 60000] [--devices 20]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hub.bus.events import TOPIC_DEVICE_TELEMETRY
from hub.bus.memory import MemoryBus
from hub.config import Device, DeviceProfile, Settings, Site
from hub.devices.broker import EmbeddedBroker
from hub.devices.mqtt import Endpoint
from hub.devices.service import DeviceService
from hub.store.db import open_store

PASSWORD = "bench-hub-password"
TOPIC = "hub/v1/devices/+/telemetry"

# Evaluated on every reading, never raised: the bench measures evaluation, not alarm writes.
GAUGE = DeviceProfile.model_validate(
    {
        "id": "gauge",
        "name": "gauge",
        "max_messages_per_minute": 10_000_000,
        "telemetry": [
            {"key": "level", "min": 0, "max": 10},
            {"key": "battery", "min": 0, "max": 100},
        ],
        "alarm_rules": [
            {"id": "level-high", "name": "level high", "key": "level",
             "create": {"critical": {"op": ">=", "value": 9.95},
                        "warning": {"op": ">=", "value": 9.92}}},
            {"id": "level-rise", "name": "level rise", "kind": "rate", "key": "level",
             "create": {"major": {"op": ">", "value": 1.0e9}}},
            {"id": "battery-low", "name": "battery low", "kind": "duration", "key": "battery",
             "for_seconds": 600, "create": {"minor": {"op": "<", "value": 10}}},
            {"id": "offline", "name": "offline", "kind": "missing",
             "create": {"major": {"op": ">", "value": 3600}}},
        ],
    }
)  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def publish_all(port: int, devices: list[str], total: int) -> float:
    """Publish ``total`` QoS 1 messages round-robin over the devices; returns messages/s."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-pub", protocol=mqtt.MQTTv5)
    c.username_pw_set("hub", PASSWORD)
    c.max_inflight_messages_set(2000)
    acked = [0]
    lock = threading.Lock()

    def on_publish(*_a: object) -> None:
        with lock:
            acked[0] += 1

    c.on_publish = on_publish
    c.connect("127.0.0.1", port)
    c.loop_start()
    t0 = time.perf_counter()
    now = time.time()
    for i in range(total):
        # paho rescans its unacked queue on every ack: a short window publishes faster.
        while i - acked[0] > 1_000:
            time.sleep(0.001)
        d = devices[i % len(devices)]
        payload = orjson.dumps(
            {
                "ts": now + i * 1e-4,
                "seq": i // len(devices),
                "values": {"level": (i % 100) / 10, "battery": 87.5},
            }
        )
        c.publish(f"hub/v1/devices/{d}/telemetry", payload, qos=1)
    while acked[0] < total:
        time.sleep(0.005)
    rate = total / (time.perf_counter() - t0)
    c.disconnect()
    c.loop_stop()
    return rate


def mosquitto_sub(port: int, total: int | None, client_id: str) -> float:
    """Create the session (total None) or drain ``total`` messages; returns seconds."""
    args = [
        "mosquitto_sub",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-u",
        "hub",
        "-P",
        PASSWORD,
        "-c",
        "-i",
        client_id,
        "-q",
        "1",
        "-t",
        TOPIC,
    ]
    if total is None:
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        p.terminate()
        p.wait()
        return 0.0
    t0 = time.perf_counter()
    subprocess.run([*args, "-C", str(total)], stdout=subprocess.DEVNULL, check=True, timeout=300)
    return time.perf_counter() - t0


async def ingest_drain(
    broker: EmbeddedBroker, tmp: Path, devices: list[str], total: int
) -> tuple[float, dict[str, float]]:
    site = Site.for_devices(
        [GAUGE],
        [
            Device(id=d, name=d, profile="gauge", grid="g1", position=[120.05, 31.05])
            for d in devices
        ],
    )
    store = await open_store(f"sqlite+aiosqlite:///{tmp / 'hub.db'}")
    bus = MemoryBus(queue_size=total + 10)
    sub = bus.subscribe(TOPIC_DEVICE_TELEMETRY)  # a consumer, like the alarm rules
    received = [0]

    async def consume() -> None:
        while True:
            await sub.get()
            received[0] += 1

    consumer = asyncio.create_task(consume())
    ep = Endpoint(f"mqtt://127.0.0.1:{broker.port}", "hub", PASSWORD, "bench-ingest", shared=True)

    async def run_service() -> DeviceService:
        svc = DeviceService(Settings(data_dir=tmp), site, store, bus, endpoint=ep)
        await svc.start()
        assert svc.link is not None
        await asyncio.to_thread(svc.link.connected.wait, 10)
        return svc

    svc = await run_service()  # creates the persistent session and its subscription
    await asyncio.sleep(0.5)
    await svc.stop()
    rate_pub = await asyncio.to_thread(publish_all, broker.port, devices, total)
    t0 = time.perf_counter()
    svc = await run_service()
    assert svc.worker is not None
    # Done when every reading is stored, acked, and evaluated by the rule engine.
    while svc.worker.accepted < total or svc.rules.evaluated < total:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - t0
    rows = await svc.repo.count_telemetry()
    await svc.stop()
    consumer.cancel()
    await store.close()
    assert rows == 2 * total, rows
    return elapsed, {"publish_rate": rate_pub, "bus_received": received[0]}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=60_000)
    ap.add_argument("--devices", type=int, default=20)
    a = ap.parse_args()
    if not shutil.which("mosquitto_sub"):
        sys.exit("mosquitto_sub is not installed")
    devices = [f"dev-{i:04d}" for i in range(a.devices)]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        settings = Settings(
            data_dir=tmp / "broker", mqtt_embedded_port=free_port(), mqtt_password=PASSWORD
        )
        # Load comes from the hub account, so no gate; the ingest subscribes through $share as
        # with the embedded broker in production.
        broker = EmbeddedBroker(settings, prefer="mosquitto", gate_devices=False)
        await broker.start()
        try:
            await asyncio.to_thread(mosquitto_sub, broker.port, None, "bench-sub")
            pub_rate = await asyncio.to_thread(publish_all, broker.port, devices, a.messages)
            t_sub = await asyncio.to_thread(mosquitto_sub, broker.port, a.messages, "bench-sub")
            t_ing, extra = await ingest_drain(broker, tmp, devices, a.messages)
        finally:
            await broker.stop()
    sub_rate = a.messages / t_sub
    ing_rate = a.messages / t_ing
    print(f"messages: {a.messages} from {a.devices} devices, 2 values each, QoS 1")
    print(f"publisher (paho, paced):            {pub_rate:9.0f} msg/s")
    print(f"mosquitto_sub drain (baseline):     {sub_rate:9.0f} msg/s")
    print(f"hub ingest drain (validate+store+bus): {ing_rate:6.0f} msg/s")
    print(f"ratio ingest / mosquitto_sub:       {ing_rate / sub_rate:9.2f}")
    print(f"target 30,000 msg/s per ingest process: {'met' if ing_rate >= 30_000 else 'NOT met'}")
    print(f"bus consumer received: {extra['bus_received']:.0f}")


if __name__ == "__main__":
    asyncio.run(main())
