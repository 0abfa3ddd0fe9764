"""deploy/mosquitto: the shipped config matches the embedded one, and run.sh installs the hub's
account files, starts Mosquitto and reloads it when the hub changes them."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from broker_fixtures import ConnectRefused, RunningBroker, connect_client, free_port

from hub.config import Settings
from hub.devices.accounts import BrokerAccounts
from hub.devices.broker import broker_payload_limit
from hub.devices.mosquitto import current_user, render_mosquitto_conf

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
# Where and how to listen and log legitimately differ between the two.
_LOCAL = {"listener", "password_file", "acl_file", "persistence_location", "log_dest", "user"}
_LOCAL |= {"log_timestamp"}


def _directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            out.setdefault(key, []).append(value)
    return out


def test_deploy_conf_matches_embedded() -> None:
    deploy = _directives((DEPLOY / "mosquitto.conf").read_text())
    embedded = _directives(
        render_mosquitto_conf(
            port=1884,
            bind="127.0.0.1",
            password_file=Path("/p"),
            acl_file=Path("/a"),
            persistence_dir=Path("/d"),
            payload_limit=broker_payload_limit(Settings()),
        )
    )
    strip = lambda d: {k: v for k, v in d.items() if k not in _LOCAL}  # noqa: E731
    assert strip(deploy) == strip(embedded)
    assert deploy["allow_anonymous"] == ["false"] and deploy["set_tcp_nodelay"] == ["true"]
    assert deploy["persistence"] == ["true"]
    # No account may take another's session over by naming its client id.
    assert deploy["use_username_as_clientid"] == ["true"]
    assert deploy["message_size_limit"] == [str(broker_payload_limit(Settings()))]


@pytest.mark.slow
async def test_run_sh_installs_and_reloads(tmp_path: Path) -> None:
    src, dst, data = tmp_path / "hub-auth", tmp_path / "auth", tmp_path / "data"
    data.mkdir()
    port = free_port()
    conf = (DEPLOY / "mosquitto.conf").read_text()
    conf = re.sub(r"^listener .*$", f"listener {port} 127.0.0.1", conf, flags=re.M)
    conf = conf.replace("/mosquitto/auth", str(dst)).replace("/mosquitto/data", str(data))
    conf += f"user {current_user()}\n"
    (tmp_path / "mosquitto.conf").write_text(conf)

    acc = BrokerAccounts(src / "passwd", src / "acl", hub_username="hub")
    await acc.set_hub_account("hub-password-123")
    dev = await acc.add_device("dev-a", "dev-a-password")
    env = {
        **os.environ,
        "HUB_AUTH_DIR": str(src),
        "MOSQ_AUTH_DIR": str(dst),
        "MOSQ_CONF": str(tmp_path / "mosquitto.conf"),
        "MOSQ_OWNER": "",
        "MOSQ_POLL_SECONDS": "0.2",
    }
    proc = subprocess.Popen(  # noqa: ASYNC220 - killed as a group in finally
        ["sh", str(DEPLOY / "run.sh")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        b = RunningBroker(
            broker=None,  # type: ignore[arg-type]
            host="127.0.0.1",
            port=port,
            hub_username="hub",
            hub_password="hub-password-123",
            dir=dst,
        )
        deadline = time.monotonic() + 5
        while True:
            try:
                connect_client(b, dev.username, dev.password).close()
                break
            except (ConnectionRefusedError, TimeoutError):
                assert time.monotonic() < deadline, "mosquitto did not come up"
                await asyncio.sleep(0.1)
        assert (dst / "passwd").stat().st_mode & 0o777 == 0o600

        new = await acc.add_device("dev-b")
        await acc.remove_device("dev-a")
        deadline = time.monotonic() + 3
        while True:
            try:
                connect_client(b, new.username, new.password).close()
                break
            except ConnectRefused:
                assert time.monotonic() < deadline, "new device not accepted after reload"
                await asyncio.sleep(0.1)
        with pytest.raises(ConnectRefused):
            connect_client(b, dev.username, dev.password)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)
