"""Units' telemetry: accept a report, store it in the unit's track, announce the position."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.bus import Bus
from hub.bus.contracts import UNIT_POSITIONS, UnitPosition
from hub.config import Site
from hub.errors import NotFoundError
from hub.store.db import write_transaction
from hub.store.models import UnitPositionRow
from hub.units.telemetry import TelemetryError, parse

log = logging.getLogger(__name__)

ACCEPTED = Counter("hub_unit_telemetry_accepted_total", "Unit telemetry reports stored")
REJECTED = Counter(
    "hub_unit_telemetry_rejected_total", "Unit telemetry reports refused, by reason", ["reason"]
)
MIN_INTERVAL_SECONDS = 0.2
"""Reports closer together than this from one unit are dropped (5 per second at most)."""
MAX_TRACK = 20_000
FRESH_SECONDS = 10.0
"""A unit's position older than this does not place what its camera sees."""


class UnitService:
    def __init__(
        self, engine: AsyncEngine, bus: Bus, site: Site, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.engine = engine
        self.bus = bus
        self.units = {c.id: c for c in site.cameras if c.published}
        self.clock = clock
        self._latest: dict[str, UnitPosition] = {}
        self._last_report: dict[str, float] = {}
        self._last_error_logged: dict[str, str] = {}

    async def start(self) -> None:
        """Load each unit's last known position (the map shows it after a restart)."""
        async with self.engine.connect() as conn:
            for unit_id in self.units:
                row = (
                    await conn.execute(
                        select(UnitPositionRow)
                        .where(UnitPositionRow.unit_id == unit_id)
                        .order_by(UnitPositionRow.ts.desc())
                        .limit(1)
                    )
                ).first()
                if row is not None:
                    self._latest[unit_id] = _position(row)

    def _unit(self, unit_id: str) -> None:
        if unit_id not in self.units:
            raise NotFoundError(f"no unit {unit_id!r}")

    async def report(self, unit_id: str, raw: bytes) -> UnitPosition | None:
        """One report from a unit's data channel; None if it was dropped or refused."""
        self._unit(unit_id)
        now = self.clock()
        if now - self._last_report.get(unit_id, -1e9) < MIN_INTERVAL_SECONDS:
            REJECTED.labels("too_often").inc()
            return None
        try:
            pos = parse(unit_id, raw, now)
        except TelemetryError as exc:
            REJECTED.labels("invalid").inc()
            # Once per distinct reason: a unit with a broken encoder must not flood the log.
            if self._last_error_logged.get(unit_id) != str(exc):
                self._last_error_logged[unit_id] = str(exc)
                log.warning("unit %s: telemetry refused: %s", unit_id, exc)
            return None
        self._last_report[unit_id] = now
        async with write_transaction(self.engine) as conn:
            await conn.execute(insert(UnitPositionRow).values(**pos.model_dump()))
        ACCEPTED.inc()
        self._latest[unit_id] = pos
        try:
            await self.bus.publish(UNIT_POSITIONS, pos)
        except Exception:
            log.exception("announcing unit %s failed", unit_id)
        return pos

    def position(self, unit_id: str, *, max_age: float = FRESH_SECONDS) -> UnitPosition | None:
        """The unit's last position, if it reported it to this hub within ``max_age`` seconds
        (by the hub's clock: a unit's own may be wrong)."""
        if self.clock() - self._last_report.get(unit_id, -1e18) > max_age:
            return None
        return self._latest.get(unit_id)

    def latest(self) -> list[UnitPosition]:
        return [self._latest[u] for u in self.units if u in self._latest]

    async def track(self, unit_id: str, *, since: datetime, until: datetime) -> list[UnitPosition]:
        """The unit's reports in [since, until), oldest first (at most MAX_TRACK)."""
        self._unit(unit_id)
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(UnitPositionRow)
                .where(
                    UnitPositionRow.unit_id == unit_id,
                    UnitPositionRow.ts >= since,
                    UnitPositionRow.ts < until,
                )
                .order_by(UnitPositionRow.ts)
                .limit(MAX_TRACK)
            )
            return [_position(r) for r in rows]


def _position(row: Any) -> UnitPosition:
    """A ``unit_positions`` row (core query result) as the bus contract."""
    return UnitPosition(
        unit_id=row.unit_id,
        ts=row.ts,
        lon=row.lon,
        lat=row.lat,
        alt_m=row.alt_m,
        heading=row.heading,
        speed_mps=row.speed_mps,
        battery_pct=row.battery_pct,
    )
