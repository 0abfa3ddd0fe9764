"""In-process bus: asyncio queues. The embedded default for one machine."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from hub.bus.base import Message
from hub.bus.contracts import Topic

log = logging.getLogger(__name__)

P = TypeVar("P", bound=BaseModel)


def _with(msg: Message[Any], part: Any) -> Message[Any]:
    return Message(topic=msg.topic, seq=msg.seq, data=part)


class _MemorySubscription(Generic[P]):
    def __init__(self, bus: MemoryBus, topic: Topic[P], group: str | None, maxsize: int) -> None:
        self._bus = bus
        self.topic = topic
        self.group = group
        self.queue: asyncio.Queue[Message[P]] = asyncio.Queue(maxsize)
        self.dropped = 0

    def __aiter__(self) -> AsyncIterator[Message[P]]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Message[P]]:
        while True:
            yield await self.queue.get()

    async def get(self) -> Message[P]:
        return await self.queue.get()

    async def ack(self, msg: Message[P]) -> None:
        return None  # nothing outlives the process here: a queued message is already gone

    async def close(self) -> None:
        self._bus._unsubscribe(self)


class MemoryBus:
    """Fan-out to every subscriber; inside a group, by partition key (keyed topics) or
    round-robin.

    A subscriber that stops reading fills its queue; then its new messages are dropped and counted
    (a slow WebSocket must not stall analytics). Durable consumers (the store) use large queues.
    """

    def __init__(self, queue_size: int = 10_000) -> None:
        self._subs: dict[str, list[_MemorySubscription[Any]]] = {}
        self._seq = itertools.count(1)
        self._rr: dict[tuple[str, str], int] = {}
        self._queue_size = queue_size

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._subs.clear()

    async def publish(self, topic: Topic[P], payload: P) -> int:
        # Through the wire form (JSON) so in-process consumers see exactly what Redis would carry;
        # decoded once and shared by every subscriber.
        msg = Message(
            topic=topic.name, seq=next(self._seq), data=topic.decode(topic.encode(payload))
        )
        groups: dict[str, list[_MemorySubscription[Any]]] = {}
        for sub in self._subs.get(topic.name, ()):
            if sub.group is None:
                self._offer(sub, msg)
            else:
                groups.setdefault(sub.group, []).append(sub)
        for group, members in groups.items():
            if topic.keyed and len(members) > 1:
                for i, part in topic.route(msg.data, len(members)):
                    self._offer(members[i], msg if part is msg.data else _with(msg, part))
                continue
            key = (group, topic.name)
            i = self._rr.get(key, 0)
            self._rr[key] = i + 1
            self._offer(members[i % len(members)], msg)
        return msg.seq

    def _offer(self, sub: _MemorySubscription[Any], msg: Message[Any]) -> None:
        try:
            sub.queue.put_nowait(msg)
        except asyncio.QueueFull:
            sub.dropped += 1
            if sub.dropped == 1 or sub.dropped % 1000 == 0:
                log.warning("bus subscriber %s is full; dropped %d", sub.topic.name, sub.dropped)

    def subscribe(self, topic: Topic[P], *, group: str | None = None) -> _MemorySubscription[P]:
        sub = _MemorySubscription(self, topic, group, self._queue_size)
        self._subs.setdefault(topic.name, []).append(sub)
        return sub

    def _unsubscribe(self, sub: _MemorySubscription[Any]) -> None:
        subs = self._subs.get(sub.topic.name, [])
        if sub in subs:
            subs.remove(sub)
