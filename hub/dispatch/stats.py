"""Supervision figures of the case loop (考核指标) by grid, street, department, worker or
category over a time range: how many cases were reported, opened, closed, closed in time,
reworked, and how long acceptance, handling and closing took.

Rates follow the usual definitions of digital urban management: 结案率 = closed / opened,
按期结案率 = closed by the deadline / closed, 返工率 = reworked / handled at least once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.models import CaseRow

GroupBy = Literal["grid", "street", "department", "worker", "category"]
_COLUMN = {
    "grid": CaseRow.grid_id,
    "street": CaseRow.street_id,
    "department": CaseRow.department,
    "worker": CaseRow.assignee,
    "category": CaseRow.category,
}


class StatsRow(BaseModel):
    key: str | None
    """The grid, street, department, worker or category; None: cases without one."""
    name: str | None = None
    reported: int
    opened: int
    voided: int
    closed: int
    closed_on_time: int
    reworked: int
    handled: int
    closure_rate: float | None
    """结案率: closed / opened."""
    on_time_rate: float | None
    """按期结案率: closed by the deadline / closed."""
    rework_rate: float | None
    """返工率: reworked / handled."""
    mean_accept_minutes: float | None
    mean_handle_minutes: float | None
    """From dispatch to the handling feedback."""
    mean_close_minutes: float | None


class Stats(BaseModel):
    by: GroupBy
    since: datetime | None
    until: datetime | None
    rows: list[StatsRow]
    total: StatsRow


@dataclass
class _Acc:
    reported: int = 0
    opened: int = 0
    voided: int = 0
    closed: int = 0
    on_time: int = 0
    reworked: int = 0
    handled: int = 0
    accept: list[float] = field(default_factory=list)
    handle: list[float] = field(default_factory=list)
    close: list[float] = field(default_factory=list)

    def row(self, key: str | None, name: str | None) -> StatsRow:
        def rate(a: int, b: int) -> float | None:
            return round(a / b, 4) if b else None

        def mean(xs: list[float]) -> float | None:
            return round(sum(xs) / len(xs), 1) if xs else None

        return StatsRow(
            key=key,
            name=name,
            reported=self.reported,
            opened=self.opened,
            voided=self.voided,
            closed=self.closed,
            closed_on_time=self.on_time,
            reworked=self.reworked,
            handled=self.handled,
            closure_rate=rate(self.closed, self.opened),
            on_time_rate=rate(self.on_time, self.closed),
            rework_rate=rate(self.reworked, self.handled),
            mean_accept_minutes=mean(self.accept),
            mean_handle_minutes=mean(self.handle),
            mean_close_minutes=mean(self.close),
        )


def _minutes(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else (b - a).total_seconds() / 60


async def case_stats(
    conn: AsyncConnection,
    by: GroupBy,
    *,
    since: datetime | None,
    until: datetime | None,
    names: dict[str, str],
) -> Stats:
    """Figures of the cases reported in [since, until), grouped ``by``."""
    key = _COLUMN[by]
    q = select(
        key,
        CaseRow.state,
        CaseRow.created_at,
        CaseRow.accepted_at,
        CaseRow.opened_at,
        CaseRow.dispatched_at,
        CaseRow.handled_at,
        CaseRow.closed_at,
        CaseRow.deadline,
        CaseRow.rework_count,
    )
    if since is not None:
        q = q.where(CaseRow.created_at >= since)
    if until is not None:
        q = q.where(CaseRow.created_at < until)
    groups: dict[str | None, _Acc] = {}
    total = _Acc()
    result = await conn.stream(q.execution_options(yield_per=2000))
    async for r in result:
        for acc in (groups.setdefault(r[0], _Acc()), total):
            acc.reported += 1
            acc.opened += r.opened_at is not None
            acc.voided += r.state == "voided"
            if r.closed_at is not None:
                acc.closed += 1
                acc.on_time += r.deadline is None or r.closed_at <= r.deadline
                acc.close.append((r.closed_at - r.created_at).total_seconds() / 60)
            if r.handled_at is not None:
                acc.handled += 1
                acc.reworked += r.rework_count > 0
            for xs, m in (
                (acc.accept, _minutes(r.created_at, r.accepted_at)),
                (acc.handle, _minutes(r.dispatched_at, r.handled_at)),
            ):
                if m is not None:
                    xs.append(m)
    rows = [
        acc.row(k, names.get(k) if k is not None else None)
        for k, acc in sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
    ]
    return Stats(by=by, since=since, until=until, rows=rows, total=total.row(None, "合计 total"))


CSV_COLUMNS = [
    ("key", "编码 key"),
    ("name", "名称 name"),
    ("reported", "上报 reported"),
    ("opened", "立案 opened"),
    ("voided", "作废 voided"),
    ("closed", "结案 closed"),
    ("closed_on_time", "按期结案 closed on time"),
    ("reworked", "返工 reworked"),
    ("handled", "处置 handled"),
    ("closure_rate", "结案率 closure rate"),
    ("on_time_rate", "按期结案率 on-time rate"),
    ("rework_rate", "返工率 rework rate"),
    ("mean_accept_minutes", "平均受理分钟 mean accept min"),
    ("mean_handle_minutes", "平均处置分钟 mean handle min"),
    ("mean_close_minutes", "平均结案分钟 mean close min"),
]


def to_csv(rows: Iterable[StatsRow]) -> str:
    """CSV with a UTF-8 BOM, so that Excel opens the Chinese headers right."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out)
    w.writerow([label for _, label in CSV_COLUMNS])
    for row in rows:
        data = row.model_dump()
        w.writerow(["" if data[k] is None else _safe(data[k]) for k, _ in CSV_COLUMNS])
    return out.getvalue()


def _safe(value: object) -> object:
    # A cell starting with = + - @ runs as a formula in a spreadsheet (CSV injection); names come
    # from the site file, but a report should never execute.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
