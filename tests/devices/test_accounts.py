"""Password and ACL files in Mosquitto's formats."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hub.devices.accounts import BrokerAccounts, hash_password, render_acl, verify_password


def test_hash_matches_mosquitto_passwd(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "dev-1", "s3cret"], check=True)
    theirs = pw.read_text().strip().split(":", 1)[1]
    assert theirs.startswith("$7$101$")
    assert verify_password("s3cret", theirs)
    assert not verify_password("s3cret!", theirs)
    ours = hash_password("s3cret")
    assert ours.startswith("$7$101$") and len(ours) == len(theirs)
    assert verify_password("s3cret", ours) and not verify_password("other", ours)
    assert hash_password("s3cret") != ours  # salted
    for bad in ("", "$6$x$y", "$7$abc$x$y", "$7$101$!!$??", "$7$0$AAAA$AAAA"):
        assert not verify_password("s3cret", bad)


async def test_add_update_remove_and_reload(tmp_path: Path) -> None:
    reloads: list[int] = []

    async def reload() -> None:
        reloads.append(1)

    acc = BrokerAccounts(tmp_path / "a" / "passwd", tmp_path / "a" / "acl", hub_username="hub")
    acc.set_reloader(reload)
    await acc.set_hub_account("hub-pass-1")
    c1 = await acc.add_device("dev-1")
    c2 = await acc.add_device("dev-2", "given-pass")
    assert c2.password == "given-pass" and len(c1.password) >= 24
    assert acc.device_ids() == ["dev-1", "dev-2"]
    assert len(reloads) == 3
    assert acc.check("dev-1", c1.password) and acc.check("hub", "hub-pass-1")
    assert not acc.check("dev-1", "given-pass")

    # Another manager on the same files (e.g. after a hub restart) sees the same accounts.
    again = BrokerAccounts(acc.password_file, acc.acl_file, hub_username="hub")
    assert again.device_ids() == ["dev-1", "dev-2"] and again.check("dev-2", "given-pass")

    new = await acc.update_device("dev-2")
    assert acc.check("dev-2", new.password) and not acc.check("dev-2", "given-pass")
    assert await acc.remove_device("dev-1") and not await acc.remove_device("dev-1")
    assert not await acc.remove_device("hub")  # the service account is not a device
    text = acc.password_file.read_text()
    assert "dev-1:" not in text and text.count("\n") == 2
    for f in (acc.password_file, acc.acl_file):
        assert f.stat().st_mode & 0o777 == 0o600
    assert not list(acc.password_file.parent.glob(".*"))  # no temp files left

    created = await acc.add_devices(["dev-2", "dev-3", "dev-4"])
    assert [c.device_id for c in created] == ["dev-3", "dev-4"]
    assert acc.check("dev-2", new.password)


async def test_invalid_ids_refused(tmp_path: Path) -> None:
    acc = BrokerAccounts(tmp_path / "passwd", tmp_path / "acl", hub_username="hub")
    for bad in ("hub", "Dev", "a", "dev/x", "dev+", "dev#", "x" * 80, "dev:1"):
        with pytest.raises(ValueError):
            await acc.add_device(bad)
    assert not acc.password_file.exists()


def test_acl_rules() -> None:
    acl = render_acl("svc")
    assert "user svc\ntopic readwrite #\n" in acl
    assert "pattern write hub/v1/devices/%u/#" in acl
    assert "pattern read hub/v1/devices/%u/commands/#" in acl
    acc = BrokerAccounts(Path("/nonexistent/p"), Path("/nonexistent/a"), hub_username="svc")
    acc._users["dev-1"] = hash_password("x")
    assert acc.may_publish("dev-1", "hub/v1/devices/dev-1/telemetry")
    assert not acc.may_publish("dev-1", "hub/v1/devices/dev-10/telemetry")
    assert not acc.may_publish("dev-1", "hub/v1/devices/dev-1")
    assert acc.may_subscribe("dev-1", "hub/v1/devices/dev-1/commands/#")
    assert not acc.may_subscribe("dev-1", "hub/v1/devices/+/commands/#")
    assert not acc.may_subscribe("dev-1", "hub/v1/devices/dev-1/#")
    assert not acc.may_publish("nobody", "hub/v1/devices/nobody/telemetry")
    assert acc.may_publish("svc", "anything") and acc.may_subscribe("svc", "#")


async def test_service_accounts(tmp_path: Path) -> None:
    """Accounts with the hub's rights besides its own (e.g. a second ingest process): full ACL
    rights, let through the gate, never taken for devices, remembered from the ACL file."""
    acc = BrokerAccounts(tmp_path / "passwd", tmp_path / "acl", hub_username="hub")
    acc.active_file = tmp_path / "passwd.active"
    await acc.set_hub_account("hub-pass-1")
    await acc.add_device("dev-1")
    await acc.add_service_account("hub-2", "svc-pass-1")
    assert acc.check("hub-2", "svc-pass-1") and acc.service_accounts() == ["hub-2"]
    assert acc.device_ids() == ["dev-1"] and not acc.has_device("hub-2")
    assert acc.may_subscribe("hub-2", "#") and acc.may_publish("hub-2", "hub/v1/hub/state")
    assert "user hub-2\ntopic readwrite #\n" in acc.acl_file.read_text()
    for taken in ("hub", "hub-2"):
        with pytest.raises(ValueError):
            await acc.add_device(taken)
    for taken in ("hub", "dev-1", "Bad Name"):
        with pytest.raises(ValueError):
            await acc.add_service_account(taken, "x" * 20)
    assert not await acc.remove_device("hub-2")

    await acc.set_gate(True)
    active = acc.active_file.read_text()
    assert "hub:" in active and "hub-2:" in active and "dev-1:" not in active

    again = BrokerAccounts(acc.password_file, acc.acl_file, hub_username="hub")
    assert again.service_accounts() == ["hub-2"] and again.device_ids() == ["dev-1"]
