"""The case loop on a real store, SQLite and PostgreSQL: reporting, fusion, the loop, versions,
time limits and traffic lights with a clock the test turns, and a restart in the middle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from case_helpers import MONDAY_10, Rig, case_rig, detection

from hub.bus.contracts import Alarm
from hub.dispatch.models import NewCase
from hub.dispatch.repo import CaseFilter
from hub.errors import ConflictError, ForbiddenError, NotFoundError


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    async with case_rig(request.param, tmp_path) as r:
        yield r


def _new(**kw: object) -> NewCase:
    base: dict[str, object] = {"category": "02.01", "title": "道路破损 road damaged"}
    return NewCase.model_validate({**base, **kw})


async def test_whole_loop_is_stamped_attributed_and_on_the_timeline(rig: Rig) -> None:
    case = await rig.svc.report(
        _new(position=[120.0, 31.8]), source="operator", actor="op", role="operator"
    )
    assert (case.state, case.grid_id, case.street_id, case.department) == (
        "reported",
        "g1",
        "s",
        "municipal",
    )
    assert case.stage == "accept" and case.light == "green" and case.version == 1
    c = await rig.step(case, "accept")
    c = await rig.step(c, "open")
    c = await rig.step(c, "dispatch", assignee="wang")
    rig.clock.advance(minutes=5)
    c = await rig.step(c, "receive", actor="wang", role="worker")
    c = await rig.step(c, "arrive", actor="wang", role="worker")
    c = await rig.step(c, "feedback", actor="wang", role="worker", note="修好了")
    c = await rig.step(c, "check_pass")
    c = await rig.step(c, "evaluate", rating=5, role="operator")
    assert c.state == "evaluated" and c.rating == 5 and c.version == 9
    assert c.stage is None and c.stage_deadline is None
    assert c.received_at == MONDAY_10 + timedelta(minutes=5)
    detail = await rig.svc.get(case.id, viewer="op", role="operator")
    assert [t.action for t in detail.timeline] == [
        "created", "accept", "open", "dispatch", "receive", "arrive", "feedback", "check_pass",
        "evaluate",
    ]  # fmt: skip
    assert [t.version for t in detail.timeline] == list(range(1, 10))
    assert detail.timeline[6].actor == "wang" and detail.timeline[6].detail["note"] == "修好了"
    assert detail.evidence == []  # photos: tests/dispatch/test_photos.py
    assert detail.category_name == "道路破损"
    assert [ch.action for ch in rig.drain()][:2] == ["created", "accept"]
    assert [ch.notify for ch in rig.seen if ch.action == "dispatch"] == [["wang"]]


async def test_a_stale_version_gets_409_and_loses_nothing(rig: Rig) -> None:
    case = await rig.svc.report(_new(grid_id="g1"), source="operator", actor="op", role="operator")
    accepted = await rig.step(case, "accept")
    with pytest.raises(ConflictError):
        await rig.step(case, "void")  # decided on version 1, the case is at 2
    detail = await rig.svc.get(case.id, viewer="op", role="operator")
    assert detail.state == "accepted" and detail.version == accepted.version
    assert [t.action for t in detail.timeline] == ["created", "accept"]


async def test_roles_and_assignees_are_checked(rig: Rig) -> None:
    case = await rig.svc.report(_new(grid_id="g1"), source="operator", actor="op", role="operator")
    with pytest.raises(NotFoundError):  # a worker sees only their own cases
        await rig.step(case, "accept", actor="wang", role="worker")
    with pytest.raises(ForbiddenError):
        await rig.step(case, "accept", actor="boss", role="supervisor")
    c = await rig.step(await rig.step(await rig.step(case, "accept"), "open"), "dispatch",
                       assignee="wang")  # fmt: skip
    with pytest.raises(ForbiddenError):
        await rig.step(c, "receive")  # an operator cannot sign for the worker
    with pytest.raises(NotFoundError):  # another worker does not even see it
        await rig.step(c, "receive", actor="li", role="worker")
    with pytest.raises(NotFoundError):
        await rig.svc.get(c.id, viewer="li", role="worker")
    with pytest.raises(ConflictError):
        await rig.step(c, "check_pass")  # not handled yet
    page = await rig.svc.page(CaseFilter(), viewer="li", role="worker", limit=10, before_id=None)
    assert page.items == [] and page.total == 0
    page = await rig.svc.page(CaseFilter(), viewer="wang", role="worker", limit=10, before_id=None)
    assert [x.id for x in page.items] == [c.id]


async def test_dispatch_only_to_an_active_worker(rig: Rig) -> None:
    case = await rig.svc.report(_new(grid_id="g1"), source="operator", actor="op", role="operator")
    c = await rig.step(await rig.step(case, "accept"), "open")
    for who in ("op", "nobody"):
        with pytest.raises(Exception, match="not an active worker"):
            await rig.step(c, "dispatch", assignee=who)


async def test_rework_goes_back_to_the_worker_and_counts(rig: Rig) -> None:
    case = await rig.svc.report(_new(grid_id="g1"), source="operator", actor="op", role="operator")
    c = await rig.step(await rig.step(case, "accept"), "open")
    c = await rig.step(c, "dispatch", assignee="wang")
    c = await rig.step(c, "receive", actor="wang", role="worker")
    c = await rig.step(c, "feedback", actor="wang", role="worker")
    c = await rig.step(c, "check_fail", note="没修好")
    assert (c.state, c.assignee, c.rework_count, c.stage) == ("dispatched", "wang", 1, "handle")


async def test_return_and_extension_need_a_supervisor(rig: Rig) -> None:
    case = await rig.svc.report(_new(grid_id="g1"), source="operator", actor="op", role="operator")
    c = await rig.step(await rig.step(case, "accept"), "open")
    c = await rig.step(c, "dispatch", assignee="wang")
    c = await rig.step(c, "request_extension", actor="wang", role="worker",
                       extension="2 working_days")  # fmt: skip
    assert c.pending == "extension" and c.state == "dispatched"
    with pytest.raises(ForbiddenError):
        await rig.step(c, "approve_extension")  # an operator may not
    before = c.stage_deadline
    assert before is not None
    c = await rig.step(c, "approve_extension", actor="boss", role="supervisor")
    assert c.pending is None and c.stage_deadline is not None and c.stage_deadline > before
    c = await rig.step(c, "request_return", actor="wang", role="worker", note="不归我管")
    c = await rig.step(c, "approve_return", actor="boss", role="supervisor")
    assert (c.state, c.assignee, c.stage) == ("opened", None, "dispatch")


async def test_a_busy_camera_opens_one_case(rig: Rig) -> None:
    first = await rig.svc.on_detection(detection())
    assert first is not None and first.source == "video" and first.category == "17.01"
    for i in range(20):
        rig.clock.advance(seconds=10)
        cam = "cam-b" if i % 2 else "cam-a"  # 10 m away: the same place
        joined = await rig.svc.on_detection(detection(cam, start=rig.clock.now))
        assert joined is not None and joined.id == first.id
    far = await rig.svc.on_detection(detection("cam-far", start=rig.clock.now))
    assert far is not None and far.id != first.id and far.grid_id == "g2"
    # The end announcement of a stored event adds nothing; a redelivery is the same evidence.
    ev = detection(start=rig.clock.now)
    await rig.svc.on_detection(ev)
    await rig.svc.on_detection(ev)
    assert await rig.svc.on_detection(ev.model_copy(update={"end": rig.clock.now})) is None
    detail = await rig.svc.get(first.id, viewer="op", role="operator")
    assert detail.evidence_count == 22 == len(detail.evidence)
    # Outside the window a new case opens.
    rig.clock.advance(seconds=301)
    later = await rig.svc.on_detection(detection(start=rig.clock.now))
    assert later is not None and later.id not in (first.id, far.id)


async def test_a_drones_sighting_is_placed_where_the_drone_was(rig: Rig) -> None:
    """cam-a is configured in g1; an event that carries a position (a drone over g2) makes its
    case there, and does not fuse with g1's cases."""
    near = await rig.svc.on_detection(detection())
    flown = await rig.svc.on_detection(
        detection(grid_id="g2", position=[120.3, 31.8], start=rig.clock.now)
    )
    assert near is not None and flown is not None and flown.id != near.id
    assert flown.grid_id == "g2" and flown.position == (120.3, 31.8)


async def test_a_redelivered_detection_after_close_opens_nothing(rig: Rig) -> None:
    ev = detection(kind="line_crossing")  # not dispatched automatically: it can be voided
    case = await rig.svc.on_detection(ev)
    assert case is not None and case.state == "reported"
    await rig.step(case, "void")
    again = await rig.svc.on_detection(ev)
    assert again is not None and again.id == case.id and again.state == "voided"


async def test_auto_dispatch_sends_the_case_to_the_grids_worker(rig: Rig) -> None:
    case = await rig.svc.on_detection(detection())  # 区域入侵 at cam-a (grid g1): auto_dispatch
    assert case is not None and case.state == "dispatched" and case.assignee == "wang"
    detail = await rig.svc.get(case.id, viewer="op", role="operator")
    assert [(t.action, t.actor) for t in detail.timeline] == [
        ("created", "system"), ("accept", "system"), ("open", "system"), ("dispatch", "system")
    ]  # fmt: skip
    assert [ch.notify for ch in rig.drain() if ch.action == "dispatch"] == [["wang"]]
    far = await rig.svc.on_detection(detection("cam-far"))
    assert far is not None and far.assignee == "li"
    line = await rig.svc.on_detection(detection(kind="line_crossing"))  # not automatic
    assert line is not None and line.state == "reported"


async def test_alarms_become_cases(rig: Rig) -> None:
    alarm = Alarm(
        id=7, device_id="wl-1", device_name="水位计1", profile="water", grid_id="g1",
        rule_id="water-level", rule_name="水位超限", severity="critical", state="active",
        created_at=MONDAY_10, updated_at=MONDAY_10, count=1, position=(120.0, 31.8),
    )  # fmt: skip
    case = await rig.svc.on_alarm(alarm)
    assert case is not None and case.category == "14.03" and case.source == "alarm"
    again = await rig.svc.on_alarm(alarm.model_copy(update={"count": 2}))
    assert again is not None and again.id == case.id and again.evidence_count == 1
    assert await rig.svc.on_alarm(alarm.model_copy(update={"state": "cleared"})) is None
    unknown = alarm.model_copy(update={"id": 8, "rule_id": "no-such-rule"})
    assert await rig.svc.on_alarm(unknown) is None


async def test_lights_turn_on_working_time_and_survive_a_restart(rig: Rig) -> None:
    # 道路破损: accept within 1 working hour, total 4 working days. Reported Monday 10:00.
    case = await rig.svc.report(_new(grid_id="g1"), source="operator", actor="op", role="operator")
    assert case.stage_yellow_at == MONDAY_10 + timedelta(minutes=45)
    assert case.stage_deadline == MONDAY_10 + timedelta(hours=1)
    rig.clock.advance(minutes=44)
    await rig.svc.timers.fire_due()
    assert (await _get(rig, case.id)).light == "green"
    rig.clock.advance(minutes=1)
    await rig.svc.timers.fire_due()
    assert (await _get(rig, case.id)).light == "yellow"
    await rig.restart()  # the hub goes down before the deadline and comes back after it
    rig.clock.advance(minutes=20)
    await rig.svc.timers.fire_due()
    red = await _get(rig, case.id)
    assert red.light == "red" and red.escalation == 1
    timeline = (await rig.svc.get(case.id, viewer="op", role="operator")).timeline
    assert [(t.action, t.detail.get("light")) for t in timeline] == [
        ("created", None), ("light", "yellow"), ("supervise", "red")
    ]  # fmt: skip
    assert "supervise" in [ch.action for ch in rig.drain()]
    # Acting on it starts the next stage's clock: green again.
    c = await rig.step(red, "accept")
    c = await rig.step(c, "open")
    assert c.light in ("green", "yellow") and c.stage == "dispatch"


async def test_a_restart_catches_up_on_lights_it_missed(rig: Rig) -> None:
    case = await rig.svc.report(_new(grid_id="g1"), source="operator", actor="op", role="operator")
    await rig.svc.stop()
    rig.clock.advance(hours=2)
    await rig.restart()
    got = await _get(rig, case.id)
    assert got.light == "red" and got.escalation == 1


async def test_lights_skip_the_night(rig: Rig) -> None:
    # Reported Monday 17:00 (Shanghai): one working hour runs out Tuesday 09:00.
    rig.clock.now = MONDAY_10 + timedelta(hours=7)
    case = await rig.svc.report(_new(grid_id="g1"), source="operator", actor="op", role="operator")
    assert case.stage_deadline == MONDAY_10 + timedelta(hours=23)
    rig.clock.advance(hours=12)  # Tuesday 05:00
    await rig.svc.timers.fire_due()
    assert (await _get(rig, case.id)).light == "green"


async def _get(rig: Rig, case_id: int):  # type: ignore[no-untyped-def]
    return await rig.svc.get(case_id, viewer="op", role="operator")


async def test_recommendations_put_the_grids_worker_first_with_reasons(rig: Rig) -> None:
    case = await rig.svc.report(
        _new(grid_id="g1", category="02.01"), source="operator", actor="op", role="operator"
    )
    recs = await rig.svc.recommendations(case.id, viewer="op", role="operator")
    # ghost has no account: never recommended.
    assert [(r.username, r.rank) for r in recs] == [("wang", 0), ("li", 1)]  # one community
    assert "本网格网格员" in recs[0].reasons[0]
    assert any("本部门" in r for r in recs[1].reasons)  # li is of 市政, the case's department
    with pytest.raises(NotFoundError):
        await rig.svc.recommendations(case.id, viewer="li", role="worker")


async def test_without_the_grids_worker_an_auto_case_waits_opened(rig: Rig) -> None:
    await rig.store.users.update("wang", active=False)
    case = await rig.svc.on_detection(detection())
    assert case is not None and case.state == "opened" and case.assignee is None
