"""A small site with rules of every kind and cameras around its devices, and an engine over a
private SQLite store and a MemoryBus, for the rule / alarm / linkage tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.bus.base import Subscription
from hub.bus.events import TOPIC_ALARMS
from hub.bus.memory import MemoryBus
from hub.config import Site, parse_site
from hub.devices.alarms import AlarmBook
from hub.devices.linkage import Linkage
from hub.devices.registry import DeviceRegistry
from hub.devices.rules import RuleEngine
from hub.store.db import Store, open_store

SITE = """\
site: {name: rules}
district:
  id: d
  name: d
  streets:
    - id: s
      name: s
      communities:
        - id: c
          name: c
          grids:
            - id: g1
              name: 第一网格
              geometry:
                type: Polygon
                coordinates: [[[120.0, 31.0], [120.1, 31.0], [120.1, 31.1], [120.0, 31.0]]]
cameras:
  # ~100 m west of the device, facing east: sees it.
  - {id: cam-east, name: 东向, url: rtsp://x/1, grid: g1, position: [120.04895, 31.05], heading: 90}
  # ~50 m north, a dome: sees all round.
  - {id: cam-dome, name: 球机, url: rtsp://x/2, grid: g1, position: [120.05, 31.05045]}
  # ~100 m west, facing north: the device is outside its field of view.
  - {id: cam-north, name: 北向, url: rtsp://x/3, grid: g1, position: [120.04895, 31.05],
     heading: 0}
  # ~500 m away: too far.
  - {id: cam-far, name: 远处, url: rtsp://x/4, grid: g1, position: [120.055, 31.05]}
device_profiles:
  - id: probe
    name: probe
    telemetry:
      - {key: level, min: -1000, max: 1000}
      - {key: open, type: boolean}
    alarm_rules:
      - id: level-high
        name: 水位过高
        key: level
        create: {critical: {op: ">=", value: 9}, warning: {op: ">=", value: 5}}
      - id: level-sticky
        name: sticky
        key: level
        create: {major: {op: ">=", value: 50}}
        clear: {op: "<", value: 10}
      - id: door-held
        name: 门长开
        kind: duration
        key: open
        for_seconds: 60
        create: {minor: {op: "==", value: true}}
      - id: level-rise
        name: 水位上涨
        kind: rate
        key: level
        window_seconds: 120
        create: {major: {op: ">", value: 2}}
      - id: offline
        name: 离线
        kind: missing
        create: {major: {op: ">", value: 600}, warning: {op: ">", value: 60}}
devices:
  - {id: dev-1, name: 一号, profile: probe, grid: g1, position: [120.05, 31.05]}
  - {id: dev-2, name: 二号, profile: probe, grid: g1, position: [120.05, 31.05]}
"""


def rules_site() -> Site:
    return parse_site(SITE)


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
    book: AlarmBook
    engine: RuleEngine
    alarms: Subscription

    def drain(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        q = getattr(self.alarms, "queue", None) or getattr(self.alarms, "_queue", None)
        assert q is not None
        while not q.empty():
            out.append(q.get_nowait().data)
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
    sub = bus.subscribe(TOPIC_ALARMS)
    book = AlarmBook(st.engine, bus)
    await book.load()
    eng = RuleEngine(
        DeviceRegistry(s),
        book,
        Linkage(s.cameras),
        bus,
        st.engine,
        clock=clock or Clock(),
        timers=timers,
    )
    await eng.start()
    try:
        yield Rig(s, st, bus, book, eng, sub)
    finally:
        await eng.stop()
        if own:
            await st.close()
