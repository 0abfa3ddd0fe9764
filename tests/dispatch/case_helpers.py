"""A case service on a real store (SQLite or PostgreSQL) with a clock the test turns."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from store.conftest import open_test_store

from hub.bus.contracts import CASES, CaseChange, RecordedEvent
from hub.bus.memory import MemoryBus
from hub.config import Camera, Site
from hub.dispatch.models import Case, CaseAction
from hub.dispatch.service import CaseService
from hub.geo.grids import GridMap
from hub.store.db import Store

TZ = "Asia/Shanghai"
MONDAY_10 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
"""Monday 30 Nov 2026, 10:00 in Shanghai: a working morning."""

CAMERAS = [
    Camera(id="cam-a", name="河海路口", url="rtsp://x/a", grid="g1", position=[120.0, 31.8]),
    Camera(id="cam-b", name="河海路口东", url="rtsp://x/b", grid="g1", position=[120.0001, 31.8]),
    Camera(id="cam-far", name="远处", url="rtsp://x/c", grid="g2", position=[120.3, 31.8]),
]
WORKERS = ("wang", "li")


@dataclass
class Clock:
    now: datetime = MONDAY_10

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


@dataclass
class Rig:
    store: Store
    bus: MemoryBus
    site: Site
    clock: Clock
    svc: CaseService
    changes: Any = None
    seen: list[CaseChange] = field(default_factory=list)

    async def restart(self) -> None:
        """A new service on the same store, as after a hub restart."""
        await self.svc.stop()
        self.svc = make_service(self.store, self.bus, self.site, self.clock)
        await self.svc.start()

    def drain(self) -> list[CaseChange]:
        while not self.changes.queue.empty():
            self.seen.append(self.changes.queue.get_nowait().data)
        return self.seen

    async def step(
        self, case: Case, action: str, actor: str = "op", role: str = "operator", **kw: Any
    ) -> Case:
        body = CaseAction.model_validate({"action": action, "version": case.version, **kw})
        return await self.svc.act(case.id, body, actor=actor, role=role)  # type: ignore[arg-type]


def make_site() -> Site:
    site = Site.for_cameras(CAMERAS, name="测试区")
    data = site.model_dump()
    data["workers"] = [
        {"username": "wang", "name": "王网格员", "grids": ["g1"]},
        {"username": "li", "name": "李网格员", "grids": ["g2"], "department": "municipal"},
        {"username": "ghost", "name": "没有账号", "grids": ["g1"]},
    ]
    return Site.model_validate(data)


def make_service(store: Store, bus: MemoryBus, site: Site, clock: Clock) -> CaseService:
    return CaseService(
        store.engine, bus, site, GridMap(site), store.users, timezone=TZ, clock=clock
    )


@contextlib.asynccontextmanager
async def case_rig(
    kind: str,
    tmp_path: Path,
    *,
    site: Site | None = None,
    workers: Sequence[str] = WORKERS,
    others: Mapping[str, str] | None = None,
) -> AsyncIterator[Rig]:
    """The service on a fresh store with worker accounts for ``workers`` and, by default, an
    operator ``op`` (``others``: more accounts, username -> role)."""
    async with open_test_store(kind, tmp_path) as store:
        for w in workers:
            await store.users.create(w, "worker", "pw-" + w * 4)
        for name, role in (others or {"op": "operator"}).items():
            await store.users.create(name, role, f"pw-{role}-{name}")
        bus = MemoryBus()
        site = site or make_site()
        clock = Clock()
        svc = make_service(store, bus, site, clock)
        rig = Rig(store, bus, site, clock, svc, changes=bus.subscribe(CASES))
        await svc.start()
        try:
            yield rig
        finally:
            await rig.svc.stop()


def detection(camera_id: str = "cam-a", kind: str = "intrusion", **kw: Any) -> RecordedEvent:
    from hub.ids import new_id

    base: dict[str, Any] = {
        "id": new_id(),
        "camera_id": camera_id,
        "grid_id": "g1",
        "type": kind,
        "zone_id": "z1",
        "track_id": 7,
        "start": MONDAY_10,
        "media_time": 12.5,
        "confidence": 0.9,
        "seq": 1,
        "created_at": MONDAY_10,
    }
    return RecordedEvent.model_validate({**base, **kw})
