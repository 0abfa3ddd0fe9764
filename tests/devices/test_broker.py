"""The embedded Mosquitto with the hub's accounts and ACL: who may publish and read what."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from broker_fixtures import (
    ConnectRefused,
    RunningBroker,
    connect_client,
    start_test_broker,
)

from hub.config import Settings
from hub.devices.broker import EmbeddedBroker, ExternalBroker, hub_mqtt_password, open_broker

T = "hub/v1/devices"


def _hub(b: RunningBroker, **kw: object) -> object:
    return connect_client(b, b.hub_username, b.hub_password, **kw)  # type: ignore[arg-type]


async def test_device_publishes_only_under_its_own_topics(mqtt_broker: RunningBroker) -> None:
    a = await mqtt_broker.provision("dev-a")
    await mqtt_broker.provision("dev-b")
    hub = connect_client(mqtt_broker, mqtt_broker.hub_username, mqtt_broker.hub_password)
    hub.subscribe(f"{T}/#")
    dev = connect_client(mqtt_broker, a.username, a.password)
    dev.publish(f"{T}/dev-a/telemetry", b'{"values":{"t":1}}')
    dev.publish(f"{T}/dev-b/telemetry", b"forged")
    dev.publish(f"{T}/dev-b/status", b"forged", retain=True)
    dev.publish("hub/v1/hub/state", b"forged")
    dev.publish(f"{T}/dev-a/events", b"{}")
    got = [(m.topic, m.payload) for m in hub.drain(0.5)]
    assert got == [(f"{T}/dev-a/telemetry", b'{"values":{"t":1}}'), (f"{T}/dev-a/events", b"{}")]
    dev.close()
    hub.close()


async def test_device_cannot_read_other_devices(mqtt_broker: RunningBroker) -> None:
    a = await mqtt_broker.provision("dev-a")
    b = await mqtt_broker.provision("dev-b")
    spy = connect_client(mqtt_broker, a.username, a.password)
    spy.subscribe(f"{T}/#")
    spy.subscribe(f"{T}/dev-b/commands/#")
    spy.subscribe(f"{T}/dev-a/commands/#")
    other = connect_client(mqtt_broker, b.username, b.password)
    other.publish(f"{T}/dev-b/telemetry", b"b-data")
    hub = connect_client(mqtt_broker, mqtt_broker.hub_username, mqtt_broker.hub_password)
    hub.publish(f"{T}/dev-b/commands/reboot", b"for b")
    hub.publish(f"{T}/dev-a/commands/reboot", b"for a")
    got = [(m.topic, m.payload) for m in spy.drain(0.5)]
    # Its own commands arrive (through both matching subscriptions at most), nothing else does.
    assert got and all(g == (f"{T}/dev-a/commands/reboot", b"for a") for g in got)
    for c in (spy, other, hub):
        c.close()


async def test_wrong_password_and_unknown_user_refused(mqtt_broker: RunningBroker) -> None:
    a = await mqtt_broker.provision("dev-a")
    with pytest.raises(ConnectRefused):
        connect_client(mqtt_broker, a.username, a.password + "x")
    with pytest.raises(ConnectRefused):
        connect_client(mqtt_broker, "dev-nobody", a.password)
    with pytest.raises(ConnectRefused):
        connect_client(mqtt_broker, "", "")


async def test_runtime_provisioning_and_removal(mqtt_broker: RunningBroker) -> None:
    with pytest.raises(ConnectRefused):
        connect_client(mqtt_broker, "dev-new", "pw-1234567890")
    t0 = time.monotonic()
    cred = await mqtt_broker.provision("dev-new", "pw-1234567890")
    connect_client(mqtt_broker, cred.username, cred.password).close()
    assert time.monotonic() - t0 < 1.0

    # A new password replaces the old one.
    cred2 = await mqtt_broker.provision("dev-new")
    connect_client(mqtt_broker, cred2.username, cred2.password).close()
    with pytest.raises(ConnectRefused):
        connect_client(mqtt_broker, "dev-new", "pw-1234567890")

    assert await mqtt_broker.remove("dev-new")
    with pytest.raises(ConnectRefused):
        connect_client(mqtt_broker, cred2.username, cred2.password)
    assert not await mqtt_broker.remove("dev-new")


async def test_hub_shared_subscription_and_retained_status(mqtt_broker: RunningBroker) -> None:
    a = await mqtt_broker.provision("dev-a")
    hub1 = connect_client(mqtt_broker, mqtt_broker.hub_username, mqtt_broker.hub_password)
    # One connection per account (client id = username): the second needs its own.
    hub2 = connect_client(mqtt_broker, *await mqtt_broker.service_account("hub-2"))
    for h in (hub1, hub2):
        assert h.subscribe(f"$share/hub-ingest/{T}/+/telemetry") == [1]
    dev = connect_client(mqtt_broker, a.username, a.password)
    for i in range(20):
        dev.publish(f"{T}/dev-a/telemetry", str(i))
    dev.publish(f"{T}/dev-a/status", b'{"state":"online"}', retain=True)
    n1, n2 = len(hub1.drain(0.4)), len(hub2.drain(0.1))
    assert n1 + n2 == 20 and n1 > 0 and n2 > 0
    late = connect_client(mqtt_broker, *await mqtt_broker.service_account("hub-late"))
    late.subscribe(f"{T}/+/status")
    (m,) = late.messages(1)
    assert m.retain and m.payload == b'{"state":"online"}'
    for c in (hub1, hub2, dev, late):
        c.close()


async def test_persistent_session_survives_broker_restart(mqtt_broker: RunningBroker) -> None:
    a = await mqtt_broker.provision("dev-a")
    hub = connect_client(
        mqtt_broker,
        mqtt_broker.hub_username,
        mqtt_broker.hub_password,
        client_id="hub-ingest-test",
        clean=False,
        session_expiry=3600,
    )
    hub.subscribe(f"{T}/+/telemetry")
    hub.close()
    dev = connect_client(mqtt_broker, a.username, a.password)
    for i in range(50):
        dev.publish(f"{T}/dev-a/telemetry", str(i))
    dev.close()
    await mqtt_broker.restart()
    hub = connect_client(
        mqtt_broker,
        mqtt_broker.hub_username,
        mqtt_broker.hub_password,
        client_id="hub-ingest-test",
        clean=False,
        session_expiry=3600,
    )
    got = [int(m.payload) for m in hub.messages(50)]
    assert got == list(range(50))
    hub.close()


async def test_oversized_payload_dropped_by_broker(tmp_path: Path) -> None:
    b = await start_test_broker(tmp_path, max_payload=1000)
    try:
        a = await b.provision("dev-a")
        hub = connect_client(b, b.hub_username, b.hub_password)
        hub.subscribe(f"{T}/#")
        dev = connect_client(b, a.username, a.password, v5=False)
        dev.publish(f"{T}/dev-a/telemetry", b"x" * 3000)  # over max_payload: ingest's to judge
        dev.publish(f"{T}/dev-a/telemetry", b"x" * 5000)  # over the broker's 4x limit
        dev.publish(f"{T}/dev-a/telemetry", b"small")
        assert [len(m.payload) for m in hub.drain(0.5)] == [3000, 5]
        dev.close()
        hub.close()
    finally:
        await b.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


async def test_stop_leaves_no_process_and_files_are_private(tmp_path: Path) -> None:
    b = await start_test_broker(tmp_path)
    pid = b.broker.pid
    assert pid is not None and _alive(pid)
    assert b.broker.kind == "mosquitto" and b.broker.supports_shared_subscriptions
    for f in ("passwd", "acl"):
        assert (b.dir / f).stat().st_mode & 0o777 == 0o600
    await b.stop()
    assert not _alive(pid)


_CHILD = """
import asyncio, sys
from pathlib import Path
from hub.config import Settings
from hub.devices.broker import EmbeddedBroker
async def main():
    s = Settings(
        data_dir=Path(sys.argv[1]), mqtt_embedded_port=int(sys.argv[2]), mqtt_password="x" * 20
    )
    b = EmbeddedBroker(s, prefer="mosquitto")
    await b.start()
    print(b.pid, flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
"""


@pytest.mark.slow
def test_killed_hub_leaves_no_broker(tmp_path: Path) -> None:
    from broker_fixtures import free_port

    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path), str(free_port())],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        pid = int(child.stdout.readline())
        assert _alive(pid)
        child.send_signal(signal.SIGKILL)
        child.wait(5)
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid)
    finally:
        child.kill()
        child.wait()


async def test_port_in_use_is_a_clear_error(mqtt_broker: RunningBroker, tmp_path: Path) -> None:
    from hub.devices.mosquitto import BrokerError

    s = Settings(data_dir=tmp_path, mqtt_embedded_port=mqtt_broker.port, mqtt_password="y" * 20)
    b = EmbeddedBroker(s, prefer="mosquitto")
    with pytest.raises(BrokerError, match=r"exited|listen"):
        await b.start()
    await b.stop()


async def test_hub_password_generated_once(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    p1 = hub_mqtt_password(s)
    assert len(p1) >= 16 and hub_mqtt_password(s) == p1
    assert (tmp_path / "mqtt.secret").stat().st_mode & 0o777 == 0o600
    assert hub_mqtt_password(Settings(data_dir=tmp_path, mqtt_password="given")) == "given"


async def test_external_broker_accounts(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, mqtt_url="mqtt://broker.example:1883", mqtt_password="h" * 20)
    plain = open_broker(s)
    assert isinstance(plain, ExternalBroker) and plain.accounts is None
    assert await plain.start() == "mqtt://broker.example:1883"
    cred = await plain.provision_device("dev-x")
    assert cred.username == "dev-x" and len(cred.password) >= 16
    assert not (tmp_path / "mosquitto").exists()

    pw = tmp_path / "auth" / "passwd"
    s2 = s.model_copy(update={"mqtt_password_file": str(pw)})
    managed = open_broker(s2)
    assert isinstance(managed, ExternalBroker) and managed.accounts is not None
    await managed.start()
    await managed.provision_device("dev-x", "pw-x-123456")
    assert managed.accounts.check("dev-x", "pw-x-123456")
    assert managed.accounts.check("hub", "h" * 20)
    assert "pattern write hub/v1/devices/%u/#" in (tmp_path / "auth" / "acl").read_text()
    with pytest.raises(Exception, match="mqtt://"):
        ExternalBroker(s.model_copy(update={"mqtt_url": "http://x"}))
