"""Fan-out of recorded events, alarms and camera health to the wall's WebSocket clients.

Each message is serialised once and offered to every client's bounded queue; a client whose
queue is full is dropped (it reconnects and reloads the list) instead of buffering without bound.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from prometheus_client import Counter, Gauge

from hub.aio import cancel_and_wait
from hub.bus.base import Bus, Subscription
from hub.bus.contracts import ALARMS, EVENTS_RECORDED, Alarm, RecordedEvent
from hub.config import Site
from hub.video.interfaces import VideoService
from hub.web.serialize import decorate_event

log = logging.getLogger(__name__)

WS_CLIENTS = Gauge("hub_ws_clients", "Connected event WebSocket clients")
WS_DROPPED = Counter("hub_ws_clients_dropped_total", "WebSocket clients dropped for being slow")


def message(type_: str, data: Any) -> str:
    return orjson.dumps({"type": type_, "data": data}, default=str).decode()


class WsClient:
    def __init__(self, maxsize: int = 256) -> None:
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
        self._sub: Subscription[RecordedEvent] | None = None
        self._alarm_sub: Subscription[Alarm] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._sub = self._bus.subscribe(EVENTS_RECORDED)
        self._alarm_sub = self._bus.subscribe(ALARMS)
        self._tasks = [
            asyncio.create_task(self._events(), name="ws-fanout-events"),
            asyncio.create_task(self._alarms(), name="ws-fanout-alarms"),
            asyncio.create_task(self._health(), name="ws-fanout-health"),
        ]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        if self._sub is not None:
            await self._sub.close()
            self._sub = None
        if self._alarm_sub is not None:
            await self._alarm_sub.close()
            self._alarm_sub = None

    def register(self, client: WsClient) -> None:
        self._clients.add(client)
        WS_CLIENTS.set(len(self._clients))

    def unregister(self, client: WsClient) -> None:
        self._clients.discard(client)
        WS_CLIENTS.set(len(self._clients))

    def broadcast(self, text: str) -> None:
        for c in list(self._clients):
            c.offer(text)

    def health_message(self) -> str:
        return message("health", [h.model_dump(mode="json") for h in self._video.health()])

    async def _events(self) -> None:
        assert self._sub is not None
        while True:
            msg = await self._sub.get()
            try:
                text = message(
                    "event", decorate_event(msg.data.model_dump(mode="json"), self._site)
                )
            except Exception:
                log.exception("cannot serialise recorded event %s", msg.data.id)
                continue
            self.broadcast(text)

    async def _alarms(self) -> None:
        assert self._alarm_sub is not None
        while True:
            msg = await self._alarm_sub.get()
            try:
                text = message("alarm", msg.data.model_dump(mode="json"))
            except Exception:
                log.exception("cannot serialise alarm %s", msg.data.id)
                continue
            self.broadcast(text)

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
