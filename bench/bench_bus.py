"""Bus throughput and latency: the Redis Streams bus against the in-process bus, in the same run.

Each round runs both backends on the same workload: detection events (the hub's commonest
keyed message, about 0.5 KB of JSON) published from one process and consumed by a consumer
group member that acknowledges each message after "handling" it, with a subscriber outside the
group (the wall's WebSocket fan-out) reading every message too.

- throughput: ``--messages`` published by ``--publishers`` concurrent tasks as fast as they go;
  the time from the first publish to the last message acknowledged by the group member (and
  received by the fan-out subscriber). Messages per second.
- latency: ``--rate`` messages per second for ``--seconds``; each carries its publish time, and
  the group member records when it got it. p50 and p99 in milliseconds.

Redis is a private ``redis-server`` this script starts (no persistence, as the tests run it),
or ``--redis-url``. Both ends run in this one process and on one event loop, so the figures
include the client-side cost of both; separate processes (the cluster) split that cost.

    .venv/bin/python bench/bench_bus.py [--messages 20000] [--publishers 8] [--rate 2000]
        [--seconds 5] [--rounds 3] [--redis-url redis://...]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from hub.bus.base import Bus
from hub.bus.contracts import DETECTIONS, Box, DetectionEvent
from hub.bus.memory import MemoryBus
from hub.bus.redis_streams import RedisBus


@contextmanager
def private_redis() -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server is not installed (make setup installs it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            d,
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def _event(i: int) -> DetectionEvent:
    now = datetime.now(UTC)
    return DetectionEvent(
        camera_id=f"cam-{i % 64:03d}",
        grid_id="g-001",
        type="intrusion",
        zone_id="lawn",
        track_id=i,
        start=now,
        media_time=time.time(),  # the publish time, for the latency leg
        confidence=0.87,
        boxes=[Box(x=0.1, y=0.2, w=0.05, h=0.2)],
        snapshot=f"/api/events/{i}/snapshot.jpg",
    )


async def _open(kind: str, url: str) -> Bus:
    bus: Bus
    if kind == "memory":
        bus = MemoryBus(queue_size=1_000_000)
    else:
        bus = RedisBus(url, prefix=f"b{secrets.token_hex(3)}", partitions=8)
    await bus.start()
    return bus


async def throughput(kind: str, url: str, n: int, publishers: int) -> float:
    bus = await _open(kind, url)
    member = bus.subscribe(DETECTIONS, group="store")
    fan = bus.subscribe(DETECTIONS)
    events = [_event(i) for i in range(n)]
    done = asyncio.Event()
    counts = [0, 0]

    async def consume(sub: object, k: int, ack: bool) -> None:
        while True:
            msg = await sub.get()  # type: ignore[attr-defined]
            if ack:
                await sub.ack(msg)  # type: ignore[attr-defined]
            counts[k] += 1
            if counts[0] >= n and counts[1] >= n:
                done.set()

    tasks = [
        asyncio.create_task(consume(member, 0, True)),
        asyncio.create_task(consume(fan, 1, False)),
    ]

    async def publish(part: list[DetectionEvent]) -> None:
        for ev in part:
            await bus.publish(DETECTIONS, ev)

    t0 = time.perf_counter()
    await asyncio.gather(*(publish(events[i::publishers]) for i in range(publishers)))
    await asyncio.wait_for(done.wait(), 300)
    elapsed = time.perf_counter() - t0
    for t in tasks:
        t.cancel()
    await bus.close()
    return n / elapsed


async def latency(kind: str, url: str, rate: int, seconds: float) -> tuple[float, float]:
    bus = await _open(kind, url)
    member = bus.subscribe(DETECTIONS, group="store")
    lat: list[float] = []
    n = int(rate * seconds)

    async def consume() -> None:
        while True:
            msg = await member.get()
            lat.append(time.time() - msg.data.media_time)
            await member.ack(msg)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    start = time.perf_counter()
    for i in range(n):
        # Paced from the start, so a slow publish does not lower the offered rate.
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await bus.publish(DETECTIONS, _event(i))
    deadline = time.monotonic() + 30
    while len(lat) < n and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    task.cancel()
    await bus.close()
    lat.sort()
    return lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--publishers", type=int, default=8)
    ap.add_argument("--rate", type=int, default=2_000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--redis-url", default="")
    args = ap.parse_args()

    def run(url: str) -> None:
        tp: dict[str, list[float]] = {"memory": [], "redis": []}
        p50: dict[str, list[float]] = {"memory": [], "redis": []}
        p99: dict[str, list[float]] = {"memory": [], "redis": []}
        for r in range(args.rounds):
            for kind in ("memory", "redis"):
                tp[kind].append(asyncio.run(throughput(kind, url, args.messages, args.publishers)))
                a, b = asyncio.run(latency(kind, url, args.rate, args.seconds))
                p50[kind].append(a)
                p99[kind].append(b)
                print(
                    f"round {r + 1} {kind:6}: {tp[kind][-1]:9.0f} msg/s   "
                    f"latency p50 {a:6.2f} ms  p99 {b:6.2f} ms at {args.rate} msg/s"
                )
        med = {k: statistics.median(v) for k, v in tp.items()}
        print(
            f"\nthroughput (median of {args.rounds}; publish -> group member ack + fan-out "
            f"subscriber, {args.publishers} publishers): memory {med['memory']:.0f} msg/s, "
            f"redis {med['redis']:.0f} msg/s, redis/memory = {med['redis'] / med['memory']:.3f}"
        )
        for k in ("memory", "redis"):
            print(
                f"latency {k:6} at {args.rate} msg/s: p50 {statistics.median(p50[k]):.2f} ms, "
                f"p99 {statistics.median(p99[k]):.2f} ms"
            )

    if args.redis_url:
        run(args.redis_url)
    else:
        with private_redis() as url:
            run(url)


if __name__ == "__main__":
    main()
