"""Hostile input cannot stop the ingest. Times, numbers, strings and nesting that pass JSON
parsing but that the code or the store downstream cannot hold (an event at ``ts: 1e20`` used to
raise in the batch and leave the whole batch, other devices' readings too, unacked, redelivered
and failing again until the broker's in-flight window was full) are dead-lettered one message at
a time; every other message of the batch is stored, and everything is acked."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from broker_fixtures import RunningBroker
from ingest_helpers import (
    DEVICE_IDS,
    Publisher,
    RecordingLink,
    assert_nothing_redelivered,
    device_site,
    running_ingest,
    wait_for,
)
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from store.conftest import open_test_store

from hub.bus.contracts import DEVICE_EVENTS
from hub.bus.memory import MemoryBus
from hub.config import Settings
from hub.devices import validate
from hub.devices.ingest import IngestWorker
from hub.devices.mqtt_wire import Inbound
from hub.devices.presence import Presence
from hub.devices.repo import DeviceState
from hub.devices.service import DeviceService
from hub.devices.validate import MAX_TS_AGE, MAX_TS_AHEAD, REASONS, Rejected
from hub.store.db import Store, open_store
from hub.store.models import TelemetryRow

DAY = 86_400.0
U64 = b"18446744073709551615"
I64_PAST = b"9223372036854775808"


@dataclass(frozen=True)
class Msg:
    device_id: str
    kind: str
    payload: bytes
    reason: str | None
    """The dead-letter reason; None for a good message."""


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def _nested(depth: int) -> bytes:
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


def hostile(now: float) -> list[Msg]:
    """Every bad message, each from one of the four gauges in turn."""
    tele: list[tuple[bytes, str]] = [
        (b'{"ts": 1e20, "values": {"level": 1}}', "bad_time"),
        (b'{"ts": -1, "values": {"level": 1}}', "bad_time"),
        (b'{"ts": 0, "values": {"level": 1}}', "bad_time"),
        (b'{"ts": "1970-01-01T00:00:00+00:00", "values": {"level": 1}}', "bad_time"),
        (b'{"ts": "0001-01-01T00:00:00+14:00", "values": {"level": 1}}', "bad_time"),
        (b'{"ts": "9999-12-31T23:59:59-14:00", "values": {"level": 1}}', "bad_time"),
        (orjson.dumps({"ts": _iso(now + 2 * 3600), "values": {"level": 1}}), "bad_time"),
        (orjson.dumps({"ts": now - 31 * DAY, "values": {"level": 1}}), "bad_time"),
        (b'{"ts": ' + U64 + b', "values": {"level": 1}}', "bad_time"),
        (b'{"ts": 1' + b"0" * 30 + b', "values": {"level": 1}}', "bad_time"),
        (b'{"ts": -9223372036854775808, "values": {"level": 1}}', "bad_time"),
        (b'{"ts": 1e400, "values": {"level": 1}}', "malformed_json"),
        (b'{"ts": NaN, "values": {"level": 1}}', "malformed_json"),
        (b'{"ts": "NaN", "values": {"level": 1}}', "wrong_type"),
        (b'{"ts": "Infinity", "values": {"level": 1}}', "wrong_type"),
        (b'{"ts": "' + b"9" * 5000 + b'", "values": {"level": 1}}', "wrong_type"),
        (b'{"values": {"level": NaN}}', "malformed_json"),
        (b'{"values": {"level": Infinity}}', "malformed_json"),
        (b'{"values": {"level": -Infinity}}', "malformed_json"),
        (b'{"values": {"level": 1e400}}', "malformed_json"),
        (b'{"values": {"level": "NaN"}}', "wrong_type"),
        (b'{"values": {"level": "Infinity"}}', "wrong_type"),
        (b'{"values": {"level": ' + U64 + b"}}", "out_of_range"),
        (b'{"values": {"level": -9223372036854775809}}', "out_of_range"),
        (b'{"values": {"level": 1' + b"0" * 40 + b"}}", "out_of_range"),
        (b'{"seq": ' + U64 + b', "values": {"level": 1}}', "wrong_type"),
        (b'{"seq": ' + I64_PAST + b', "values": {"level": 1}}', "wrong_type"),
        (b'{"seq": -1, "values": {"level": 1}}', "wrong_type"),
        (b'{"seq": 1' + b"0" * 40 + b', "values": {"level": 1}}', "wrong_type"),
        (b'{"values": {"note": "a\\u0000b"}}', "wrong_type"),
        (b'{"values": {"note": "a\x00b"}}', "malformed_json"),  # a raw NUL byte
    ]
    status: list[tuple[bytes, str]] = [
        (b'{"state": "online", "session": "evil", "ts": 1e20}', "bad_time"),
        (b'{"state": "online", "session": "evil", "ts": -5}', "bad_time"),
        (b'{"state": "online", "session": "evil", "ts": 0}', "bad_time"),
        (b'{"state": "online", "session": "evil", "ts": "9999-12-31T23:59:59-14:00"}', "bad_time"),
        (orjson.dumps({"state": "online", "session": "evil", "ts": now + 7200}), "bad_time"),
        (b'{"state": "online", "session": "evil", "ts": ' + U64 + b"}", "bad_time"),
        (b'{"state": "online", "session": "evil", "ts": NaN}', "malformed_json"),
        (b'{"state": "online", "session": "a\\u0000b"}', "wrong_type"),
    ]
    events: list[tuple[bytes, str]] = [
        (b'{"type": "door", "ts": 1e20}', "bad_time"),
        (b'{"type": "door", "ts": -1}', "bad_time"),
        (b'{"type": "door", "ts": "0001-01-01T00:00:00+14:00"}', "bad_time"),
        (orjson.dumps({"type": "door", "ts": _iso(now + 7200)}), "bad_time"),
        (orjson.dumps({"type": "door", "ts": now - 40 * DAY}), "bad_time"),
        (b'{"type": "a\\u0000b"}', "wrong_type"),
        (orjson.dumps({"type": "x" * 65}), "wrong_type"),
        (b'{"type": "door", "data": {"k": "a\\u0000b"}}', "wrong_type"),
        (b'{"type": "door", "data": {"a\\u0000": 1}}', "wrong_type"),
        (b'{"type": "door", "data": {"n": [' + I64_PAST + b"]}}", "wrong_type"),
        (b'{"type": "door", "data": {"n": ' + U64 + b"}}", "wrong_type"),
        (b'{"type": "door", "data": {"n": NaN}}', "malformed_json"),
        (b'{"type": "door", "data": {"n": 1e400}}', "malformed_json"),
        (b'{"type": "door", "data": ' + _nested(17) + b"}", "oversized"),
        (b'{"type": "door", "data": ' + _nested(300) + b"}", "oversized"),
        (b'{"type": "door", "data": ' + _nested(2000) + b"}", "malformed_json"),
        (b'{"type": "door", "data": {"l": [' + b"0," * 10_000 + b"0]}}", "oversized"),
        (b'{"type": "door", "data": [1]}', "wrong_type"),
    ]
    out: list[Msg] = []
    for kind, items in (("telemetry", tele), ("status", status), ("events", events)):
        for payload, reason in items:
            out.append(Msg(DEVICE_IDS[len(out) % 4], kind, payload, reason))
    return out


def good(now: float) -> list[Msg]:
    """Valid messages at the edges of what is accepted."""
    edge = {
        "big": 2**63 - 1,
        "small": -(2**63),
        "deep": orjson.loads(_nested(15)),
        "text": "水位 ok",
        "f": 1e308,
        "nan_text": "NaN",
    }
    return [
        Msg("dev-1", "events", orjson.dumps({"type": "door", "ts": now, "data": edge}), None),
        Msg("dev-2", "events", orjson.dumps({"type": "tamper"}), None),
        Msg("dev-3", "events", orjson.dumps({"type": "x", "ts": _iso(now - 29 * DAY)}), None),
        # A clock-less device's status counter (docs/mqtt.md) is a valid status time.
        Msg("dev-4", "status", b'{"state": "online", "session": "boot-7", "ts": 7}', None),
        Msg("dev-3", "status", orjson.dumps({"state": "online", "session": "s", "ts": now}), None),
    ]


def reading(seq: int, now: float) -> bytes:
    # Times across the accepted window: a device's backlog and a clock a little ahead.
    ts = (now - MAX_TS_AGE + 60, now - 3600, now, now + MAX_TS_AHEAD - 60)[seq % 4]
    return orjson.dumps({"ts": ts, "seq": seq, "values": {"level": seq % 10, "note": "ok"}})


def mixed(now: float) -> tuple[list[Msg], dict[str, int]]:
    """Each bad message between good readings of other devices; (messages, readings per
    device)."""
    seqs: Counter[str] = Counter()
    out: list[Msg] = []
    for i, bad in enumerate([*hostile(now), *good(now)]):
        d = DEVICE_IDS[(i + 1) % 4]
        seqs[d] += 1
        out += [Msg(d, "telemetry", reading(seqs[d], now), None), bad]
    return out, dict(seqs)


def expected_rejections(msgs: list[Msg]) -> Counter[str]:
    return Counter(m.reason for m in msgs if m.reason is not None)


def _rejected_total(reason: str) -> float:
    return REGISTRY.get_sample_value("hub_mqtt_rejected_total", {"reason": reason}) or 0.0


async def _readings(store: Store) -> dict[str, set[int]]:
    t = TelemetryRow
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(t.device_id, t.seq).where(t.key == "level"))).all()
    out: dict[str, set[int]] = {}
    for d, seq in rows:
        out.setdefault(d, set()).add(seq)
    return out


async def _telemetry_rows(store: Store) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(TelemetryRow))).scalar())


async def _check_dead_letters(worker: IngestWorker, msgs: list[Msg]) -> None:
    """Each bad message is a dead letter with its reason (fewer than the sampling limits)."""
    want = Counter((m.reason, m.device_id) for m in msgs if m.reason is not None)
    letters = await worker.repo.dead_letters(limit=500)
    assert Counter((d["reason"], d["device_id"]) for d in letters) == want


# -- through the real Mosquitto and the real ingest ------------------------------------------


async def test_hostile_messages_through_mosquitto_are_dead_lettered_and_acked(
    mqtt_broker: RunningBroker, tmp_path: Path
) -> None:
    now = time.time()
    msgs, seqs = mixed(now)
    before = {r: _rejected_total(r) for r in REASONS}
    pubs: dict[str, Publisher] = {}
    for d in DEVICE_IDS:
        creds = await mqtt_broker.provision(d)
        pubs[d] = await asyncio.to_thread(Publisher, mqtt_broker, d, creds.password)
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    try:
        async with running_ingest(mqtt_broker, tmp_path, store=store) as ing:
            worker = ing.service.worker
            assert worker is not None
            events = ing.bus.subscribe(DEVICE_EVENTS)
            for m in msgs:
                pubs[m.device_id].publish(None, kind=m.kind, raw=m.payload)
            for p in pubs.values():
                assert await asyncio.to_thread(p.wait_acked, 20)
            await wait_for(lambda: worker.processed >= len(msgs), 30)
            assert worker.processed == len(msgs)
            assert dict(worker.rejected) == dict(expected_rejections(msgs))
            for r in REASONS:
                assert _rejected_total(r) - before[r] == expected_rejections(msgs)[r], r
            assert worker.accepted == sum(seqs.values())
            assert await _readings(store) == {d: set(range(1, n + 1)) for d, n in seqs.items()}
            await _check_dead_letters(worker, msgs)
            got = [
                (await asyncio.wait_for(events.get(), 5)).data.model_dump(mode="json")
                for _ in range(3)
            ]
            assert sorted(e["device_id"] for e in got) == ["dev-1", "dev-2", "dev-3"]
            first = next(e for e in got if e["device_id"] == "dev-1")
            assert first["data"]["big"] == 2**63 - 1
            assert datetime.fromisoformat(first["ts"]) == datetime.fromtimestamp(now, UTC)
            # A status from far ahead was refused, so a new session still takes over.
            presence = ing.service.presence
            assert presence.states["dev-3"].session == "s"
            offline = {"state": "offline", "session": "s2", "ts": time.time()}
            pubs["dev-3"].publish(offline, kind="status")
            await wait_for(lambda: presence.states["dev-3"].state == "offline")
            # Still running: a good reading goes through.
            pubs["dev-1"].publish({"seq": 999, "values": {"level": 1}})
            await wait_for(lambda: worker.accepted == sum(seqs.values()) + 1)
            await asyncio.sleep(0.5)  # the acks leave the network thread
        await assert_nothing_redelivered(mqtt_broker, tmp_path, store)
    finally:
        for p in pubs.values():
            await asyncio.to_thread(p.close)
        await store.close()


# -- the worker alone, on SQLite and PostgreSQL ----------------------------------------------


@dataclass
class Rig:
    worker: IngestWorker
    link: RecordingLink
    svc: DeviceService
    store: Store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    async with open_test_store(request.param, tmp_path) as store:
        r = _rig(store, tmp_path)
        yield r
        await r.svc.repo.close()


@pytest.fixture
async def sqlite_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with open_test_store("sqlite", tmp_path) as store:
        r = _rig(store, tmp_path)
        yield r
        await r.svc.repo.close()


def _rig(store: Store, tmp_path: Path) -> Rig:
    svc = DeviceService(Settings(data_dir=tmp_path), device_site(), store, MemoryBus())
    link = RecordingLink()
    worker = IngestWorker(link, svc.registry, svc.repo, svc.presence, svc.bus, max_payload=65536)  # type: ignore[arg-type]
    return Rig(worker, link, svc, store)


def _inbound(msgs: list[Msg]) -> list[Inbound]:
    return [
        (1, i + 1, 1, f"hub/v1/devices/{m.device_id}/{m.kind}", m.payload)
        for i, m in enumerate(msgs)
    ]


async def test_a_hostile_batch_is_stored_around_its_bad_messages(rig: Rig) -> None:
    now = time.time()
    msgs, seqs = mixed(now)
    # A telemetry batch with good and bad readings: each reading stands alone.
    batch = b'[{"seq": 500, "values": {"level": 2}}, {"ts": 1e20, "values": {"level": 2}}]'
    msgs.append(Msg("dev-4", "telemetry", batch, "bad_time"))
    sub = rig.svc.bus.subscribe(DEVICE_EVENTS)
    await asyncio.wait_for(rig.worker.process(_inbound(msgs)), 30)
    assert sorted(rig.link.acked) == list(range(1, len(msgs) + 1))
    assert dict(rig.worker.rejected) == dict(expected_rejections(msgs))
    want = {d: set(range(1, n + 1)) for d, n in seqs.items()}
    want["dev-4"].add(500)
    assert await _readings(rig.store) == want
    await _check_dead_letters(rig.worker, msgs)
    # A dead letter quotes the payload as sent (NUL characters made storable).
    letters = await rig.worker.repo.dead_letters(limit=500)
    assert any("a\\u0000b" in d["payload"] for d in letters)
    assert any('"a\ufffdb"' in d["payload"] for d in letters)
    assert sub.queue.qsize() == 3
    states = {s.device_id: s for s in await rig.worker.repo.load_states()}
    assert states["dev-3"].session == "s" and states["dev-4"].session_ts == 7.0


async def test_an_unexpected_error_dead_letters_only_its_message(
    sqlite_rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rig, now = sqlite_rig, time.time()
    real_reading, real_event = validate.reading, validate.event

    def reading_(device_id: str, obj: Any, fields: Any, now: float) -> validate.Reading:
        if device_id == "dev-2":
            raise RuntimeError("a validator bug")
        return real_reading(device_id, obj, fields, now)

    def event_(device_id: str, doc: Any, now: float) -> validate.Event:
        if device_id == "dev-3":
            raise KeyError("another bug")
        return real_event(device_id, doc, now)

    monkeypatch.setattr(validate, "reading", reading_)
    monkeypatch.setattr(validate, "event", event_)
    msgs = [Msg(d, "telemetry", reading(1, now), None) for d in DEVICE_IDS]
    msgs += [
        Msg("dev-3", "events", b'{"type": "door"}', "internal_error"),
        Msg("dev-1", "events", b'{"type": "door"}', None),
    ]
    sub = rig.svc.bus.subscribe(DEVICE_EVENTS)
    with caplog.at_level(logging.ERROR, logger="hub.devices.ingest"):
        await asyncio.wait_for(rig.worker.process(_inbound(msgs)), 10)
    assert sorted(rig.link.acked) == list(range(1, 7))
    assert await _readings(rig.store) == {"dev-1": {1}, "dev-3": {1}, "dev-4": {1}}
    assert dict(rig.worker.rejected) == {"internal_error": 2}
    letters = await rig.worker.repo.dead_letters(reason="internal_error")
    assert sorted((d["device_id"], d["topic"].rsplit("/", 1)[1]) for d in letters) == [
        ("dev-2", "telemetry"),
        ("dev-3", "events"),
    ]
    assert any("RuntimeError: a validator bug" in d["detail"] for d in letters)
    assert [(await sub.get()).data.device_id] == ["dev-1"] and sub.queue.empty()
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 2  # once per message, with its traceback
    # dev-3's event changed nothing: the device was brought online by its reading only.
    assert rig.svc.presence.states["dev-3"].state == "online"


async def test_a_batch_that_fails_whole_is_taken_one_message_at_a_time(
    sqlite_rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig, now = sqlite_rig, time.time()
    real = IngestWorker._prepare

    def prepare(self: IngestWorker, batch: list[Inbound]) -> Any:
        if len(batch) > 1 or "dev-2" in batch[0][3]:
            raise RuntimeError("a bug outside the per-message handling")
        return real(self, batch)

    monkeypatch.setattr(IngestWorker, "_prepare", prepare)
    msgs = [Msg(d, "telemetry", reading(s, now), None) for s in (1, 2) for d in DEVICE_IDS]
    msgs.append(Msg("dev-1", "status", b'{"state": "online", "session": "a", "ts": 5}', None))
    await asyncio.wait_for(rig.worker.process(_inbound(msgs)), 10)
    assert sorted(rig.link.acked) == list(range(1, 10))
    assert await _readings(rig.store) == {d: {1, 2} for d in ("dev-1", "dev-3", "dev-4")}
    assert rig.worker.rejected == Counter({"internal_error": 2})
    assert len(await rig.worker.repo.dead_letters(reason="internal_error")) == 2
    assert {s.device_id for s in await rig.worker.repo.load_states()} == {
        "dev-1",
        "dev-3",
        "dev-4",
    }


@pytest.mark.parametrize("kind", ["events", "status"])
async def test_events_and_status_are_flood_limited(sqlite_rig: Rig, kind: str) -> None:
    # dev-flood's profile allows 5 messages a minute, of every kind together.
    rig, now = sqlite_rig, time.time()
    doc = {"type": "door"} if kind == "events" else {"state": "online", "session": "s", "ts": now}
    msgs = [Msg("dev-flood", kind, orjson.dumps(doc), None) for _ in range(8)]
    msgs.append(Msg("dev-flood", "telemetry", orjson.dumps({"values": {"level": 1}}), None))
    sub = rig.svc.bus.subscribe(DEVICE_EVENTS)
    await asyncio.wait_for(rig.worker.process(_inbound(msgs)), 10)
    assert rig.worker.rejected == Counter({"flood": 4})
    assert sorted(rig.link.acked) == list(range(1, 10))
    assert await _telemetry_rows(rig.store) == 0
    if kind == "events":
        assert sub.queue.qsize() == 5
    floods = await rig.worker.repo.dead_letters(reason="flood")
    assert Counter(d["topic"].rsplit("/", 1)[1] for d in floods) == {kind: 3, "telemetry": 1}


# -- the rules themselves --------------------------------------------------------------------


def test_time_bounds() -> None:
    now = 1_800_000_000.0
    ok = [now, now - MAX_TS_AGE, now + MAX_TS_AHEAD, int(now), _iso(now - 3 * DAY)]
    for raw in ok:
        assert validate.parse_ts(raw, now) == pytest.approx(
            raw if not isinstance(raw, str) else now - 3 * DAY
        )
    assert validate.parse_ts(None, now) == now
    bad: list[Any] = [
        now - MAX_TS_AGE - 1, now + MAX_TS_AHEAD + 1, 0, -1, 1e20, 10**400, -(10**400),
        float("nan"), float("inf"), -float("inf"), 2**64, "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
    ]  # fmt: skip
    for raw in bad:
        with pytest.raises(Rejected) as exc:
            validate.parse_ts(raw, now)
        assert exc.value.reason == "bad_time", raw
    for raw in (True, "yesterday", "2026-11-22T01:00:00", [], "1" * 100):
        with pytest.raises(Rejected) as exc:
            validate.parse_ts(raw, now)
        assert exc.value.reason == "wrong_type", raw
    # A status may carry a counter, never a time past the window's end.
    assert validate.status_ts(3, now) == 3.0
    for raw in (0, -1, now + MAX_TS_AHEAD + 1, 1e20, float("nan"), 10**400):
        with pytest.raises(Rejected):
            validate.status_ts(raw, now)


def test_event_data_bounds() -> None:
    validate.check_json({"a": [1, -(2**63), 2**63 - 1, 1.5, None, True, "x", {"b": {}}]})
    for data, reason in [
        ({"a": 2**63}, "wrong_type"),
        ({"a": -(2**63) - 1}, "wrong_type"),
        ({"a": float("nan")}, "wrong_type"),
        ({"a": float("inf")}, "wrong_type"),
        ({"a": "\x00"}, "wrong_type"),
        ({"\x00": 1}, "wrong_type"),
        ({1: 1}, "wrong_type"),
        ({"a": object()}, "wrong_type"),
        (orjson.loads(_nested(validate.MAX_EVENT_DEPTH + 1)), "oversized"),
        ({"a": list(range(validate.MAX_EVENT_ITEMS))}, "oversized"),
    ]:
        with pytest.raises(Rejected) as exc:
            validate.check_json(data)
        assert exc.value.reason == reason, data
    validate.check_json(orjson.loads(_nested(validate.MAX_EVENT_DEPTH)))


def test_a_stored_session_from_far_ahead_is_forgotten_at_load() -> None:
    # Stored before status times were bounded, it would make every later session stale.
    async def nothing(_: list[DeviceState]) -> None:
        return None

    presence = Presence(lambda _d: None, nothing)
    now = time.time()
    presence.load(
        [
            DeviceState("dev-1", "online", "status", "evil", 1e20, now, now, {}),
            DeviceState("dev-2", "online", "status", "s", now, now, now, {}),
        ]
    )
    assert presence.states["dev-1"].session_ts is None
    assert presence.states["dev-2"].session_ts == now
    st = validate.Status("dev-1", "offline", "new", now, False)
    assert presence.status(st, now) and presence.states["dev-1"].state == "offline"
