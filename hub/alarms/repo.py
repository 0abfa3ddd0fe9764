"""The only place with the alarm SQL (tables ``alarms`` and ``alarm_changes``), answering with the
typed records of hub.alarms.models.

Reads run on their own connection. Writes happen inside a transaction the service opens
(``async with repo.begin() as tx``): a change and its timeline entry commit together or not at
all, and what :class:`AlarmWriter` returns is the alarm as stored, read back in that
transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Select, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.alarms.models import (
    OPEN_STATES,
    Alarm,
    AlarmChange,
    AlarmDetail,
    AlarmState,
    StateFilter,
    Trigger,
)
from hub.config import Severity
from hub.errors import NotFoundError
from hub.store.db import write_transaction
from hub.store.models import AlarmChangeRow, AlarmRow

_ENTRY_FIELDS = {"ts", "action", "actor"}
"""What every timeline entry has in its own columns; the rest of it is its ``detail`` JSON."""
_CHANGE: TypeAdapter[AlarmChange] = TypeAdapter(AlarmChange)


def _alarm(r: Any) -> Alarm:
    """An ``alarms`` row as the typed alarm (``lon``, ``lat`` -> ``position``)."""
    return Alarm(
        id=r.id,
        device_id=r.device_id,
        device_name=r.device_name,
        profile=r.profile,
        grid_id=r.grid_id,
        rule_id=r.rule_id,
        rule_name=r.rule_name,
        severity=r.severity,
        state=r.state,
        created_at=r.created_at,
        updated_at=r.updated_at,
        acknowledged_at=r.acknowledged_at,
        cleared_at=r.cleared_at,
        count=r.count,
        value=r.value,
        key=r.key,
        position=(r.lon, r.lat),
        assignee=r.assignee,
        cameras=r.cameras,
    )


def _entry(r: Any) -> AlarmChange:
    return _CHANGE.validate_python({**r.detail, "ts": r.ts, "action": r.action, "actor": r.actor})


async def _find(conn: AsyncConnection, alarm_id: int) -> Alarm | None:
    row = (await conn.execute(select(AlarmRow).where(AlarmRow.id == alarm_id))).first()
    return None if row is None else _alarm(row)


async def _get(conn: AsyncConnection, alarm_id: int) -> Alarm:
    alarm = await _find(conn, alarm_id)
    if alarm is None:
        raise NotFoundError(f"no alarm {alarm_id}")
    return alarm


class AlarmWriter:
    """Writes inside one transaction (see :meth:`AlarmRepo.begin`)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, alarm_id: int) -> Alarm:
        """The alarm as stored now; NotFoundError when there is none."""
        return await _get(self._conn, alarm_id)

    async def find(self, alarm_id: int) -> Alarm | None:
        """The alarm as stored now, if there is one."""
        return await _find(self._conn, alarm_id)

    async def create(self, t: Trigger, now: datetime, state: AlarmState) -> Alarm:
        """A new alarm of the trigger's device x rule."""
        alarm_id = (
            await self._conn.execute(
                insert(AlarmRow)
                .values(
                    device_id=t.device_id,
                    device_name=t.device_name,
                    profile=t.profile,
                    grid_id=t.grid_id,
                    rule_id=t.rule_id,
                    rule_name=t.rule_name,
                    severity=t.severity,
                    state=state,
                    created_at=now,
                    updated_at=now,
                    count=1,
                    value=t.value,
                    key=t.key,
                    last_ts=t.ts,
                    lon=t.position[0],
                    lat=t.position[1],
                    cameras=t.cameras,
                )
                .returning(AlarmRow.id)
            )
        ).scalar_one()
        return await self.get(int(alarm_id))

    async def save(
        self, alarm: Alarm, *, was: AlarmState, last_ts: float | None = None
    ) -> Alarm | None:
        """Store what a change may move (state, severity, times, count, value, assignee) as the
        given alarm has it, if the stored alarm is still in state ``was`` (the state the change
        was worked out from); None when it is not. ``last_ts``: the time of the telemetry that
        refreshed it."""
        values: dict[str, Any] = {
            "state": alarm.state,
            "severity": alarm.severity,
            "updated_at": alarm.updated_at,
            "acknowledged_at": alarm.acknowledged_at,
            "cleared_at": alarm.cleared_at,
            "count": alarm.count,
            "value": alarm.value,
            "assignee": alarm.assignee,
        }
        if last_ts is not None:
            values["last_ts"] = last_ts
        done = await self._conn.execute(
            update(AlarmRow).where(AlarmRow.id == alarm.id, AlarmRow.state == was).values(values)
        )
        return await self.get(alarm.id) if done.rowcount == 1 else None

    async def add_change(self, alarm_id: int, change: AlarmChange) -> None:
        """Append an entry to the alarm's timeline."""
        await self._conn.execute(
            insert(AlarmChangeRow).values(
                alarm_id=alarm_id,
                ts=change.ts,
                action=change.action,
                actor=change.actor,
                detail=change.model_dump(mode="json", by_alias=True, exclude=_ENTRY_FIELDS),
            )
        )


class AlarmRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AlarmWriter]:
        """One transaction: committed when the block ends, rolled back when it raises. It reads
        before it writes, so it holds the write lock from its start (see write_transaction)."""
        async with write_transaction(self.engine) as conn:
            yield AlarmWriter(conn)

    async def open_alarms(self) -> list[Alarm]:
        """Every open (active or acknowledged) alarm."""
        q = select(AlarmRow).where(AlarmRow.state.in_(OPEN_STATES)).order_by(AlarmRow.id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [_alarm(r) for r in rows]

    async def get(self, alarm_id: int) -> Alarm:
        async with self.engine.connect() as conn:
            return await _get(conn, alarm_id)

    async def detail(self, alarm_id: int) -> AlarmDetail:
        """The alarm and its timeline, oldest first."""
        q = (
            select(AlarmChangeRow)
            .where(AlarmChangeRow.alarm_id == alarm_id)
            .order_by(AlarmChangeRow.id)
        )
        async with self.engine.connect() as conn:
            alarm = await _get(conn, alarm_id)
            rows = (await conn.execute(q)).all()
        return AlarmDetail(**dict(alarm), timeline=[_entry(r) for r in rows])

    async def find(
        self,
        *,
        state: StateFilter | None = None,
        severity: Severity | None = None,
        device_id: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[Alarm]:
        """Newest first."""
        q: Select[Any] = select(AlarmRow).order_by(AlarmRow.id.desc()).limit(limit)
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
        return [_alarm(r) for r in rows]
