"""Grid workers in the field: duty, heartbeats and GPS from the field app, their state
(available / busy / offline / off duty) and their track (活动轨迹).

A worker on duty who is not heard from for :data:`OFFLINE_AFTER` seconds is offline; the
deadline scheduler says so when it happens (the wall's map greys them out), not at the next
read. Busy means a case in hand: dispatched, received or on scene.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.bus.base import Bus
from hub.bus.contracts import WORKERS, WorkerState, WorkerStatus
from hub.config import Site, Worker
from hub.errors import NotFoundError
from hub.store.db import write_transaction
from hub.store.models import CaseRow, WorkerPositionRow, WorkerStateRow
from hub.timers import Deadlines

log = logging.getLogger(__name__)

OFFLINE_AFTER = 120.0
"""Seconds without a report after which a worker on duty counts as offline."""
IN_HAND = ("dispatched", "received", "on_scene")
MAX_TRACK = 5000


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WorkerService:
    def __init__(
        self,
        engine: AsyncEngine,
        bus: Bus,
        site: Site,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.engine = engine
        self.bus = bus
        self.clock = clock
        self.workers: dict[str, Worker] = {w.username: w for w in site.workers}
        self.silence: Deadlines[str] = Deadlines(
            self._silent, clock=lambda: self.clock().timestamp(), name="worker-silence"
        )

    async def start(self) -> None:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(WorkerStateRow))).all()
        for r in rows:
            if r.on_duty and r.last_seen is not None:
                self.silence.schedule(r.username, r.last_seen.timestamp() + OFFLINE_AFTER)
        self.silence.start()

    async def stop(self) -> None:
        await self.silence.stop()

    def worker(self, username: str) -> Worker:
        w = self.workers.get(username)
        if w is None:
            raise NotFoundError(f"{username!r} is not a worker of this site")
        return w

    async def report(
        self,
        username: str,
        *,
        position: tuple[float, float] | None,
        accuracy_m: float | None = None,
        on_duty: bool | None = None,
    ) -> WorkerStatus:
        """A heartbeat from the field app: a GPS fix (stored in the track while on duty)
        and/or a duty change."""
        self.worker(username)
        now = self.clock()
        values: dict[str, Any] = {"username": username, "last_seen": now}
        if on_duty is not None:
            values["on_duty"] = on_duty
        if position is not None:
            values.update(lon=position[0], lat=position[1])
        # One statement that writes and answers (no read first): on SQLite a read that turns
        # into a write inside one transaction fails at once when another writer got in between.
        async with write_transaction(self.engine) as conn:
            ins = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(
                WorkerStateRow
            )
            stmt = ins.values({"on_duty": False, **values})
            stmt = stmt.on_conflict_do_update(index_elements=["username"], set_=values)
            duty = bool((await conn.execute(stmt.returning(WorkerStateRow.on_duty))).scalar_one())
            if position is not None and duty:
                await conn.execute(
                    insert(WorkerPositionRow).values(
                        username=username,
                        ts=now,
                        lon=position[0],
                        lat=position[1],
                        accuracy_m=accuracy_m,
                    )
                )
        if duty:
            self.silence.cancel(username)
            self.silence.schedule(username, now.timestamp() + OFFLINE_AFTER)
        else:
            self.silence.cancel(username)
        status = await self.status(username)
        await self._announce(status)
        return status

    async def statuses(self) -> list[WorkerStatus]:
        async with self.engine.connect() as conn:
            rows = {r.username: r for r in (await conn.execute(select(WorkerStateRow))).all()}
            loads = dict(
                (
                    await conn.execute(
                        select(CaseRow.assignee, func.count())
                        .where(CaseRow.state.in_(IN_HAND), CaseRow.assignee.is_not(None))
                        .group_by(CaseRow.assignee)
                    )
                ).all()
            )
        now = self.clock()
        return [self._status(w, rows.get(w.username), loads.get(w.username, 0), now)
                for w in self.workers.values()]  # fmt: skip

    async def status(self, username: str) -> WorkerStatus:
        for s in await self.statuses():
            if s.username == username:
                return s
        raise NotFoundError(f"{username!r} is not a worker of this site")

    def _status(self, w: Worker, row: object | None, in_hand: int, now: datetime) -> WorkerStatus:
        on_duty = bool(getattr(row, "on_duty", False))
        last_seen: datetime | None = getattr(row, "last_seen", None)
        lon, lat = getattr(row, "lon", None), getattr(row, "lat", None)
        state: WorkerState
        if not on_duty:
            state = "off_duty"
        elif last_seen is None or now - last_seen > timedelta(seconds=OFFLINE_AFTER):
            state = "offline"
        elif in_hand:
            state = "busy"
        else:
            state = "available"
        return WorkerStatus(
            username=w.username,
            name=w.name,
            grids=list(w.grids),
            department=w.department,
            state=state,
            on_duty=on_duty,
            last_seen=last_seen,
            position=None if lon is None or lat is None else (lon, lat),
            running_cases=in_hand,
        )

    async def track(
        self, username: str, *, since: datetime, until: datetime
    ) -> list[tuple[datetime, float, float]]:
        """The worker's GPS fixes in [since, until), oldest first (at most MAX_TRACK)."""
        self.worker(username)
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(WorkerPositionRow.ts, WorkerPositionRow.lon, WorkerPositionRow.lat)
                .where(
                    WorkerPositionRow.username == username,
                    WorkerPositionRow.ts >= since,
                    WorkerPositionRow.ts < until,
                )
                .order_by(WorkerPositionRow.ts)
                .limit(MAX_TRACK)
            )
            return [(r.ts, r.lon, r.lat) for r in rows]

    async def _silent(self, usernames: list[str], _now: float) -> None:
        for u in usernames:
            try:
                await self._announce(await self.status(u))
            except Exception:
                log.exception("announcing worker %s failed", u)

    async def _announce(self, status: WorkerStatus) -> None:
        try:
            await self.bus.publish(WORKERS, status)
        except Exception:
            log.exception("announcing worker %s failed", status.username)
