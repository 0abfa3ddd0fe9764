"""The event recorder: every detection on the bus goes into the store, then ``events.recorded``.

Clients are told about an event only after it is stored, so whatever they click on exists. An
event that lasts arrives twice with the same id (start, then end): the second message updates the
stored row and is announced again; a message that changes nothing (a redelivery) is not.
A failed write is retried with backoff until it succeeds (or shutdown gives up on it, loudly).
"""

from __future__ import annotations

import asyncio
import logging
import time

from prometheus_client import Counter
from pydantic import ValidationError

from hub.bus import contracts
from hub.bus.base import Bus, Message, Subscription
from hub.bus.contracts import DetectionEvent
from hub.store.events import EventRepo, StoredEvent, UpsertOutcome

log = logging.getLogger(__name__)

EVENTS_RECORDED = Counter("hub_events_recorded_total", "Detection events written to the store")
EVENTS_UPDATED = Counter("hub_events_updated_total", "Stored detection events given their end")
EVENTS_DUPLICATE = Counter(
    "hub_events_duplicate_total", "Detection events seen again with nothing new (same id)"
)
EVENTS_INVALID = Counter("hub_events_invalid_total", "Bus messages that are not DetectionEvents")
WRITE_FAILURES = Counter("hub_event_write_failures_total", "Failed event writes (retried)")
EVENTS_LOST = Counter("hub_events_lost_total", "Events given up at shutdown after failed writes")


class EventRecorder:
    def __init__(
        self,
        events: EventRepo,
        bus: Bus,
        *,
        group: str = "store",
        retry_min: float = 0.1,
        retry_max: float = 5.0,
    ) -> None:
        self._events = events
        self._bus = bus
        self._group = group
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._sub: Subscription[DetectionEvent] | None = None
        self._task: asyncio.Task[None] | None = None
        self._idle = True
        self._stopping = False
        self._deadline = float("inf")

    async def start(self) -> None:
        # Subscribe before returning so nothing published after start() is missed.
        self._sub = self._bus.subscribe(contracts.DETECTIONS, group=self._group)
        self._task = asyncio.create_task(self._run(), name="event-recorder")

    async def stop(self, drain_timeout: float = 5.0) -> None:
        """Finish the event in hand, record what is already queued (up to the timeout), stop."""
        if self._task is None or self._sub is None:
            return
        self._stopping = True
        self._deadline = time.monotonic() + drain_timeout
        if self._idle:
            self._task.cancel()  # waiting on the queue: nothing in hand
        await asyncio.wait({self._task}, timeout=drain_timeout)
        self._task.cancel()
        while (left := self._deadline - time.monotonic()) > 0:
            try:
                msg = await asyncio.wait_for(self._sub.get(), min(left, 0.05))
            except TimeoutError:
                break
            await self._handle(msg)
        await self._sub.close()
        self._task = None

    async def _run(self) -> None:
        assert self._sub is not None
        while not self._stopping:
            self._idle = True
            msg = await self._sub.get()
            self._idle = False
            await self._handle(msg)

    async def _handle(self, msg: Message[DetectionEvent]) -> None:
        assert self._sub is not None
        try:
            event = DetectionEvent.model_validate(msg.data)
        except ValidationError as exc:
            EVENTS_INVALID.inc()
            log.error("dropping invalid detection on %s: %s", msg.topic, exc)
            await self._sub.ack(msg)
            return
        written = await self._write(event)
        if written is None:
            # Given up at shutdown: not acknowledged, so a bus that keeps messages (Redis)
            # hands it to the next recorder.
            return
        stored, outcome = written
        if outcome != "unchanged":
            try:
                await self._bus.publish(contracts.EVENTS_RECORDED, stored.recorded())
            except Exception:
                log.exception("could not announce recorded event %s", event.id)
        await self._sub.ack(msg)

    async def _write(self, event: DetectionEvent) -> tuple[StoredEvent, UpsertOutcome] | None:
        delay = self._retry_min
        while True:
            try:
                stored, outcome = await self._events.upsert(event)
            except Exception as exc:
                WRITE_FAILURES.inc()
                if time.monotonic() + delay > self._deadline:
                    EVENTS_LOST.inc()
                    log.error("giving up on event %s at shutdown: %s", event.id, exc)
                    return None
                log.warning("writing event %s failed (%s); retry in %.1f s", event.id, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            if outcome == "unchanged":
                EVENTS_DUPLICATE.inc()
                return stored, outcome
            (EVENTS_RECORDED if outcome == "created" else EVENTS_UPDATED).inc()
            return stored, outcome
