"""Prometheus metrics of the rule engine and presence, and the alarm metrics the engine's readings
move, read back from the default registry (the alarms' own: tests/alarms/test_alarm_metrics.py).

Metrics are process-wide and other tests move them too: counters are checked as deltas, and the
``hub_alarms_active`` gauge is set by the alarm service that last changed (or loaded), which here
is ours.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from alarm_helpers import Clock, rig
from prometheus_client import REGISTRY

from hub.devices.presence import Presence
from hub.devices.repo import DeviceState

T0 = 1_750_000_000.0


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """Counter values relative to when it was made."""

    def __init__(self, *names: tuple[str, dict[str, str]]) -> None:
        self._base = {(n, tuple(sorted(lab.items()))): value(n, **lab) for n, lab in names}

    def __call__(self, name: str, **labels: str) -> float:
        return value(name, **labels) - self._base[(name, tuple(sorted(labels.items())))]


def active() -> dict[str, float]:
    return {s: value("hub_alarms_active", severity=s) for s in ("critical", "major", "warning")}


async def test_evaluations_raises_severity_changes_and_clears(tmp_path: Path) -> None:
    d = Delta(
        ("hub_rules_evaluations_total", {}),
        ("hub_alarms_raised_total", {"severity": "warning"}),
        ("hub_alarms_raised_total", {"severity": "critical"}),
        ("hub_alarms_cleared_total", {}),
        ("hub_rule_state_flush_seconds_count", {}),
    )
    async with rig(tmp_path) as r:
        e = r.engine
        assert active() == {"critical": 0, "major": 0, "warning": 0}
        await e.on_telemetry("dev-1", T0, {"level": 6.0})
        # Every rule of the profile looks at the reading, but it is one evaluation.
        assert d("hub_rules_evaluations_total") == 1
        assert d("hub_alarms_raised_total", severity="warning") == 1
        assert active() == {"critical": 0, "major": 0, "warning": 1}
        await e.on_telemetry("dev-1", T0 + 1, {"level": 9.5})
        # A severity change refreshes the open alarm: moved in the gauge, not raised again.
        assert d("hub_alarms_raised_total", severity="critical") == 0
        assert active() == {"critical": 1, "major": 0, "warning": 0}
        await e.on_telemetry("dev-2", T0 + 1, {"level": 5.0})
        assert active() == {"critical": 1, "major": 0, "warning": 1}
        await e.on_telemetry("dev-1", T0 + 2, {"level": 1.0})
        assert d("hub_alarms_cleared_total") == 1
        assert active() == {"critical": 0, "major": 0, "warning": 1}
        # Readings of devices without rules are not evaluations.
        await e.on_telemetry("nobody", T0 + 3, {"level": 1.0})
        assert d("hub_rules_evaluations_total") == 4
        await e.on_telemetry("dev-2", T0 + 4, {"level": 1.0})
        assert d("hub_alarms_cleared_total") == 2
        assert active() == {"critical": 0, "major": 0, "warning": 0}
        await e.flush()
        assert d("hub_rule_state_flush_seconds_count") >= 1


async def test_missing_deadlines_are_timed_and_counted(tmp_path: Path) -> None:
    d = Delta(
        ("hub_rules_expire_seconds_count", {}),
        ("hub_rules_missing_fired_total", {}),
        ("hub_alarms_raised_total", {"severity": "warning"}),
    )
    async with rig(tmp_path, clock=Clock(T0)) as r:
        await r.engine.on_telemetry("dev-1", T0, {"level": 1.0})
        await r.engine.expire(T0 + 30)  # nothing due: not observed
        assert d("hub_rules_expire_seconds_count") == 0
        await r.engine.expire(T0 + 61)
        await r.engine.expire(T0 + 601)
        assert d("hub_rules_expire_seconds_count") == 2
        assert d("hub_rules_missing_fired_total") == 2
        assert d("hub_alarms_raised_total", severity="warning") == 1
        assert active()["major"] == 1


async def test_failed_flush_is_counted_and_keeps_the_state_dirty(tmp_path: Path) -> None:
    d = Delta(("hub_rule_state_flush_failures_total", {}))
    async with rig(tmp_path) as r:
        e = r.engine
        await e.on_telemetry("dev-1", T0, {"open": True})
        real = e.engine
        e.engine = _Broken()  # type: ignore[assignment]
        with pytest.raises(OSError):
            await e.flush()
        assert d("hub_rule_state_flush_failures_total") == 1
        assert ("dev-1", "door-held") in e._dirty
        e.engine = real
        await e.flush()
        assert not e._dirty


class _Broken:
    def begin(self) -> _Broken:
        return self

    async def __aenter__(self) -> None:
        raise OSError("database unreachable")

    async def __aexit__(self, *exc: object) -> None:
        return None


def test_presence_counts_at_scrape_time() -> None:
    gc.collect()  # trackers of earlier tests, so that only ours goes away below
    before = {s: value("hub_device_presence", state=s) for s in ("online", "offline")}
    p = Presence(lambda _d: None, _no_change)
    p.load(
        [
            DeviceState("a", "online", "status", None, None, T0, T0, {}),
            DeviceState("b", "offline", "will", None, None, T0, T0, {}),
        ]
    )
    p.seen("c", T0, {"level": 1.0})
    assert value("hub_device_presence", state="online") == before["online"] + 2
    assert value("hub_device_presence", state="offline") == before["offline"] + 1
    del p
    gc.collect()
    assert value("hub_device_presence", state="online") == before["online"]


async def _no_change(_states: list[DeviceState]) -> None:
    return None
