"""MQTT ingest as separate processes (``hub serve --role devices``): readings per second one and
two ingest processes drain from one Mosquitto through ``$share``, storing into PostgreSQL and
publishing on a Redis bus, as a ratio of ``mosquitto_sub`` draining the same backlog from the
same broker in the same round; and the ratio of two processes to one.

Method: the ingest processes start, connect and subscribe, and are then stopped (SIGSTOP); N QoS
1 messages from several devices are published into the broker (the broker queues what the
stopped processes' TCP windows and Receive Maximum do not take); the processes are continued
(SIGCONT) and the time until their ``/api/health`` counts every reading accepted (validated,
stored, acked, on the bus) is the drain. The processes' CPU time comes from ``/proc``. The
baseline is bench_ingest.py's: ``mosquitto_sub`` draining the same N from a persistent session.
Rules are not evaluated here (they run where presence is kept, the API node).

    .venv/bin/python bench/bench_ingest_processes.py [--messages 60000] [--devices 20]
        [--rounds 3] [--processes 1,2]
        [--postgres postgresql+asyncpg://postgres@127.0.0.1/postgres]

On this 2-core machine the broker, PostgreSQL, Redis and the ingest processes share two cores:
the two-process figure shows the cost of splitting more than the gain of more machines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from bench_ingest import (
    PUB_PASSWORD,
    PUB_USER,
    SUB_PASSWORD,
    SUB_USER,
    end_session,
    free_port,
    publish_all,
    round_db,
    sub_round,
)

from hub.config import Settings
from hub.devices.broker import EmbeddedBroker
from hub.devices.validate import MAX_TS_AHEAD

PASSWORD = "bench-hub-password"
SITE = """
site: {{name: ingest bench}}
district:
  id: d1
  name: D
  streets:
    - id: s1
      name: S
      communities:
        - id: c1
          name: C
          grids:
            - id: g1
              name: G1
              geometry:
                type: Polygon
                coordinates: [[[120.0, 31.0], [120.1, 31.0], [120.1, 31.1], [120.0, 31.0]]]
device_profiles:
  - {{id: gauge, name: gauge, max_messages_per_minute: 10000000,
     telemetry: [{{key: level, min: 0, max: 10}}, {{key: battery, min: 0, max: 100}}]}}
devices:
{devices}
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_redis(port: int) -> subprocess.Popen[bytes]:
    """A private redis-server without persistence, as the tests run it."""
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return subprocess.Popen(["redis-server", *args], stdout=subprocess.DEVNULL)


class Processes:
    def __init__(self, tmp: Path, env: dict[str, str], accounts: list[str]) -> None:
        self.procs: list[tuple[subprocess.Popen[bytes], int]] = []
        for name in accounts:
            port = free_port()
            log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 (the process's lifetime)
            self.procs.append(
                (
                    subprocess.Popen(
                        [sys.executable, "-m", "hub", "serve", "--role", "devices",
                         "--port", str(port)],
                        env={**env, "HUB_MQTT_USERNAME": name, "HUB_DATA_DIR": str(tmp / name)},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    ),
                    port,
                )
            )  # fmt: skip

    def health(self) -> list[dict[str, object]]:
        out = []
        for proc, port in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"ingest process {proc.pid} exited")
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
                out.append(dict(r.json()) if r.status_code == 200 else {})
            except httpx.HTTPError:
                out.append({})
        return out

    def signal(self, sig: int) -> None:
        for proc, _ in self.procs:
            proc.send_signal(sig)

    def cpu(self) -> float:
        return sum(_cpu_seconds(p.pid) for p, _ in self.procs)

    def stop(self) -> None:
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        for proc, _ in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


async def ingest_round(
    broker: EmbeddedBroker,
    tmp: Path,
    env: dict[str, str],
    devices: list[str],
    total: int,
    n: int,
    tag: str,
    postgres: str,
) -> tuple[float, float, list[int]]:
    """(readings/s, CPU seconds per reading over the processes, readings per process)."""
    assert broker.accounts is not None
    accounts = [f"ingest-{tag}-{i}" for i in range(n)]
    for a in accounts:
        await broker.accounts.add_service_account(a, PASSWORD)
    async with round_db(tmp, 0, postgres) as url:
        procs = Processes(tmp, {**env, "HUB_DATABASE_URL": url}, accounts)
        try:
            deadline = time.monotonic() + 60
            while not all(h.get("connected") for h in await asyncio.to_thread(procs.health)):
                if time.monotonic() > deadline:
                    raise RuntimeError("the ingest processes did not connect")
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)  # SUBACKs
            procs.signal(signal.SIGSTOP)
            await publish_all(broker.port, devices, total)
            t0, cpu0 = time.perf_counter(), procs.cpu()
            procs.signal(signal.SIGCONT)
            while True:
                hs = await asyncio.to_thread(procs.health)
                if sum(int(str(h.get("rejected", 0))) for h in hs):
                    raise RuntimeError(f"ingest dead-lettered messages: {hs}")
                if sum(int(str(h.get("accepted", 0))) for h in hs) >= total:
                    break
                await asyncio.sleep(0.05)
            elapsed, cpu = time.perf_counter() - t0, procs.cpu() - cpu0
            return total / elapsed, cpu / total, [int(str(h["accepted"])) for h in hs]
        finally:
            await asyncio.to_thread(procs.stop)
            # Their sessions hold their share of the group: left behind, the broker would go on
            # handing them a share of the next round's messages, which nobody would read.
            for a in accounts:
                await asyncio.to_thread(end_session, broker.port, a, PASSWORD)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=60_000)
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--processes", default="1,2")
    ap.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1/postgres")
    a = ap.parse_args()
    for tool in ("mosquitto_sub", "redis-server"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (make setup installs it)")
    if a.messages * 1e-4 > MAX_TS_AHEAD / 2:
        sys.exit(f"--messages {a.messages}: the last ts would be too far ahead for the ingest")
    counts = [int(x) for x in a.processes.split(",")]
    devices = [f"dev-{i:04d}" for i in range(a.devices)]
    subs: list[float] = []
    runs: dict[int, list[tuple[float, float, list[int]]]] = {n: [] for n in counts}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        redis_port = free_port()
        redis = _start_redis(redis_port)
        site = tmp / "site.yaml"
        site.write_text(
            SITE.format(
                devices="".join(
                    f"  - {{id: {x}, name: {x}, profile: gauge, grid: g1, "
                    "position: [120.05, 31.01]}\n"
                    for x in devices
                )
            ),
            "utf-8",
        )
        settings = Settings(
            data_dir=tmp / "broker", mqtt_embedded_port=free_port(), mqtt_password=PASSWORD
        )
        broker = EmbeddedBroker(settings, prefer="mosquitto", gate_devices=False)
        await broker.start()
        env = {
            **os.environ,
            "HUB_BUS": "redis",
            "HUB_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "HUB_MQTT_URL": broker.url,
            "HUB_MQTT_PASSWORD": PASSWORD,
            "HUB_SITE": str(site),
            "HUB_LOG_LEVEL": "WARNING",
        }
        try:
            assert broker.accounts is not None
            await broker.accounts.add_service_account(PUB_USER, PUB_PASSWORD)
            await broker.accounts.add_service_account(SUB_USER, SUB_PASSWORD)
            for r in range(a.rounds):
                subs.append(await sub_round(broker, devices, a.messages))
                line = f"round {r + 1}: mosquitto_sub {subs[-1]:7.0f} msg/s"
                for n in counts:
                    env["HUB_BUS_PREFIX"] = f"bench{r}{n}"
                    got = await ingest_round(
                        broker, tmp, env, devices, a.messages, n, f"{r}{n}", a.postgres
                    )
                    runs[n].append(got)
                    line += (
                        f"; {n} process(es) {got[0]:7.0f} msg/s (ratio {got[0] / subs[-1]:.2f},"
                        f" {got[1] * 1e6:.0f} µs CPU/msg, split {got[2]})"
                    )
                print(line, flush=True)
        finally:
            await broker.stop()
            redis.terminate()
            redis.wait(10)
    print(f"messages: {a.messages} per round from {a.devices} devices, 2 values each, QoS 1")
    print("store: PostgreSQL; bus: Redis Streams (private redis-server)")
    print(f"mosquitto_sub drain (baseline), median: {statistics.median(subs):9.0f} msg/s")
    base = statistics.median(x[0] for x in runs[counts[0]])
    for n in counts:
        rate = statistics.median(x[0] for x in runs[n])
        ratio = statistics.median(x[0] / s for x, s in zip(runs[n], subs, strict=True))
        cpu = statistics.median(x[1] for x in runs[n]) * 1e6
        print(
            f"{n} ingest process(es), median: {rate:7.0f} msg/s in all, {rate / n:7.0f} per"
            f" process; ratio to mosquitto_sub {ratio:.2f}; x{rate / base:.2f} of"
            f" {counts[0]}; {cpu:.0f} µs CPU/msg over the processes"
        )


if __name__ == "__main__":
    asyncio.run(main())
