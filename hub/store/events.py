"""Detection events: idempotent insert, upsert of an event's end and clip, lookup, newest-first
pages, retention's marks.

An event is published twice when it lasts (intrusion, loitering): once when it starts, and again
with the same id when it ends; once more when its evidence clip is written. ``upsert`` folds the
later messages into the stored row.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.bus.contracts import DetectionEvent, RecordedEvent
from hub.store.models import EventRow

MAX_PAGE = 500

UpsertOutcome = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    event: DetectionEvent
    seq: int
    created_at: datetime
    evidence_expired_at: datetime | None = None

    def recorded(self) -> RecordedEvent:
        return RecordedEvent(
            **dict(self.event),
            seq=self.seq,
            created_at=self.created_at,
            evidence_expired_at=self.evidence_expired_at,
        )

    def to_json(self) -> dict[str, Any]:
        """The DetectionEvent JSON plus ``seq``, ``created_at`` and ``evidence_expired_at``."""
        out = self.event.model_dump(mode="json")
        out["seq"] = self.seq
        out["created_at"] = self.created_at.isoformat()
        out["evidence_expired_at"] = (
            self.evidence_expired_at.isoformat() if self.evidence_expired_at else None
        )
        return out


def _row(ev: DetectionEvent) -> EventRow:
    return EventRow(
        id=ev.id,
        camera_id=ev.camera_id,
        grid_id=ev.grid_id,
        type=ev.type,
        zone_id=ev.zone_id,
        line_id=ev.line_id,
        direction=ev.direction,
        track_id=ev.track_id,
        start=ev.start,
        end=ev.end,
        media_time=ev.media_time,
        boxes=[b.model_dump() for b in ev.boxes],
        confidence=ev.confidence,
        snapshot=ev.snapshot,
        dwell_seconds=ev.dwell_seconds,
        clip=ev.clip,
        object_kind=ev.object_kind,
        count=ev.count,
        cause=ev.cause,
        lon=ev.position[0] if ev.position else None,
        lat=ev.position[1] if ev.position else None,
        fence=ev.fence,
    )


def _merge(row: EventRow, ev: DetectionEvent) -> bool:
    """Fold a later message in: its end and dwell, its clip. Nothing is ever cleared."""
    changed = False
    if ev.clip is not None and row.clip != ev.clip:
        row.clip = ev.clip
        changed = True
    if ev.count is not None and row.count != ev.count:
        row.count = ev.count  # a crowd's peak grows until its end
        changed = True
    if ev.end is None:
        return changed
    end = ev.end.replace(tzinfo=UTC) if ev.end.tzinfo is None else ev.end.astimezone(UTC)
    if row.end == end and row.dwell_seconds == ev.dwell_seconds:
        return changed
    row.end = end
    row.dwell_seconds = ev.dwell_seconds
    return True


def _stored(row: EventRow) -> StoredEvent:
    ev = DetectionEvent.model_validate(
        {
            "id": row.id,
            "camera_id": row.camera_id,
            "grid_id": row.grid_id,
            "type": row.type,
            "zone_id": row.zone_id,
            "line_id": row.line_id,
            "direction": row.direction,
            "track_id": row.track_id,
            "start": row.start,
            "end": row.end,
            "media_time": row.media_time,
            "boxes": row.boxes,
            "confidence": row.confidence,
            "snapshot": row.snapshot,
            "dwell_seconds": row.dwell_seconds,
            "clip": row.clip,
            "object_kind": row.object_kind,
            "position": [row.lon, row.lat] if row.lon is not None and row.lat is not None else None,
            "count": row.count,
            "cause": row.cause,
            "fence": row.fence,
        }
    )
    return StoredEvent(
        event=ev,
        seq=row.seq,
        created_at=row.created_at,
        evidence_expired_at=row.evidence_expired_at,
    )


class EventRepo:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, event: DetectionEvent) -> tuple[StoredEvent, bool]:
        """Insert once; a repeated id returns the stored event and False."""
        existing = await self.get(event.id)
        if existing is not None:
            return existing, False
        row = _row(event)
        try:
            async with self._sessions.begin() as s:
                s.add(row)
        except IntegrityError:
            # Another writer inserted the same id between our check and insert.
            again = await self.get(event.id)
            if again is None:
                raise
            return again, False
        return _stored(row), True

    async def upsert(self, event: DetectionEvent) -> tuple[StoredEvent, UpsertOutcome]:
        """Insert a new event, or fold a later message about a stored one (its ``end`` and final
        ``dwell_seconds``) into it. A replay of either message is ``unchanged``. A message
        without ``end`` never clears one: the start may be delivered again after the end."""
        for _ in range(2):
            async with self._sessions.begin() as s:
                row = await s.scalar(
                    select(EventRow).where(EventRow.id == event.id).with_for_update()
                )
                if row is not None:
                    changed = _merge(row, event)
                    return _stored(row), "updated" if changed else "unchanged"
            row = _row(event)
            try:
                async with self._sessions.begin() as s:
                    s.add(row)
            except IntegrityError:
                continue  # another writer inserted it between our check and insert: merge
            return _stored(row), "created"
        raise RuntimeError(f"event {event.id} vanished while being upserted")

    async def mark_evidence_expired(self, event_ids: Sequence[UUID], when: datetime) -> int:
        """Record that retention removed these events' snapshot or clip (the first time only);
        returns how many events were newly marked."""
        marked = 0
        ids = sorted(set(event_ids))
        for i in range(0, len(ids), 500):  # bound the IN list
            chunk = ids[i : i + 500]
            async with self._sessions.begin() as s:
                result = await s.execute(
                    update(EventRow)
                    .where(EventRow.id.in_(chunk), EventRow.evidence_expired_at.is_(None))
                    .values(evidence_expired_at=when)
                    .execution_options(synchronize_session=False)
                )
                marked += int(getattr(result, "rowcount", 0) or 0)
        return marked

    async def get(self, event_id: UUID) -> StoredEvent | None:
        async with self._sessions() as s:
            row = await s.scalar(select(EventRow).where(EventRow.id == event_id))
            return _stored(row) if row else None

    async def list(
        self,
        *,
        camera_id: str | None = None,
        camera_ids: Collection[str] | None = None,
        type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_seq: int | None = None,
        limit: int = 50,
    ) -> list[StoredEvent]:
        """Newest first (by seq). ``since``/``until`` bound the event start time;
        ``camera_ids`` (a place's cameras) and ``camera_id`` both narrow."""
        q = select(EventRow)
        if camera_id is not None:
            q = q.where(EventRow.camera_id == camera_id)
        if camera_ids is not None:
            q = q.where(EventRow.camera_id.in_(sorted(camera_ids)))
        if type is not None:
            q = q.where(EventRow.type == type)
        if since is not None:
            q = q.where(EventRow.start >= since)
        if until is not None:
            q = q.where(EventRow.start < until)
        if before_seq is not None:
            q = q.where(EventRow.seq < before_seq)
        q = q.order_by(EventRow.seq.desc()).limit(max(1, min(limit, MAX_PAGE)))
        async with self._sessions() as s:
            return [_stored(r) for r in await s.scalars(q)]
