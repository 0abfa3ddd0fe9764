"""The details of the newer video event types (migration 0011): object kind, crowd count,
tampering cause, stored and folded on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub.bus.contracts import DetectionEvent
from hub.store import Store


def event(**kw: Any) -> DetectionEvent:
    base: dict[str, Any] = {
        "camera_id": "cam-a",
        "type": "crowd",
        "zone_id": "z1",
        "track_id": 0,
        "start": datetime(2026, 5, 1, 10, 0, tzinfo=UTC),
        "media_time": 31.0,
        "boxes": [{"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4}],
        "confidence": 0.7,
    }
    return DetectionEvent.model_validate({**base, **kw})


async def test_details_roundtrip_and_the_end_folds_in_the_peak(store: Store) -> None:
    crowd = event(count=4, dwell_seconds=30.0)
    await store.events.upsert(crowd)
    end = crowd.model_copy(
        update={"end": crowd.start + timedelta(seconds=20), "dwell_seconds": 50.0, "count": 6}
    )
    stored, outcome = await store.events.upsert(end)
    assert outcome == "updated" and stored.event.count == 6
    tamper = event(type="tampering", zone_id=None, cause="covered", count=None)
    parked = event(type="illegal_parking", track_id=7, object_kind="vehicle", count=None)
    for ev in (tamper, parked):
        await store.events.add(ev)
    got = {e.event.type: e.event for e in await store.events.list()}
    assert got["crowd"].count == 6 and got["crowd"].end == end.end
    assert got["tampering"].cause == "covered" and got["tampering"].object_kind is None
    assert got["illegal_parking"].object_kind == "vehicle"
    assert [e.event.type for e in await store.events.list(type="tampering")] == ["tampering"]
    # Old event types carry none of them.
    line = event(type="line_crossing", zone_id=None, line_id="l1", direction="forward")
    stored_line, _ = await store.events.add(line)
    assert (stored_line.event.object_kind, stored_line.event.count, stored_line.event.cause) == (
        None,
        None,
        None,
    )
