"""The field app's socket: a worker hears the changes of their own cases, and nothing of the
wall (events, alarms, health, other workers' tasks)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from web_helpers import RunningHub, detection, make_settings, record, run_hub_with_users
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    async with run_hub_with_users(make_settings(tmp_path)) as h:
        await h.state.store.users.create("worker2", "worker", "worker2-pass-1")
        yield h


async def _token(hub: RunningHub, role: str) -> str:
    return (await hub.auth(role))["Authorization"].split()[1]


async def _messages(ws: ClientConnection, within: float) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(within):
            while True:
                got.append(json.loads(await ws.recv()))
    return got


async def _opened_case(hub: RunningHub, op: dict[str, str]) -> dict[str, Any]:
    await record(hub, detection("cam-a", type="intrusion"))
    async with asyncio.timeout(5):
        while True:
            r = await hub.client.get("/api/cases", headers=op)
            items = r.json()["items"]
            if items and items[0]["state"] == "opened":
                case: dict[str, Any] = items[0]
                return case
            await asyncio.sleep(0.02)


async def test_a_worker_hears_only_their_own_cases(hub: RunningHub) -> None:
    op = await hub.auth("operator")
    mine = await _token(hub, "worker")
    theirs = await hub.login("worker2", "worker2-pass-1")
    url = f"{hub.ws_url}/api/ws/field?access_token="
    async with websockets.connect(url + mine) as ws, websockets.connect(url + theirs) as other:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["data"]["username"] == "worker"
        await other.recv()
        case = await _opened_case(hub, op)
        r = await hub.client.post(
            f"/api/cases/{case['id']}/actions",
            json={"action": "dispatch", "version": case["version"], "assignee": "worker"},
            headers=op,
        )
        assert r.status_code == 200, r.text
        got = await _messages(ws, 1.0)
        # Not the detection, not the case while it was the center's, no camera health.
        assert [(m["type"], m["data"]["action"]) for m in got] == [("case", "dispatch")]
        assert got[0]["data"]["case"]["assignee"] == "worker"
        assert await _messages(other, 0.3) == []


@pytest.mark.parametrize("role", ["operator", "admin", "device"])
async def test_the_field_socket_is_for_workers(hub: RunningHub, role: str) -> None:
    async with websockets.connect(
        f"{hub.ws_url}/api/ws/field?access_token={await _token(hub, role)}"
    ) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 4403


async def test_the_wall_socket_stays_closed_to_workers(hub: RunningHub) -> None:
    async with websockets.connect(
        f"{hub.ws_url}/api/ws?access_token={await _token(hub, 'worker')}"
    ) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 4403
