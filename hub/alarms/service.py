"""The alarm lifecycle (ThingsBoard-like): active -> acknowledged -> cleared, stored, with a
timeline.

One open (active or acknowledged) alarm per device x rule: a repeat refreshes it (count, value,
severity) instead of creating another; a trigger after it cleared creates a new one. Every
change goes through :data:`TRANSITIONS`, is written with its timeline entry in one transaction,
and is then published on the bus topic ``alarms`` (the alarm as stored).

    (none) ─trigger─> active ─ack─> acknowledged
                        │               │
                        └─clear─> cleared <─clear─┘

refresh keeps an open alarm's state; assign keeps any state; ack of a cleared alarm only
records ``acknowledged_at``. An action the table has no entry for is a no-op that answers the
alarm as it is (acknowledging twice, clearing twice), as is a change that changes nothing
(assigning the current assignee, acknowledging a cleared alarm a second time).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeVar, get_args

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.alarms import metrics
from hub.alarms.models import (
    OPEN_STATES,
    SYSTEM,
    Alarm,
    AlarmAcked,
    AlarmAssigned,
    AlarmChange,
    AlarmCleared,
    AlarmCreated,
    AlarmDetail,
    AlarmPage,
    AlarmState,
    SeverityChanged,
    StateFilter,
    Trigger,
)
from hub.alarms.repo import AlarmRepo, AlarmWriter
from hub.bus.base import Bus
from hub.bus.contracts import ALARMS
from hub.config import SEVERITIES, Severity
from hub.errors import ConflictError

T = TypeVar("T")

MAX_PAGE = 500
"""The most alarms one page holds."""

Action = Literal["trigger", "refresh", "ack", "clear", "assign"]
ACTIONS: tuple[Action, ...] = get_args(Action)

TRANSITIONS: Final[dict[tuple[AlarmState | None, Action], AlarmState]] = {
    (None, "trigger"): "active",  # no open alarm of the device x rule: a new one
    ("active", "refresh"): "active",
    ("acknowledged", "refresh"): "acknowledged",
    ("active", "ack"): "acknowledged",
    ("cleared", "ack"): "cleared",  # records acknowledged_at only
    ("active", "clear"): "cleared",
    ("acknowledged", "clear"): "cleared",
    ("active", "assign"): "active",
    ("acknowledged", "assign"): "acknowledged",
    ("cleared", "assign"): "cleared",
}
"""(state, action) -> the state after it; ``None``: no alarm yet. Every change of an alarm is
looked up here first; a pair that is not here changes nothing."""


def next_state(state: AlarmState | None, action: Action) -> AlarmState | None:
    """The state ``action`` moves an alarm in ``state`` to; None: the action does not apply."""
    return TRANSITIONS.get((state, action))


@dataclass(frozen=True, slots=True)
class Step:
    """What one change makes of an alarm: the alarm after it and its timeline entry (None for
    a refresh that kept the severity: counted, not written to the timeline)."""

    alarm: Alarm
    entry: AlarmChange | None


def step(
    cur: Alarm,
    action: Action,
    actor: str,
    now: datetime,
    *,
    trigger: Trigger | None = None,
    assignee: str | None = None,
) -> Step | None:
    """The change ``action`` makes of the stored alarm ``cur``, or None when it changes nothing.

    Pure, no I/O: the service writes the result and answers the alarm as stored. ``trigger`` is
    the refresh's new reading; ``assignee`` the assign's new assignee."""
    to = next_state(cur.state, action)
    if to is None:
        return None
    entry: AlarmChange | None
    if action == "refresh":
        if trigger is None:
            raise ValueError("a refresh needs its trigger")
        update: dict[str, Any] = {
            "count": cur.count + 1,
            "value": trigger.value,
            "severity": trigger.severity,
        }
        entry = None
        if trigger.severity != cur.severity:
            entry = SeverityChanged(ts=now, actor=actor, from_=cur.severity, to=trigger.severity)
    elif action == "ack":
        if cur.acknowledged_at is not None:
            return None
        update, entry = {"acknowledged_at": now}, AlarmAcked(ts=now, actor=actor)
    elif action == "clear":
        update, entry = {"cleared_at": now}, AlarmCleared(ts=now, actor=actor)
    elif action == "assign":
        if cur.assignee == assignee:
            return None
        update = {"assignee": assignee}
        entry = AlarmAssigned(ts=now, actor=actor, assignee=assignee)
    else:  # trigger: only ever creates (TRANSITIONS has it from no alarm only)
        return None
    return Step(cur.model_copy(update={**update, "state": to, "updated_at": now}), entry)


class AlarmService:
    """Alarms: the rule engine triggers and clears them, operators acknowledge, assign and clear
    them. One writer at a time (a lock); the open alarm of each device x rule is kept in memory,
    loaded at start (:meth:`load`)."""

    def __init__(self, engine: AsyncEngine, bus: Bus) -> None:
        self.repo = AlarmRepo(engine)
        self.bus = bus
        self._open: dict[tuple[str, str], Alarm] = {}
        """device id, rule id -> its open alarm as last stored (this service is the one writer):
        a refresh starts from it without a query; the gauge counts their severities."""
        self._writes: set[asyncio.Future[Any]] = set()
        # One writer at a time: the engine and the API both change alarms.
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        """Read which alarms are open (at start, before the rule engine runs)."""
        self._open = {(a.device_id, a.rule_id): a for a in await self.repo.open_alarms()}
        self._gauge()

    def open_id(self, device_id: str, rule_id: str) -> int | None:
        """The id of the device x rule's open alarm, if any."""
        a = self._open.get((device_id, rule_id))
        return None if a is None else a.id

    async def close(self) -> None:
        """Wait for writes whose callers were cancelled."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    # -- the rule engine's side --------------------------------------------------------------

    async def trigger(self, t: Trigger) -> Alarm:
        """Create the alarm of this device x rule, or refresh the open one."""
        return await self._whole(self._trigger(t))

    async def condition_cleared(self, device_id: str, rule_id: str) -> Alarm | None:
        """The rule's condition no longer holds: clear its open alarm (None: there is none)."""
        aid = self.open_id(device_id, rule_id)
        if aid is None:
            return None
        return await self.clear(aid, SYSTEM)

    # -- the operators' side -----------------------------------------------------------------

    async def get(self, alarm_id: int) -> Alarm:
        return await self.repo.get(alarm_id)

    async def detail(self, alarm_id: int) -> AlarmDetail:
        """The alarm with its timeline."""
        return await self.repo.detail(alarm_id)

    async def page(
        self,
        *,
        state: StateFilter | None = None,
        severity: Severity | None = None,
        device_id: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> AlarmPage:
        """Newest first; ``open`` is active or acknowledged. ``limit``: 1..MAX_PAGE."""
        limit = max(1, min(limit, MAX_PAGE))
        rows = await self.repo.find(
            state=state,
            severity=severity,
            device_id=device_id,
            limit=limit + 1,
            before_id=before_id,
        )
        items = rows[:limit]
        return AlarmPage(
            items=items, next_before_id=items[-1].id if len(rows) > len(items) else None
        )

    async def ack(self, alarm_id: int, actor: str) -> Alarm:
        return await self.apply(alarm_id, "ack", actor)

    async def clear(self, alarm_id: int, actor: str) -> Alarm:
        return await self.apply(alarm_id, "clear", actor)

    async def assign(self, alarm_id: int, assignee: str | None, actor: str) -> Alarm:
        return await self.apply(alarm_id, "assign", actor, assignee=assignee)

    async def apply(
        self,
        alarm_id: int,
        action: Action,
        actor: str,
        *,
        trigger: Trigger | None = None,
        assignee: str | None = None,
    ) -> Alarm:
        """Apply ``action`` to the stored alarm (see :func:`step`); answers the alarm after it,
        or as it is when the action changes nothing. NotFoundError: no such alarm."""
        return await self._whole(self._apply(alarm_id, action, actor, trigger, assignee))

    # -- the one write path ------------------------------------------------------------------

    async def _whole(self, write: Coroutine[Any, Any, T]) -> T:
        """Run a write that a cancelled caller (a stopping rule engine, a dropped request) does
        not cut in half: cancelled inside its transaction, an SQLite connection kept the write
        lock and every other writer failed with "database is locked". :meth:`close` waits for
        those still running."""
        task = asyncio.ensure_future(write)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return await asyncio.shield(task)

    async def _trigger(self, t: Trigger) -> Alarm:
        now = datetime.now(UTC)
        async with self._lock:
            async with self.repo.begin() as tx:
                before = self._open.get((t.device_id, t.rule_id))
                alarm = None
                if before is not None:
                    alarm = await self._refresh(tx, before, t, now)
                    if alarm is None:  # changed by another writer: start from what is stored
                        before = await tx.find(before.id)
                        if before is not None:
                            alarm = await self._refresh(tx, before, t, now)
                if alarm is None:  # none open (or the one known was closed elsewhere): a new one
                    before = None
                    alarm = await tx.create(t, now, TRANSITIONS[(None, "trigger")])
                    await tx.add_change(
                        alarm.id, AlarmCreated(ts=now, actor=SYSTEM, severity=t.severity)
                    )
            if before is None:  # counted once committed, so a failed write is not counted
                metrics.ALARMS_RAISED.labels(t.severity).inc()
            await self._changed(before, alarm)
        return alarm

    async def _apply(
        self,
        alarm_id: int,
        action: Action,
        actor: str,
        trigger: Trigger | None,
        assignee: str | None,
    ) -> Alarm:
        now = datetime.now(UTC)
        async with self._lock:
            async with self.repo.begin() as tx:
                cur = await tx.get(alarm_id)
                s = step(cur, action, actor, now, trigger=trigger, assignee=assignee)
                if s is None:
                    return cur
                last_ts = trigger.ts if trigger is not None else None
                alarm = await self._save(tx, cur, s, last_ts=last_ts)
                if alarm is None:  # read in this transaction: cannot happen
                    raise ConflictError(f"alarm {alarm_id} changed meanwhile")
            await self._changed(cur, alarm)
        return alarm

    @classmethod
    async def _refresh(cls, tx: AlarmWriter, cur: Alarm, t: Trigger, now: datetime) -> Alarm | None:
        """Refresh ``cur`` with the trigger, if it is still open as ``cur`` says."""
        s = step(cur, "refresh", SYSTEM, now, trigger=t)
        return None if s is None else await cls._save(tx, cur, s, last_ts=t.ts)

    @staticmethod
    async def _save(tx: AlarmWriter, cur: Alarm, s: Step, *, last_ts: float | None) -> Alarm | None:
        """Write the step and its timeline entry; None (nothing written) when the stored alarm
        is no longer in the state the step was worked out from."""
        alarm = await tx.save(s.alarm, was=cur.state, last_ts=last_ts)
        if alarm is not None and s.entry is not None:
            await tx.add_change(alarm.id, s.entry)
        return alarm

    async def _changed(self, before: Alarm | None, after: Alarm) -> None:
        """After a commit (under the lock, so messages go out in the order of the writes):
        the open-alarm cache, the metrics and the bus."""
        key = (after.device_id, after.rule_id)
        known = self._open.get(key)
        if after.state in OPEN_STATES:
            self._open[key] = after
            if known is None or (known.id, known.severity) != (after.id, after.severity):
                self._gauge()
        elif known is not None and known.id == after.id:
            del self._open[key]
            self._gauge()
        if before is not None and before.state in OPEN_STATES and after.state == "cleared":
            metrics.ALARMS_CLEARED.inc()
        await self.bus.publish(ALARMS, after)

    def _gauge(self) -> None:
        # Set from this service's own view (not inc/dec): the gauge is process-wide and must not
        # drift when a service is reloaded or a second one exists (tests).
        counts: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
        for a in self._open.values():
            counts[a.severity] = counts.get(a.severity, 0) + 1
        for sev, n in counts.items():
            metrics.ALARMS_ACTIVE.labels(sev).set(n)
