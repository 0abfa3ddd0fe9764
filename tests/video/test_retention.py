"""Evidence retention under a test clock: the disk budget and the age, oldest first, events
marked so that their snapshot and clip are no longer offered."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from hub.bus.contracts import DetectionEvent
from hub.config import Camera, Site
from hub.store import Store, open_store
from hub.video.evidence import EvidenceStore
from hub.video.retention import EvidenceRetention, sweep
from hub.web.serialize import event_out

NOW = 1_790_000_000.0
DAY = 86400.0


def put(root: Path, name: str, size: int, age_days: float) -> Path:
    """A file of ``size`` bytes written ``age_days`` before NOW."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    t = NOW - age_days * DAY
    os.utime(path, (t, t))
    return path


def ids(n: int) -> list[str]:
    return [str(UUID(int=i + 1)) for i in range(n)]


def test_budget_removes_oldest_first(tmp_path: Path) -> None:
    e = ids(4)
    files = [
        put(tmp_path, f"snapshots/2026/09/0{i + 1}/{eid}.{ext}", 1000, age_days=10 - i)
        for i, eid in enumerate(e)
        for ext in ("jpg", "mp4")
    ]
    other = put(tmp_path, "notes.txt", 50_000, age_days=100)  # not evidence: left alone
    res = sweep(tmp_path, max_bytes=4500, max_age=30 * DAY, now=NOW)
    assert res.files == 8 and res.bytes_before == 8000 and res.bytes_after == 4000
    assert [p.name for p in res.removed] == [f.name for f in files[:4]]  # the two oldest events
    assert res.expired == {UUID(e[0]), UUID(e[1])}
    assert all(not f.exists() for f in files[:4]) and all(f.exists() for f in files[4:])
    assert other.exists()
    # Emptied day directories go too; the rest stay.
    assert not (tmp_path / "snapshots/2026/09/01").exists()
    assert (tmp_path / "snapshots/2026/09/03").is_dir()
    again = sweep(tmp_path, max_bytes=4500, max_age=30 * DAY, now=NOW)
    assert again.removed == [] and again.expired == set()


def test_age_removes_old_files_within_budget(tmp_path: Path) -> None:
    old, young = ids(2)
    put(tmp_path, f"snapshots/a/{old}.jpg", 10, age_days=31)
    put(tmp_path, f"snapshots/a/{young}.jpg", 10, age_days=29)
    put(tmp_path, "snapshots/a/writing.mp4.tmp", 10, age_days=0)  # a clip being written
    stale = put(tmp_path, "snapshots/a/crashed.mp4.tmp", 10, age_days=2)
    res = sweep(tmp_path, max_bytes=10**9, max_age=30 * DAY, now=NOW)
    assert res.expired == {UUID(old)} and res.bytes_after == 10
    assert (tmp_path / f"snapshots/a/{young}.jpg").exists()
    assert (tmp_path / "snapshots/a/writing.mp4.tmp").exists() and not stale.exists()


def test_missing_root_is_empty(tmp_path: Path) -> None:
    res = sweep(tmp_path / "none", max_bytes=1, max_age=1, now=NOW)
    assert res.files == 0 and res.removed == []


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    yield s
    await s.close()


def detection(i: int, root: EvidenceStore) -> DetectionEvent:
    start = datetime.fromtimestamp(NOW - (10 - i) * DAY, UTC)
    ev = DetectionEvent(
        camera_id="cam-a", type="intrusion", track_id=i, start=start, media_time=0, confidence=1
    )
    snap = root.relative_path(ev.id, start)
    return ev.model_copy(update={"snapshot": snap, "clip": root.clip_relative_path(ev.id, start)})


async def test_retention_service_marks_events_under_a_test_clock(
    tmp_path: Path, store: Store
) -> None:
    evidence = EvidenceStore(tmp_path / "evidence")
    events = [detection(i, evidence) for i in range(5)]
    for i, ev in enumerate(events):
        await store.events.add(ev)
        assert ev.snapshot and ev.clip
        put(evidence.root, ev.snapshot, 300, age_days=10 - i)
        put(evidence.root, ev.clip, 2000, age_days=10 - i)
    clock = [NOW]
    retention = EvidenceRetention(
        evidence.root,
        store.events.mark_evidence_expired,
        max_bytes=3 * 2300,
        max_age_seconds=30 * DAY,
        interval=3600,
        clock=lambda: clock[0],
    )
    res = await retention.run_once()  # the budget: the two oldest events go
    assert res.expired == {events[0].id, events[1].id}
    site = Site.for_cameras(
        [Camera(id="cam-a", name="A", url="x.mp4", grid="g1", position=[121, 31])]
    )
    for i, ev in enumerate(events):
        stored = await store.events.get(ev.id)
        assert stored is not None
        out = event_out(stored.recorded(), site)
        if i < 2:
            assert stored.evidence_expired_at == datetime.fromtimestamp(NOW, UTC)
            assert out.snapshot_url is None and out.clip_url is None
            assert stored.event.snapshot == ev.snapshot  # the record keeps what it had
        else:
            assert stored.evidence_expired_at is None
            assert out.snapshot_url == f"/api/events/{ev.id}/snapshot"
            assert out.clip_url == f"/api/events/{ev.id}/clip"
    # 22.5 days on, the age: event 2 (8 days old at NOW) is past 30 days, event 3 not yet.
    clock[0] = NOW + 22.5 * DAY
    res = await retention.run_once()
    assert res.expired == {events[2].id}
    assert (await store.events.get(events[3].id)).evidence_expired_at is None  # type: ignore[union-attr]
    marked = (await store.events.get(events[2].id)).evidence_expired_at  # type: ignore[union-attr]
    assert marked == datetime.fromtimestamp(NOW + 22.5 * DAY, UTC)


async def test_failed_marks_are_tried_again(tmp_path: Path) -> None:
    put(tmp_path, f"{ids(1)[0]}.jpg", 10, age_days=40)
    calls: list[Sequence[UUID]] = []

    async def mark(event_ids: Sequence[UUID], when: datetime) -> int:
        calls.append(list(event_ids))
        if len(calls) == 1:
            raise RuntimeError("database is locked")
        return len(event_ids)

    retention = EvidenceRetention(
        tmp_path, mark, max_bytes=10**9, max_age_seconds=30 * DAY, interval=0.01, clock=lambda: NOW
    )
    await retention.start()
    try:
        for _ in range(200):
            if len(calls) >= 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await retention.stop()
    assert calls[0] == calls[1] == [UUID(ids(1)[0])]
