"""Presence from the bus, for a hub whose MQTT ingest runs in other processes.

Ingest processes (``hub serve --role devices``) split a broker's messages through ``$share``
subscriptions, so no one of them sees all of a device's messages and none can tell when a device
went silent. They publish what they accepted (``devices.telemetry``, ``devices.events``) and the
status messages they received (``devices.status``); this follower, in the process that keeps
presence, moves :class:`~hub.devices.presence.Presence` on from those, stores the changed
states and publishes ``devices.presence``, as the in-process ingest does.

A message is acked once the states it changed are stored. A status that arrives twice (every
ingest process receives the retained statuses when it subscribes) changes nothing the second
time. ``last_seen`` is this process's time of reading the message, which trails the ingest's by
the bus's latency (milliseconds).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from hub.aio import cancel_and_wait
from hub.bus.base import Bus, Message, Subscription
from hub.bus.contracts import (
    DEVICE_EVENTS,
    DEVICE_PRESENCE,
    DEVICE_STATUS,
    DEVICE_TELEMETRY,
    DeviceStatus,
)
from hub.devices.ingest import presence_of, snapshot
from hub.devices.presence import Presence
from hub.devices.repo import DeviceRepo, DeviceState
from hub.devices.validate import Status

log = logging.getLogger(__name__)

GROUP = "presence"
RETRY_SECONDS = 1.0


class PresenceFollower:
    def __init__(self, presence: Presence, repo: DeviceRepo, bus: Bus) -> None:
        self.presence = presence
        self.repo = repo
        self.bus = bus
        self.followed = 0
        """Messages applied (each telemetry batch counts once)."""
        # One writer at a time, taking its snapshot inside: the last write holds the newest state.
        self._write_lock = asyncio.Lock()
        self._subs: list[Subscription[Any]] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        follow: list[tuple[Any, Callable[[Any, float], tuple[set[str], list[DeviceState]]]]] = [
            (DEVICE_TELEMETRY, self._telemetry),
            (DEVICE_EVENTS, self._event),
            (DEVICE_STATUS, self._status),
        ]
        for topic, apply in follow:
            sub = self.bus.subscribe(topic, group=GROUP)
            self._subs.append(sub)
            self._tasks.append(
                asyncio.create_task(self._follow(sub, apply), name=f"presence-{topic.name}")
            )

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        for sub in self._subs:
            await sub.close()
        self._subs = []

    async def _follow(
        self,
        sub: Subscription[Any],
        apply: Callable[[Any, float], tuple[set[str], list[DeviceState]]],
    ) -> None:
        while True:
            msg: Message[Any] = await sub.get()
            touched, changed = apply(msg.data, time.time())
            while True:
                try:
                    await self._store(touched, changed)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # Unacked, the message would come back only after a restart: retry here.
                    log.exception("storing device presence failed; retrying")
                    await asyncio.sleep(RETRY_SECONDS)
            self.followed += 1
            await sub.ack(msg)

    def _telemetry(self, batch: Any, now: float) -> tuple[set[str], list[DeviceState]]:
        seen = self.presence.seen
        touched: set[str] = set()
        changed: list[DeviceState] = []
        for r in batch.readings:
            touched.add(r.device_id)
            if seen(r.device_id, now, r.values):
                changed.append(self.presence.states[r.device_id])
        return touched, changed

    def _event(self, ev: Any, now: float) -> tuple[set[str], list[DeviceState]]:
        came_online = self.presence.seen(ev.device_id, now, None)
        return {ev.device_id}, [self.presence.states[ev.device_id]] if came_online else []

    def _status(self, st: DeviceStatus, now: float) -> tuple[set[str], list[DeviceState]]:
        status = Status(st.device_id, st.state, st.session, st.ts, st.will)
        moved = self.presence.status(status, now)
        return {st.device_id}, [self.presence.states[st.device_id]] if moved else []

    async def _store(self, touched: set[str], changed: list[DeviceState]) -> None:
        states = self.presence.states
        async with self._write_lock:
            rows = [snapshot(states[d]) for d in touched if d in states]
            if rows:
                await self.repo.write_batch([], [], rows)
        for s in changed:
            await self.bus.publish(DEVICE_PRESENCE, presence_of(s))
