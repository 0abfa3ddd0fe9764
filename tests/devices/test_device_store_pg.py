"""The device paths' SQL on SQLite and on the real local PostgreSQL: the ingest's batch write,
telemetry history and its rollups, rule state (the alarms' SQL: tests/alarms). Each PostgreSQL
run gets a private database on the test session's private cluster (tests/pg_cluster.py); nothing
skips."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alarm_helpers import Clock, rig
from store.conftest import open_test_store

from hub.config import DeviceProfile, TelemetryField
from hub.devices import validate
from hub.devices.history import DAY, Retention, TelemetryHistory
from hub.devices.repo import DeviceRepo, DeviceState, TelemetryTuple
from hub.store.db import Store

MAX_SEQ = 2**63 - 1
NOW = 1_800_000_000.0  # a whole hour
T0 = 1_750_000_000.0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_test_store(request.param, tmp_path) as s:
        yield s


def _state(device_id: str, state: str, t: float, **values: object) -> DeviceState:
    return DeviceState(device_id, state, "status", "s1", t, t, t, dict(values))


async def test_write_batch_telemetry_dead_letters_and_states(store: Store) -> None:
    repo = DeviceRepo(store.engine)
    rows: list[TelemetryTuple] = [
        ("d1", "level", T0, 1, 2.5, None),
        ("d1", "open", T0, 1, 1.0, None),
        ("d1", "mode", T0, None, None, "水位 auto"),
        ("d2", "level", T0 + 1.000123, MAX_SEQ, -3.0, None),
    ]
    dead = [
        {
            "ts": T0,
            "reason": "bad_json",
            "device_id": "d1",
            "topic": "hub/v1/devices/d1/telemetry",
            "detail": "not JSON",
            "payload": "{oops",
        },
        {
            "ts": T0 + 1,
            "reason": "unknown_device",
            "device_id": None,
            "topic": "hub/v1/devices/x/telemetry",
            "detail": "?",
            "payload": "{}",
        },
    ]
    await repo.write_batch(rows, dead, [_state("d1", "online", T0, level=2.5)])
    assert await repo.count_telemetry() == 4
    # The upsert replaces every column of a known device and adds new ones.
    await repo.write_batch(
        [], [], [_state("d1", "offline", T0 + 5, level=3.0, mode="x"), _state("d2", "online", T0)]
    )
    states = {s.device_id: s for s in await repo.load_states()}
    assert states["d1"] == _state("d1", "offline", T0 + 5, level=3.0, mode="x")
    assert states["d2"].state == "online" and states["d2"].last_values == {}

    got = await repo.dead_letters()
    assert [d["reason"] for d in got] == ["unknown_device", "bad_json"]  # newest first
    assert got[0]["device_id"] is None and got[1]["payload"] == "{oops"
    assert [d["reason"] for d in await repo.dead_letters(device_id="d1")] == ["bad_json"]
    assert len(await repo.dead_letters(before_id=got[0]["id"])) == 1
    assert await repo.prune_dead_letters(T0 + 0.5) == 1

    hist = TelemetryHistory(store.engine, Retention())
    s = await hist.series("d1", "level", T0 - 1, T0 + 1, 100, T0 + 10)
    assert s["points"] == [{"t": T0, "value": 2.5}]
    # Text values are raw rows only, never a numeric series.
    assert (await hist.series("d1", "mode", T0 - 1, T0 + 1, 100, T0 + 10))["points"] == []
    # Epoch floats keep their microseconds (double precision on both backends).
    s = await hist.series("d2", "level", T0, T0 + 2, 100, T0 + 10)
    assert s["points"] == [{"t": T0 + 1.000123, "value": -3.0}]


async def test_dead_letter_quoting_nul_bytes_is_stored(store: Store) -> None:
    # A binary payload (a protobuf device, garbage) holds NUL bytes; PostgreSQL text cannot
    # store them, and the ingest retries a failed batch forever: one such message stalled it.
    repo = DeviceRepo(store.engine)
    raw = b"\x08\x00\x12\x03abc\xff"
    await repo.write_batch(
        [("d1", "level", T0, 1, 1.0, None)],
        [
            {
                "ts": T0,
                "reason": "bad_json",
                "device_id": "d1",
                "topic": "hub/v1/devices/d1/telemetry",
                "detail": "not JSON",
                "payload": raw.decode("utf-8", "replace"),
            }
        ],
        [],
    )
    (d,) = await repo.dead_letters()
    assert d["payload"] == "\x08\ufffd\x12\x03abc\ufffd"
    assert await repo.count_telemetry() == 1


def test_values_no_backend_can_store_are_rejected_at_validation() -> None:
    # A rejected reading becomes a dead letter; an accepted one that the store refuses would
    # fail its batch on every retry (NUL on PostgreSQL; a seq past BIGINT on both backends).
    note = validate.field_checks(_profile())["note"]
    assert note("a b") == "a b"
    with pytest.raises(validate.Rejected, match="NUL"):
        note("a\x00b")
    with pytest.raises(validate.Rejected, match="NUL"):
        validate._check_value(_profile().telemetry[0], "a\x00b")
    fields = validate.field_checks(_profile())
    ok = validate.reading("d1", {"seq": MAX_SEQ, "values": {"note": "x"}}, fields, T0)
    assert ok.seq == MAX_SEQ
    with pytest.raises(validate.Rejected, match="seq"):
        validate.reading("d1", {"seq": MAX_SEQ + 1, "values": {"note": "x"}}, fields, T0)
    with pytest.raises(validate.Rejected, match="session"):
        validate.status("d1", {"state": "online", "session": "s\x00"}, T0)


def _profile() -> DeviceProfile:
    return DeviceProfile(id="p", name="p", telemetry=[TelemetryField(key="note", type="string")])


async def test_write_batch_is_one_transaction(store: Store) -> None:
    repo = DeviceRepo(store.engine)
    # A dead letter without its NOT NULL topic fails the whole batch: no telemetry either.
    with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError differs per backend
        await repo.write_batch(
            [("d1", "level", T0, 1, 1.0, None)],
            [{"ts": T0, "reason": "x", "device_id": None, "detail": "", "payload": ""}],
            [],
        )
    assert await repo.count_telemetry() == 0


def _rows(device: str, start: float, n: int, step: float) -> list[TelemetryTuple]:
    return [(device, "level", start + i * step, i, float(i % 10), None) for i in range(n)]


async def test_history_series_rollups_and_retention(store: Store) -> None:
    repo = DeviceRepo(store.engine)
    hist = TelemetryHistory(store.engine, Retention(raw_days=1, minute_days=3, hour_days=10))
    old = NOW - 2 * DAY
    await repo.write_batch(_rows("d1", old, 7200, 1.0), [], [])
    await repo.write_batch(_rows("d1", NOW - 60, 60, 1.0), [], [])
    await repo.write_batch(_rows("d2", old, 10, 1.0), [], [])

    s = await hist.series("d1", "level", NOW - 30, NOW, 1000, NOW)
    assert s["resolution"] == "raw" and len(s["points"]) == 30

    out = await hist.maintain(NOW)
    assert out == {"folded": 7210, "pruned_rollups": 0}
    assert await repo.count_telemetry() == 60
    assert (await hist.maintain(NOW))["folded"] == 0

    s = await hist.series("d1", "level", old, old + 7200, 500, NOW)
    assert s["resolution"] == 60 and len(s["points"]) == 120
    assert {(p["min"], p["max"], p["avg"], p["count"]) for p in s["points"]} == {
        (0.0, 9.0, 4.5, 60)
    }
    s = await hist.series("d2", "level", old, old + 3600, 500, NOW)
    assert [(p["count"], p["max"]) for p in s["points"]] == [(10, 9.0)]
    s = await hist.series("d1", "level", old, NOW, 10_000, NOW)
    assert sum(p["count"] for p in s["points"]) == 7200 + 60

    # Late data folds into the existing buckets (the upsert merges: least/greatest, sums).
    await repo.write_batch([("d1", "level", old + 5, None, 50.0, None)], [], [])
    await repo.write_batch([("d1", "level", old + 6, None, -7.0, None)], [], [])
    await hist.maintain(NOW)
    s = await hist.series("d1", "level", old, old + 60, 500, NOW)
    (p,) = s["points"]
    assert (p["count"], p["min"], p["max"]) == (62, -7.0, 50.0)

    # Minute rollups pass their retention; hour rollups remain, then they go too.
    later = NOW + 2 * DAY
    out = await hist.maintain(later)
    assert out["pruned_rollups"] == 120 + 1  # d1's and d2's minute buckets
    s = await hist.series("d1", "level", old, old + 7200, 500, later)
    assert s["resolution"] == 3600 and [p["count"] for p in s["points"]] == [3602, 3600]
    out = await hist.maintain(NOW + 20 * DAY)
    # d1's three hours (the last one folded at ``later``), d2's one, d1's last minute.
    assert out["pruned_rollups"] == 3 + 1 + 1
    assert (await hist.series("d1", "level", old, old + 7200, 500, NOW + 20 * DAY))["points"] == []


async def test_rule_state_flush_and_load_across_engines(store: Store, tmp_path: Path) -> None:
    clock = Clock(T0)
    async with rig(tmp_path, store=store, clock=clock) as r:
        await r.engine.on_telemetry("dev-1", T0, {"open": True, "level": 1.0})
        await r.engine.on_telemetry("dev-1", T0 + 30, {"open": True, "level": 1.5})
        await r.engine.flush()
        # A second flush of changed state updates the stored rows (the upsert's conflict path).
        await r.engine.on_telemetry("dev-1", T0 + 40, {"open": True, "level": 2.0})
        await r.engine.flush()
        assert not r.engine._dirty
    async with rig(tmp_path, store=store, clock=clock) as r:
        st = r.engine.states[("dev-1", "door-held")]
        assert st.since == {"minor": T0}
        assert r.engine.states[("dev-1", "level-rise")].window == [
            [T0, 1.0],
            [T0 + 30, 1.5],
            [T0 + 40, 2.0],
        ]
        assert r.engine.states[("dev-1", "offline")].last_seen == T0
        await r.engine.on_telemetry("dev-1", T0 + 61, {"open": True})
        assert [(d["rule_id"], d["severity"]) for d in r.drain()] == [("door-held", "minor")]
        # The missing-data deadline was re-armed from the stored state.
        await r.engine.expire(T0 + 61)
        assert [(d["rule_id"], d["severity"]) for d in r.drain()] == [("offline", "warning")]
