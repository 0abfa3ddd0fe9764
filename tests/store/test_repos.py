"""Repositories on SQLite and PostgreSQL: users and detection events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from hub.bus.contracts import DetectionEvent
from hub.errors import ConflictError, NotFoundError
from hub.store import Store


def event(**kw: Any) -> DetectionEvent:
    base: dict[str, Any] = {
        "camera_id": "cam-a",
        "type": "line_crossing",
        "line_id": "l1",
        "direction": "forward",
        "track_id": 3,
        "start": datetime(2026, 5, 1, 10, 0, tzinfo=UTC),
        "media_time": 1.5,
        "boxes": [{"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4}],
        "confidence": 0.75,
        "snapshot": "cam-a/e.jpg",
        "dwell_seconds": None,
    }
    return DetectionEvent.model_validate({**base, **kw})


async def test_event_roundtrip_and_utc(store: Store) -> None:
    shanghai = timezone(timedelta(hours=8))
    ev = event(
        start=datetime(2026, 5, 1, 18, 0, tzinfo=shanghai),
        end=datetime(2026, 5, 1, 18, 0, 3, tzinfo=shanghai),
    )
    stored, created = await store.events.add(ev)
    assert created and stored.seq >= 1
    got = await store.events.get(ev.id)
    assert got is not None
    assert got.event == ev.model_copy(
        update={"start": ev.start.astimezone(UTC), "end": ev.end.astimezone(UTC)}  # type: ignore[union-attr]
    )
    assert got.event.start.utcoffset() == timedelta(0)
    assert got.event.start.hour == 10
    assert got.created_at.tzinfo is not None
    data = got.to_json()
    assert data["seq"] == stored.seq and data["id"] == str(ev.id)


async def test_event_insert_is_idempotent(store: Store) -> None:
    ev = event()
    first, created = await store.events.add(ev)
    again, created_again = await store.events.add(ev)
    assert created and not created_again
    assert again.seq == first.seq
    assert len(await store.events.list()) == 1


async def test_event_upsert_folds_in_the_end(store: Store) -> None:
    ev = event(type="intrusion", line_id=None, direction=None, zone_id="z1")
    first, outcome = await store.events.upsert(ev)
    assert outcome == "created" and first.event.end is None
    assert (await store.events.upsert(ev))[1] == "unchanged"

    end = ev.start + timedelta(seconds=7)
    ended = ev.model_copy(update={"end": end, "dwell_seconds": 7.0})
    stored, outcome = await store.events.upsert(ended)
    assert outcome == "updated"
    assert stored.seq == first.seq and stored.event.end == end and stored.event.dwell_seconds == 7.0
    assert (await store.events.upsert(ended))[1] == "unchanged"
    # A late redelivery of the start does not reopen the event.
    assert (await store.events.upsert(ev))[1] == "unchanged"
    got = await store.events.get(ev.id)
    assert got is not None and got.event == stored.event
    assert got.event.snapshot == ev.snapshot
    assert len(await store.events.list()) == 1

    # The end can arrive first (a redelivered stream): it is inserted whole.
    other = event().model_copy(update={"end": ev.start})
    assert (await store.events.upsert(other))[1] == "created"
    assert (await store.events.upsert(other.model_copy(update={"end": None})))[1] == "unchanged"


async def test_event_list_filters_and_order(store: Store) -> None:
    t0 = datetime(2026, 5, 1, 10, tzinfo=UTC)
    evs = [
        event(
            camera_id=f"cam-{i % 2}",
            type="intrusion" if i < 3 else "loitering",
            start=t0 + timedelta(minutes=i),
        )
        for i in range(6)
    ]
    for e in evs:
        await store.events.add(e)
    all_ = await store.events.list()
    assert [s.event.id for s in all_] == [e.id for e in reversed(evs)]
    seqs = [s.seq for s in all_]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 6
    assert len(await store.events.list(camera_id="cam-1")) == 3
    assert len(await store.events.list(type="loitering")) == 3
    assert len(await store.events.list(type="loitering", camera_id="cam-0")) == 1
    window = await store.events.list(
        since=t0 + timedelta(minutes=1), until=t0 + timedelta(minutes=3)
    )
    assert [s.event.id for s in window] == [evs[2].id, evs[1].id]
    page = await store.events.list(limit=2, before_seq=seqs[1])
    assert [s.seq for s in page] == seqs[2:4]


async def test_users(store: Store) -> None:
    u = await store.users.create("li", "operator", "correct-horse")
    assert (u.username, u.role, u.active, u.must_change_password) == ("li", "operator", True, False)
    with pytest.raises(ConflictError):
        await store.users.create("li", "admin", "another-pass")
    with pytest.raises(ValueError, match="unknown role"):
        await store.users.create("zhang", "emperor", "another-pass")
    assert await store.users.authenticate("li", "correct-horse") is not None
    assert await store.users.authenticate("li", "wrong") is None
    assert await store.users.authenticate("nobody", "correct-horse") is None
    await store.users.update("li", role="supervisor", active=False, password="new-password")
    li = await store.users.get("li")
    assert li is not None and li.role == "supervisor" and not li.active
    assert await store.users.authenticate("li", "new-password") is not None
    with pytest.raises(NotFoundError):
        await store.users.update("ghost", active=True)
    await store.users.create("boss", "admin", "boss-password")
    assert await store.users.count_admins() == 1
    await store.users.update("boss", active=False)
    assert await store.users.count_admins() == 0
    assert await store.users.count_admins(active_only=False) == 1
    assert [u.username for u in await store.users.list()] == ["boss", "li"]


async def test_password_is_hashed(store: Store) -> None:
    from sqlalchemy import select

    from hub.store.models import UserRow

    await store.users.create("wu", "worker", "plain-text-pw")
    async with store.sessions() as s:
        h = await s.scalar(select(UserRow.password_hash).where(UserRow.username == "wu"))
    assert h is not None and h.startswith("$argon2id$") and "plain-text-pw" not in h
