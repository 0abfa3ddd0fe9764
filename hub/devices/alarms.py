"""Alarm lifecycle (ThingsBoard-like): active -> acknowledged -> cleared, stored, with a timeline.

One open (active or acknowledged) alarm per device x rule: a repeat refreshes it (count, value,
severity) instead of creating another; a trigger after it cleared creates a new one. Every
change is published on the bus topic ``alarms`` as the full alarm JSON.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.bus.base import Bus
from hub.bus.contracts import ALARMS, Alarm
from hub.config import SEVERITIES, AlarmRule, Severity
from hub.devices import metrics
from hub.devices.registry import Known
from hub.errors import NotFoundError
from hub.store.models import AlarmChangeRow, AlarmRow

log = logging.getLogger(__name__)

T = TypeVar("T")

AlarmState = Literal["active", "acknowledged", "cleared"]
OPEN_STATES: tuple[str, ...] = ("active", "acknowledged")
SYSTEM = "system"
MAX_PAGE = 500


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alarm_json(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "device_id": r.device_id,
        "device_name": r.device_name,
        "profile": r.profile,
        "grid_id": r.grid_id,
        "rule_id": r.rule_id,
        "rule_name": r.rule_name,
        "severity": r.severity,
        "state": r.state,
        "created_at": _iso(r.created_at),
        "updated_at": _iso(r.updated_at),
        "acknowledged_at": _iso(r.acknowledged_at),
        "cleared_at": _iso(r.cleared_at),
        "count": r.count,
        "value": r.value,
        "key": r.key,
        "position": [r.lon, r.lat],
        "assignee": r.assignee,
        "cameras": r.cameras,
    }


@dataclass(frozen=True, slots=True)
class Trigger:
    """A create condition held: what the engine tells the book."""

    known: Known
    rule: AlarmRule
    severity: Severity
    value: Any
    ts: float


class AlarmBook:
    def __init__(self, engine: AsyncEngine, bus: Bus) -> None:
        self.engine = engine
        self.bus = bus
        self._open: dict[tuple[str, str], int] = {}
        self._writes: set[asyncio.Future[Any]] = set()
        self._severity: dict[int, str] = {}
        """Open alarm id -> its severity, for the ``hub_alarms_active`` gauge."""
        # One writer at a time: the engine and the API both change alarms.
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        AlarmRow.id, AlarmRow.device_id, AlarmRow.rule_id, AlarmRow.severity
                    ).where(AlarmRow.state.in_(OPEN_STATES))
                )
            ).all()
        self._open = {(r.device_id, r.rule_id): r.id for r in rows}
        self._severity = {r.id: r.severity for r in rows}
        self._gauge()

    def _gauge(self) -> None:
        # Set from this book's own view (not inc/dec): the gauge is process-wide and must not
        # drift when a book is reloaded or a second one exists (tests).
        counts: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
        for sev in self._severity.values():
            counts[sev] = counts.get(sev, 0) + 1
        for sev, n in counts.items():
            metrics.ALARMS_ACTIVE.labels(sev).set(n)

    def open_id(self, device_id: str, rule_id: str) -> int | None:
        return self._open.get((device_id, rule_id))

    # -- engine side -----------------------------------------------------------------------

    async def _whole(self, write: Coroutine[Any, Any, T]) -> T:
        """Run a write that a cancelled caller (a stopping rule engine, a dropped request) does
        not cut in half: cancelled inside its transaction, an SQLite connection kept the write
        lock and every other writer failed with "database is locked". :meth:`close` waits for
        those still running."""
        task = asyncio.ensure_future(write)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return await asyncio.shield(task)

    async def close(self) -> None:
        """Wait for writes whose callers were cancelled."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    async def trigger(self, t: Trigger, cameras: list[dict[str, Any]]) -> dict[str, Any]:
        """Create the alarm of this device x rule, or refresh the open one."""
        return await self._whole(self._trigger(t, cameras))

    async def _trigger(self, t: Trigger, cameras: list[dict[str, Any]]) -> dict[str, Any]:
        now = datetime.now(UTC)
        dev = t.known.device
        async with self._lock, self.engine.begin() as conn:
            aid = self._open.get((dev.id, t.rule.id))
            created = aid is None
            if aid is None:
                aid = int(
                    (
                        await conn.execute(
                            insert(AlarmRow)
                            .values(
                                device_id=dev.id,
                                device_name=dev.name,
                                profile=t.known.profile.id,
                                grid_id=dev.grid,
                                rule_id=t.rule.id,
                                rule_name=t.rule.name,
                                severity=t.severity,
                                state="active",
                                created_at=now,
                                updated_at=now,
                                count=1,
                                value=t.value,
                                key=t.rule.key,
                                last_ts=t.ts,
                                lon=dev.position[0],
                                lat=dev.position[1],
                                cameras=cameras,
                            )
                            .returning(AlarmRow.id)
                        )
                    ).scalar_one()
                )
                await _change(conn, aid, now, "created", SYSTEM, {"severity": t.severity})
                self._open[(dev.id, t.rule.id)] = aid
            else:
                cur = self._severity.get(aid)  # kept for every open alarm: no query per refresh
                await conn.execute(
                    update(AlarmRow)
                    .where(AlarmRow.id == aid)
                    .values(
                        count=AlarmRow.count + 1,
                        value=t.value,
                        last_ts=t.ts,
                        severity=t.severity,
                        updated_at=now,
                    )
                )
                if cur != t.severity:
                    await _change(
                        conn, aid, now, "severity", SYSTEM, {"from": cur, "to": t.severity}
                    )
            doc = await _read(conn, aid)
        # Counted once committed, so a failed write is not counted.
        if created:
            metrics.ALARMS_RAISED.labels(t.severity).inc()
        if self._severity.get(aid) != t.severity:
            self._severity[aid] = t.severity
            self._gauge()
        await self.bus.publish(ALARMS, Alarm.model_validate(doc))
        return doc

    async def condition_cleared(self, device_id: str, rule_id: str) -> dict[str, Any] | None:
        aid = self._open.get((device_id, rule_id))
        if aid is None:
            return None
        return await self.clear(aid, SYSTEM)

    # -- operator side ---------------------------------------------------------------------

    async def get(self, alarm_id: int, *, timeline: bool = False) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            doc = await _read(conn, alarm_id)
            if timeline:
                rows = (
                    await conn.execute(
                        select(AlarmChangeRow)
                        .where(AlarmChangeRow.alarm_id == alarm_id)
                        .order_by(AlarmChangeRow.id)
                    )
                ).all()
                doc["timeline"] = [
                    {"ts": _iso(r.ts), "action": r.action, "actor": r.actor, **r.detail}
                    for r in rows
                ]
        return doc

    async def list(
        self,
        *,
        state: str | None = None,
        severity: str | None = None,
        device_id: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[dict[str, Any]]:
        q = select(AlarmRow).order_by(AlarmRow.id.desc()).limit(limit)
        if state == "open":
            q = q.where(AlarmRow.state.in_(OPEN_STATES))
        elif state is not None:
            q = q.where(AlarmRow.state == state)
        if severity is not None:
            q = q.where(AlarmRow.severity == severity)
        if device_id is not None:
            q = q.where(AlarmRow.device_id == device_id)
        if before_id is not None:
            q = q.where(AlarmRow.id < before_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [alarm_json(r) for r in rows]

    async def ack(self, alarm_id: int, actor: str) -> dict[str, Any]:
        async def change(conn: AsyncConnection, doc: dict[str, Any], now: datetime) -> bool:
            if doc["acknowledged_at"] is not None:
                return False
            values: dict[str, Any] = {"acknowledged_at": now, "updated_at": now}
            if doc["state"] == "active":
                values["state"] = "acknowledged"
            await conn.execute(update(AlarmRow).where(AlarmRow.id == alarm_id).values(**values))
            await _change(conn, alarm_id, now, "acked", actor, {})
            return True

        return await self._mutate(alarm_id, change)

    async def clear(self, alarm_id: int, actor: str) -> dict[str, Any]:
        async def change(conn: AsyncConnection, doc: dict[str, Any], now: datetime) -> bool:
            if doc["state"] == "cleared":
                return False
            await conn.execute(
                update(AlarmRow)
                .where(AlarmRow.id == alarm_id)
                .values(state="cleared", cleared_at=now, updated_at=now)
            )
            await _change(conn, alarm_id, now, "cleared", actor, {})
            self._open.pop((doc["device_id"], doc["rule_id"]), None)
            return True

        doc = await self._mutate(alarm_id, change)
        if self._severity.pop(alarm_id, None) is not None:
            metrics.ALARMS_CLEARED.inc()
            self._gauge()
        return doc

    async def assign(self, alarm_id: int, assignee: str | None, actor: str) -> dict[str, Any]:
        async def change(conn: AsyncConnection, doc: dict[str, Any], now: datetime) -> bool:
            if doc["assignee"] == assignee:
                return False
            await conn.execute(
                update(AlarmRow)
                .where(AlarmRow.id == alarm_id)
                .values(assignee=assignee, updated_at=now)
            )
            await _change(conn, alarm_id, now, "assigned", actor, {"assignee": assignee})
            return True

        return await self._mutate(alarm_id, change)

    async def _mutate(self, alarm_id: int, change: Any) -> dict[str, Any]:
        return await self._whole(self._mutate_now(alarm_id, change))

    async def _mutate_now(self, alarm_id: int, change: Any) -> dict[str, Any]:
        now = datetime.now(UTC)
        async with self._lock:
            async with self.engine.begin() as conn:
                doc = await _read(conn, alarm_id)
                changed = await change(conn, doc, now)
                if changed:
                    doc = await _read(conn, alarm_id)
            if changed:
                await self.bus.publish(ALARMS, Alarm.model_validate(doc))
        return doc


async def _read(conn: AsyncConnection, alarm_id: int) -> dict[str, Any]:
    row = (await conn.execute(select(AlarmRow).where(AlarmRow.id == alarm_id))).first()
    if row is None:
        raise NotFoundError(f"no alarm {alarm_id}")
    return alarm_json(row)


async def _change(
    conn: AsyncConnection,
    alarm_id: int,
    now: datetime,
    action: str,
    actor: str,
    detail: dict[str, Any],
) -> None:
    await conn.execute(
        insert(AlarmChangeRow).values(
            alarm_id=alarm_id, ts=now, action=action, actor=actor, detail=detail
        )
    )
