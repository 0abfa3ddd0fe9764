"""An alarm service over a private SQLite store (or a given one) and a MemoryBus, and triggers of a
small fixed device fleet: the alarm domain alone, without the rule engine."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.alarms.models import Alarm, Trigger
from hub.alarms.service import AlarmService
from hub.bus.base import Subscription
from hub.bus.contracts import ALARMS
from hub.bus.memory import MemoryBus
from hub.config import Severity
from hub.store.db import Store, open_store

T0 = 1_750_000_000.0
SPOT = (120.05, 31.05)
CAMERAS: list[dict[str, Any]] = [
    {"camera_id": "cam-dome", "camera_name": "球机", "distance_m": 50.0},
    {"camera_id": "cam-east", "camera_name": "东向", "distance_m": 100.0},
]
NAMES = {"dev-1": "一号", "dev-2": "二号"}


def trigger(
    severity: Severity = "warning",
    value: float | bool | str | None = 6.0,
    *,
    device_id: str = "dev-1",
    rule_id: str = "level-high",
    ts: float = T0,
) -> Trigger:
    """What the rule engine hands the service when a rule's create condition holds."""
    return Trigger(
        device_id=device_id,
        device_name=NAMES.get(device_id, device_id),
        profile="probe",
        grid_id="g1",
        position=SPOT,
        rule_id=rule_id,
        rule_name="水位过高",
        key="level",
        severity=severity,
        value=value,
        ts=ts,
        cameras=[dict(c) for c in CAMERAS],
    )


@dataclass
class AlarmRig:
    store: Store
    bus: MemoryBus
    service: AlarmService
    published: Subscription[Alarm]
    """Topic ``alarms``."""

    def drain(self) -> list[Alarm]:
        """The alarms published since the last drain."""
        q = getattr(self.published, "queue", None)
        assert q is not None
        out: list[Alarm] = []
        while not q.empty():
            out.append(q.get_nowait().data)
        return out


@contextlib.asynccontextmanager
async def alarm_rig(tmp: Path, *, store: Store | None = None) -> AsyncIterator[AlarmRig]:
    """A loaded service; a second rig over the same store is the service after a restart."""
    own = store is None
    st = store or await open_store(f"sqlite+aiosqlite:///{tmp / 'hub.db'}")
    bus = MemoryBus(queue_size=100_000)
    sub = bus.subscribe(ALARMS)
    service = AlarmService(st.engine, bus)
    await service.load()
    try:
        yield AlarmRig(st, bus, service, sub)
    finally:
        await service.close()
        await sub.close()
        if own:
            await st.close()
