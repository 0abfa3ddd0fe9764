"""The amqtt fallback: same accounts and topic rules, MQTT 3.1.1, no shared subscriptions.

The broker runs on the test's event loop, so every blocking client call goes through a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from broker_fixtures import ConnectRefused, RunningBroker, connect_client, start_test_broker
from ingest_helpers import running_ingest, wait_for

from hub.config import Settings
from hub.devices.broker import EmbeddedBroker

T = "hub/v1/devices"
th = asyncio.to_thread


@pytest.fixture
async def amqtt_broker(tmp_path: Path) -> AsyncIterator[RunningBroker]:
    b = await start_test_broker(tmp_path, kind="amqtt")
    try:
        yield b
    finally:
        await b.stop()


async def test_fallback_when_mosquitto_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no mosquitto on PATH
    monkeypatch.setattr("hub.devices.mosquitto.os.access", lambda *_a: False)
    b = EmbeddedBroker(Settings(data_dir=tmp_path, mqtt_embedded_port=0, mqtt_password="p" * 20))
    assert b.kind == "amqtt" and not b.supports_shared_subscriptions


async def test_amqtt_auth_and_acl(amqtt_broker: RunningBroker) -> None:
    b = amqtt_broker
    assert b.broker.kind == "amqtt" and b.broker.pid is None
    a = await b.provision("dev-a")
    await b.provision("dev-b")
    hub = await th(connect_client, b, b.hub_username, b.hub_password, v5=False)
    assert await th(hub.subscribe, f"{T}/#") == [1]
    # amqtt cannot make client ids the usernames: a device must use its id as client id.
    dev = await th(connect_client, b, a.username, a.password, client_id=a.username, v5=False)
    await th(dev.publish, f"{T}/dev-a/telemetry", b"mine")
    await th(dev.publish, f"{T}/dev-b/telemetry", b"forged")
    assert [(m.topic, m.payload) for m in await th(hub.drain, 0.5)] == [
        (f"{T}/dev-a/telemetry", b"mine")
    ]
    assert await th(dev.subscribe, f"{T}/dev-b/#") == [0x80]
    assert await th(dev.subscribe, f"{T}/dev-a/commands/#") == [1]

    with pytest.raises(ConnectRefused):
        await th(connect_client, b, a.username, "wrong", client_id=a.username, v5=False)
    # Changes apply at once: the plugins read the live accounts.
    assert await b.remove("dev-a")
    with pytest.raises(ConnectRefused):
        await th(connect_client, b, a.username, a.password, client_id=a.username, v5=False)
    c = await b.provision("dev-c")
    (await th(connect_client, b, c.username, c.password, client_id=c.username, v5=False)).close()
    await th(dev.close)
    await th(hub.close)


async def test_ingest_over_mqtt_311(amqtt_broker: RunningBroker, tmp_path: Path) -> None:
    """The ingest's own client speaks 3.1.1 to the fallback broker: persistent session, plain
    subscription, acks after the store."""
    b = amqtt_broker
    creds = await b.provision("dev-1")
    async with running_ingest(b, tmp_path, shared=True) as ing:
        assert ing.service.link is not None and not ing.service.link.shared
        dev = await th(
            connect_client, b, creds.username, creds.password, client_id="dev-1", v5=False
        )
        for i in range(20):
            await th(
                dev.publish, f"{T}/dev-1/telemetry", f'{{"seq": {i}, "values": {{"level": 1}}}}'
            )
        await wait_for(lambda: ing.service.worker is not None and ing.service.worker.accepted == 20)
        await th(dev.close)
        assert await ing.service.repo.count_telemetry() == 20
