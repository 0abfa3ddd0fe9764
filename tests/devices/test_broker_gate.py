"""The embedded broker's device gate: after a start only the hub gets in, until its ingest has
subscribed (or a timeout passes), and the full account table is never lost to it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from broker_fixtures import ConnectRefused, connect_client, start_test_broker

from hub.devices import broker as broker_mod

th = asyncio.to_thread


async def test_devices_wait_for_the_ingest_then_get_in(tmp_path: Path) -> None:
    b = await start_test_broker(tmp_path, gate_devices=True)
    try:
        creds = await b.provision("dev-1")
        accounts = b.broker.accounts
        assert accounts is not None and accounts.gated
        assert "dev-1:" in accounts.password_file.read_text()  # the full table stays
        assert accounts.active_file is not None
        assert "dev-1:" not in accounts.active_file.read_text()
        with pytest.raises(ConnectRefused):
            await th(connect_client, b, creds.username, creds.password)
        (await th(connect_client, b, b.hub_username, b.hub_password)).close()  # the hub gets in
        service = await b.service_account("hub-2")  # so do its other service accounts
        (await th(connect_client, b, *service)).close()
        assert "hub-2:" in accounts.active_file.read_text()

        await b.broker.ingest_subscribed()
        (await th(connect_client, b, creds.username, creds.password)).close()

        await b.restart()  # closed again at every start
        assert accounts.gated
        with pytest.raises(ConnectRefused):
            await th(connect_client, b, creds.username, creds.password)
    finally:
        await b.stop()


async def test_the_gate_opens_by_itself_when_no_ingest_subscribes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broker_mod, "GATE_TIMEOUT", 0.3)
    b = await start_test_broker(tmp_path, gate_devices=True)
    try:
        creds = await b.provision("dev-1")
        await asyncio.sleep(0.8)
        assert b.broker.accounts is not None and not b.broker.accounts.gated
        (await th(connect_client, b, creds.username, creds.password)).close()
    finally:
        await b.stop()
