"""Escalation (督办) routing: a case going red notifies the supervisors of its place, one level
more for each stage that runs out (not for each light change), across service restarts, on
SQLite and PostgreSQL with a clock the test turns."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from case_helpers import Rig, case_rig, make_site

from hub.config import Site
from hub.config.workers import Supervisor
from hub.dispatch.escalation import Place, Route, SupervisorMap
from hub.dispatch.models import Case, NewCase

STREET = {"username": "zhao", "name": "赵主任", "scope": "street:s"}
DISTRICT = {"username": "qian", "name": "钱区长", "scope": "district"}


def _site(*supervisors: dict[str, Any]) -> Site:
    data = make_site().model_dump()
    data["supervisors"] = list(supervisors)
    return Site.model_validate(data)


def _rig(kind: str, tmp_path: Path, site: Site) -> contextlib.AbstractAsyncContextManager[Rig]:
    return case_rig(kind, tmp_path, site=site)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    async with _rig(request.param, tmp_path, _site(STREET, DISTRICT)) as r:
        yield r


async def _report(rig: Rig) -> Case:
    # 道路破损 in grid g1: accept within 1 working hour, dispatch 0.5, total 4 working days.
    new = NewCase(category="02.01", title="道路破损 road damaged", grid_id="g1")
    return await rig.svc.report(new, source="operator", actor="op", role="operator")


async def _get(rig: Rig, case_id: int) -> Case:
    return await rig.svc.get(case_id, viewer="op", role="operator")


def _escalations(rig: Rig, case_id: int) -> list[tuple[int, list[str]]]:
    """(level, notified) of every escalation the bus carried for the case."""
    return [
        (ch.case.escalation, ch.notify)
        for ch in rig.drain()
        if ch.case.id == case_id and ch.action == "supervise"
    ]


async def _supervise_entries(rig: Rig, case_id: int) -> list[dict[str, Any]]:
    timeline = (await rig.svc.get(case_id, viewer="op", role="operator")).timeline
    return [t.detail for t in timeline if t.action == "supervise"]


async def test_red_notifies_the_street_then_a_later_stage_the_district(rig: Rig) -> None:
    case = await _report(rig)
    rig.clock.advance(minutes=59)
    await rig.svc.timers.fire_due()
    assert (await _get(rig, case.id)).light == "yellow"
    assert _escalations(rig, case.id) == []
    rig.clock.advance(minutes=1)  # Monday 11:00: the accept stage's hour is up
    await rig.svc.timers.fire_due()
    red = await _get(rig, case.id)
    assert (red.light, red.escalation) == ("red", 1)
    assert _escalations(rig, case.id) == [(1, ["zhao"])]
    [entry] = await _supervise_entries(rig, case.id)
    assert entry["notified"] == ["zhao"] and entry["scope"] == "street:s"
    assert entry["escalation"] == 1 and entry["stage"] == "accept"

    # Accepted and opened late: the dispatch stage has half a working hour of its own.
    c = await rig.step(red, "accept")
    c = await rig.step(c, "open")
    assert c.light == "green" and c.escalation == 1
    rig.clock.advance(minutes=30)
    await rig.svc.timers.fire_due()
    again = await _get(rig, case.id)
    assert (again.light, again.escalation) == ("red", 2)
    assert _escalations(rig, case.id) == [(1, ["zhao"]), (2, ["qian"])]
    entries = await _supervise_entries(rig, case.id)
    assert [(e["stage"], e["notified"], e["scope"]) for e in entries] == [
        ("accept", ["zhao"], "street:s"),
        ("dispatch", ["qian"], "district"),
    ]


async def test_one_escalation_per_stage_however_often_it_relights(rig: Rig) -> None:
    case = await _report(rig)
    rig.clock.advance(hours=1)
    await rig.svc.timers.fire_due()
    assert (await _get(rig, case.id)).escalation == 1
    # A week later the whole case is overdue too, still in the same stage: no new level, also
    # not after restarts.
    rig.clock.advance(days=7)
    await rig.svc.timers.fire_due()
    await rig.restart()
    await rig.restart()
    got = await _get(rig, case.id)
    assert (got.light, got.escalation) == ("red", 1)
    assert len(await _supervise_entries(rig, case.id)) == 1


@pytest.mark.parametrize("while_down", [False, True])
async def test_a_red_case_escalates_again_when_its_next_stage_runs_out(
    rig: Rig, while_down: bool
) -> None:
    case = await _report(rig)
    rig.clock.advance(days=7)  # Monday a week later, 10:00: the total limit is gone too
    await rig.svc.timers.fire_due()
    red = await _get(rig, case.id)
    assert (red.light, red.escalation) == ("red", 1)
    c = await rig.step(red, "accept")
    c = await rig.step(c, "open")
    assert c.light == "red"  # the whole case stays overdue in its new stage
    if while_down:
        await rig.svc.stop()
        rig.clock.advance(minutes=45)
        await rig.restart()  # the dispatch stage ran out while the hub was down
    else:
        rig.clock.advance(minutes=45)
        await rig.svc.timers.fire_due()
    got = await _get(rig, case.id)
    assert got.escalation == 2
    assert _escalations(rig, case.id) == [(1, ["zhao"]), (2, ["qian"])]
    await rig.restart()
    assert (await _get(rig, case.id)).escalation == 2


async def test_a_restart_mid_way_escalates_what_went_red_meanwhile(rig: Rig) -> None:
    case = await _report(rig)
    rig.clock.advance(hours=1)
    await rig.svc.timers.fire_due()
    c = await rig.step(await _get(rig, case.id), "accept")
    c = await rig.step(c, "open")
    await rig.svc.stop()
    rig.clock.advance(hours=1)
    await rig.restart()
    got = await _get(rig, case.id)
    assert (got.light, got.escalation) == ("red", 2)
    assert _escalations(rig, case.id) == [(1, ["zhao"]), (2, ["qian"])]
    await rig.restart()
    assert (await _get(rig, case.id)).escalation == 2
    assert len(await _supervise_entries(rig, case.id)) == 2


async def test_without_supervisors_escalation_still_counts(tmp_path: Path) -> None:
    async with _rig("sqlite", tmp_path, _site()) as rig:
        case = await _report(rig)
        rig.clock.advance(hours=1)
        await rig.svc.timers.fire_due()
        assert (await _get(rig, case.id)).escalation == 1
        assert _escalations(rig, case.id) == [(1, [])]
        [entry] = await _supervise_entries(rig, case.id)
        assert entry["notified"] == [] and entry["scope"] is None


async def test_the_community_supervisor_comes_before_the_street(tmp_path: Path) -> None:
    community = {"username": "sun", "name": "孙书记", "scope": "community:c"}
    async with _rig("sqlite", tmp_path, _site(STREET, DISTRICT, community)) as rig:
        case = await _report(rig)
        rig.clock.advance(hours=1)
        await rig.svc.timers.fire_due()
        assert _escalations(rig, case.id) == [(1, ["sun"])]


def _sup(username: str, scope: str) -> Supervisor:
    return Supervisor(username=username, name=username, scope=scope)


def test_routes_fall_back_upward_and_later_levels_go_to_the_district() -> None:
    here = Place("g1", "c1", "s1")
    local = [_sup("g", "grid:g1"), _sup("c", "community:c1"), _sup("s", "street:s1")]
    full = SupervisorMap([*local, _sup("d1", "district"), _sup("d2", "district:d")])
    assert full.route(here, 1) == Route("grid:g1", ("g",))
    assert full.route(here, 2) == Route("district", ("d1", "d2"))
    assert full.route(here, 5) == Route("district", ("d1", "d2"))
    # Another street's supervisors are not this case's; nobody nearer: the district.
    other = SupervisorMap([_sup("s2", "street:s2"), _sup("d", "district")])
    assert other.route(here, 1) == Route("district", ("d",))
    # No district supervisor: later levels come back to the nearest who is there.
    no_district = SupervisorMap([_sup("s", "street:s1"), _sup("c", "community:c1")])
    assert no_district.route(here, 2) == Route("street:s1", ("s",))
    # A case outside every grid has only the district above it.
    assert full.route(Place(None, None, None), 1) == Route("district", ("d1", "d2"))
    assert SupervisorMap([]).route(here, 1) == Route(None, ())
