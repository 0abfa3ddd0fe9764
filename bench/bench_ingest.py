"""MQTT ingest throughput: messages per second one ingest process validates, stores (SQLite),
publishes on the bus and evaluates alarm rules on (4 rules per device), as a ratio of
``mosquitto_sub`` receiving the same stream from the same broker in the same round.

Method (both sides alike): a persistent QoS 1 session subscribes and disconnects; N messages from
several devices are published into the broker; then the consumer reconnects and the time to drain
all N is measured (for the hub: until every reading is stored, acked and evaluated by the rule
engine). Draining a backlog measures what the consumer can take, not how fast publishers push.
Rounds alternate the two consumers on a fresh session each; the medians are printed, because the
machine is shared and noisy.

The broker ties each client id to its username (``use_username_as_clientid``), so every
connection logs in with its own account: the ingest as the hub (``hub``, its session is the hub's),
the publisher and ``mosquitto_sub`` with service accounts of their own (``bench-pub``,
``bench-sub``; the baseline's persistent session is keyed by its account).

    .venv/bin/python bench/bench_ingest.py [--messages 60000] [--devices 20] [--rounds 3]
        [--prefill ROWS]   # start each round's database with ROWS of older raw telemetry
        [--postgres postgresql+asyncpg://postgres@127.0.0.1/postgres]   # store in PostgreSQL:
                           # a private database per round, created there and dropped after
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
from gauge_site import gauge, gauge_site
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from hub.bus.contracts import DEVICE_TELEMETRY
from hub.bus.memory import MemoryBus
from hub.config import Settings
from hub.devices import mqtt_wire as wire
from hub.devices.broker import EmbeddedBroker
from hub.devices.mqtt import Endpoint
from hub.devices.service import DeviceService
from hub.devices.validate import MAX_TS_AHEAD
from hub.store.bulk import sqlite_statements
from hub.store.db import open_store

PASSWORD = "bench-hub-password"
HUB_USER = "hub"
PUB_USER, PUB_PASSWORD = "bench-pub", "bench-pub-password"
SUB_USER, SUB_PASSWORD = "bench-sub", "bench-sub-password"
TS_STEP = 1e-4
"""Seconds between consecutive messages' ``ts``, from the publish start: must stay within the
ingest's window (``MAX_TS_AHEAD``), or the bench would measure dead-lettering."""
TOPIC = "hub/v1/devices/+/telemetry"
WINDOW = 5_000
"""Unacknowledged publishes in flight: Mosquitto's default receive maximum is 65,535."""

# Evaluated on every reading, never raised: the bench measures evaluation, not alarm writes.
GAUGE = gauge(critical=9.95, warning=9.92, rise=1.0e9)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def publish_all(port: int, devices: list[str], total: int) -> float:
    """Publish ``total`` QoS 1 messages round-robin over the devices on one connection (the
    hub's packet code, pipelined) as the ``bench-pub`` service account; returns messages/s once
    the broker has acked them all."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    acked = 0
    got_ack = asyncio.Event()

    def control(kind: int, _flags: int, _body: bytes) -> None:
        nonlocal acked
        if kind == wire.PUBACK:
            acked += 1
            got_ack.set()
        elif kind == wire.CONNACK:
            got_ack.set()

    parser = wire.Reader(lambda _m: None, control, v5=True, gen=0)

    async def read() -> None:
        while data := await reader.read(1 << 16):
            parser.feed(data)

    reading = asyncio.create_task(read())
    writer.write(
        wire.connect(
            PUB_USER,  # the broker uses the username as client id anyway
            username=PUB_USER,
            password=PUB_PASSWORD,
            keepalive=60,
            will=wire.Will("bench/pub", b"gone", retain=False),
            v5=True,
            session_expiry=0,
            receive_maximum=100,
        )
    )
    await asyncio.wait_for(got_ack.wait(), 5)
    t0 = time.perf_counter()
    now = time.time()
    chunk: list[bytes] = []
    for i in range(total):
        d = devices[i % len(devices)]
        payload = orjson.dumps(
            {
                "ts": now + i * TS_STEP,
                "seq": i // len(devices),
                "values": {"level": (i % 100) / 10, "battery": 87.5},
            }
        )
        topic = f"hub/v1/devices/{d}/telemetry"
        chunk.append(wire.publish(topic, payload, mid=i % 65_535 + 1, qos=1, retain=False, v5=True))
        if len(chunk) == 500:
            writer.write(b"".join(chunk))
            chunk = []
            while i + 1 - acked > WINDOW:
                got_ack.clear()
                await got_ack.wait()
    writer.write(b"".join(chunk))
    while acked < total:
        got_ack.clear()
        await asyncio.wait_for(got_ack.wait(), 30)
    rate = total / (time.perf_counter() - t0)
    writer.write(wire.DISCONNECT_PACKET)
    writer.close()
    reading.cancel()
    return rate


def mosquitto_sub(port: int, total: int | None) -> float:
    """Create the persistent session (total None) or drain ``total`` messages; returns seconds.
    The session is the ``bench-sub`` account's (client id = username)."""
    args = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-u", SUB_USER, "-P", SUB_PASSWORD,
            "-V", "5", "-x", "3600", "-c", "-i", SUB_USER, "-q", "1", "-t", TOPIC]  # fmt: skip
    if total is None:
        subprocess.run([*args, "-E"], stdout=subprocess.DEVNULL, check=True, timeout=30)
        return 0.0
    t0 = time.perf_counter()
    subprocess.run([*args, "-C", str(total)], stdout=subprocess.DEVNULL, check=True, timeout=300)
    return time.perf_counter() - t0


def end_session(port: int, username: str, password: str) -> None:
    """Connect with a clean start: the broker drops the account's session (client id =
    username), which otherwise goes on queueing every later round's messages."""
    args = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-u", username, "-P", password,
            "-V", "5", "-i", username, "-t", "bench/none", "-E"]  # fmt: skip
    subprocess.run(args, stdout=subprocess.DEVNULL, check=True, timeout=30)


async def sub_round(broker: EmbeddedBroker, devices: list[str], total: int) -> float:
    await asyncio.to_thread(mosquitto_sub, broker.port, None)
    await publish_all(broker.port, devices, total)
    t = await asyncio.to_thread(mosquitto_sub, broker.port, total)
    await asyncio.to_thread(end_session, broker.port, SUB_USER, SUB_PASSWORD)
    return total / t


def prefill(path: Path, devices: list[str], rows: int) -> None:
    """``rows`` of raw telemetry from the past week, as a running site accumulates (the two
    indexes then no longer fit a fresh database's cache)."""
    conn = sqlite3.connect(path, isolation_level=None)
    start = time.time() - 7 * 86_400
    step = 7 * 86_400 / max(rows, 1)
    cols = ("device_id", "key", "ts", "seq", "value", "text")
    conn.execute("BEGIN")
    for i in range(0, rows, 100_000):
        chunk = [
            (devices[j % len(devices)], ("level", "battery")[j % 2], start + j * step, j, 1.0, None)
            for j in range(i, min(rows, i + 100_000))
        ]
        for sql, params in sqlite_statements("telemetry", cols, chunk):
            conn.execute(sql, params)
    conn.execute("COMMIT")
    conn.close()


@contextlib.asynccontextmanager
async def round_db(tmp: Path, r: int, postgres: str | None) -> AsyncIterator[str]:
    if postgres is None:
        yield f"sqlite+aiosqlite:///{tmp / f'hub-{r}.db'}"
        return
    name = f"hub_bench_{secrets.token_hex(4)}"
    admin = create_async_engine(postgres, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def ingest_round(
    broker: EmbeddedBroker,
    tmp: Path,
    devices: list[str],
    total: int,
    r: int,
    prefilled: int = 0,
    postgres: str | None = None,
) -> tuple[float, float, int]:
    async with round_db(tmp, r, postgres) as url:
        return await _ingest_round(broker, tmp, devices, total, r, url, prefilled)


async def _ingest_round(
    broker: EmbeddedBroker,
    tmp: Path,
    devices: list[str],
    total: int,
    r: int,
    url: str,
    prefilled: int,
) -> tuple[float, float, int]:
    """(messages/s, process CPU seconds per message, bus messages) of one drain."""
    site = gauge_site(GAUGE, devices, [])
    store = await open_store(url)
    if prefilled and url.startswith("sqlite"):
        await asyncio.to_thread(prefill, tmp / f"hub-{r}.db", devices, prefilled)
    bus = MemoryBus(queue_size=total + 10)
    batches = bus.subscribe(DEVICE_TELEMETRY)
    # Client id and share group derived from the password, as in production; the broker keys
    # the session by the username (hub) whatever the client id.
    ep = Endpoint(f"mqtt://127.0.0.1:{broker.port}", HUB_USER, PASSWORD, shared=True)

    async def run_service() -> DeviceService:
        svc = DeviceService(Settings(data_dir=tmp), site, store, bus, endpoint=ep)
        await svc.start()
        assert svc.link is not None
        await asyncio.to_thread(svc.link.connected.wait, 10)
        return svc

    svc = await run_service()  # creates the persistent session and its subscription
    await asyncio.sleep(0.3)
    await svc.stop()
    await publish_all(broker.port, devices, total)
    t0, cpu0 = time.perf_counter(), time.process_time()
    svc = await run_service()
    assert svc.worker is not None
    while svc.worker.accepted < total or svc.rules.evaluated < total:
        if svc.worker.rejected:  # would never reach ``total``: fail instead of hanging
            raise RuntimeError(f"ingest dead-lettered messages: {dict(svc.worker.rejected)}")
        await asyncio.sleep(0.005)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    rows = await svc.repo.count_telemetry()
    await svc.stop()
    await store.close()
    await asyncio.to_thread(end_session, broker.port, HUB_USER, PASSWORD)
    assert rows == 2 * total + prefilled, rows
    return total / elapsed, cpu / total, batches.queue.qsize()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=60_000)
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prefill", type=int, default=0, help="older telemetry rows per round's DB")
    ap.add_argument("--postgres", help="PostgreSQL admin URL: store there instead of SQLite")
    a = ap.parse_args()
    if not shutil.which("mosquitto_sub"):
        sys.exit("mosquitto_sub is not installed")
    if a.messages * TS_STEP > MAX_TS_AHEAD / 2:
        sys.exit(f"--messages {a.messages}: the last ts would be too far ahead for the ingest")
    devices = [f"dev-{i:04d}" for i in range(a.devices)]
    subs: list[float] = []
    hubs: list[tuple[float, float, int]] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        settings = Settings(
            data_dir=tmp / "broker", mqtt_embedded_port=free_port(), mqtt_password=PASSWORD
        )
        # Load comes from a service account, so no gate; the ingest subscribes through $share
        # as with the embedded broker in production.
        broker = EmbeddedBroker(settings, prefer="mosquitto", gate_devices=False)
        await broker.start()
        try:
            assert broker.accounts is not None
            await broker.accounts.add_service_account(PUB_USER, PUB_PASSWORD)
            await broker.accounts.add_service_account(SUB_USER, SUB_PASSWORD)
            for r in range(a.rounds):
                subs.append(await sub_round(broker, devices, a.messages))
                hubs.append(
                    await ingest_round(broker, tmp, devices, a.messages, r, a.prefill, a.postgres)
                )
                print(f"round {r + 1}: mosquitto_sub {subs[-1]:7.0f} msg/s, hub ingest "
                      f"{hubs[-1][0]:7.0f} msg/s, ratio {hubs[-1][0] / subs[-1]:.2f}, "
                      f"{hubs[-1][1] * 1e6:.1f} µs CPU/msg", flush=True)  # fmt: skip
        finally:
            await broker.stop()
    sub_rate = statistics.median(subs)
    ing_rate = statistics.median(h[0] for h in hubs)
    ratio = statistics.median(h[0] / s for h, s in zip(hubs, subs, strict=True))
    print(f"messages: {a.messages} per round from {a.devices} devices, 2 values each, QoS 1")
    print(f"store: {'PostgreSQL' if a.postgres else 'SQLite'}")
    if a.prefill and not a.postgres:
        print(f"each round's database started with {a.prefill:,} older telemetry rows")
    print(f"mosquitto_sub drain (baseline), median: {sub_rate:9.0f} msg/s")
    print(f"hub ingest drain (validate+store+bus+rules), median: {ing_rate:6.0f} msg/s")
    print(f"ratio ingest / mosquitto_sub, median of rounds: {ratio:5.2f}")
    print(
        f"hub process CPU per message, median: {statistics.median(h[1] for h in hubs) * 1e6:.1f} µs"
    )
    print(f"target 30,000 msg/s per ingest process: {'met' if ing_rate >= 30_000 else 'NOT met'}")
    print(f"bus messages per drain (one per ingest batch): {hubs[-1][2]}")


if __name__ == "__main__":
    asyncio.run(main())
