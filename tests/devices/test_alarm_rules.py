"""The rule engine over a real SQLite store and MemoryBus: every rule kind, clears, missing-data
deadlines, and state that survives a restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from alarm_helpers import Clock, rig, rules_site

from hub.config import Condition
from hub.devices.rules import RuleState, holds

T0 = 1_750_000_000.0


def test_holds_never_mixes_flags_numbers_and_text() -> None:
    assert holds(Condition(op=">=", value=5), 5.0)
    assert not holds(Condition(op="==", value=1), True)
    assert not holds(Condition(op="==", value=True), 1)
    assert not holds(Condition(op=">", value=1), "2")
    assert not holds(Condition(op=">", value=1), None)


async def test_threshold_escalates_deescalates_refreshes_and_clears(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        e = r.engine
        await e.on_telemetry("dev-1", T0, {"level": 6.0})
        await e.on_telemetry("dev-1", T0 + 10, {"level": 9.5})
        await e.on_telemetry("dev-1", T0 + 20, {"level": 5.5})
        await e.on_telemetry("dev-1", T0 + 30, {"level": 1.0})
        docs = [d for d in r.drain() if d["rule_id"] == "level-high"]
        assert [(d["severity"], d["state"], d["count"]) for d in docs] == [
            ("warning", "active", 1),
            ("critical", "active", 2),
            ("warning", "active", 3),
            ("warning", "cleared", 3),
        ]
        assert len({d["id"] for d in docs}) == 1
        full = await r.service.detail(docs[0]["id"])
        assert [(c.action, c.actor) for c in full.timeline] == [
            ("created", "system"),
            ("severity", "system"),
            ("severity", "system"),
            ("cleared", "system"),
        ]
        assert full.value == 5.5 and full.key == "level"
        # A new trigger after the clear is a new alarm.
        await e.on_telemetry("dev-1", T0 + 40, {"level": 7.0})
        again = [d for d in r.drain() if d["rule_id"] == "level-high"]
        assert again and again[0]["id"] != docs[0]["id"] and again[0]["count"] == 1
        # Other devices and other values do not touch it.
        await e.on_telemetry("dev-2", T0 + 40, {"open": False})
        assert r.drain() == []


async def test_alarm_copies_the_device_the_rule_and_the_linked_cameras(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        await r.engine.on_telemetry("dev-1", T0, {"level": 9.0})
        (a,) = r.drain()
        assert (a["device_id"], a["device_name"], a["profile"], a["grid_id"]) == (
            "dev-1",
            "一号",
            "probe",
            "g1",
        )
        assert (a["rule_id"], a["rule_name"], a["key"]) == ("level-high", "水位过高", "level")
        assert (a["severity"], a["value"], a["position"]) == ("critical", 9.0, [120.05, 31.05])
        # Linkage: the cameras that see the device, nearest first.
        assert [c["camera_id"] for c in a["cameras"]] == ["cam-dome", "cam-east"]
        assert r.service.open_id("dev-1", "level-high") == a["id"]


async def test_clear_condition_must_hold(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        e = r.engine
        await e.on_telemetry("dev-1", T0, {"level": 60.0})
        await e.on_telemetry("dev-1", T0 + 1, {"level": 20.0})  # below create, above clear
        await e.on_telemetry("dev-1", T0 + 2, {"level": 9.0})
        docs = [d for d in r.drain() if d["rule_id"] == "level-sticky"]
        assert [d["state"] for d in docs] == ["active", "cleared"]


async def test_duration_by_telemetry_time(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        e = r.engine
        await e.on_telemetry("dev-1", T0, {"open": True})
        await e.on_telemetry("dev-1", T0 + 30, {"open": True})
        await e.on_telemetry("dev-1", T0 + 40, {"open": False})  # interrupted: starts over
        await e.on_telemetry("dev-1", T0 + 50, {"open": True})
        await e.on_telemetry("dev-1", T0 + 100, {"open": True})
        assert [d for d in r.drain() if d["rule_id"] == "door-held"] == []
        await e.on_telemetry("dev-1", T0 + 110, {"open": True})
        docs = [d for d in r.drain() if d["rule_id"] == "door-held"]
        assert [(d["severity"], d["state"]) for d in docs] == [("minor", "active")]
        await e.on_telemetry("dev-1", T0 + 120, {"open": False})
        assert [d["state"] for d in r.drain() if d["rule_id"] == "door-held"] == ["cleared"]


async def test_rate_per_minute_over_the_window(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        e = r.engine
        # 1 per minute: below the 2/min limit.
        for i in range(5):
            await e.on_telemetry("dev-2", T0 + 30 * i, {"level": 0.5 * i})
        assert [d for d in r.drain() if d["rule_id"] == "level-rise"] == []
        # Then 3 per minute.
        for i in range(1, 6):
            await e.on_telemetry("dev-2", T0 + 120 + 30 * i, {"level": 2.0 + 1.5 * i})
        docs = [d for d in r.drain() if d["rule_id"] == "level-rise"]
        assert docs and docs[0]["severity"] == "major" and docs[0]["value"] > 2
        assert len(e.states[("dev-2", "level-rise")].window) <= 6


async def test_missing_deadlines_escalate_and_clear(tmp_path: Path) -> None:
    clock = Clock(T0)
    async with rig(tmp_path, clock=clock) as r:
        e = r.engine
        await e.on_telemetry("dev-1", T0, {"level": 1.0})
        await e.expire(T0 + 59)
        assert r.drain() == []
        await e.expire(T0 + 61)
        assert [(d["severity"], d["state"]) for d in r.drain()] == [("warning", "active")]
        await e.expire(T0 + 601)
        assert [(d["severity"], d["state"]) for d in r.drain()] == [("major", "active")]
        clock.t = T0 + 700
        await e.on_telemetry("dev-1", T0 + 700, {"level": 1.0})
        assert [d["state"] for d in r.drain() if d["rule_id"] == "offline"] == ["cleared"]
        # Re-armed from the new report, even though a later deadline was queued before.
        await e.expire(T0 + 700 + 61)
        assert [(d["severity"], d["state"]) for d in r.drain()] == [("warning", "active")]
        # One scheduler entry per device x rule (plus at most one superseded one).
        assert len(e._deadlines._heap) <= 2


async def test_missing_fires_on_the_event_loop_timer(tmp_path: Path) -> None:
    site = rules_site(offline_warning_s=0.3)
    async with rig(tmp_path, site=site, clock=time.time, timers=True) as r:
        t = time.time()
        await r.engine.on_telemetry("dev-1", t, {"level": 1.0})
        msg = await asyncio.wait_for(r.alarms.get(), 3)
        took = time.time() - t
        assert msg.data.rule_id == "offline" and msg.data.severity == "warning"
        assert 0.3 <= took < 1.5


async def test_duration_half_elapsed_survives_restart(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        await r.engine.on_telemetry("dev-1", T0, {"open": True})
        await r.engine.on_telemetry("dev-1", T0 + 30, {"open": True})
        await r.engine.on_telemetry("dev-1", T0 + 20, {"level": 6.0})
        assert [d["rule_id"] for d in r.drain()] == ["level-high"]
    # A new engine over the same database: stop() stored the state, start() loads it.
    async with rig(tmp_path) as r:
        st = r.engine.states[("dev-1", "door-held")]
        assert st.since == {"minor": T0}
        await r.engine.on_telemetry("dev-1", T0 + 59, {"open": True})
        assert r.drain() == []
        await r.engine.on_telemetry("dev-1", T0 + 61, {"open": True})
        assert [(d["rule_id"], d["severity"]) for d in r.drain()] == [("door-held", "minor")]
        # The alarm raised before the restart is refreshed, not duplicated.
        await r.engine.on_telemetry("dev-1", T0 + 62, {"level": 6.5})
        docs = r.drain()
        assert [(d["rule_id"], d["count"]) for d in docs] == [("level-high", 2)]


async def test_missing_deadline_survives_restart(tmp_path: Path) -> None:
    clock = Clock(T0)
    async with rig(tmp_path, clock=clock) as r:
        await r.engine.on_telemetry("dev-1", T0, {"level": 1.0})
    async with rig(tmp_path, clock=clock) as r:
        await r.engine.expire(T0 + 61)
        assert [(d["rule_id"], d["severity"]) for d in r.drain()] == [("offline", "warning")]


def test_rule_state_round_trips() -> None:
    st = RuleState("major", {"minor": 1.0}, [[1.0, 2.0]], 3.0)
    assert RuleState.from_json(st.to_json()) == st
