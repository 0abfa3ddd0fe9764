"""Devices cannot reach the hub's stream or anyone's session by naming them: the hub's own ingest
against the embedded Mosquitto and against the amqtt fallback.

The attacks, each a silent loss of data: a device subscribes to the hub's ``$share`` group (the
broker then hands it a share of every device's telemetry and drops it, since the ACL forbids the
device to read it); or a device connects with the hub's or another device's client id (the broker
hands it that session, with what is queued for it, and disconnects its owner).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from broker_fixtures import (
    HUB_PASSWORD,
    ConnectRefused,
    RunningBroker,
    connect_client,
    start_test_broker,
)
from ingest_helpers import running_ingest, wait_for
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.config import Settings
from hub.devices.accounts import DeviceCredentials
from hub.devices.mqtt import Endpoint, MqttLink, derived_client_id, derived_share_group
from hub.store.db import open_store

T = "hub/v1/devices"
READINGS = 40
ATTACKERS = ["evil-1", "evil-2", "evil-3"]
OLD_DEFAULT_CLIENT_ID = "hub-ingest"
th = asyncio.to_thread


class Device:
    """An honest device: client id = its id, a persistent session, and a count of the times the
    broker dropped it."""

    def __init__(self, broker: RunningBroker, creds: DeviceCredentials, *, v5: bool = True) -> None:
        self.device_id = creds.device_id
        self.drops = 0
        self.seq = 0
        self._closing = False
        self._infos: list[mqtt.MQTTMessageInfo] = []
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=creds.device_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
        )
        c.username_pw_set(creds.username, creds.password)
        connected = threading.Event()
        c.on_connect = lambda *_a: connected.set()
        c.on_disconnect = self._on_disconnect
        kwargs: dict[str, Any] = {}
        if v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
            kwargs = {"clean_start": False, "properties": props}
        c.connect(broker.host, broker.port, keepalive=30, **kwargs)
        c.loop_start()
        assert connected.wait(5), "the honest device could not connect"
        self.client = c

    def _on_disconnect(self, *_a: Any) -> None:
        if not self._closing:
            self.drops += 1

    def publish(self, n: int) -> None:
        for _ in range(n):
            self.seq += 1
            doc = {"seq": self.seq, "values": {"level": 1.5}}
            info = self.client.publish(f"{T}/{self.device_id}/telemetry", orjson.dumps(doc), qos=1)
            info.wait_for_publish(5)
            self._infos.append(info)

    def all_acked(self) -> bool:
        return all(i.is_published() for i in self._infos)

    def close(self) -> None:
        self._closing = True
        self.client.disconnect()
        self.client.loop_stop()


def guessed_groups(passwords: list[str]) -> list[str]:
    """Share group names a device could try: the old fixed one, the username, and derived-looking
    names from passwords it might guess or knows (its own)."""
    groups = {OLD_DEFAULT_CLIENT_ID, "hub", "ingest", "hub-" + "0" * 16}
    for p in ["", "hub", OLD_DEFAULT_CLIENT_ID, "password", *passwords]:
        groups |= {derived_share_group(p), derived_client_id(p)}
    return sorted(groups)


def attack_filters(passwords: list[str]) -> list[str]:
    shares = [
        f"$share/{g}/{T}/+/{kind}"
        for g in guessed_groups(passwords)
        for kind in ("telemetry", "events")
    ]
    return [*shares, f"$share/{OLD_DEFAULT_CLIENT_ID}/#", "#", f"{T}/#", f"{T}/+/telemetry"]


def stolen_client_ids(b: RunningBroker, link: MqttLink, victim: str) -> list[str]:
    return sorted(
        {
            link.endpoint.client_id,  # what the hub uses: derived from its password
            Settings().mqtt_client_id or derived_client_id(b.hub_password),  # the default
            OLD_DEFAULT_CLIENT_ID,
            b.hub_username,
            victim,
        }
    )


async def stored(ing: Any, n: int) -> None:
    worker = ing.service.worker
    assert worker is not None
    try:
        await wait_for(lambda: worker.accepted >= n, 10)
    except AssertionError:
        raise AssertionError(f"the hub stored {worker.accepted} of {n} readings") from None
    await asyncio.sleep(0.3)  # nothing more (e.g. a redelivery) comes
    assert worker.accepted == n
    assert await ing.service.repo.count_telemetry() == n


@pytest.fixture
async def hub_broker(tmp_path: Path) -> AsyncIterator[RunningBroker]:
    """The embedded Mosquitto as the hub runs it: gated, the ingest subscribing through $share."""
    b = await start_test_broker(tmp_path / "broker", gate_devices=True)
    try:
        yield b
    finally:
        await b.stop()


@pytest.fixture
async def amqtt_hub_broker(tmp_path: Path) -> AsyncIterator[RunningBroker]:
    b = await start_test_broker(tmp_path / "broker", kind="amqtt")
    try:
        yield b
    finally:
        await b.stop()


# -- names -------------------------------------------------------------------------------------


def test_group_and_client_id_derive_from_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    group, cid = derived_share_group(HUB_PASSWORD), derived_client_id(HUB_PASSWORD)
    assert group.startswith("hub-") and len(group) == 4 + 16
    assert cid.startswith("hub-ingest-") and len(cid) == 11 + 16
    assert group[4:] != cid[11:]  # a client id seen in a log does not give the group away
    assert derived_share_group(HUB_PASSWORD + "x") != group
    ep = Endpoint("mqtt://127.0.0.1:1", "hub", HUB_PASSWORD)
    assert (ep.client_id, ep.share_group) == (cid, group)
    explicit = Endpoint("mqtt://127.0.0.1:1", "hub", HUB_PASSWORD, "ingest-7", share_group="g")
    assert (explicit.client_id, explicit.share_group) == ("ingest-7", "g")
    assert Settings().mqtt_client_id == ""
    monkeypatch.setenv("HUB_MQTT_CLIENT_ID", "ingest-7")
    assert Settings().mqtt_client_id == "ingest-7"


async def test_the_hubs_endpoint_uses_the_derived_names_unless_told(
    mqtt_broker: RunningBroker, tmp_path: Path
) -> None:
    async with running_ingest(mqtt_broker, tmp_path, client_id=None, shared=True) as ing:
        assert ing.service.link is not None
        ep = ing.service.link.endpoint
        assert ep.client_id == derived_client_id(HUB_PASSWORD)
        assert ep.share_group == derived_share_group(HUB_PASSWORD)
    async with running_ingest(
        mqtt_broker, tmp_path, client_id=None, shared=True, mqtt_client_id="ingest-7"
    ) as ing:
        assert ing.service.link is not None
        assert ing.service.link.endpoint.client_id == "ingest-7"


# -- Mosquitto ---------------------------------------------------------------------------------


async def test_devices_cannot_take_a_share_of_the_hubs_stream(
    hub_broker: RunningBroker, tmp_path: Path
) -> None:
    b = hub_broker
    honest = await b.provision("dev-1")
    attackers = [await b.provision(d) for d in ATTACKERS]
    async with running_ingest(b, tmp_path, client_id=None, shared=True) as ing:
        link = ing.service.link
        assert link is not None and link.shared
        await wait_for(lambda: not b.accounts.gated)
        filters = attack_filters([a.password for a in attackers])
        spies = []
        for a in attackers:
            spy = await th(
                connect_client, b, a.username, a.password, clean=False, session_expiry=3600
            )
            spies.append(spy)
            for f in filters:
                # Granted, every one of them: Mosquitto's ACL only filters deliveries.
                assert await th(spy.subscribe, f) == [1], f
        dev = await th(Device, b, honest)
        try:
            await th(dev.publish, READINGS)
            await stored(ing, READINGS)
            assert dev.all_acked()
        finally:
            await th(dev.close)
        for spy in spies:
            assert await th(spy.drain, 0.05) == []
            await th(spy.close)
        assert link.gen == 1


async def test_devices_cannot_take_over_the_hubs_or_anothers_session(
    hub_broker: RunningBroker, tmp_path: Path
) -> None:
    b = hub_broker
    honest = await b.provision("dev-1")
    evil = await b.provision("evil-1")
    async with running_ingest(b, tmp_path, client_id=None, shared=True) as ing:
        link = ing.service.link
        assert link is not None
        await wait_for(lambda: not b.accounts.gated)
        dev = await th(Device, b, honest)
        ids = stolen_client_ids(b, link, honest.device_id)
        sent = 0
        try:
            for cid in ids:
                for clean in (False, True):
                    # Accepted (a valid account), but under its own name: its username.
                    spy = await th(
                        connect_client,
                        b,
                        evil.username,
                        evil.password,
                        client_id=cid,
                        clean=clean,
                        session_expiry=0 if clean else 3600,
                    )
                    await th(spy.subscribe, "#")
                    await th(dev.publish, 3)
                    sent += 3
                    await asyncio.sleep(0.1)
                    await th(spy.close)
                for user in (b.hub_username, honest.username):
                    with pytest.raises(ConnectRefused):
                        await th(connect_client, b, user, "wrong-password", client_id=cid)
            await th(dev.publish, READINGS - sent)
            await stored(ing, max(READINGS, sent))
            assert dev.all_acked()
        finally:
            await th(dev.close)
        assert dev.drops == 0, "the honest device was disconnected"
        assert link.gen == 1 and link.connected.is_set(), "the hub's link was disconnected"


async def test_what_is_queued_for_the_offline_hub_cannot_be_taken(
    hub_broker: RunningBroker, tmp_path: Path
) -> None:
    """A clean start under the hub's client id would discard the hub's persistent session and the
    messages the broker queued for it while the hub was down."""
    b = hub_broker
    honest = await b.provision("dev-1")
    evil = await b.provision("evil-1")
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    try:
        async with running_ingest(b, tmp_path, client_id=None, shared=True, store=store) as ing:
            assert ing.service.link is not None
            link = ing.service.link
            await wait_for(lambda: not b.accounts.gated)
        dev = await th(Device, b, honest)
        try:
            await th(dev.publish, READINGS)  # queued in the offline hub's session
            assert dev.all_acked()
            for cid in stolen_client_ids(b, link, honest.device_id):
                spy = await th(connect_client, b, evil.username, evil.password, client_id=cid)
                await th(spy.close)
            async with running_ingest(b, tmp_path, client_id=None, shared=True, store=store) as ing:
                await stored(ing, READINGS)
        finally:
            await th(dev.close)
        assert dev.drops == 0
    finally:
        await store.close()


# -- amqtt -------------------------------------------------------------------------------------


async def test_amqtt_refuses_another_client_id_and_the_hubs_stream(
    amqtt_hub_broker: RunningBroker, tmp_path: Path
) -> None:
    """amqtt cannot make client ids the usernames: it refuses a device whose client id is not its
    own id, before the session named by that id is touched (amqtt's own order would delete or
    take that session over first, even for a wrong password)."""
    b = amqtt_hub_broker
    honest = await b.provision("dev-1")
    evil = await b.provision("evil-1")
    async with running_ingest(b, tmp_path, client_id=None, shared=True) as ing:
        link = ing.service.link
        assert link is not None and not link.shared  # no $share on amqtt
        assert link.endpoint.client_id == derived_client_id(HUB_PASSWORD)
        dev = await th(Device, b, honest, v5=False)
        spy = await th(
            connect_client, b, evil.username, evil.password, client_id=evil.username, v5=False
        )
        try:
            for f in attack_filters([evil.password]):
                assert await th(spy.subscribe, f) == [0x80], f
            sent = 0
            for cid in [*stolen_client_ids(b, link, honest.device_id), ""]:
                for clean in (True, False) if cid else (True,):
                    for user, password in (
                        (evil.username, evil.password),
                        (b.hub_username, "wrong-password"),
                        (honest.username, "wrong-password"),
                    ):
                        with pytest.raises(ConnectRefused):
                            await th(
                                connect_client, b, user, password, client_id=cid, clean=clean,
                                v5=False,
                            )  # fmt: skip
                    await th(dev.publish, 2)
                    sent += 2
            await th(dev.publish, READINGS - sent)
            await stored(ing, max(READINGS, sent))
            assert dev.all_acked()
            assert await th(spy.drain, 0.05) == []
        finally:
            await th(dev.close)
            await th(spy.close)
        assert dev.drops == 0, "the honest device was disconnected"
        assert link.gen == 1 and link.connected.is_set(), "the hub's link was disconnected"


async def test_amqtt_lets_hub_accounts_choose_their_client_ids(
    amqtt_hub_broker: RunningBroker,
) -> None:
    b = amqtt_hub_broker
    service = await b.service_account("hub-2")
    for user, password in ((b.hub_username, b.hub_password), service):
        c = await th(connect_client, b, user, password, client_id=f"{user}-any", v5=False)
        assert await th(c.subscribe, f"{T}/#") == [1]
        await th(c.close)
