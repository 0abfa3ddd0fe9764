"""Telemetry history: raw series, rollups after retention, bounded series for charts."""

from __future__ import annotations

import pytest

from hub.devices.history import DAY, Retention, TelemetryHistory
from hub.devices.repo import DeviceRepo, TelemetryTuple
from hub.store.db import Store, open_store

NOW = 1_800_000_000.0  # a whole hour (divisible by 3600)


@pytest.fixture
async def store(tmp_path: object) -> Store:
    s = await open_store(f"sqlite+aiosqlite:///{tmp_path}/hub.db")
    yield s  # type: ignore[misc]
    await s.close()


def _rows(device: str, key: str, start: float, n: int, step: float) -> list[TelemetryTuple]:
    return [(device, key, start + i * step, i, float(i % 10), None) for i in range(n)]


async def test_raw_series_and_rebucketing(store: Store) -> None:
    repo = DeviceRepo(store.engine)
    hist = TelemetryHistory(store.engine, Retention(raw_days=7))
    await repo.write_batch(_rows("d1", "level", NOW - 600, 600, 1.0), [], [])
    await repo.write_batch(_rows("d2", "level", NOW - 600, 10, 1.0), [], [])
    s = await hist.series("d1", "level", NOW - 100, NOW, 1000, NOW)
    assert s["resolution"] == "raw" and len(s["points"]) == 100
    assert s["points"][0] == {"t": NOW - 100, "value": 0.0}
    s = await hist.series("d1", "level", NOW - 600, NOW, 60, NOW)
    assert s["resolution"] == 10 and len(s["points"]) == 60
    p = s["points"][0]
    assert (p["min"], p["max"], p["count"], p["avg"]) == (0.0, 9.0, 10, 4.5)


async def test_aged_raw_folds_into_rollups(store: Store) -> None:
    repo = DeviceRepo(store.engine)
    hist = TelemetryHistory(store.engine, Retention(raw_days=1, minute_days=3, hour_days=10))
    old = NOW - 2 * DAY  # two hours of 1 Hz data, aged out of raw
    await repo.write_batch(_rows("d1", "level", old, 7200, 1.0), [], [])
    await repo.write_batch(_rows("d1", "level", NOW - 60, 60, 1.0), [], [])  # still raw
    out = await hist.maintain(NOW)
    assert out["folded"] == 7200
    assert await repo.count_telemetry() == 60
    assert (await hist.maintain(NOW))["folded"] == 0  # idempotent

    s = await hist.series("d1", "level", old, old + 7200, 500, NOW)
    assert s["resolution"] == 60 and len(s["points"]) == 120
    assert {p["count"] for p in s["points"]} == {60}
    assert {(p["min"], p["max"], p["avg"]) for p in s["points"]} == {(0.0, 9.0, 4.5)}
    s = await hist.series("d1", "level", old, old + 7200, 100, NOW)
    assert len(s["points"]) <= 100 and sum(p["count"] for p in s["points"]) == 7200

    # A range across rollups and raw data returns both parts.
    s = await hist.series("d1", "level", old, NOW, 10_000, NOW)
    assert sum(p["count"] for p in s["points"]) == 7200 + 60

    # Later, minute rollups pass their retention; hour rollups remain.
    later = NOW + 2 * DAY
    await hist.maintain(later)
    s = await hist.series("d1", "level", old, old + 7200, 500, later)
    assert s["resolution"] == 3600 and [p["count"] for p in s["points"]] == [3600, 3600]


async def test_late_data_merges_into_existing_rollups(store: Store) -> None:
    repo = DeviceRepo(store.engine)
    hist = TelemetryHistory(store.engine, Retention(raw_days=1))
    old = NOW - 2 * DAY
    await repo.write_batch(_rows("d1", "level", old, 60, 1.0), [], [])
    await hist.maintain(NOW)
    await repo.write_batch(
        [("d1", "level", old + 5, 99, 50.0, None)],
        [],
        [],
    )
    await hist.maintain(NOW)
    s = await hist.series("d1", "level", old, old + 60, 500, NOW)
    (p,) = s["points"]
    assert (p["count"], p["max"], p["min"]) == (61, 50.0, 0.0)
