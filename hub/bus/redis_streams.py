"""The bus on Redis Streams: for several hub processes on one or many machines.

Layout in Redis (``prefix`` is ``hub`` unless set):
- ``{prefix}:{topic}:{p}``: a stream per partition ``p`` of a topic (keyed topics have
  ``partitions`` of them, the others one), trimmed to about ``topic.retain`` entries (MAXLEN ~).
- Consumer groups on those streams. Each group's live members are a sorted set
  ``{prefix}:members:{topic}:{group}`` (heartbeats); member ``i`` of ``M`` reads the partitions
  ``p`` with ``p % M == i``, so one key's messages go to one member while the group is stable.
- ``{prefix}:dead:{topic}``: messages no member could handle (``MAX_DELIVERIES`` deliveries
  without an ack, or not decodable), kept for inspection.

A member acks a message after its work is committed. What a member took and never acked goes to
another: when the member stops heartbeating (a dead process: its partitions' new owner claims
its pending entries with XCLAIM), and, as a safety net, when an entry has been pending longer
than ``stuck_seconds`` (XAUTOCLAIM: a member that lives but is stuck).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

import redis.asyncio as aioredis
from prometheus_client import Counter, Gauge
from pydantic import BaseModel, ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hub.bus.base import Message
from hub.bus.contracts import Topic
from hub.bus.members import beat

log = logging.getLogger(__name__)

P = TypeVar("P", bound=BaseModel)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)

BATCH = 200
"""Entries one read takes."""
BLOCK_MS = 1000
"""How long one read waits for entries: also how often a member looks at its group."""
HEARTBEAT_SECONDS = 2.0
RECLAIM_SECONDS = 2.0
"""How often a member looks for entries to claim on its partitions."""
MAX_DELIVERIES = 5
"""A message delivered this often without an ack is dead-lettered, not tried again."""
OUTBOX_MAX = 100_000
"""Messages held while Redis cannot be reached; beyond, new ones are dropped and counted."""
DEAD_RETAIN = 1_000
MIN_IDLE_MS = 500
"""A dead member's entry is claimed once it has been pending this long (it is not in flight)."""

PUBLISHED = Counter("hub_bus_published_total", "Messages put on the Redis bus", ["topic"])
DELIVERED = Counter(
    "hub_bus_delivered_total", "Redis bus messages handed to consumers", ["topic", "group"]
)
RECLAIMED = Counter(
    "hub_bus_reclaimed_total",
    "Pending Redis bus messages taken over from a dead or stuck group member",
    ["topic", "group"],
)
DEAD_LETTERS = Counter(
    "hub_bus_dead_letters_total",
    "Redis bus messages set aside (too many deliveries, or undecodable)",
    ["topic", "reason"],
)
ERRORS = Counter("hub_bus_errors_total", "Failed Redis bus operations (retried)", ["op"])
OUTBOX = Gauge("hub_bus_outbox", "Messages waiting for Redis to come back")
OUTBOX_DROPPED = Counter(
    "hub_bus_outbox_dropped_total", "Messages dropped because the outbox was full"
)


def _unless_cancelled() -> None:
    """Re-raise a cancellation that redis-py swallowed or turned into a connection error (it
    disconnects on cancel): a retry loop that missed it would never end."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def seq_of(entry_id: bytes | str) -> int:
    """An entry id (``ms-n``) as one increasing number (per stream)."""
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, n = raw.partition("-")
    return int(ms) * 1_000_000 + int(n or 0)


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


class RedisBus:
    """The bus on one Redis server (or a Redis-compatible one with Streams)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "hub",
        partitions: int = 8,
        member_ttl: float = 10.0,
        stuck_seconds: float = 300.0,
    ) -> None:
        self.prefix = prefix
        self.partitions = partitions
        self.member_ttl = member_ttl
        self.stuck_seconds = stuck_seconds
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        """This bus's name as a group member (unique per process and start)."""
        # Any: redis-py types each reply as the union of what RESP2 and RESP3 could give; this
        # client speaks RESP2 with bytes, and the code below reads the replies as such.
        self.redis: Any = aioredis.Redis.from_url(
            url, socket_timeout=BLOCK_MS / 1000 + 10, socket_connect_timeout=5
        )
        self._setups: set[asyncio.Task[None]] = set()
        self._subs: set[_Subscription[Any]] = set()
        self._groups: set[_GroupSubscription[Any]] = set()
        self._outbox: deque[tuple[str, int, bytes]] = deque()
        self._queued: list[tuple[str, list[tuple[str, int, bytes]], asyncio.Future[int]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None

    # -- names ------------------------------------------------------------------------------

    def count(self, topic: Topic[Any]) -> int:
        return self.partitions if topic.keyed else 1

    def stream(self, topic: Topic[Any], p: int) -> str:
        return f"{self.prefix}:{topic.name}:{p}"

    def streams(self, topic: Topic[Any]) -> list[str]:
        return [self.stream(topic, p) for p in range(self.count(topic))]

    # -- life -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Check that every process agrees on the partitions, and start heartbeating."""
        key = f"{self.prefix}:partitions"
        await self.redis.set(key, self.partitions, nx=True)
        there = int(await self.redis.get(key) or 0)
        if there != self.partitions:
            raise ValueError(
                f"the bus in Redis has {there} partitions per keyed topic, this process "
                f"{self.partitions} (HUB_BUS_PARTITIONS must be the same in every process)"
            )
        self._heartbeat = asyncio.create_task(self._beat(), name="bus-heartbeat")

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.wait({self._writer}, timeout=5.0)  # publishes under way go out
        tasks = [t for t in (self._heartbeat, self._flusher, self._writer) if t is not None]
        for t in [*tasks, *self._setups]:
            t.cancel()
        await asyncio.gather(*tasks, *self._setups, return_exceptions=True)
        for sub in list(self._subs):
            await sub.close()  # group members leave their groups here
        if self._outbox:
            log.warning("bus closing with %d messages Redis never took", len(self._outbox))
        await self.redis.aclose()

    # -- publishing -------------------------------------------------------------------------

    async def publish(self, topic: Topic[P], payload: P) -> int:
        raw = topic.encode(payload)  # refuses another payload type, before anything else
        if self._setups:
            # Subscriptions this process made before publishing must see the message.
            await asyncio.wait(self._setups, timeout=1.0)
        parts = topic.route(payload, self.count(topic))
        entries = [
            (self.stream(topic, p), topic.retain, raw if part is payload else topic.encode(part))
            for p, part in parts
        ]
        if self._outbox:
            self._hold(entries)  # behind what is already waiting: the order stays
            return 0
        # Publishes under way at once go to Redis together, in one pipeline (in order).
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queued.append((topic.name, entries, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="bus-publish")
        return await asyncio.shield(done)

    async def _write(self) -> None:
        while self._queued:
            batch = list(self._queued)
            self._queued.clear()
            if self._outbox:  # an earlier batch is waiting for Redis: queue behind it
                for _, entries, done in batch:
                    self._hold(entries)
                    if not done.done():
                        done.set_result(0)
                continue
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for _, entries, _ in batch:
                        for key, retain, data in entries:
                            pipe.xadd(key, {"d": data}, maxlen=retain, approximate=True)
                    ids = iter(await pipe.execute())
            except UNREACHABLE as exc:
                _unless_cancelled()
                # Part of the pipeline may have reached Redis before the connection broke:
                # sent again, those arrive twice (delivery is at least once; handlers tolerate
                # a repeat).
                ERRORS.labels("publish").inc()
                log.warning("Redis unreachable (%s): holding messages until it is back", exc)
                for _, entries, done in batch:
                    self._hold(entries)
                    if not done.done():
                        done.set_result(0)
                continue
            except Exception as exc:  # Redis refused (a wrong key type, out of memory)
                ERRORS.labels("publish").inc()
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for name, entries, done in batch:
                last = b"0-0"
                for _ in entries:
                    last = next(ids)
                PUBLISHED.labels(name).inc(len(entries))
                if not done.done():
                    done.set_result(seq_of(last))

    def _hold(self, entries: list[tuple[str, int, bytes]]) -> None:
        room = OUTBOX_MAX - len(self._outbox)
        if room < len(entries):
            OUTBOX_DROPPED.inc(len(entries) - max(room, 0))
            entries = entries[: max(room, 0)]
        self._outbox.extend(entries)
        OUTBOX.set(len(self._outbox))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="bus-outbox")

    async def _flush(self) -> None:
        delay = 0.1
        while self._outbox:
            key, retain, data = self._outbox[0]
            try:
                await self.redis.xadd(key, {"d": data}, maxlen=retain, approximate=True)
            except UNREACHABLE:
                _unless_cancelled()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            except Exception:
                # Refused, not unreachable: trying again would block everything behind it.
                log.exception("Redis refused a held message for %s; dropped", key)
                OUTBOX_DROPPED.inc()
            delay = 0.1
            self._outbox.popleft()
            OUTBOX.set(len(self._outbox))
        log.info("Redis is back: the held messages are published")

    # -- subscribing ------------------------------------------------------------------------

    def subscribe(self, topic: Topic[P], *, group: str | None = None) -> _Subscription[P]:
        sub: _Subscription[P]
        if group is None:
            sub = _FanoutSubscription(self, topic)
        else:
            sub = _GroupSubscription(self, topic, group)
            self._groups.add(sub)
        self._subs.add(sub)
        task = asyncio.create_task(_retrying("subscribe", sub.setup), name="bus-subscribe")
        self._setups.add(task)
        task.add_done_callback(self._setups.discard)
        sub.ready = task
        return sub

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(min(HEARTBEAT_SECONDS, self.member_ttl / 3))
            now = time.time()
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for sub in list(self._groups):
                        pipe.zadd(sub.members_key, {self.consumer: now})
                    await pipe.execute()
            except UNREACHABLE as exc:
                _unless_cancelled()
                ERRORS.labels("heartbeat").inc()
                log.warning("bus heartbeat failed: %s", exc)

    async def dead_letter(
        self, topic: Topic[Any], key: str, entry_id: bytes, data: bytes | None, reason: str
    ) -> None:
        DEAD_LETTERS.labels(topic.name, reason).inc()
        fields: dict[str, Any] = {"stream": key, "id": entry_id, "reason": reason}
        if data is not None:
            fields["d"] = data
        await self.redis.xadd(
            f"{self.prefix}:dead:{topic.name}", fields, maxlen=DEAD_RETAIN, approximate=True
        )


async def _retrying(op: str, fn: Callable[[], Awaitable[None]]) -> None:
    delay = 0.1
    while True:
        try:
            await fn()
            return
        except UNREACHABLE as exc:
            _unless_cancelled()
            ERRORS.labels(op).inc()
            log.warning("Redis unreachable for %s (%s); retry in %.1f s", op, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


class _Subscription(Generic[P]):
    def __init__(self, bus: RedisBus, topic: Topic[P]) -> None:
        self.bus = bus
        self.topic = topic
        self.ready: asyncio.Task[None] | None = None
        self.buf: deque[Message[P]] = deque()
        self.closed = False
        self.invalid = 0
        self._reading: asyncio.Task[None] | None = None

    def __aiter__(self) -> AsyncIterator[Message[P]]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Message[P]]:
        while True:
            yield await self.get()

    async def setup(self) -> None:
        raise NotImplementedError

    async def fill(self) -> None:
        raise NotImplementedError

    async def get(self) -> Message[P]:
        # Reads run in a task of their own that a cancelled get (wait_for) leaves running: a
        # read cancelled halfway would lose what Redis already handed over.
        while not self.buf:
            if self.closed:
                await asyncio.Event().wait()  # closed: nothing more comes (as in memory)
            if self._reading is None or self._reading.done():
                self._reading = asyncio.create_task(
                    self._read(), name=f"bus-read-{self.topic.name}"
                )
            await asyncio.shield(self._reading)
        return self.handed(self.buf.popleft())

    async def _read(self) -> None:
        if self.ready is not None:
            await self.ready
        delay = 0.1
        while not self.buf:
            _unless_cancelled()  # redis-py may swallow a cancel in a blocking read
            if self.closed:
                return
            try:
                await self.fill()
                delay = 0.1
            except (*UNREACHABLE, ResponseError) as exc:
                # Unreachable, or refused (a key of the wrong type): a consumer's loop must
                # not die of it; it retries, slower and slower, and the log says why.
                _unless_cancelled()
                if self.closed:
                    return
                ERRORS.labels("read").inc()
                log.warning(
                    "bus read on %s failed (%s); retry in %.1f s", self.topic.name, exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def handed(self, msg: Message[P]) -> Message[P]:
        return msg

    async def ack(self, msg: Message[P]) -> None:
        return None

    async def close(self) -> None:
        self.closed = True
        self.bus._subs.discard(self)
        tasks = [t for t in (self.ready, self._reading) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def decode(self, key: bytes | str, entry_id: bytes, fields: dict[bytes, bytes]) -> P | None:
        try:
            return self.topic.decode(fields[b"d"])
        except (KeyError, ValidationError, ValueError) as exc:
            self.invalid += 1
            log.error("undecodable entry %s on %s: %s", _text(entry_id), _text(key), exc)
            return None


class _FanoutSubscription(_Subscription[P]):
    """Every message of the topic, from when it subscribed (XREAD)."""

    def __init__(self, bus: RedisBus, topic: Topic[P]) -> None:
        super().__init__(bus, topic)
        self.last: dict[str, bytes | str] = {}

    async def setup(self) -> None:
        async with self.bus.redis.pipeline(transaction=False) as pipe:
            for key in self.bus.streams(self.topic):
                pipe.xrevrange(key, count=1)
            tails = await pipe.execute()
        for key, tail in zip(self.bus.streams(self.topic), tails, strict=True):
            self.last[key] = tail[0][0] if tail else "0-0"

    async def fill(self) -> None:
        got = await self.bus.redis.xread(self.last, count=BATCH, block=BLOCK_MS)
        for key, entries in got or ():
            k = _text(key)
            for entry_id, fields in entries:
                self.last[k] = entry_id
                data = self.decode(k, entry_id, fields)
                if data is not None:
                    self.buf.append(Message(self.topic.name, seq_of(entry_id), data))


class _GroupSubscription(_Subscription[P]):
    """One member of a consumer group (XREADGROUP), reading the partitions it owns."""

    def __init__(self, bus: RedisBus, topic: Topic[P], group: str) -> None:
        super().__init__(bus, topic)
        self.group = group
        self.members_key = f"{bus.prefix}:members:{topic.name}:{group}"
        self.owned: list[str] = []
        self.live: set[str] = set()
        self.held: set[tuple[str, bytes]] = set()
        """(stream, id) of the entries in the buffer: not claimed again while they wait here.
        (An id alone is not enough: the streams of two partitions give out the same ids.)"""
        self._next_balance = 0.0
        self._next_reclaim = 0.0
        self._acks: dict[str, list[str]] = {}
        self._acking: asyncio.Task[None] | None = None

    @property
    def me(self) -> str:
        return self.bus.consumer

    async def setup(self) -> None:
        r = self.bus.redis
        for key in self.bus.streams(self.topic):
            try:
                await r.xgroup_create(key, self.group, id="$", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise  # the group exists: it goes on where it was
        await r.zadd(self.members_key, {self.me: time.time()})

    async def balance(self) -> None:
        members = await beat(self.bus.redis, self.members_key, self.me, self.bus.member_ttl)
        self.live = set(members)
        i, n = members.index(self.me), len(members)
        streams = self.bus.streams(self.topic)
        owned = [k for p, k in enumerate(streams) if p % n == i]
        if owned != self.owned:
            log.info(
                "bus %s/%s: member %d of %d, partitions %s",
                self.topic.name,
                self.group,
                i + 1,
                n,
                [streams.index(k) for k in owned],
            )
        self.owned = owned

    def handed(self, msg: Message[P]) -> Message[P]:
        if msg.receipt is not None:
            self.held.discard((msg.receipt[0], msg.receipt[1].encode()))
        return msg

    async def fill(self) -> None:
        if self.closed:
            await asyncio.sleep(BLOCK_MS / 1000)  # a closed member receives nothing more
            return
        now = time.monotonic()
        try:
            if now >= self._next_balance:
                await self.balance()
                self._next_balance = now + BLOCK_MS / 1000
            if now >= self._next_reclaim:
                self._next_reclaim = now + RECLAIM_SECONDS
                for key in self.owned:
                    await self.reclaim(key)
            if self.buf:
                return
            if not self.owned:
                await asyncio.sleep(BLOCK_MS / 1000)
                return
            got = await self.bus.redis.xreadgroup(
                self.group, self.me, dict.fromkeys(self.owned, ">"), count=BATCH, block=BLOCK_MS
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis lost its data (a restart without persistence): make the groups again.
            log.warning(
                "bus %s/%s: the group is gone from Redis; recreating", self.topic.name, self.group
            )
            await self.setup()
            return
        for key, entries in got or ():
            await self.take(_text(key), entries)

    async def take(self, key: str, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        for entry_id, fields in entries:
            if not fields:
                continue  # trimmed away while pending: its content is gone
            if (key, entry_id) in self.held:
                continue
            data = self.decode(key, entry_id, fields)
            if data is None:
                await self.bus.dead_letter(self.topic, key, entry_id, fields.get(b"d"), "invalid")
                await self.bus.redis.xack(key, self.group, entry_id)
                continue
            self.held.add((key, entry_id))
            self.buf.append(
                Message(self.topic.name, seq_of(entry_id), data, receipt=(key, _text(entry_id)))
            )
            DELIVERED.labels(self.topic.name, self.group).inc()

    async def reclaim(self, key: str) -> None:
        """Take over what dead members left pending on ``key``; the stuck ones too."""
        r = self.bus.redis
        pending = await r.xpending_range(key, self.group, "-", "+", BATCH, idle=MIN_IDLE_MS)
        claim: list[bytes] = []
        stuck_ms = self.bus.stuck_seconds * 1000
        for e in pending:
            gone = _text(e["consumer"]) not in self.live
            if not gone and e["time_since_delivered"] < stuck_ms:
                continue  # in a live member's hands
            entry_id = e["message_id"]
            if e["times_delivered"] >= MAX_DELIVERIES:
                got = await r.xrange(key, entry_id, entry_id)
                data = got[0][1].get(b"d") if got else None
                await self.bus.dead_letter(self.topic, key, entry_id, data, "deliveries")
                await r.xack(key, self.group, entry_id)
                log.error(
                    "bus %s: %s delivered %d times, set aside",
                    key,
                    _text(entry_id),
                    e["times_delivered"],
                )
                continue
            if gone:
                claim.append(entry_id)
        if claim:
            got = await r.xclaim(key, self.group, self.me, MIN_IDLE_MS, claim)
            RECLAIMED.labels(self.topic.name, self.group).inc(len(got))
            log.info("bus %s/%s: took over %d pending messages", key, self.group, len(got))
            await self.take(key, got)
        # A live member stuck on its entries this long is as good as dead for them.
        _, stuck, _ = await r.xautoclaim(
            key, self.group, self.me, int(self.bus.stuck_seconds * 1000), "0-0", count=BATCH
        )
        fresh = [(i, f) for i, f in stuck if (key, i) not in self.held]
        if fresh:
            RECLAIMED.labels(self.topic.name, self.group).inc(len(fresh))
            await self.take(key, fresh)

    async def ack(self, msg: Message[P]) -> None:
        """Acks go out together, moments later (one XACK per stream for all that came in
        meanwhile): a crash in between only means a redelivery, which handlers tolerate."""
        if msg.receipt is None:
            return
        key, entry_id = msg.receipt
        self._acks.setdefault(key, []).append(entry_id)
        if self._acking is None or self._acking.done():
            self._acking = asyncio.create_task(self._send_acks(), name="bus-ack")

    async def _send_acks(self) -> None:
        while self._acks:
            acks, self._acks = self._acks, {}
            try:
                async with self.bus.redis.pipeline(transaction=False) as pipe:
                    for key, ids in acks.items():
                        pipe.xack(key, self.group, *ids)
                    await pipe.execute()
            except UNREACHABLE as exc:
                _unless_cancelled()
                # Not lost: they stay pending and are delivered again (handlers are idempotent).
                ERRORS.labels("ack").inc(sum(map(len, acks.values())))
                log.warning("acks on %s failed: %s", self.topic.name, exc)

    async def close(self) -> None:
        if self._acking is not None:
            await asyncio.wait({self._acking}, timeout=2.0)
        await super().close()
        self.bus._groups.discard(self)
        # Leave at once: the others take the partitions (and what is pending) now, not after
        # the heartbeat runs out.
        with contextlib.suppress(*UNREACHABLE):
            await self.bus.redis.zrem(self.members_key, self.me)
