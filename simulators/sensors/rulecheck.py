"""A small reference evaluator of alarm rules' *create* conditions, over one device's samples.

Used to prove the simulator's claims (a normal day fires nothing, each anomaly fires exactly its
ground truth) independently of the hub's rule engine, and as a cross-check for it.
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hub.config import SEVERITIES, AlarmRule, Condition, DeviceProfile, Severity
from simulators.sensors.signals import Value

_OPS: dict[str, Callable[[Any, Any], Any]] = {
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
    # bool is an int in Python: never let True compare to a number, or a number to a flag.
    if isinstance(value, bool) != isinstance(target, bool):
        return False
    if isinstance(value, str) != isinstance(target, str):
        return False
    return bool(_OPS[cond.op](value, target))


@dataclass(frozen=True)
class Fired:
    rule_id: str
    severity: Severity
    ts: float


def _severities(rule: AlarmRule) -> list[Severity]:
    return [s for s in SEVERITIES if s in rule.create]


def evaluate(
    profile: DeviceProfile,
    samples: Iterable[tuple[float, dict[str, Value]]],
    *,
    end: float | None = None,
) -> list[Fired]:
    """Every (rule, severity) whose create condition is met, at the first time it is met.

    Samples must be in time order. ``rate`` is the change per minute between the newest sample
    and the oldest one inside ``window_seconds`` (needing half a window of history); ``missing``
    is a gap between samples (or before ``end``) longer than the condition's seconds.
    """
    rules = profile.alarm_rules
    fired: dict[tuple[str, Severity], float] = {}
    since: dict[tuple[str, Severity], float | None] = {}
    history: dict[str, deque[tuple[float, float]]] = {r.id: deque() for r in rules}
    prev: float | None = None

    def fire(rule: AlarmRule, sev: Severity, ts: float) -> None:
        fired.setdefault((rule.id, sev), ts)

    def gap(a: float, b: float) -> None:
        for rule in rules:
            if rule.kind == "missing":
                for sev in _severities(rule):
                    cond = rule.create[sev]
                    if holds(cond, b - a):
                        fire(rule, sev, a + float(cond.value))

    for ts, values in samples:
        if prev is not None:
            gap(prev, ts)
        prev = ts
        for rule in rules:
            if rule.kind == "missing" or rule.key is None:
                continue
            v = values.get(rule.key)
            if rule.kind == "threshold":
                for sev in _severities(rule):
                    if holds(rule.create[sev], v):
                        fire(rule, sev, ts)
            elif rule.kind == "duration":
                assert rule.for_seconds is not None
                for sev in _severities(rule):
                    key = (rule.id, sev)
                    if holds(rule.create[sev], v):
                        start = since.get(key)
                        if start is None:
                            since[key] = start = ts
                        if ts - start >= rule.for_seconds:
                            fire(rule, sev, ts)
                    else:
                        since[key] = None
            elif rule.kind == "rate" and isinstance(v, int | float) and not isinstance(v, bool):
                h = history[rule.id]
                h.append((ts, float(v)))
                while h and h[0][0] < ts - rule.window_seconds:
                    h.popleft()
                t0, v0 = h[0]
                if ts - t0 >= rule.window_seconds / 2:
                    rate = (float(v) - v0) / (ts - t0) * 60.0
                    for sev in _severities(rule):
                        if holds(rule.create[sev], rate):
                            fire(rule, sev, ts)
    if prev is not None and end is not None:
        gap(prev, end)
    return sorted((Fired(r, s, t) for (r, s), t in fired.items()), key=lambda f: f.ts)


def highest(fired: Iterable[Fired]) -> dict[str, Severity]:
    """rule id -> the most severe severity it reached."""
    out: dict[str, Severity] = {}
    for f in fired:
        cur = out.get(f.rule_id)
        if cur is None or SEVERITIES.index(f.severity) < SEVERITIES.index(cur):
            out[f.rule_id] = f.severity
    return out
