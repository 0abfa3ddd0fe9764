"""Fan-out of recorded events, alarms, case changes and camera health to the wall's WebSockets,
and of each worker's own case changes to their field app.

Each message is serialised once and offered to every client's bounded queue; a client whose
queue is full is dropped (it reconnects and reloads the list) instead of buffering without bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from typing import Any, TypeVar

import orjson
from prometheus_client import Counter, Gauge
from pydantic import BaseModel

from hub.aio import cancel_and_wait
from hub.bus.base import Bus, Subscription
from hub.bus.contracts import (
    ALARMS,
    CALLS,
    CASES,
    EVENTS_RECORDED,
    UNIT_POSITIONS,
    WORKERS,
    CaseChange,
    RecordedEvent,
    Topic,
)
from hub.config import Site
from hub.video.interfaces import VideoService
from hub.web.serialize import decorate_event

log = logging.getLogger(__name__)

P = TypeVar("P", bound=BaseModel)

WS_CLIENTS = Gauge("hub_ws_clients", "Connected event WebSocket clients")
WS_DROPPED = Counter("hub_ws_clients_dropped_total", "WebSocket clients dropped for being slow")


def message(type_: str, data: Any) -> str:
    return orjson.dumps({"type": type_, "data": data}, default=str).decode()


class WsClient:
    """One socket's bounded outbox. A field app's client names its ``worker``: it gets only the
    case changes that concern that worker, nothing of the wall (events, alarms, health, other
    workers' positions)."""

    def __init__(self, maxsize: int = 256, *, worker: str | None = None) -> None:
        self.worker = worker
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize)
        self.overflowed = asyncio.Event()

    def offer(self, text: str) -> None:
        if self.overflowed.is_set():
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            WS_DROPPED.inc()
            self.overflowed.set()


class EventFanout:
    def __init__(
        self, bus: Bus, site: Site, video: VideoService, *, health_interval: float = 1.0
    ) -> None:
        self._bus = bus
        self._site = site
        self._video = video
        self._health_interval = health_interval
        self._clients: set[WsClient] = set()
        self._field: dict[str, set[WsClient]] = {}
        self._subs: list[Subscription[Any]] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._forward(EVENTS_RECORDED, "event", self._event_json)
        self._forward(ALARMS, "alarm", lambda a: a.model_dump(mode="json"))
        self._forward(CASES, "case", lambda c: c.model_dump(mode="json"), _concerned)
        self._forward(WORKERS, "worker", lambda w: w.model_dump(mode="json"))
        self._forward(UNIT_POSITIONS, "unit", lambda u: u.model_dump(mode="json"))
        self._forward(CALLS, "call", lambda c: c.model_dump(mode="json"), lambda c: c.notify)
        self._tasks.append(asyncio.create_task(self._health(), name="ws-fanout-health"))

    def _forward(
        self,
        topic: Topic[P],
        type_: str,
        to_json: Callable[[P], Any],
        workers: Callable[[P], Collection[str]] | None = None,
    ) -> None:
        """Relay ``topic`` to the wall; also to the field apps of ``workers(payload)``."""
        sub = self._bus.subscribe(topic)
        self._subs.append(sub)
        self._tasks.append(
            asyncio.create_task(
                self._relay(sub, type_, to_json, workers), name=f"ws-fanout-{type_}"
            )
        )

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        for sub in self._subs:
            await sub.close()
        self._subs = []

    def register(self, client: WsClient) -> None:
        if client.worker is None:
            self._clients.add(client)
        else:
            self._field.setdefault(client.worker, set()).add(client)
        self._count()

    def unregister(self, client: WsClient) -> None:
        if client.worker is None:
            self._clients.discard(client)
        else:
            mine = self._field.get(client.worker)
            if mine is not None:
                mine.discard(client)
                if not mine:
                    del self._field[client.worker]
        self._count()

    def _count(self) -> None:
        WS_CLIENTS.set(len(self._clients) + sum(len(c) for c in self._field.values()))

    def broadcast(self, text: str) -> None:
        for c in list(self._clients):
            c.offer(text)

    def health_message(self) -> str:
        return message("health", [h.model_dump(mode="json") for h in self._video.health()])

    def _event_json(self, ev: RecordedEvent) -> Any:
        return decorate_event(ev.model_dump(mode="json"), self._site)

    async def _relay(
        self,
        sub: Subscription[P],
        type_: str,
        to_json: Callable[[P], Any],
        workers: Callable[[P], Collection[str]] | None,
    ) -> None:
        while True:
            msg = await sub.get()
            try:
                text = message(type_, to_json(msg.data))
            except Exception:
                log.exception("cannot serialise %s #%d", msg.topic, msg.seq)
                continue
            self.broadcast(text)
            if workers is not None and self._field:
                for name in workers(msg.data):
                    for c in list(self._field.get(name, ())):
                        c.offer(text)

    async def _health(self) -> None:
        while True:
            await asyncio.sleep(self._health_interval)
            if not self._clients:
                continue
            try:
                text = self.health_message()
            except Exception:
                log.exception("video health failed")
                continue
            self.broadcast(text)


def _concerned(change: CaseChange) -> Collection[str]:
    """The workers whose field app hears of a case change: its assignee and whoever the
    service named (a worker the case was taken from, a co-dispatched one)."""
    return {*change.notify, *([change.case.assignee] if change.case.assignee else [])}
