"""The only place with the case loop's SQL (tables cases, case_timeline, case_evidence; the
parts of co-dispatched cases are :mod:`hub.dispatch.parts_repo`'s).

Every write happens inside a transaction the service opens (``async with repo.begin() as
conn``), so a change, its timeline entry and its evidence commit together or not at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Select

from hub.dispatch.models import Case, EvidenceItem, TimelineEntry
from hub.dispatch.workflow import OPEN_STATES
from hub.store.db import busy_as_503, write_transaction
from hub.store.models import CaseEvidenceRow, CasePartRow, CaseRow, CaseTimelineRow, PhotoRow

_COLUMNS = [c.key for c in CaseRow.__table__.columns]
_ALL = tuple(CaseRow.__table__.columns)


def _case(row: Any) -> Case:
    m = row._mapping
    data = {k: m[k] for k in _COLUMNS if k not in ("lon", "lat")}
    data["position"] = None if m["lon"] is None else (m["lon"], m["lat"])
    return Case.model_validate(data)


def _values(case_values: dict[str, Any]) -> dict[str, Any]:
    """Case fields to column values (``position`` -> lon, lat)."""
    out = dict(case_values)
    if "position" in out:
        pos = out.pop("position")
        out["lon"], out["lat"] = (None, None) if pos is None else (pos[0], pos[1])
    return out


def visible_to(username: str) -> ColumnElement[bool]:
    """The cases a worker may see: assigned to them, reported by them (随手拍, read-only), or
    with a co-dispatched part assigned to them."""
    return or_(
        CaseRow.assignee == username,
        CaseRow.reporter == username,
        CaseRow.id.in_(select(CasePartRow.case_id).where(CasePartRow.assignee == username)),
    )


_visible_to = visible_to


@dataclass(frozen=True, slots=True)
class CaseFilter:
    state: Sequence[str] = ()
    """Any of these states; "open" stands for every running state."""
    category: str | None = None
    grid_id: str | None = None
    street_id: str | None = None
    department: str | None = None
    assignee: str | None = None
    light: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    ids: Sequence[int] = ()
    """Any of these cases (none: all)."""
    categories: Sequence[str] = ()
    """Any of these categories (none: all)."""
    pending: str | None = None
    """Cases with this request pending (extension, return)."""
    visible_to: str | None = None
    """Only the cases this worker may see (:func:`visible_to`)."""

    def apply(self, q: Select[Any]) -> Select[Any]:
        states = set(self.state)
        if "open" in states:
            states = (states - {"open"}) | set(OPEN_STATES)
        if states:
            q = q.where(CaseRow.state.in_(sorted(states)))
        for col, value in (
            (CaseRow.category, self.category),
            (CaseRow.grid_id, self.grid_id),
            (CaseRow.street_id, self.street_id),
            (CaseRow.department, self.department),
            (CaseRow.assignee, self.assignee),
            (CaseRow.light, self.light),
            (CaseRow.source, self.source),
            (CaseRow.pending, self.pending),
        ):
            if value is not None:
                q = q.where(col == value)
        if self.visible_to is not None:
            q = q.where(visible_to(self.visible_to))
        if self.ids:
            q = q.where(CaseRow.id.in_(list(self.ids)))
        if self.categories:
            q = q.where(CaseRow.category.in_(list(self.categories)))
        if self.since is not None:
            q = q.where(CaseRow.created_at >= self.since)
        if self.until is not None:
            q = q.where(CaseRow.created_at < self.until)
        return q


class CaseRepo:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A transaction; SQLite's "database is locked" ends as 503 with Retry-After
        (:class:`hub.errors.DatabaseBusyError`), the transaction rolled back."""
        async with write_transaction(self.engine) as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        with busy_as_503():
            async with self.engine.connect() as conn:
                yield conn

    # -- writes (inside the caller's transaction) -------------------------------------------

    async def insert(self, conn: AsyncConnection, values: dict[str, Any]) -> int:
        res = await conn.execute(insert(CaseRow).values(**_values(values)).returning(CaseRow.id))
        return int(res.scalar_one())

    async def insert_returning(self, conn: AsyncConnection, values: dict[str, Any]) -> Case:
        """Insert a case and return it as stored."""
        res = await conn.execute(insert(CaseRow).values(**_values(values)).returning(*_ALL))
        return _case(res.one())

    async def update_returning(
        self, conn: AsyncConnection, case_id: int, version: int, values: dict[str, Any]
    ) -> Case | None:
        """:meth:`update` that returns the case as it is after it (one statement: UPDATE ...
        RETURNING); None when someone changed it first."""
        res = await conn.execute(
            update(CaseRow)
            .where(CaseRow.id == case_id, CaseRow.version == version)
            .values(**_values(values), version=version + 1)
            .returning(*_ALL)
        )
        row = res.first()
        return None if row is None else _case(row)

    async def update(
        self, conn: AsyncConnection, case_id: int, version: int, values: dict[str, Any]
    ) -> bool:
        """Apply ``values`` and move the version on, if the case is still at ``version``;
        False when someone changed it first."""
        res = await conn.execute(
            update(CaseRow)
            .where(CaseRow.id == case_id, CaseRow.version == version)
            .values(**_values(values), version=version + 1)
        )
        return bool(res.rowcount == 1)

    async def log(
        self,
        conn: AsyncConnection,
        case_id: int,
        *,
        ts: datetime,
        action: str,
        actor: str,
        role: str,
        from_state: str | None,
        to_state: str,
        version: int,
        detail: dict[str, Any] | None = None,
    ) -> None:
        await conn.execute(
            insert(CaseTimelineRow).values(
                case_id=case_id,
                ts=ts,
                action=action,
                actor=actor,
                role=role,
                from_state=from_state,
                to_state=to_state,
                version=version,
                detail=detail or {},
            )
        )

    async def add_evidence(
        self,
        conn: AsyncConnection,
        case_id: int,
        *,
        ts: datetime,
        kind: str,
        ref: str,
        detail: dict[str, Any],
    ) -> bool:
        """Attach a piece of evidence once; False when the case has it already."""
        values = {"case_id": case_id, "ts": ts, "kind": kind, "ref": ref, "detail": detail}
        if conn.dialect.name == "postgresql":
            stmt: Any = postgresql.insert(CaseEvidenceRow).values(**values)
        else:
            stmt = sqlite.insert(CaseEvidenceRow).values(**values)
        res = await conn.execute(stmt.on_conflict_do_nothing())
        return bool(res.rowcount == 1)

    async def touch(self, conn: AsyncConnection, case_id: int, now: datetime) -> None:
        """One more piece of evidence arrived. Not a change of the case's course, so its
        version stays: a worker acting on it is not refused because a camera saw more."""
        await conn.execute(
            update(CaseRow)
            .where(CaseRow.id == case_id)
            .values(evidence_count=CaseRow.evidence_count + 1, last_evidence_at=now)
        )

    async def add_photo(
        self, conn: AsyncConnection, photo_id: str, uploader: str, now: datetime, w: int, h: int,
        size: int,
    ) -> None:  # fmt: skip
        await conn.execute(
            insert(PhotoRow).values(
                id=photo_id, uploader=uploader, created_at=now, width=w, height=h, size=size
            )
        )

    # -- reads -------------------------------------------------------------------------------

    async def photo_uploaders(self, conn: AsyncConnection, ids: Sequence[str]) -> dict[str, str]:
        rows = await conn.execute(
            select(PhotoRow.id, PhotoRow.uploader).where(PhotoRow.id.in_(list(ids)))
        )
        return {str(i): str(u) for i, u in rows}

    async def evidence_visible_to(
        self, conn: AsyncConnection, kind: str, ref: str, worker: str
    ) -> bool:
        """Whether this evidence (a photo, a recording) is in a case ``worker`` may see
        (:func:`visible_to`)."""
        row = (
            await conn.execute(
                select(CaseEvidenceRow.id)
                .join(CaseRow, CaseRow.id == CaseEvidenceRow.case_id)
                .where(
                    CaseEvidenceRow.kind == kind,
                    CaseEvidenceRow.ref == ref,
                    visible_to(worker),
                )
                .limit(1)
            )
        ).first()
        return row is not None

    async def last_detail(
        self, conn: AsyncConnection, case_id: int, action: str
    ) -> dict[str, Any] | None:
        """The detail of the case's latest timeline entry of ``action``."""
        row = (
            await conn.execute(
                select(CaseTimelineRow.detail)
                .where(CaseTimelineRow.case_id == case_id, CaseTimelineRow.action == action)
                .order_by(CaseTimelineRow.id.desc())
                .limit(1)
            )
        ).first()
        return None if row is None else dict(row[0])

    async def last_escalations(
        self, conn: AsyncConnection, case_ids: Sequence[int]
    ) -> dict[int, tuple[datetime, dict[str, Any]]]:
        """(time, detail) of each case's latest escalation (timeline action ``supervise``);
        cases never escalated are absent."""
        out: dict[int, tuple[datetime, dict[str, Any]]] = {}
        ids = list(case_ids)
        for i in range(0, len(ids), 500):
            latest = (
                select(func.max(CaseTimelineRow.id))
                .where(
                    CaseTimelineRow.action == "supervise",
                    CaseTimelineRow.case_id.in_(ids[i : i + 500]),
                )
                .group_by(CaseTimelineRow.case_id)
            )
            rows = await conn.execute(
                select(CaseTimelineRow.case_id, CaseTimelineRow.ts, CaseTimelineRow.detail).where(
                    CaseTimelineRow.id.in_(latest)
                )
            )
            for case_id, ts, detail in rows:
                out[int(case_id)] = (ts, dict(detail or {}))
        return out

    async def worker_may_see(self, conn: AsyncConnection, case_id: int, worker: str) -> bool:
        row = (
            await conn.execute(
                select(CaseRow.id).where(CaseRow.id == case_id, visible_to(worker)).limit(1)
            )
        ).first()
        return row is not None

    async def get(
        self, conn: AsyncConnection, case_id: int, *, visible_to: str | None = None
    ) -> Case | None:
        """The case; with ``visible_to``, only if that worker may see it (:func:`visible_to`)."""
        q = select(CaseRow).where(CaseRow.id == case_id)
        if visible_to is not None:
            q = q.where(_visible_to(visible_to))
        row = (await conn.execute(q)).first()
        return None if row is None else _case(row)

    async def timeline(self, conn: AsyncConnection, case_id: int) -> list[TimelineEntry]:
        rows = await conn.execute(
            select(CaseTimelineRow)
            .where(CaseTimelineRow.case_id == case_id)
            .order_by(CaseTimelineRow.id)
        )
        return [TimelineEntry.model_validate(r, from_attributes=True) for r in rows]

    async def evidence(self, conn: AsyncConnection, case_id: int) -> list[EvidenceItem]:
        rows = await conn.execute(
            select(CaseEvidenceRow)
            .where(CaseEvidenceRow.case_id == case_id)
            .order_by(CaseEvidenceRow.id)
        )
        return [EvidenceItem.model_validate(r, from_attributes=True) for r in rows]

    async def evidence_details(
        self, conn: AsyncConnection, case_ids: Sequence[int], kind: str, ref: str
    ) -> dict[int, dict[str, Any]]:
        """The detail of the evidence ``kind``/``ref`` of each of these cases that has it."""
        if not case_ids:
            return {}
        rows = await conn.execute(
            select(CaseEvidenceRow.case_id, CaseEvidenceRow.detail).where(
                CaseEvidenceRow.case_id.in_(list(case_ids)),
                CaseEvidenceRow.kind == kind,
                CaseEvidenceRow.ref == ref,
            )
        )
        return {int(c): dict(d or {}) for c, d in rows}

    async def evidence_of(
        self, conn: AsyncConnection, kind: str, ref: str
    ) -> tuple[int, dict[str, Any]] | None:
        """The case holding this evidence and the evidence's detail."""
        row = (
            await conn.execute(
                select(CaseEvidenceRow.case_id, CaseEvidenceRow.detail)
                .where(CaseEvidenceRow.kind == kind, CaseEvidenceRow.ref == ref)
                .limit(1)
            )
        ).first()
        return None if row is None else (int(row[0]), dict(row[1] or {}))

    async def count_evidence(self, conn: AsyncConnection, case_id: int, added: int) -> None:
        """``added`` pieces of evidence that are not a sighting (call recordings): counted,
        without moving ``last_evidence_at``, which decides whether new sightings fuse."""
        if added:
            await conn.execute(
                update(CaseRow)
                .where(CaseRow.id == case_id)
                .values(evidence_count=CaseRow.evidence_count + added)
            )

    async def case_of_evidence(self, conn: AsyncConnection, kind: str, ref: str) -> int | None:
        """The case that holds this piece of evidence already (a redelivered detection)."""
        row = (
            await conn.execute(
                select(CaseEvidenceRow.case_id)
                .where(CaseEvidenceRow.kind == kind, CaseEvidenceRow.ref == ref)
                .limit(1)
            )
        ).first()
        return None if row is None else int(row[0])

    async def fusion_candidates(
        self, conn: AsyncConnection, category: str, since: datetime
    ) -> list[Case]:
        """Running cases of ``category`` whose last evidence is not older than ``since``."""
        rows = await conn.execute(
            select(CaseRow)
            .where(
                CaseRow.category == category,
                CaseRow.state.in_(sorted(OPEN_STATES)),
                CaseRow.last_evidence_at >= since,
            )
            .order_by(CaseRow.id.desc())
            .limit(50)
        )
        return [_case(r) for r in rows]

    async def loads(self, conn: AsyncConnection) -> dict[str, int]:
        """Running cases per assigned worker."""
        rows = await conn.execute(
            select(CaseRow.assignee, func.count())
            .where(CaseRow.state.in_(sorted(OPEN_STATES)), CaseRow.assignee.is_not(None))
            .group_by(CaseRow.assignee)
        )
        return {str(a): int(n) for a, n in rows}

    async def running(self, conn: AsyncConnection) -> list[Case]:
        rows = await conn.execute(select(CaseRow).where(CaseRow.state.in_(sorted(OPEN_STATES))))
        return [_case(r) for r in rows]

    async def page(
        self,
        conn: AsyncConnection,
        f: CaseFilter,
        *,
        limit: int,
        before_id: int | None,
        offset: int = 0,
    ) -> tuple[list[Case], int]:
        """Newest first, ``limit`` cases below ``before_id`` (after skipping ``offset``), and
        how many match in all."""
        q = f.apply(select(CaseRow)).order_by(CaseRow.id.desc()).limit(limit).offset(offset)
        if before_id is not None:
            q = q.where(CaseRow.id < before_id)
        rows = await conn.execute(q)
        total = (await conn.execute(f.apply(select(func.count()).select_from(CaseRow)))).scalar()
        return [_case(r) for r in rows], int(total or 0)
