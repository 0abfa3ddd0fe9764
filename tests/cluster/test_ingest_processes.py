"""MQTT ingest as separate processes (``hub serve --role devices``) on one Mosquitto through
``$share``, storing into PostgreSQL and publishing on Redis: both take a share; kill -9 one
during a 10,000-message QoS 1 stream, start it again (a supervisor's job), and every message is
stored and on the bus."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis_server
from one_grid import ONE_GRID_SITE
from pg_cluster import private_postgres
from processes import health, stop_all
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from hub.bus.contracts import DEVICE_TELEMETRY
from hub.bus.redis_streams import RedisBus

# ingest_helpers imports its neighbours by bare name, as the device tests do.
sys.path.insert(0, str(Path(__file__).parent.parent / "devices"))
from broker_fixtures import HUB_PASSWORD, RunningBroker, start_test_broker
from ingest_helpers import Publisher, wait_for

DEVICES = [f"dev-{i}" for i in range(4)]
PER_DEVICE = 2_500
TOTAL = len(DEVICES) * PER_DEVICE
DEVICES_YAML = """
device_profiles:
  - {id: gauge, name: gauge, max_messages_per_minute: 1000000,
     telemetry: [{key: level, min: 0, max: 10}]}
devices:
""" + "".join(
    f"  - {{id: {d}, name: {d}, profile: gauge, grid: g1, position: [121.05, 31.01]}}\n"
    for d in DEVICES
)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class IngestProcesses:
    def __init__(self, tmp: Path, broker: RunningBroker, redis_url: str, db_url: str) -> None:
        self.site = tmp / "site.yaml"
        self.site.write_text(ONE_GRID_SITE.format(cameras="  []") + DEVICES_YAML, "utf-8")
        self.tmp = tmp
        self.env = {
            **os.environ,
            "HUB_BUS": "redis",
            "HUB_REDIS_URL": redis_url,
            "HUB_BUS_PREFIX": "ingest",
            "HUB_DATABASE_URL": db_url,
            "HUB_MQTT_URL": broker.url,
            "HUB_MQTT_PASSWORD": HUB_PASSWORD,
            "HUB_LOG_JSON": "false",
        }
        self.procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}

    def start(self, account: str) -> None:
        port = _port()
        log = open(self.tmp / f"{account}.log", "ab")  # noqa: SIM115 (the process's lifetime)
        args = ["serve", "--role", "devices", "--port", str(port), "--site", str(self.site)]
        env = {**self.env, "HUB_MQTT_USERNAME": account, "HUB_DATA_DIR": str(self.tmp / account)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub", *args], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        self.procs[account] = (proc, port)

    def health(self, account: str) -> dict[str, Any] | None:
        return health(self.procs[account])

    def connected(self, account: str) -> bool:
        h = self.health(account)
        return h is not None and bool(h["connected"])

    def kill(self, account: str) -> None:
        proc, _ = self.procs[account]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        stop_all(self.procs.values())


async def _until(cond: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(cond):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.2)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[IngestProcesses, RunningBroker, str, str]]:
    server = redis_server.RedisServer()
    broker = await start_test_broker(tmp_path / "broker")
    try:
        async with private_postgres() as db_url:
            procs = IngestProcesses(tmp_path, broker, server.url, db_url)
            try:
                yield procs, broker, server.url, db_url
            finally:
                await asyncio.to_thread(procs.stop)
    finally:
        await broker.stop()
        server.stop()


@pytest.mark.slow
@pytest.mark.integration
async def test_a_killed_ingest_process_loses_nothing(
    rig: tuple[IngestProcesses, RunningBroker, str, str],
) -> None:
    procs, broker, redis_url, db_url = rig
    for account in ("ingest-a", "ingest-b"):
        await broker.service_account(account, HUB_PASSWORD)
    creds = {d: (await broker.provision(d)).password for d in DEVICES}
    watch = RedisBus(redis_url, prefix="ingest")
    await watch.start()
    on_bus: set[tuple[str, int | None]] = set()
    readings = watch.subscribe(DEVICE_TELEMETRY)

    async def follow() -> None:
        while True:
            msg = await readings.get()
            on_bus.update((r.device_id, r.seq) for r in msg.data.readings)

    follower = asyncio.create_task(follow())
    engine = create_async_engine(db_url)
    pubs: list[Publisher] = []
    try:
        procs.start("ingest-a")
        procs.start("ingest-b")
        for account in ("ingest-a", "ingest-b"):
            await _until(lambda a=account: procs.connected(a), 60, f"{account} connects")
        await asyncio.sleep(0.5)  # both SUBACKs in

        pubs = [Publisher(broker, d, creds[d]) for d in DEVICES]
        streams = [asyncio.ensure_future(asyncio.to_thread(p.stream, 1, PER_DEVICE)) for p in pubs]
        await _until(lambda: sum(p.acked for p in pubs) >= 3_000, 60, "3,000 messages out")
        shares = {a: procs.health(a) for a in ("ingest-a", "ingest-b")}
        procs.kill("ingest-a")
        killed_at = sum(p.acked for p in pubs)
        await asyncio.sleep(1.0)  # the stream goes on; a's share waits in its session
        procs.start("ingest-a")
        await asyncio.gather(*streams)
        for p in pubs:
            assert await asyncio.to_thread(p.wait_acked, 60)

        async def stored() -> tuple[int, int]:
            async with engine.connect() as conn:
                row = (
                    await conn.execute(
                        text(
                            "SELECT count(DISTINCT (device_id, seq)), count(*) FROM telemetry"
                            " WHERE key = 'level'"
                        )
                    )
                ).one()
            return int(row[0]), int(row[1])

        async def all_stored() -> bool:
            return (await stored())[0] >= TOTAL

        with contextlib.suppress(AssertionError):
            await wait_for(all_stored, 60)
        distinct, rows = await stored()
        assert distinct == TOTAL, f"stored {distinct} of {TOTAL}"
        with contextlib.suppress(AssertionError):
            await wait_for(lambda: len(on_bus) >= TOTAL, 20)
        assert on_bus == {(d, s) for d in DEVICES for s in range(1, PER_DEVICE + 1)}
        # Both took a share before the kill, and the stream was really cut mid-way.
        assert all(h is not None and h["accepted"] > 0 for h in shares.values()), shares
        assert killed_at < TOTAL
        after = procs.health("ingest-a")
        assert after is not None and after["accepted"] > 0  # the restarted a took its share
        # Duplicates: what a had stored but not acked when it died, redelivered to it.
        print(f"killed at {killed_at} acked; a after restart {after['accepted']} readings;"
              f" {rows - distinct} duplicate rows")  # fmt: skip
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        for p in pubs:
            await asyncio.to_thread(p.close)
        await watch.close()
        await engine.dispose()
