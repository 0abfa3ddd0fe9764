"""The alarm metrics, read back from the default registry: created alarms by severity, clears of
open alarms, and the open alarms by current severity.

Metrics are process-wide and other tests move them too: counters are checked as deltas, and the
``hub_alarms_active`` gauge is set by the service that last changed (or loaded), which here is
ours.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alarm_service_helpers import T0, alarm_rig, trigger
from prometheus_client import REGISTRY


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


async def test_raised_cleared_and_open_by_severity(tmp_path: Path) -> None:
    d = Delta(
        ("hub_alarms_raised_total", {"severity": "warning"}),
        ("hub_alarms_raised_total", {"severity": "critical"}),
        ("hub_alarms_cleared_total", {}),
    )
    async with alarm_rig(tmp_path) as r:
        s = r.service
        assert active() == {"critical": 0, "major": 0, "warning": 0}
        a = await s.trigger(trigger("warning"))
        assert d("hub_alarms_raised_total", severity="warning") == 1
        assert active() == {"critical": 0, "major": 0, "warning": 1}
        # A severity change refreshes the open alarm: moved in the gauge, not raised again.
        await s.trigger(trigger("critical", 9.5, ts=T0 + 1))
        assert d("hub_alarms_raised_total", severity="critical") == 0
        assert active() == {"critical": 1, "major": 0, "warning": 0}
        b = await s.trigger(trigger("warning", device_id="dev-2"))
        assert active() == {"critical": 1, "major": 0, "warning": 1}
        await s.condition_cleared("dev-1", "level-high")
        assert d("hub_alarms_cleared_total") == 1
        assert active() == {"critical": 0, "major": 0, "warning": 1}
        # An operator clear counts too; a second clear of the same alarm does not, nor does
        # acknowledging a cleared alarm.
        await s.ack(b.id, "op")
        assert active()["warning"] == 1  # acknowledged is still open
        await s.clear(b.id, "op")
        await s.clear(b.id, "op")
        await s.ack(a.id, "op")
        assert d("hub_alarms_cleared_total") == 2
        assert active() == {"critical": 0, "major": 0, "warning": 0}
        await s.trigger(trigger("warning", device_id="dev-2", ts=T0 + 4))
        assert d("hub_alarms_raised_total", severity="warning") == 3
    # A new service over the same store sets the gauge from what it loads.
    async with alarm_rig(tmp_path) as r:
        assert active() == {"critical": 0, "major": 0, "warning": 1}


async def test_a_failed_write_is_not_counted(tmp_path: Path) -> None:
    d = Delta(("hub_alarms_raised_total", {"severity": "major"}))
    async with alarm_rig(tmp_path) as r:
        real = r.service.repo.engine
        r.service.repo.engine = _Broken()  # type: ignore[assignment]
        with pytest.raises(OSError):
            await r.service.trigger(trigger("major"))
        r.service.repo.engine = real
        assert d("hub_alarms_raised_total", severity="major") == 0
        assert r.service.open_id("dev-1", "level-high") is None
        assert r.drain() == []


class _Broken:
    class dialect:  # stands in for the engine's dialect
        name = "postgresql"  # a plain transaction, no SQLite write lock

    def begin(self) -> _Broken:
        return self

    async def __aenter__(self) -> None:
        raise OSError("database unreachable")

    async def __aexit__(self, *exc: object) -> None:
        return None
