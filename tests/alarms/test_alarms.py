"""The alarm lifecycle over a real SQLite store: create and refresh, ack, assign, clears by rule and
by operator, idempotent repeats, listing and paging, the timeline, the bus messages every change
produces, and the open alarms a restarted service finds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alarm_service_helpers import CAMERAS, T0, alarm_rig, trigger

from hub.alarms.models import AlarmAssigned, AlarmCreated, SeverityChanged
from hub.errors import NotFoundError


async def test_ack_then_condition_clears(tmp_path: Path) -> None:
    async with alarm_rig(tmp_path) as r:
        s = r.service
        created = await s.trigger(trigger("critical", 9.0))
        assert r.drain() == [created]
        assert created.state == "active" and created.severity == "critical"
        assert created.device_name == "一号" and created.profile == "probe"
        assert created.grid_id == "g1" and created.position == (120.05, 31.05)
        assert created.cameras == CAMERAS and created.count == 1 and created.value == 9.0
        wire = created.model_dump(mode="json")
        assert wire["created_at"].endswith("Z") and wire["position"] == [120.05, 31.05]
        assert created.acknowledged_at is None
        aid = created.id

        acked = await s.ack(aid, "op1")
        assert acked.state == "acknowledged" and acked.acknowledged_at is not None
        assert (await s.ack(aid, "op1")) == acked  # idempotent, nothing published
        assigned = await s.assign(aid, "alice", "op1")
        assert assigned.assignee == "alice"
        assert (await s.assign(aid, "alice", "op2")) == assigned  # the same: nothing to do
        # A repeat while acknowledged refreshes the same alarm and keeps it acknowledged.
        await s.trigger(trigger("critical", 9.5, ts=T0 + 1))
        assert await s.condition_cleared("dev-1", "level-high") is not None
        assert await s.condition_cleared("dev-1", "level-high") is None  # none open now
        assert [(a.state, a.count, a.assignee) for a in r.drain()] == [
            ("acknowledged", 1, None),
            ("acknowledged", 1, "alice"),
            ("acknowledged", 2, "alice"),
            ("cleared", 2, "alice"),
        ]
        full = await s.detail(aid)
        assert [(c.action, c.actor) for c in full.timeline] == [
            ("created", "system"),
            ("acked", "op1"),
            ("assigned", "op1"),
            ("cleared", "system"),
        ]
        assert isinstance(full.timeline[0], AlarmCreated)
        assert full.timeline[0].severity == "critical"
        assert isinstance(full.timeline[2], AlarmAssigned)
        assert full.timeline[2].assignee == "alice"
        assert full.cleared_at is not None and full.acknowledged_at is not None
        assert full.value == 9.5 and full.count == 2
        # On the wire a timeline entry is flat: its detail next to ts, action, actor.
        wire = full.model_dump(mode="json", by_alias=True)
        assert wire["timeline"][2] == {
            "ts": wire["timeline"][2]["ts"],
            "action": "assigned",
            "actor": "op1",
            "assignee": "alice",
        }
        assert set(wire["timeline"][1]) == {"ts", "action", "actor"}


async def test_severity_changes_are_on_the_timeline(tmp_path: Path) -> None:
    async with alarm_rig(tmp_path) as r:
        s = r.service
        a = await s.trigger(trigger("warning", 6.0))
        await s.trigger(trigger("critical", 9.5, ts=T0 + 1))
        await s.trigger(trigger("critical", 9.6, ts=T0 + 2))  # same severity: counted only
        b = await s.trigger(trigger("warning", 5.5, ts=T0 + 3))
        assert (b.id, b.count, b.severity, b.value) == (a.id, 4, "warning", 5.5)
        full = await s.detail(a.id)
        assert [c.action for c in full.timeline] == ["created", "severity", "severity"]
        up = full.timeline[1]
        assert isinstance(up, SeverityChanged) and (up.from_, up.to) == ("warning", "critical")
        wire = full.model_dump(mode="json", by_alias=True)["timeline"][1]
        assert (wire["from"], wire["to"]) == ("warning", "critical")
        assert len(r.drain()) == 4  # every refresh is published


async def test_operator_clear_and_new_alarm_after(tmp_path: Path) -> None:
    async with alarm_rig(tmp_path) as r:
        s = r.service
        a = await s.trigger(trigger("warning", 5.0, device_id="dev-2"))
        cleared = await s.clear(a.id, "op1")
        assert cleared.state == "cleared" and s.open_id("dev-2", "level-high") is None
        assert (await s.clear(a.id, "op1")).state == "cleared"
        assert len(r.drain()) == 2
        # Still above the threshold: the next trigger raises a new alarm.
        b = await s.trigger(trigger("warning", 5.0, device_id="dev-2", ts=T0 + 1))
        assert b.id != a.id and b.state == "active" and b.count == 1

        async def ids(**q: object) -> list[int]:
            return [x.id for x in (await s.page(**q)).items]

        assert await ids(state="open") == [b.id]
        assert await ids() == [b.id, a.id]
        assert await ids(state="cleared") == [a.id]
        assert await ids(before_id=b.id) == [a.id]
        assert await ids(device_id="dev-1") == []
        assert await ids(severity="critical") == []
        page = await s.page(limit=1)
        assert [x.id for x in page.items] == [b.id] and page.next_before_id == b.id
        page = await s.page(limit=1, before_id=page.next_before_id)
        assert [x.id for x in page.items] == [a.id] and page.next_before_id is None
        with pytest.raises(NotFoundError):
            await s.get(9999)
        with pytest.raises(NotFoundError):
            await s.detail(9999)
        with pytest.raises(NotFoundError):
            await s.ack(9999, "op1")


async def test_open_alarms_reload_after_restart(tmp_path: Path) -> None:
    async with alarm_rig(tmp_path) as r:
        a = await r.service.trigger(trigger("warning", 5.0))
        gone = await r.service.trigger(trigger("warning", 5.0, device_id="dev-2"))
        await r.service.clear(gone.id, "op1")
    async with alarm_rig(tmp_path) as r:
        assert r.service.open_id("dev-1", "level-high") == a.id
        assert r.service.open_id("dev-2", "level-high") is None
        b = await r.service.trigger(trigger("critical", 9.0, ts=T0 + 1))
        assert b.id == a.id and b.count == 2 and b.severity == "critical"


async def test_changes_behind_the_services_back(tmp_path: Path) -> None:
    """The service keeps its open alarms in memory as the one writer. Changed by another one all
    the same (a second hub on the store, a repair by hand), an alarm is refreshed from what is
    stored while it is open, and a trigger after it was cleared raises a new one."""
    async with alarm_rig(tmp_path) as r:
        a = await r.service.trigger(trigger())
        async with alarm_rig(tmp_path, store=r.store) as other:
            await other.service.ack(a.id, "op1")
        b = await r.service.trigger(trigger(ts=T0 + 1))
        assert (b.id, b.state, b.count) == (a.id, "acknowledged", 2)
        async with alarm_rig(tmp_path, store=r.store) as other:
            await other.service.clear(a.id, "op1")
        c = await r.service.trigger(trigger(ts=T0 + 2))
        assert c.id != a.id and c.count == 1 and c.state == "active"
        assert r.service.open_id("dev-1", "level-high") == c.id
        stale = await r.service.get(a.id)
        assert (stale.state, stale.count) == ("cleared", 2)
        assert [(x.id, x.state) for x in r.drain()] == [
            (a.id, "active"),
            (a.id, "acknowledged"),
            (c.id, "active"),
        ]


async def test_a_cancelled_caller_does_not_cut_the_write(tmp_path: Path) -> None:
    """A stopping rule engine or a dropped request cancels its call; the write it started still
    commits whole (with its timeline entry and message), and close() waits for it."""
    async with alarm_rig(tmp_path) as r:
        s = r.service
        call = asyncio.create_task(s.trigger(trigger("major", 7.0)))
        await asyncio.sleep(0)  # the write has started
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await s.close()
        aid = s.open_id("dev-1", "level-high")
        assert aid is not None
        assert [(c.action, c.actor) for c in (await s.detail(aid)).timeline] == [
            ("created", "system")
        ]
        assert [a.id for a in r.drain()] == [aid]
        # The store is not left locked: the next writer gets through.
        assert (await s.ack(aid, "op1")).state == "acknowledged"
