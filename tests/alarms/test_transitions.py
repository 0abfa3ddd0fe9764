"""The alarm transition table: every (state, action) pair, first on the pure step, then through the
service over a real store. Allowed pairs move the alarm to the state the table says and write one
timeline entry; the others change neither the stored alarm nor its timeline, and publish
nothing."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alarm_service_helpers import T0, alarm_rig, trigger

from hub.alarms.models import ALARM_STATES, Alarm, AlarmState
from hub.alarms.service import ACTIONS, TRANSITIONS, Action, AlarmService, next_state, step

PAIRS = list(itertools.product(ALARM_STATES, ACTIONS))
ENTRY = {"refresh": "severity", "ack": "acked", "clear": "cleared", "assign": "assigned"}
"""The timeline entry each allowed action writes (the refresh below changes the severity)."""
T = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _alarm(state: AlarmState) -> Alarm:
    return Alarm(
        id=7,
        device_id="dev-1",
        device_name="一号",
        profile="probe",
        grid_id="g1",
        rule_id="level-high",
        rule_name="水位过高",
        severity="warning",
        state=state,
        created_at=T,
        updated_at=T,
        acknowledged_at=T if state == "acknowledged" else None,
        cleared_at=T if state == "cleared" else None,
        count=1,
        value=6.0,
        key="level",
        position=(120.05, 31.05),
    )


def test_the_table_names_only_states_and_actions() -> None:
    for (state, action), to in TRANSITIONS.items():
        assert state is None or state in ALARM_STATES
        assert action in ACTIONS and to in ALARM_STATES
    # Only a trigger starts an alarm, and only from none; nothing leaves "cleared" but itself.
    assert [k for k in TRANSITIONS if k[0] is None] == [(None, "trigger")]
    assert next_state(None, "trigger") == "active"
    assert {to for (state, _), to in TRANSITIONS.items() if state == "cleared"} == {"cleared"}


@pytest.mark.parametrize(("state", "action"), PAIRS)
def test_step_follows_the_table(state: AlarmState, action: Action) -> None:
    cur = _alarm(state)
    now = T + timedelta(seconds=10)
    s = step(cur, action, "op", now, trigger=trigger("critical", 9.5), assignee="alice")
    to = TRANSITIONS.get((state, action))
    if to is None:
        assert s is None
        return
    assert s is not None
    assert s.alarm.state == to and s.alarm.updated_at == now and s.alarm.id == cur.id
    assert s.entry is not None and s.entry.action == ENTRY[action] and s.entry.ts == now
    assert cur.state == state and cur.updated_at == T  # the input is not changed
    if action == "refresh":
        assert (s.alarm.count, s.alarm.severity, s.alarm.value) == (2, "critical", 9.5)
    elif action == "ack":
        assert s.alarm.acknowledged_at == now
    elif action == "clear":
        assert s.alarm.cleared_at == now
    elif action == "assign":
        assert s.alarm.assignee == "alice"


def test_step_no_ops_inside_allowed_pairs() -> None:
    now = T + timedelta(seconds=10)
    acked_then_cleared = _alarm("cleared").model_copy(update={"acknowledged_at": T})
    assert step(acked_then_cleared, "ack", "op", now) is None
    assigned = _alarm("active").model_copy(update={"assignee": "alice"})
    assert step(assigned, "assign", "op", now, assignee="alice") is None
    same = step(_alarm("active"), "refresh", "system", now, trigger=trigger("warning", 7.0))
    assert same is not None and same.entry is None  # counted, not on the timeline
    with pytest.raises(ValueError):
        step(_alarm("active"), "refresh", "system", now)


async def _in_state(s: AlarmService, state: AlarmState) -> int:
    """A stored alarm in ``state`` (a cleared one that was never acknowledged)."""
    a = await s.trigger(trigger("warning", 6.0))
    if state == "acknowledged":
        await s.ack(a.id, "op")
    elif state == "cleared":
        await s.clear(a.id, "op")
    return a.id


@pytest.mark.parametrize(("state", "action"), PAIRS)
async def test_service_applies_the_table(tmp_path: Path, state: AlarmState, action: Action) -> None:
    async with alarm_rig(tmp_path) as r:
        s = r.service
        aid = await _in_state(s, state)
        before = await s.detail(aid)
        assert before.state == state
        r.drain()

        got = await s.apply(
            aid, action, "op2", trigger=trigger("critical", 9.5, ts=T0 + 5), assignee="alice"
        )
        after = await s.detail(aid)
        to = TRANSITIONS.get((state, action))
        if to is None:
            assert after == before
            assert got.model_dump() == before.model_dump(exclude={"timeline"})
            assert r.drain() == []
            return
        assert after.state == to == got.state
        assert got.model_dump() == after.model_dump(exclude={"timeline"})
        assert after.updated_at > before.updated_at
        assert after.timeline[: len(before.timeline)] == before.timeline
        (entry,) = after.timeline[len(before.timeline) :]
        assert entry.action == ENTRY[action]
        assert entry.actor == "op2"
        assert r.drain() == [got]
        assert s.open_id("dev-1", "level-high") == (aid if to != "cleared" else None)
