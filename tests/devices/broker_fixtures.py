"""A private Mosquitto for tests: free port, auth + ACL + persistence in a tmp dir.

Use the ``mqtt_broker`` fixture (exposed by ``tests/devices/conftest.py``) or, elsewhere,
``start_test_broker``. Clients: ``connect_client`` gives a connected paho 2.x client with its
network loop running in a thread.
"""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.config import Settings
from hub.devices.accounts import BrokerAccounts, DeviceCredentials
from hub.devices.broker import EmbeddedBroker

HUB_PASSWORD = "hub-test-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningBroker:
    """A running broker and what a test needs to talk to it."""

    broker: EmbeddedBroker
    host: str
    port: int
    hub_username: str
    hub_password: str
    dir: Path

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def accounts(self) -> BrokerAccounts:
        assert self.broker.accounts is not None
        return self.broker.accounts

    async def provision(self, device_id: str, password: str | None = None) -> DeviceCredentials:
        """Create (or update) a device account; Mosquitto has reloaded when this returns."""
        return await self.broker.provision_device(device_id, password)

    async def service_account(self, username: str, password: str | None = None) -> tuple[str, str]:
        """An account with the hub's rights besides the hub's own: the broker lets one connection
        per account in (client id = username), so a test's second hub-side client needs one."""
        pw = password or f"{username}-service-password"
        await self.accounts.add_service_account(username, pw)
        return username, pw

    async def remove(self, device_id: str) -> bool:
        return await self.broker.deprovision_device(device_id)

    async def restart(self) -> None:
        """SIGTERM (Mosquitto saves its persistence file) and start again on the same port."""
        await self.broker.restart()

    async def stop(self) -> None:
        await self.broker.stop()


async def start_test_broker(
    data_dir: Path,
    *,
    kind: str = "mosquitto",
    max_payload: int = 64 * 1024,
    gate_devices: bool = False,
) -> RunningBroker:
    """``gate_devices``: devices are refused after each start until an ingest with this broker
    has subscribed (what the hub does with $share); off for tests that talk to it directly."""
    port = free_port()
    settings = Settings(
        data_dir=data_dir,
        mqtt_embedded_port=port,
        mqtt_password=HUB_PASSWORD,
        mqtt_max_payload=max_payload,
        host="127.0.0.1",
    )
    broker = EmbeddedBroker(
        settings, prefer="amqtt" if kind == "amqtt" else "mosquitto", gate_devices=gate_devices
    )
    await broker.start()
    return RunningBroker(
        broker=broker,
        host="127.0.0.1",
        port=port,
        hub_username=settings.mqtt_username,
        hub_password=HUB_PASSWORD,
        dir=broker.dir,
    )


@pytest.fixture
async def mqtt_broker(tmp_path: Path) -> AsyncIterator[RunningBroker]:
    """A private Mosquitto (auth, ACL, persistence) on a free port, stopped after the test."""
    b = await start_test_broker(tmp_path / "broker-data")
    try:
        yield b
    finally:
        await b.stop()


# ---------------------------------------------------------------------------------------------
# paho helpers (blocking; call from tests via asyncio.to_thread when the loop must keep running)
# ---------------------------------------------------------------------------------------------


@dataclass
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass
class Client:
    """A connected paho client; messages land in ``inbox``."""

    mqtt: mqtt.Client
    inbox: queue.Queue[Received] = field(default_factory=queue.Queue)
    subacks: queue.Queue[list[int]] = field(default_factory=queue.Queue)

    def subscribe(self, topic: str, qos: int = 1, timeout: float = 5.0) -> list[int]:
        """Subscribe and wait for the SUBACK; returns the granted QoS / reason codes."""
        self.mqtt.subscribe(topic, qos)
        return self.subacks.get(timeout=timeout)

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        info = self.mqtt.publish(topic, payload, qos=qos, retain=retain)
        if qos > 0:
            info.wait_for_publish(timeout=5.0)

    def messages(self, n: int, timeout: float = 5.0) -> list[Received]:
        out = [self.inbox.get(timeout=timeout) for _ in range(n)]
        return out

    def drain(self, wait: float = 0.3) -> list[Received]:
        out: list[Received] = []
        try:
            while True:
                out.append(self.inbox.get(timeout=wait))
        except queue.Empty:
            return out

    def close(self) -> None:
        self.mqtt.disconnect()
        self.mqtt.loop_stop()


class ConnectRefused(Exception):
    def __init__(self, reason: Any) -> None:
        super().__init__(f"connection refused: {reason}")
        self.reason = reason


def connect_client(
    broker: RunningBroker,
    username: str,
    password: str,
    *,
    client_id: str = "",
    clean: bool = True,
    session_expiry: int = 0,
    v5: bool = True,
    timeout: float = 5.0,
) -> Client:
    """Connect and wait for CONNACK; raises ConnectRefused when the broker says no."""
    proto = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=proto,
        clean_session=None if v5 else clean,
    )
    c.username_pw_set(username, password)
    client = Client(c)
    done = threading.Event()
    result: list[Any] = []

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        result.append(reason)
        done.set()

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        client.inbox.put(Received(msg.topic, msg.payload, msg.qos, msg.retain))

    def on_subscribe(_c: Any, _u: Any, _mid: int, codes: list[Any], _p: Any = None) -> None:
        client.subacks.put([int(getattr(rc, "value", rc)) for rc in codes])

    def on_disconnect(*_a: Any) -> None:
        done.set()

    c.on_connect = on_connect
    c.on_message = on_message
    c.on_subscribe = on_subscribe
    c.on_disconnect = on_disconnect
    props = None
    if v5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = session_expiry
    kwargs: dict[str, Any] = {"properties": props} if v5 else {}
    if v5:
        kwargs["clean_start"] = clean
    c.connect(broker.host, broker.port, keepalive=30, **kwargs)
    c.loop_start()
    if not done.wait(timeout):
        c.loop_stop()
        raise TimeoutError("no CONNACK")
    if not result or result[0].is_failure:
        c.loop_stop()
        c.disconnect()
        raise ConnectRefused(result[0] if result else "disconnected")
    return client
