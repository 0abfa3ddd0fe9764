"""Site-file devices get broker accounts at start; their new credentials go to a private file."""

from __future__ import annotations

import stat
from pathlib import Path

from hub.config import Settings
from hub.devices.broker import EmbeddedBroker


def _read(path: Path) -> dict[str, str]:
    return dict(line.split(":", 1) for line in path.read_text().splitlines())


async def test_site_devices_get_accounts_once_and_credentials_are_kept(tmp_path: Path) -> None:
    broker = EmbeddedBroker(Settings(data_dir=tmp_path), prefer="amqtt")
    creds = tmp_path / "device-credentials.txt"
    assert broker.accounts is not None

    assert await broker.provision_site_devices(["dev-a-0001", "dev-b-0001"], creds) == 2
    first = _read(creds)
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert all(broker.accounts.check(d, pw) for d, pw in first.items())

    # A restart with one more device creates only that one; known passwords are not reset.
    assert (
        await broker.provision_site_devices(["dev-a-0001", "dev-b-0001", "dev-c-0001"], creds) == 1
    )
    again = _read(creds)
    assert {k: again[k] for k in first} == first and set(again) == {*first, "dev-c-0001"}
    assert broker.accounts.check("dev-c-0001", again["dev-c-0001"])
    assert not broker.accounts.check("dev-c-0001", first["dev-a-0001"])
