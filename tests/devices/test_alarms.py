"""Alarm lifecycle over a real SQLite store: ack, assign, operator clear, idempotent refresh,
linked cameras, and the bus messages every change produces."""

from __future__ import annotations

from pathlib import Path

import pytest
from alarm_helpers import rig

from hub.errors import NotFoundError

T0 = 1_750_000_000.0


async def test_ack_then_condition_clears(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        await r.engine.on_telemetry("dev-1", T0, {"level": 9.0})
        (created,) = r.drain()
        assert created["state"] == "active" and created["severity"] == "critical"
        assert created["device_name"] == "一号" and created["profile"] == "probe"
        assert created["grid_id"] == "g1" and created["position"] == [120.05, 31.05]
        assert [c["camera_id"] for c in created["cameras"]] == ["cam-dome", "cam-east"]
        assert created["created_at"].endswith("Z") and created["acknowledged_at"] is None
        aid = created["id"]

        acked = await r.book.ack(aid, "op1")
        assert acked["state"] == "acknowledged" and acked["acknowledged_at"] is not None
        assert (await r.book.ack(aid, "op1")) == acked  # idempotent, nothing published
        assigned = await r.book.assign(aid, "alice", "op1")
        assert assigned["assignee"] == "alice"
        # A repeat while acknowledged refreshes the same alarm and keeps it acknowledged.
        await r.engine.on_telemetry("dev-1", T0 + 1, {"level": 9.5})
        await r.engine.on_telemetry("dev-1", T0 + 2, {"level": 1.0})
        docs = r.drain()
        assert [(d["state"], d["count"], d["assignee"]) for d in docs] == [
            ("acknowledged", 1, None),
            ("acknowledged", 1, "alice"),
            ("acknowledged", 2, "alice"),
            ("cleared", 2, "alice"),
        ]
        full = await r.book.get(aid, timeline=True)
        assert [(c["action"], c["actor"]) for c in full["timeline"]] == [
            ("created", "system"),
            ("acked", "op1"),
            ("assigned", "op1"),
            ("cleared", "system"),
        ]
        assert full["timeline"][2]["assignee"] == "alice"
        assert full["cleared_at"] is not None and full["acknowledged_at"] is not None


async def test_operator_clear_and_new_alarm_after(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        await r.engine.on_telemetry("dev-2", T0, {"level": 5.0})
        (a,) = r.drain()
        cleared = await r.book.clear(a["id"], "op1")
        assert cleared["state"] == "cleared"
        assert (await r.book.clear(a["id"], "op1"))["state"] == "cleared"
        assert len(r.drain()) == 1
        # Still above the threshold: the next reading raises a new alarm.
        await r.engine.on_telemetry("dev-2", T0 + 1, {"level": 5.0})
        (b,) = r.drain()
        assert b["id"] != a["id"] and b["state"] == "active"
        assert [x["id"] for x in await r.book.list(state="open")] == [b["id"]]
        assert [x["id"] for x in await r.book.list()] == [b["id"], a["id"]]
        assert [x["id"] for x in await r.book.list(state="cleared")] == [a["id"]]
        assert [x["id"] for x in await r.book.list(before_id=b["id"])] == [a["id"]]
        assert await r.book.list(device_id="dev-1") == []
        assert await r.book.list(severity="critical") == []
        with pytest.raises(NotFoundError):
            await r.book.get(9999)


async def test_open_alarms_reload_after_restart(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        await r.engine.on_telemetry("dev-1", T0, {"level": 5.0})
        (a,) = r.drain()
    async with rig(tmp_path) as r:
        assert r.book.open_id("dev-1", "level-high") == a["id"]
        await r.engine.on_telemetry("dev-1", T0 + 1, {"level": 9.0})
        (b,) = r.drain()
        assert b["id"] == a["id"] and b["count"] == 2 and b["severity"] == "critical"
