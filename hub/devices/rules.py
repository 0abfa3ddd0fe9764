"""The rule engine: device telemetry in, alarm triggers and clears out.

Consumes ``devices.telemetry`` batches (bus group ``rules``) and evaluates each device's
profile rules:

- threshold: the latest value;
- duration: the condition held continuously for ``for_seconds``, by telemetry timestamps;
- rate: change of the key per minute over ``window_seconds`` (needs half a window of history);
- missing: no telemetry (of the key, or of anything) for longer than the condition's seconds.
  Deadlines wait on the hub's scheduler (hub/timers.py), one for all devices; a device is
  watched from its first report (or its stored state), not from hub start.

Severities are checked from the most severe down. An active rule clears when its ``clear``
condition holds, or, without one, when no create condition holds. State per device x rule is
written back in batches and loaded at start, so a restart resumes half-elapsed durations,
rate windows and missing deadlines.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.aio import cancel_and_wait
from hub.alarms.models import Trigger
from hub.alarms.service import AlarmService
from hub.bus.base import Bus, Subscription
from hub.bus.contracts import DEVICE_TELEMETRY, DeviceTelemetryBatch
from hub.config import SEVERITIES, AlarmRule, Condition, Severity
from hub.devices import metrics
from hub.devices.registry import DeviceRegistry, Known
from hub.geo.coverage import Linkage
from hub.store.bulk import insert_rows
from hub.store.models import RuleStateRow
from hub.timers import Deadlines

log = logging.getLogger(__name__)

RATE_SAMPLES = 256
"""Bound on a rate window's samples; older ones are thinned out beyond this."""
FLUSH_EVERY = 1.0
MISSING_SLACK = 1e-3

Value = float | bool | str
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


def holds(cond: Condition, value: Value | None) -> bool:
    if value is None:
        return False
    target = cond.value
    # A flag never compares with a number (bool is an int in Python), nor text with either.
    if isinstance(value, bool) != isinstance(target, bool):
        return False
    if isinstance(value, str) != isinstance(target, str):
        return False
    try:
        return bool(_OPS[cond.op](value, target))
    except TypeError:
        return False


@dataclass
class RuleState:
    """What one device x rule remembers between messages (JSON-able, stored)."""

    active: Severity | None = None
    since: dict[str, float] = field(default_factory=dict)
    """duration: severity -> ts its condition started holding."""
    window: list[list[float]] = field(default_factory=list)
    """rate: [ts, value] samples, oldest first."""
    last_seen: float | None = None
    """missing: clock time of the last matching telemetry."""

    def to_json(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "since": self.since,
            "window": self.window,
            "last_seen": self.last_seen,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RuleState:
        return cls(
            d.get("active"),
            dict(d.get("since") or {}),
            list(d.get("window") or []),
            d.get("last_seen"),
        )


def _severities(rule: AlarmRule) -> list[Severity]:
    return [s for s in SEVERITIES if s in rule.create]


def _number(v: Value | None) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


Test = Callable[[Value], bool]
_Action = tuple[Known, AlarmRule, Severity | None, Value | None, float]
_NONE: list[_Action] = []
"""The shared "no alarm change" answer of evaluate(): never appended to (see _mark)."""


def compile_condition(cond: Condition) -> Test:
    """``holds(cond, v)`` as one closure: the engine runs it for every reading and rule."""
    op, target = _OPS[cond.op], cond.value
    if isinstance(target, bool):
        return lambda v: v.__class__ is bool and op(v, target)
    if isinstance(target, str):
        return lambda v: v.__class__ is str and op(v, target)
    return lambda v: (v.__class__ is float or v.__class__ is int) and op(v, target)


@dataclass(slots=True)
class _Plan:
    """One rule, prepared once: its create checks from the most severe down and, for missing
    rules, the silence after which a severity more severe than the active one holds."""

    rule: AlarmRule
    checks: list[tuple[Severity, Test]]
    clear: Test | None
    missing_after: list[float | None]
    """By rank of the active severity in SEVERITIES (len(SEVERITIES): none active)."""

    @classmethod
    def of(cls, rule: AlarmRule) -> _Plan:
        sevs = _severities(rule)
        after: list[float | None] = []
        for rank in range(len(SEVERITIES) + 1):
            limits = [
                float(c.value)
                for s, c in rule.create.items()
                if SEVERITIES.index(s) < rank and _number(c.value) is not None
            ]
            after.append(min(limits) if limits else None)
        return cls(
            rule,
            [(s, compile_condition(rule.create[s])) for s in sevs],
            compile_condition(rule.clear) if rule.clear is not None else None,
            after,
        )


_Bound = list[tuple[_Plan, tuple[str, str], RuleState]]


class RuleEngine:
    def __init__(
        self,
        registry: DeviceRegistry,
        alarms: AlarmService,
        linkage: Linkage,
        bus: Bus,
        engine: AsyncEngine,
        *,
        clock: Callable[[], float] = time.time,
        timers: bool = True,
    ) -> None:
        """``clock``: the time missing deadlines are measured in (wall clock by default; tests
        of simulated days pass their own and call :meth:`expire`). ``timers``: run the deadline
        task (off when the caller drives :meth:`expire`)."""
        self.registry = registry
        self.alarms = alarms
        self.linkage = linkage
        self.bus = bus
        self.engine = engine
        self.clock = clock
        self.timers = timers
        self.states: dict[tuple[str, str], RuleState] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._deadlines: Deadlines[tuple[str, str]] = Deadlines(
            self._missing_due, clock=clock, name="rules-deadlines"
        )
        """Missing-data deadlines, per device x rule."""
        self._sub: Subscription[DeviceTelemetryBatch] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.evaluated = 0
        self._plans: dict[int, tuple[object, list[_Plan]]] = {}
        """id(profile) -> (the profile, kept alive so its id is not reused; its rule plans)."""
        self._bindings: dict[str, tuple[object, _Bound]] = {}
        """device id -> (its profile, [(plan, state key, state)]); rebuilt when states load."""

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, *, subscribe: bool = True) -> None:
        await self.load()
        if subscribe:
            self._sub = self.bus.subscribe(DEVICE_TELEMETRY, group="rules")
            self._tasks.append(asyncio.create_task(self._consume(), name="rules-consume"))
        self._tasks.append(asyncio.create_task(self._flush_forever(), name="rules-flush"))
        if self.timers:
            self._deadlines.start()

    async def stop(self) -> None:
        await self._deadlines.stop()
        await cancel_and_wait(self._tasks)
        self._tasks = []
        await self.alarms.close()  # alarm writes the cancelled tasks had under way
        if self._sub is not None:
            await self._sub.close()
            self._sub = None
        await self.flush()

    async def load(self) -> None:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(RuleStateRow))).all()
        for r in rows:
            self.states[(r.device_id, r.rule_id)] = RuleState.from_json(r.state)
        self._bindings.clear()
        for (dev, rid), st in self.states.items():
            k = self.registry.active(dev)
            rule = _rule(k, rid) if k is not None else None
            if rule is not None and rule.kind == "missing" and st.last_seen is not None:
                self._arm(dev, rule, st)

    async def flush(self) -> None:
        if not self._dirty:
            return
        keys, self._dirty = self._dirty, set()
        rows = [
            (d, r, orjson.dumps(self.states[(d, r)].to_json()).decode())
            for d, r in keys
            if (d, r) in self.states
        ]
        if not rows:
            return
        t0 = time.perf_counter()
        try:
            async with self.engine.begin() as conn:
                await insert_rows(
                    conn,
                    RuleStateRow.__tablename__,
                    ("device_id", "rule_id", "state"),
                    rows,
                    conflict=("device_id", "rule_id"),
                    update='"state" = excluded."state"',
                )
        except BaseException:
            # The keys were taken out of _dirty above: put them back, or a failed write would
            # lose these states until the next change of each.
            self._dirty |= keys
            metrics.RULE_STATE_FLUSH_FAILURES.inc()
            raise
        metrics.RULE_STATE_FLUSH_SECONDS.observe(time.perf_counter() - t0)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            try:
                await self.flush()
            except Exception:
                log.exception("cannot store rule state")

    async def _consume(self) -> None:
        assert self._sub is not None
        while True:
            msg = await self._sub.get()
            n = self.evaluated
            for r in msg.data.readings:
                try:
                    # Evaluation is synchronous; only alarm changes (rare) are awaited.
                    for action in self.evaluate(r.device_id, r.ts, r.values):
                        await self._apply(*action)
                except Exception:
                    log.exception("rule evaluation failed for %s", r.device_id)
            metrics.RULE_EVALUATIONS.inc(self.evaluated - n)
            # The alarms it raised are stored; the rule states follow within a flush period
            # (a redelivery after a crash re-evaluates readings the states already saw).
            await self._sub.ack(msg)

    # -- evaluation ------------------------------------------------------------------------

    async def on_telemetry(self, device_id: str, ts: float, values: dict[str, Value]) -> None:
        n = self.evaluated
        for action in self.evaluate(device_id, ts, values):
            await self._apply(*action)
        metrics.RULE_EVALUATIONS.inc(self.evaluated - n)

    def evaluate(self, device_id: str, ts: float, values: dict[str, Value]) -> list[_Action]:
        """Evaluate one reading: rule states move on here; the alarm changes it causes are
        returned, in order, for :meth:`_apply`."""
        k = self.registry.active(device_id)
        if k is None or not k.profile.alarm_rules:
            return _NONE
        actions = _NONE
        self.evaluated += 1  # into the metric per batch: a Counter.inc per reading shows
        now = self.clock()
        dirty = self._dirty
        for plan, key, st in self._bound(k):
            rule = plan.rule
            if rule.kind == "missing":
                if rule.key is not None and rule.key not in values:
                    continue
                st.last_seen = now
                dirty.add(key)
                if st.active is not None:
                    actions = self._mark(actions, k, rule, st, None, None, ts)
                self._arm(device_id, rule, st, plan)
                continue
            assert rule.key is not None
            v = values.get(rule.key)
            if v is None:
                continue
            observed: Value | None
            if rule.kind == "threshold":  # the common kind, inline
                sev, observed = next((s for s, test in plan.checks if test(v)), None), v
            else:
                sev, observed = self._evaluate(plan, st, ts, v)
            dirty.add(key)
            if sev is not None:
                actions = self._mark(actions, k, rule, st, sev, observed, ts)
            elif st.active is not None and (
                plan.clear is None or (observed is not None and plan.clear(observed))
            ):
                actions = self._mark(actions, k, rule, st, None, observed, ts)
        return actions

    def _bound(self, k: Known) -> _Bound:
        """The device's rule plans with their state keys and states, built once per device (and
        again when its profile changes): evaluation then looks nothing up per rule."""
        hit = self._bindings.get(k.device.id)
        if hit is None or hit[0] is not k.profile:
            bound: _Bound = []
            for plan in self._plans_of(k):
                key = (k.device.id, plan.rule.id)
                st = self.states.get(key)
                if st is None:
                    st = self.states[key] = RuleState()
                bound.append((plan, key, st))
            hit = self._bindings[k.device.id] = (k.profile, bound)
        return hit[1]

    def _plans_of(self, k: Known) -> list[_Plan]:
        hit = self._plans.get(id(k.profile))
        if hit is None or hit[0] is not k.profile:
            hit = self._plans[id(k.profile)] = (
                k.profile,
                [_Plan.of(r) for r in k.profile.alarm_rules],
            )
        return hit[1]

    def _evaluate(
        self, plan: _Plan, st: RuleState, ts: float, v: Value
    ) -> tuple[Severity | None, Value | None]:
        """The most severe severity whose create condition holds, and the value judged."""
        rule = plan.rule
        if rule.kind == "threshold":
            for s, test in plan.checks:
                if test(v):
                    return s, v
            return None, v
        if rule.kind == "duration":
            assert rule.for_seconds is not None
            found: Severity | None = None
            for s, test in plan.checks:
                if test(v):
                    start = st.since.setdefault(s, ts)
                    if found is None and ts - start >= rule.for_seconds:
                        found = s
                else:
                    st.since.pop(s, None)
            return found, v
        # rate
        x = _number(v)
        if x is None:
            return None, None
        w = st.window
        w.append([ts, x])
        while w and w[0][0] < ts - rule.window_seconds:
            w.pop(0)
        if len(w) > RATE_SAMPLES:
            del w[1 : len(w) - RATE_SAMPLES + 1]
        t0, v0 = w[0]
        if ts - t0 < rule.window_seconds / 2:
            return None, None
        rate = (x - v0) / (ts - t0) * 60.0
        return next((s for s, test in plan.checks if test(rate)), None), rate

    async def _set(
        self,
        k: Known,
        rule: AlarmRule,
        st: RuleState,
        sev: Severity | None,
        value: Value | None,
        ts: float,
    ) -> None:
        for action in self._mark([], k, rule, st, sev, value, ts):
            await self._apply(*action)

    def _mark(
        self,
        actions: list[_Action],
        k: Known,
        rule: AlarmRule,
        st: RuleState,
        sev: Severity | None,
        value: Value | None,
        ts: float,
    ) -> list[_Action]:
        """Set the rule's state now and queue the alarm change (raise, refresh or clear)."""
        st.active = sev
        self._dirty.add((k.device.id, rule.id))
        if actions is _NONE:
            actions = []
        actions.append((k, rule, sev, value, ts))
        return actions

    async def _apply(
        self, k: Known, rule: AlarmRule, sev: Severity | None, value: Value | None, ts: float
    ) -> None:
        if sev is None:
            await self.alarms.condition_cleared(k.device.id, rule.id)
            return
        await self.alarms.trigger(self._trigger(k, rule, sev, value, ts))

    def _trigger(
        self, k: Known, rule: AlarmRule, sev: Severity, value: Value | None, ts: float
    ) -> Trigger:
        d = k.device
        return Trigger(
            device_id=d.id,
            device_name=d.name,
            profile=k.profile.id,
            grid_id=d.grid,
            position=(d.position[0], d.position[1]),
            rule_id=rule.id,
            rule_name=rule.name,
            key=rule.key,
            severity=sev,
            value=value,
            ts=ts,
            cameras=self.linkage.for_device(d.id, d.position),
        )

    # -- missing-data deadlines ------------------------------------------------------------

    def _arm(
        self, device_id: str, rule: AlarmRule, st: RuleState, plan: _Plan | None = None
    ) -> None:
        """Make sure a deadline is queued; a stale one is re-queued when it comes due."""
        if st.last_seen is None:
            return
        due = self._next_due(plan or _Plan.of(rule), st)
        if due is not None:
            # Kept only when earlier than a pending one (the device reported after an alarm).
            self._deadlines.schedule((device_id, rule.id), due)

    @staticmethod
    def _next_due(plan: _Plan, st: RuleState) -> float | None:
        """The next time the silence makes a more severe condition hold."""
        assert st.last_seen is not None
        rank = SEVERITIES.index(st.active) if st.active is not None else len(SEVERITIES)
        after = plan.missing_after[rank]
        return st.last_seen + after + MISSING_SLACK if after is not None else None

    async def expire(self, now: float) -> None:
        """Fire every missing-data deadline due by ``now``."""
        await self._deadlines.fire_due(now)

    async def _missing_due(self, keys: list[tuple[str, str]], now: float) -> None:
        t0 = time.perf_counter()
        for device_id, rule_id in keys:
            k = self.registry.active(device_id)
            rule = _rule(k, rule_id) if k is not None else None
            st = self.states.get((device_id, rule_id))
            if k is None or rule is None or st is None or st.last_seen is None:
                continue
            gap = now - st.last_seen
            sev = next((s for s in _severities(rule) if holds(rule.create[s], gap)), None)
            if sev is not None and sev != st.active:
                metrics.MISSING_FIRED.inc()
                try:
                    await self._set(k, rule, st, sev, round(gap, 3), now)
                except Exception:
                    log.exception("cannot raise missing-data alarm for %s", device_id)
            self._arm(device_id, rule, st)
        metrics.RULE_EXPIRE_SECONDS.observe(time.perf_counter() - t0)


def _rule(k: Known, rule_id: str) -> AlarmRule | None:
    return next((r for r in k.profile.alarm_rules if r.id == rule_id), None)
