"""Telemetry history: raw values for recent days, 1-minute and 1-hour rollups for older ones.

Retention (Settings): raw rows live ``telemetry_raw_days``; when they age out they are folded into
1-minute and 1-hour min/max/avg rollups (both from the raw values, so both are exact) and
deleted; 1-minute rollups live ``telemetry_minute_days`` and 1-hour ones
``telemetry_hour_days``. A series query reads raw rows where they still exist and rollups before
that, then re-buckets the result to at most ``max_points`` so a chart gets a bounded series
whatever the range.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.bulk import insert_rows
from hub.store.models import TelemetryRollupRow, TelemetryRow

log = logging.getLogger(__name__)

DAY = 86_400.0
RESOLUTIONS = (60, 3600)
FOLD_CHUNK = 3600.0
"""Raw rows are folded one hour of data at a time: bounded memory whatever the backlog."""


@dataclass(frozen=True, slots=True)
class Retention:
    raw_days: float = 7.0
    minute_days: float = 90.0
    hour_days: float = 730.0


@dataclass(slots=True)
class Bucket:
    start: float
    count: int
    min: float
    max: float
    sum: float

    def add(self, other: Bucket) -> None:
        self.count += other.count
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.sum += other.sum

    def json(self) -> dict[str, Any]:
        return {
            "t": self.start,
            "avg": self.sum / self.count,
            "min": self.min,
            "max": self.max,
            "count": self.count,
        }


def _rebucket(points: list[Bucket], since: float, width: float) -> list[Bucket]:
    out: dict[int, Bucket] = {}
    for p in points:
        i = int((p.start - since) // width)
        b = out.get(i)
        if b is None:
            out[i] = Bucket(since + i * width, p.count, p.min, p.max, p.sum)
        else:
            b.add(p)
    return [out[i] for i in sorted(out)]


class TelemetryHistory:
    def __init__(self, engine: AsyncEngine, retention: Retention) -> None:
        self.engine = engine
        self.retention = retention

    def raw_cutoff(self, now: float) -> float:
        return now - self.retention.raw_days * DAY

    async def series(
        self,
        device_id: str,
        key: str,
        since: float,
        until: float,
        max_points: int,
        now: float,
    ) -> dict[str, Any]:
        """Numeric values of one key between ``since`` and ``until`` (epoch seconds).

        ``resolution`` says what the points are: ``raw`` (one point per reading), or the width in
        seconds of the buckets each point summarises (min/max/avg/count)."""
        raw_from = max(since, self.raw_cutoff(now))
        points: list[Bucket] = []
        source_res = 0
        if since < raw_from:
            span = min(until, raw_from) - since
            minute_from = now - self.retention.minute_days * DAY
            use_minutes = span / 60 <= max_points * 4 and since >= minute_from
            source_res = 60 if use_minutes else 3600
            r = TelemetryRollupRow
            q = (
                select(r.start, r.count, r.min, r.max, r.sum)
                .where(
                    r.device_id == device_id,
                    r.key == key,
                    r.resolution == source_res,
                    r.start >= since,
                    r.start < min(until, raw_from),
                )
                .order_by(r.start)
            )
            async with self.engine.connect() as conn:
                points.extend(Bucket(*row) for row in (await conn.execute(q)).all())
        if until >= raw_from:
            t = TelemetryRow
            q2 = (
                select(t.ts, t.value)
                .where(
                    t.device_id == device_id,
                    t.key == key,
                    t.ts >= raw_from,
                    t.ts <= until,
                    t.value.is_not(None),
                )
                .order_by(t.ts)
            )
            async with self.engine.connect() as conn:
                for ts, v in (await conn.execute(q2)).all():
                    assert v is not None
                    points.append(Bucket(ts, 1, v, v, v))
        resolution: str | float = source_res or "raw"
        if len(points) > max_points:
            width = max((until - since) / max_points, float(source_res or 1))
            points = _rebucket(points, since, width)
            resolution = int(width) if width == int(width) else round(width, 3)
        if resolution == "raw":
            items = [{"t": p.start, "value": p.sum} for p in points]
        else:
            items = [p.json() for p in points]
        return {"device_id": device_id, "key": key, "resolution": resolution, "points": items}

    async def maintain(self, now: float) -> dict[str, int]:
        """Fold aged raw rows into rollups and drop what is past retention. Idempotent."""
        cutoff = self.raw_cutoff(now)
        folded = 0
        while True:
            n = await self._fold_chunk(cutoff)
            if n == 0:
                break
            folded += n
        pruned = 0
        async with self.engine.begin() as conn:
            r = TelemetryRollupRow
            for res, days in ((60, self.retention.minute_days), (3600, self.retention.hour_days)):
                out = await conn.execute(
                    delete(r).where(r.resolution == res, r.start < now - days * DAY)
                )
                pruned += int(out.rowcount)
        if folded or pruned:
            log.info("telemetry maintained", extra={"folded": folded, "pruned_rollups": pruned})
        return {"folded": folded, "pruned_rollups": pruned}

    async def _fold_chunk(self, cutoff: float) -> int:
        t = TelemetryRow
        async with self.engine.begin() as conn:
            first = (await conn.execute(select(t.ts).order_by(t.ts).limit(1))).scalar()
            if first is None or first >= cutoff:
                return 0
            # Whole hours only, so a 1-hour bucket is never split across two folds.
            end = min(cutoff - cutoff % 3600, first - first % 3600 + FOLD_CHUNK)
            if end <= first:
                return 0
            rows = (
                await conn.execute(
                    select(t.device_id, t.key, t.ts, t.value).where(t.ts < end, t.ts >= first)
                )
            ).all()
            buckets: dict[tuple[str, str, int, float], Bucket] = {}
            for device_id, key, ts, value in rows:
                if value is None:
                    continue  # strings have no min/max/avg; they live as raw values only
                for res in RESOLUTIONS:
                    start = ts - ts % res
                    k = (device_id, key, res, start)
                    b = buckets.get(k)
                    if b is None:
                        buckets[k] = Bucket(start, 1, value, value, value)
                    else:
                        b.add(Bucket(start, 1, value, value, value))
            if buckets:
                await self._merge_rollups(conn, buckets)
            await conn.execute(delete(t).where(and_(t.ts < end, t.ts >= first)))
            return len(rows)

    async def _merge_rollups(
        self, conn: Any, buckets: dict[tuple[str, str, int, float], Bucket]
    ) -> None:
        rows = [
            (d, k, res, start, b.count, b.min, b.max, b.sum)
            for (d, k, res, start), b in buckets.items()
        ]
        pg = conn.dialect.name == "postgresql"
        t = TelemetryRollupRow.__tablename__
        least, greatest = ("least", "greatest") if pg else ("min", "max")
        # A bucket may already hold values folded earlier (late data): merge, never overwrite.
        await insert_rows(
            conn,
            t,
            ("device_id", "key", "resolution", "start", "count", "min", "max", "sum"),
            rows,
            conflict=("device_id", "key", "resolution", "start"),
            update=(
                f'"count" = "{t}"."count" + excluded."count", '
                f'"min" = {least}("{t}"."min", excluded."min"), '
                f'"max" = {greatest}("{t}"."max", excluded."max"), '
                f'"sum" = "{t}"."sum" + excluded."sum"'
            ),
        )
