"""An event's clip folds into the stored row like its end; retention marks expired evidence.
On SQLite and PostgreSQL (migration 0010)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from hub.bus.contracts import DetectionEvent
from hub.store import Store


def event(**kw: Any) -> DetectionEvent:
    base: dict[str, Any] = {
        "camera_id": "cam-a",
        "type": "intrusion",
        "zone_id": "z1",
        "track_id": 3,
        "start": datetime(2026, 5, 1, 10, 0, tzinfo=UTC),
        "media_time": 1.5,
        "confidence": 0.75,
        "snapshot": "snapshots/2026/05/01/e.jpg",
    }
    return DetectionEvent.model_validate({**base, **kw})


async def test_clip_folds_in_before_or_after_the_end(store: Store) -> None:
    ev = event()
    clip = "snapshots/2026/05/01/e.mp4"
    end = ev.start + timedelta(seconds=4)
    assert (await store.events.upsert(ev))[1] == "created"
    # The clip of a still open event, then its end (which carries the clip too).
    stored, outcome = await store.events.upsert(ev.model_copy(update={"clip": clip}))
    assert outcome == "updated" and stored.event.clip == clip and stored.event.end is None
    ended = ev.model_copy(update={"end": end, "clip": clip})
    stored, outcome = await store.events.upsert(ended)
    assert outcome == "updated" and stored.event.end == end and stored.event.clip == clip
    # Replays change nothing; a message without the clip never clears it.
    assert (await store.events.upsert(ended))[1] == "unchanged"
    assert (await store.events.upsert(ev))[1] == "unchanged"
    got = await store.events.get(ev.id)
    assert got is not None and got.event.clip == clip and got.event.end == end

    # The other order: ended first, the clip after.
    other = event()
    await store.events.upsert(other.model_copy(update={"end": end}))
    stored, outcome = await store.events.upsert(other.model_copy(update={"end": end, "clip": clip}))
    assert outcome == "updated" and stored.event.clip == clip and stored.event.end == end


async def test_mark_evidence_expired(store: Store) -> None:
    a, b, c = event(), event(), event()
    for ev in (a, b, c):
        await store.events.add(ev)
    when = datetime(2026, 6, 1, tzinfo=UTC)
    assert await store.events.mark_evidence_expired([a.id, b.id, uuid4()], when) == 2
    # The first removal is the one recorded.
    later = when + timedelta(days=1)
    assert await store.events.mark_evidence_expired([a.id, c.id], later) == 1
    got = {ev.id: await store.events.get(ev.id) for ev in (a, b, c)}
    assert got[a.id] is not None and got[a.id].evidence_expired_at == when  # type: ignore[union-attr]
    assert got[c.id] is not None and got[c.id].evidence_expired_at == later  # type: ignore[union-attr]
    rec = got[b.id].recorded()  # type: ignore[union-attr]
    assert rec.evidence_expired_at == when
    assert got[b.id].to_json()["evidence_expired_at"] == when.isoformat()  # type: ignore[union-attr]
    listed = {s.event.id: s for s in await store.events.list()}
    assert listed[a.id].evidence_expired_at == when
    assert await store.events.mark_evidence_expired([], when) == 0
