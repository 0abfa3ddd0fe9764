"""How the case loop hears of the world: recorded detections and device alarms from the bus
become cases (or evidence of running ones); dispatch calls about a case go on its timeline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel

from hub.aio import cancel_and_wait
from hub.bus.base import Bus, Subscription
from hub.bus.contracts import ALARMS, CALLS, EVENTS_RECORDED, Topic
from hub.dispatch.service import CaseService
from hub.errors import BusyError

log = logging.getLogger(__name__)

P = TypeVar("P", bound=BaseModel)

GROUP = "cases"
BUSY_RETRIES = 6
"""Tries of a message while the store is busy (SQLite's lock held too long): 0.2 s doubling,
about 12 s in all. Handling is idempotent (a detection already in a case is known by its
evidence), so a retry never doubles a case."""


class CaseFlows:
    def __init__(self, bus: Bus, service: CaseService) -> None:
        self.bus = bus
        self.service = service
        self._subs: list[Subscription[BaseModel]] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._follow(EVENTS_RECORDED, self.service.on_detection)
        self._follow(ALARMS, self.service.on_alarm)
        self._follow(CALLS, self.service.on_call)

    def _follow(self, topic: Topic[P], handle: Callable[[P], Awaitable[object]]) -> None:
        sub = self.bus.subscribe(topic, group=GROUP)
        self._subs.append(sub)  # type: ignore[arg-type]
        self._tasks.append(
            asyncio.create_task(self._consume(sub, handle), name=f"cases-{topic.name}")
        )

    async def _consume(
        self, sub: Subscription[P], handle: Callable[[P], Awaitable[object]]
    ) -> None:
        while True:
            msg = await sub.get()
            delay = 0.2
            for attempt in range(1, BUSY_RETRIES + 1):
                try:
                    await handle(msg.data)
                except BusyError:
                    if attempt == BUSY_RETRIES:
                        log.error("the store stayed busy: %s #%d made no case", msg.topic, msg.seq)
                        break
                    await asyncio.sleep(delay)
                    delay *= 2
                    continue
                except Exception:
                    # One bad message must not stop the loop; the source keeps its own record.
                    log.exception("turning %s #%d into a case failed", msg.topic, msg.seq)
                    break
                await sub.ack(msg)
                break
            # Not acknowledged when it failed: a bus that keeps messages (Redis) delivers it
            # again later, and sets it aside after a few tries.

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        for sub in self._subs:
            await sub.close()
        self._subs = []
