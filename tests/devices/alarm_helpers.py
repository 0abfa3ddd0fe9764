"""A small site with rules of every kind and cameras around its devices, and a rule engine with its
alarm service over a private SQLite store and a MemoryBus, for the rule / linkage tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.alarms.service import AlarmService
from hub.bus.base import Subscription
from hub.bus.contracts import ALARMS
from hub.bus.memory import MemoryBus
from hub.config import Camera, Device, DeviceProfile, Site
from hub.devices.registry import DeviceRegistry
from hub.devices.rules import RuleEngine
from hub.geo.coverage import Linkage
from hub.store.db import Store, open_store


def rules_site(*, offline_warning_s: float = 60.0) -> Site:
    """Rules of every kind on one probe profile, two devices at the same spot and cameras around
    them: one that sees them, a dome, one looking away and one too far."""

    def when(op: str, value: float | bool) -> dict[str, Any]:
        return {"op": op, "value": value}

    probe = DeviceProfile.model_validate(
        {
            "id": "probe",
            "name": "probe",
            "telemetry": [
                {"key": "level", "min": -1000, "max": 1000},
                {"key": "open", "type": "boolean"},
            ],
            "alarm_rules": [
                {"id": "level-high", "name": "水位过高", "key": "level",
                 "create": {"critical": when(">=", 9), "warning": when(">=", 5)}},
                {"id": "level-sticky", "name": "sticky", "key": "level",
                 "create": {"major": when(">=", 50)}, "clear": when("<", 10)},
                {"id": "door-held", "name": "门长开", "kind": "duration", "key": "open",
                 "for_seconds": 60, "create": {"minor": when("==", True)}},
                {"id": "level-rise", "name": "水位上涨", "kind": "rate", "key": "level",
                 "window_seconds": 120, "create": {"major": when(">", 2)}},
                {"id": "offline", "name": "离线", "kind": "missing",
                 "create": {"major": when(">", 600), "warning": when(">", offline_warning_s)}},
            ],
        }
    )  # fmt: skip
    spot = [120.05, 31.05]
    devices = [
        Device(id="dev-1", name="一号", profile="probe", grid="g1", position=spot),
        Device(id="dev-2", name="二号", profile="probe", grid="g1", position=spot),
    ]

    def cam(n: int, cid: str, name: str, pos: list[float], heading: float | None) -> Camera:
        return Camera(
            id=cid, name=name, url=f"rtsp://x/{n}", grid="g1", position=pos, heading=heading
        )

    cameras = [
        cam(1, "cam-east", "东向", [120.04895, 31.05], 90),  # ~100 m west, facing east: sees them
        cam(2, "cam-dome", "球机", [120.05, 31.05045], None),  # ~50 m north, a dome: sees all round
        cam(3, "cam-north", "北向", [120.04895, 31.05], 0),  # ~100 m west, facing away
        cam(4, "cam-far", "远处", [120.055, 31.05], None),  # ~500 m away: too far
    ]
    return Site.for_devices([probe], devices, cameras=cameras, name="rules")


class Clock:
    def __init__(self, t: float = 1_750_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@dataclass
class Rig:
    site: Site
    store: Store
    bus: MemoryBus
    service: AlarmService
    engine: RuleEngine
    alarms: Subscription
    """Topic ``alarms``."""

    def drain(self) -> list[dict[str, Any]]:
        """The alarm messages published so far, as their JSON."""
        out: list[dict[str, Any]] = []
        q = getattr(self.alarms, "queue", None) or getattr(self.alarms, "_queue", None)
        assert q is not None
        while not q.empty():
            out.append(q.get_nowait().data.model_dump(mode="json"))
        return out


@contextlib.asynccontextmanager
async def rig(
    tmp: Path,
    *,
    site: Site | None = None,
    clock: Callable[[], float] | None = None,
    timers: bool = False,
    store: Store | None = None,
) -> AsyncIterator[Rig]:
    s = site or rules_site()
    own = store is None
    st = store or await open_store(f"sqlite+aiosqlite:///{tmp / 'hub.db'}")
    bus = MemoryBus(queue_size=1_000_000)
    sub = bus.subscribe(ALARMS)
    service = AlarmService(st.engine, bus)
    await service.load()
    eng = RuleEngine(
        DeviceRegistry(s),
        service,
        Linkage(s.cameras),
        bus,
        st.engine,
        clock=clock or Clock(),
        timers=timers,
    )
    await eng.start()
    try:
        yield Rig(s, st, bus, service, eng, sub)
    finally:
        await eng.stop()
        if own:
            await st.close()
