"""The ingest worker: drains the MQTT inbox in batches on the event loop.

Per batch: validate every message (cheap checks first: topic, size, device, flood; then JSON and
the profile), write accepted telemetry, sampled dead letters and changed device states in one
transaction, then ack the batch's QoS 1 messages, then publish to the bus. A failed write is
retried and nothing is acked until it succeeds, so an accepted message is never lost; a crash
between the write and the acks means a redelivery, i.e. a duplicate row (at-least-once).

Every message ends stored or dead-lettered, and acked: a message that fails in any way while it
is handled (not only by a validation rule) is dead-lettered alone as ``internal_error``. An
unacked message is redelivered after every reconnect and would fail again each time, and
enough of them fill the broker's in-flight window (Receive Maximum) until ingest stops. Only a
store that is down leaves messages unacked, and they wait for it.

Presence is kept here when the worker is given one (the whole hub in one process). An ingest
process of a cluster (``hub serve --role devices``, several of them splitting the messages) has
none: each would see only its share of a device's messages, so it publishes status messages on
``devices.status`` and the process that keeps presence follows them and the readings there
(hub/devices/presence_follower.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from hub.aio import cancel_and_wait
from hub.bus.base import Bus
from hub.bus.contracts import (
    DEVICE_EVENTS,
    DEVICE_PRESENCE,
    DEVICE_STATUS,
    DEVICE_TELEMETRY,
    DeviceEvent,
    DevicePresence,
    DeviceStatus,
    DeviceTelemetry,
    DeviceTelemetryBatch,
    Topic,
)
from hub.devices import metrics, validate
from hub.devices.mqtt import Inbound, MqttLink
from hub.devices.presence import Presence
from hub.devices.registry import DeviceRegistry
from hub.devices.repo import DeviceRepo, DeviceState, TelemetryTuple
from hub.devices.validate import Reading, Rejected

P = TypeVar("P", bound=BaseModel)

log = logging.getLogger(__name__)

BATCH_MAX = 2000
SAMPLE_PER_KEY = 10
"""Dead letters stored per (reason, device) per minute; the rest are only counted."""
SAMPLE_TOTAL = 300
"""Dead letters stored per minute in all: random device ids cannot fill the disk either."""
PAYLOAD_KEEP = 1000
POISON_AFTER = 1.6
"""Retry delay (s) from which a refused batch is searched for a poison item: after ~5 tries."""
_TOPIC_CACHE_MAX = 100_000
ERRORS_LOGGED_PER_MINUTE = 20
"""Tracebacks of internal errors logged per minute; a device that triggers one on every message
must not flood the log (all are counted and sampled as dead letters)."""


_Item = tuple[str, TelemetryTuple | dict[str, Any] | DeviceState]
"""One thing a batch writes: ("row", telemetry) | ("dead", dead letter) | ("state", state)."""


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def presence_of(s: DeviceState) -> DevicePresence:
    return DevicePresence.model_validate(
        {"device_id": s.device_id, "state": s.state, "reason": s.reason, "ts": s.changed_at}
    )


def snapshot(s: DeviceState) -> DeviceState:
    return dataclasses.replace(s, last_values=dict(s.last_values))


@dataclass(slots=True)
class _Prepared:
    """One validated batch, waiting for its turn to be stored, acked and published."""

    t0: float
    size: int
    rows: list[TelemetryTuple]
    dead: list[dict[str, Any]]
    states: list[DeviceState]
    acks: dict[int, list[int]]
    readings: list[Reading]
    events: list[DeviceEvent]
    presences: list[DevicePresence]
    statuses: list[DeviceStatus] = dataclasses.field(default_factory=list)


def _merge(parts: list[_Prepared]) -> _Prepared:
    out = _Prepared(time.perf_counter(), 0, [], [], [], {}, [], [], [])
    states: dict[str, DeviceState] = {}
    for p in parts:
        out.t0 = min(out.t0, p.t0)
        out.size += p.size
        out.rows += p.rows
        out.dead += p.dead
        # The newest state per device: one upsert must not touch a row twice (PostgreSQL).
        states.update((st.device_id, st) for st in p.states)
        for gen, mids in p.acks.items():
            out.acks.setdefault(gen, []).extend(mids)
        out.readings += p.readings
        out.events += p.events
        out.presences += p.presences
        out.statuses += p.statuses
    out.states = list(states.values())
    return out


def _error_detail(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = "(unprintable)"
    return f"{type(exc).__name__}: {text}"[:512]


class _Sampler:
    def __init__(self) -> None:
        self._window = 0.0
        self._total = 0
        self._per: Counter[tuple[str, str]] = Counter()

    def keep(self, reason: str, device_id: str | None, now: float) -> bool:
        if now - self._window >= 60.0:
            self._window, self._total = now, 0
            self._per.clear()
        if self._total >= SAMPLE_TOTAL:
            return False  # before counting per key: the Counter stays bounded in a flood
        k = (reason, device_id or "")
        self._per[k] += 1
        if self._per[k] > SAMPLE_PER_KEY or self._total >= SAMPLE_TOTAL:
            return False
        self._total += 1
        return True


class IngestWorker:
    def __init__(
        self,
        link: MqttLink,
        registry: DeviceRegistry,
        repo: DeviceRepo,
        presence: Presence | None,
        bus: Bus,
        *,
        max_payload: int,
    ) -> None:
        self.link = link
        self.registry = registry
        self.repo = repo
        self.presence = presence
        self.bus = bus
        self.max_payload = max_payload
        self.rejected: Counter[str] = Counter()
        self.accepted = 0
        self.processed = 0
        self._flood = validate.FloodGate()
        self._sampler = _Sampler()
        self._topics: dict[str, tuple[str, validate.Kind] | Rejected] = {}
        self._errors_window = 0.0
        self._errors_logged = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mqtt-ingest")

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        self._task = None

    async def _run(self) -> None:
        inbox = self.link.inbox
        pending: asyncio.Task[None] | None = None
        try:
            while True:
                self._wake.clear()
                if not inbox:
                    if pending is not None:
                        await self._settle(pending)
                        pending = None
                        continue
                    await self._wake.wait()
                    continue
                n = min(len(inbox), BATCH_MAX)
                batch = [inbox.popleft() for _ in range(n)]
                self.link.room_freed()
                # Validating this batch overlaps the previous batch's write; its write starts
                # only once the previous batch is stored, acked and published: order holds.
                prepared = self._prepare_safe(batch)
                if pending is not None:
                    await self._settle(pending)
                pending = asyncio.create_task(self._commit(prepared))
        finally:
            if pending is not None:
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)

    @staticmethod
    async def _settle(task: asyncio.Task[None]) -> None:
        try:
            await task
        except asyncio.CancelledError:
            raise
        except Exception:
            # Never let the loop die. What was not acked is redelivered after a reconnect.
            log.exception("committing an ingest batch failed")

    def _topic(self, topic: str) -> tuple[str, validate.Kind]:
        hit = self._topics.get(topic)
        if hit is None:
            try:
                hit = validate.parse_topic(topic)
            except Rejected as exc:
                hit = exc
            if len(self._topics) >= _TOPIC_CACHE_MAX:
                self._topics.clear()
            self._topics[topic] = hit
        if isinstance(hit, Rejected):
            # A fresh traceback: re-raising the cached exception would grow its traceback by
            # every raise, keeping each failed batch's frame (and messages) alive.
            raise hit.with_traceback(None)
        return hit

    async def process(self, batch: list[Inbound]) -> None:
        """Validate, store, ack and publish one batch."""
        await self._commit(self._prepare_safe(batch))

    def _prepare_safe(self, batch: list[Inbound]) -> _Prepared:
        """``_prepare``, which handles each message's failures itself; should it fail as a whole
        all the same, the messages are taken one by one, and one that still fails becomes an
        internal-error dead letter: a batch is never left unacked to fail again on redelivery.
        (Presence changes the failed pass already made stay, unannounced: a safety net.)"""
        try:
            return self._prepare(batch)
        except Exception:
            log.exception("preparing an ingest batch failed; taking its messages one by one")
        parts: list[_Prepared] = []
        for msg in batch:
            try:
                parts.append(self._prepare([msg]))
            except Exception as exc:
                parts.append(self._failed(msg, exc))
        return _merge(parts)

    def _failed(self, msg: Inbound, exc: BaseException) -> _Prepared:
        """A message nothing else could handle: its ack and an internal-error dead letter."""
        gen, mid, qos, topic, payload = msg
        now = time.time()
        hit = self._topics.get(topic)
        self._log_error(exc, topic)
        self.rejected["internal_error"] += 1
        metrics.REJECTED.labels("internal_error").inc()
        dead = [
            {
                "ts": now,
                "reason": "internal_error",
                "device_id": hit[0] if isinstance(hit, tuple) else None,
                "topic": topic[:256],
                "detail": _error_detail(exc),
                "payload": payload[:PAYLOAD_KEEP].decode("utf-8", "replace")[:1024],
            }
        ]
        acks = {gen: [mid]} if qos else {}
        return _Prepared(time.perf_counter(), 1, [], dead, [], acks, [], [], [])

    def _log_error(self, exc: BaseException, topic: str) -> None:
        now = time.monotonic()
        if now - self._errors_window >= 60.0:
            self._errors_window, self._errors_logged = now, 0
        self._errors_logged += 1
        if self._errors_logged <= ERRORS_LOGGED_PER_MINUTE:
            log.error("ingest failed on a message; dead-lettered", extra={"topic": topic[:256]},
                      exc_info=exc)  # fmt: skip

    def _prepare(self, batch: list[Inbound]) -> _Prepared:
        t0 = time.perf_counter()
        now = time.time()
        rows: list[TelemetryTuple] = []
        dead: list[dict[str, Any]] = []
        readings: list[Reading] = []
        events: list[DeviceEvent] = []
        changed: dict[str, DeviceState] = {}
        came_online: list[DeviceState] = []
        statuses: list[DeviceStatus] = []
        touched: set[str] = set()
        acks: dict[int, list[int]] = {}
        rejected = self.rejected
        registry = self.registry
        presence = self.presence

        def reject(exc: Rejected, device_id: str | None, topic: str, payload: bytes) -> None:
            rejected[exc.reason] += 1
            metrics.REJECTED.labels(exc.reason).inc()
            if not self._sampler.keep(exc.reason, device_id, now):
                metrics.DEAD_LETTERS_SKIPPED.inc()
                return
            dead.append(
                {
                    "ts": now,
                    "reason": exc.reason,
                    "device_id": device_id,
                    "topic": topic[:256],
                    "detail": exc.detail[:512],
                    "payload": payload[:PAYLOAD_KEEP].decode("utf-8", "replace")[:1024],
                }
            )

        for gen, mid, qos, topic, payload in batch:
            if qos:
                acks.setdefault(gen, []).append(mid)
            device_id: str | None = None
            n_rows, n_readings = len(rows), len(readings)
            try:
                device_id, kind = self._topic(topic)
                if len(payload) > self.max_payload:
                    raise Rejected("oversized", f"{len(payload)} bytes > {self.max_payload}")
                known = registry.active(device_id)
                if known is None:
                    raise Rejected("unknown_device", f"no enabled device {device_id!r}")
                # One budget per device for all kinds, before JSON parsing: a flood costs little.
                if not self._flood.allow(device_id, known.profile.max_messages_per_minute, now):
                    raise Rejected("flood", "over the profile's max_messages_per_minute")
                if kind == "telemetry":
                    doc = validate.load_json(payload)
                    merged: dict[str, object] = {}
                    if doc.__class__ is dict:  # one reading, the common case: no batch list
                        try:
                            got: list[Reading | Rejected] = [
                                validate.reading(device_id, doc, known.checks, now)
                            ]
                        except Rejected as exc:
                            got = [exc]
                    else:
                        got = validate.telemetry(device_id, doc, known.checks, now)
                    for r in got:
                        if isinstance(r, Rejected):
                            reject(r, device_id, topic, payload)
                            continue
                        readings.append(r)
                        merged.update(r.values)
                        ts, seq = r.ts, r.seq
                        for key, v in r.values.items():
                            if isinstance(v, str):
                                rows.append((device_id, key, ts, seq, None, v))
                            else:
                                rows.append((device_id, key, ts, seq, float(v), None))
                    if merged and presence is not None:
                        touched.add(device_id)
                        if presence.seen(device_id, now, merged):
                            came_online.append(presence.states[device_id])
                elif kind == "status":
                    st = validate.status(device_id, validate.load_json(payload), now)
                    if presence is None:
                        statuses.append(
                            DeviceStatus.model_construct(
                                device_id=st.device_id,
                                state=st.state,
                                session=st.session,
                                ts=st.ts,
                                will=st.will,
                            )
                        )
                        continue
                    if presence.status(st, now):
                        changed[device_id] = presence.states[device_id]
                    touched.add(device_id)
                else:
                    ev = validate.event(device_id, validate.load_json(payload), now)
                    # Built before any state moves, so a failure here changes nothing.
                    doc_ev = DeviceEvent.model_validate(
                        {"device_id": ev.device_id, "ts": ev.ts, "type": ev.type, "data": ev.data}
                    )
                    if presence is not None:
                        touched.add(device_id)
                        if presence.seen(device_id, now, None):
                            came_online.append(presence.states[device_id])
                    events.append(doc_ev)
            except Rejected as exc:
                reject(exc, device_id, topic, payload)
            except Exception as exc:
                # What this message added is taken back (only telemetry adds before its last
                # step); the rest of the batch goes on, and the message is acked as rejected.
                del rows[n_rows:], readings[n_readings:]
                self._log_error(exc, topic)
                reject(Rejected("internal_error", _error_detail(exc)), device_id, topic, payload)

        # Rows are taken now: the next batch's validation moves these states on before this
        # batch is written, and a state must not be stored ahead of the data that caused it.
        states = (
            [snapshot(presence.states[d]) for d in touched if d in presence.states]
            if presence is not None
            else []
        )
        presences = [presence_of(s) for s in [*came_online, *changed.values()]]
        return _Prepared(
            t0, len(batch), rows, dead, states, acks, readings, events, presences, statuses
        )

    async def _commit(self, p: _Prepared) -> None:
        await self._write(p.rows, p.dead, p.states)
        for gen, mids in p.acks.items():
            self.link.ack(gen, mids)
        self.processed += p.size
        self.accepted += len(p.readings)
        metrics.ACCEPTED.labels("telemetry").inc(len(p.readings))
        if p.readings:
            batch = DeviceTelemetryBatch(
                readings=[
                    DeviceTelemetry.model_construct(
                        device_id=r.device_id, ts=r.ts, seq=r.seq, values=r.values
                    )
                    for r in p.readings
                ]
            )
            await self._publish(DEVICE_TELEMETRY, batch)
        for e in p.events:
            await self._publish(DEVICE_EVENTS, e)
        for pj in p.presences:
            await self._publish(DEVICE_PRESENCE, pj)
        for st in p.statuses:
            await self._publish(DEVICE_STATUS, st)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - p.t0)

    async def _publish(self, topic: Topic[P], data: P) -> None:
        """After the ack and the commit nothing can be retried: one message the bus refuses
        must not keep the batch's other messages off it."""
        try:
            await self.bus.publish(topic, data)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("publishing on %s failed; the data is stored", topic)

    async def _write(
        self, rows: list[TelemetryTuple], dead: list[dict[str, Any]], states: list[DeviceState]
    ) -> None:
        """Store a batch; nothing is acked before this returns. A store that is down is waited
        for. A batch the store keeps refusing while parts of it go in holds a poison item (one
        validation let through): that item is set aside, so one message cannot stall ingest."""
        delay = 0.1
        while True:
            try:
                await self.repo.write_batch(rows, dead, states)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                metrics.STORE_RETRIES.inc()
                log.exception("storing an ingest batch failed; retrying in %.1f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            if delay >= POISON_AFTER and await self._write_around_poison(rows, dead, states):
                return

    async def _write_around_poison(
        self, rows: list[TelemetryTuple], dead: list[dict[str, Any]], states: list[DeviceState]
    ) -> bool:
        """Bisect the batch; True when everything but the items the store refuses alone was
        written, each refused item recorded as a ``store_refused`` dead letter. False when the
        store is down: the whole batch is retried later.

        An empty write asks first whether the store is up: bisecting against a store that is
        down costs a write per item, and guessing "down" from a failed half instead would retry
        a batch made only of poison (one message at a quiet time) forever. An item is set aside
        only once its dead letter is stored, so a store failing meanwhile loses nothing."""
        try:
            await self.repo.write_batch([], [], [])
        except asyncio.CancelledError:
            raise
        except Exception:
            return False
        items: list[_Item] = [
            *(("row", r) for r in rows),
            *(("dead", d) for d in dead),
            *(("state", st) for st in states),
        ]
        _, refused = await self._bisect(items)
        if not refused:
            return True
        now = time.time()
        letters = [_refused_letter(kind, item, now) for kind, item in refused]
        try:
            await self.repo.write_batch([], letters, [])
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("cannot dead-letter %d items the store refused", len(letters))
            return False
        for kind, item in refused:
            metrics.STORE_REFUSED.labels(kind).inc()
            if kind == "row":
                self.rejected["store_refused"] += 1
                metrics.REJECTED.labels("store_refused").inc()
            else:
                log.error("the store refused an ingest %s; dead-lettered: %r", kind, item)
        log.error("an ingest batch held %d items the store refused", len(refused))
        return True

    async def _bisect(self, items: list[_Item]) -> tuple[bool, list[_Item]]:
        """(anything written, the single items that failed)."""
        try:
            await self.repo.write_batch(
                [i for k, i in items if k == "row"],  # type: ignore[misc]
                [i for k, i in items if k == "dead"],  # type: ignore[misc]
                [i for k, i in items if k == "state"],  # type: ignore[misc]
            )
            return True, []
        except asyncio.CancelledError:
            raise
        except Exception:
            if len(items) <= 1:
                return False, items
        half = len(items) // 2
        ok_a, bad_a = await self._bisect(items[:half])
        ok_b, bad_b = await self._bisect(items[half:])
        return ok_a or ok_b, bad_a + bad_b


def _refused_letter(kind: str, item: object, now: float) -> dict[str, Any]:
    if isinstance(item, DeviceState):
        device_id: str | None = item.device_id
        topic = f"hub/v1/devices/{device_id}/status"
    elif isinstance(item, dict):
        device_id = item.get("device_id")
        topic = str(item.get("topic") or "")
    else:
        assert isinstance(item, tuple)
        device_id = item[0]
        topic = f"hub/v1/devices/{device_id}/telemetry"
    what = {"row": "value", "dead": "dead letter", "state": "device state"}[kind]
    return {
        "ts": now,
        "reason": "store_refused",
        "device_id": device_id if isinstance(device_id, str) else None,
        "topic": topic[:256],
        "detail": f"the store refused this {what}",
        "payload": repr(item)[:PAYLOAD_KEEP],
    }
