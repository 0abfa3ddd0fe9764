"""In-process bus: asyncio queues. The embedded default for one machine."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson

from hub.bus.base import Message, topic_matches

log = logging.getLogger(__name__)


class _MemorySubscription:
    def __init__(self, bus: MemoryBus, topic: str, group: str | None, maxsize: int) -> None:
        self._bus = bus
        self.topic = topic
        self.group = group
        self.queue: asyncio.Queue[Message] = asyncio.Queue(maxsize)
        self.dropped = 0

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Message]:
        while True:
            yield await self.queue.get()

    async def get(self) -> Message:
        return await self.queue.get()

    async def close(self) -> None:
        self._bus._unsubscribe(self)


class MemoryBus:
    """Fan-out to every subscriber; round-robin inside a group.

    A subscriber that stops reading fills its queue; then its new messages are dropped and counted
    (a slow WebSocket must not stall analytics). Durable consumers (the store) use large queues.
    """

    def __init__(self, queue_size: int = 10_000) -> None:
        self._subs: list[_MemorySubscription] = []
        self._seq = itertools.count(1)
        self._rr: dict[tuple[str, str], int] = {}
        self._queue_size = queue_size

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._subs.clear()

    async def publish(self, topic: str, data: dict[str, Any]) -> int:
        # Round-trip through JSON so in-process consumers see exactly what Redis would carry.
        payload = orjson.loads(orjson.dumps(data, default=str))
        seq = next(self._seq)
        msg = Message(topic=topic, seq=seq, data=payload)
        groups: dict[str, list[_MemorySubscription]] = {}
        for sub in self._subs:
            if not topic_matches(sub.topic, topic):
                continue
            if sub.group is None:
                self._offer(sub, msg)
            else:
                groups.setdefault(sub.group, []).append(sub)
        for group, members in groups.items():
            key = (group, topic)
            i = self._rr.get(key, 0)
            self._rr[key] = i + 1
            self._offer(members[i % len(members)], msg)
        return seq

    def _offer(self, sub: _MemorySubscription, msg: Message) -> None:
        try:
            sub.queue.put_nowait(msg)
        except asyncio.QueueFull:
            sub.dropped += 1
            if sub.dropped == 1 or sub.dropped % 1000 == 0:
                log.warning("bus subscriber %s is full; dropped %d", sub.topic, sub.dropped)

    def subscribe(self, topic: str, *, group: str | None = None) -> _MemorySubscription:
        sub = _MemorySubscription(self, topic, group, self._queue_size)
        self._subs.append(sub)
        return sub

    def _unsubscribe(self, sub: _MemorySubscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
