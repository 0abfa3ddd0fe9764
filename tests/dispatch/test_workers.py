"""Grid workers in the field: duty and GPS heartbeats, states that fall to offline by themselves,
the track, and recommendations that prefer the free and the near."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from case_helpers import MONDAY_10, Rig, case_rig

from hub.bus.contracts import WORKERS
from hub.dispatch.models import NewCase
from hub.dispatch.workers import OFFLINE_AFTER, WorkerService
from hub.errors import NotFoundError


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    async with case_rig(request.param, tmp_path) as r:
        workers = WorkerService(r.store.engine, r.bus, r.site, clock=r.clock)
        await workers.start()
        r.svc.workers = workers
        try:
            yield r
        finally:
            await workers.stop()


def _states(statuses: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {s.username: s.state for s in statuses}


async def test_duty_position_busy_offline_and_back(rig: Rig) -> None:
    ws = rig.svc.workers
    assert ws is not None
    sub = rig.bus.subscribe(WORKERS)
    assert _states(await ws.statuses()) == {
        "wang": "off_duty",
        "li": "off_duty",
        "ghost": "off_duty",
    }
    st = await ws.report("wang", position=(120.0, 31.8), on_duty=True)
    assert (st.state, st.position, st.on_duty) == ("available", (120.0, 31.8), True)
    assert (await sub.get()).data.state == "available"
    # A case in hand makes them busy.
    case = await rig.svc.report(
        NewCase(category="02.01", title="t", grid_id="g1"), source="operator", actor="op",
        role="operator",
    )  # fmt: skip
    c = await rig.step(await rig.step(case, "accept"), "open")
    await rig.step(c, "dispatch", assignee="wang")
    assert (await ws.status("wang")).state == "busy"
    # Silence: offline once OFFLINE_AFTER passes, announced by the scheduler.
    rig.clock.advance(seconds=OFFLINE_AFTER + 1)
    await ws.silence.fire_due()
    assert (await sub.get()).data.state == "offline"
    assert (await ws.status("wang")).state == "offline"
    # Heard from again: back; off duty ends it.
    assert (await ws.report("wang", position=(120.001, 31.8))).state == "busy"
    assert (await ws.report("wang", position=None, on_duty=False)).state == "off_duty"
    with pytest.raises(NotFoundError):
        await ws.report("op", position=(120.0, 31.8))


async def test_the_track_holds_the_fixes_on_duty(rig: Rig) -> None:
    ws = rig.svc.workers
    assert ws is not None
    await ws.report("li", position=(120.3, 31.8))  # not on duty: not tracked
    for i in range(5):
        await ws.report("li", position=(120.3 + i * 0.001, 31.8), on_duty=True)
        rig.clock.advance(seconds=30)
    pts = await ws.track("li", since=MONDAY_10, until=rig.clock.now)
    assert [p[1] for p in pts] == pytest.approx([120.3 + i * 0.001 for i in range(5)])
    assert pts[1][0] - pts[0][0] == timedelta(seconds=30)


async def test_recommendations_prefer_the_free_and_the_near(rig: Rig) -> None:
    ws = rig.svc.workers
    assert ws is not None
    case = await rig.svc.report(
        NewCase(category="02.01", title="t", position=[120.3, 31.8]), source="operator",
        actor="op", role="operator",
    )  # fmt: skip
    assert case.grid_id == "g2"
    await ws.report("li", position=(120.3005, 31.8), on_duty=True)
    await ws.report("wang", position=(120.0, 31.8), on_duty=True)
    recs = await rig.svc.recommendations(case.id, viewer="op", role="operator")
    assert [r.username for r in recs] == ["li", "wang"]
    assert recs[0].state == "available" and recs[0].distance_m == pytest.approx(47, abs=2)
    # li goes off duty: wang, on call, comes first although the grid is not his.
    await ws.report("li", position=None, on_duty=False)
    recs = await rig.svc.recommendations(case.id, viewer="op", role="operator")
    assert [(r.username, r.state) for r in recs] == [("wang", "available"), ("li", "off_duty")]


async def test_auto_dispatch_skips_a_grid_worker_who_is_off_duty(rig: Rig) -> None:
    from case_helpers import detection

    ws = rig.svc.workers
    assert ws is not None
    case = await rig.svc.on_detection(detection())  # intrusion in g1; wang is off duty
    assert case is not None and case.state == "opened" and case.assignee is None
    rig.clock.advance(seconds=400)  # past the fusion window: a new case
    await ws.report("wang", position=(120.0, 31.8), on_duty=True)
    case = await rig.svc.on_detection(detection(start=rig.clock.now))
    assert case is not None and case.assignee == "wang"


async def test_recommendations_prefer_a_worker_with_the_skill_the_category_asks_for(
    rig: Rig,
) -> None:
    """Two workers of the same rank (neither owns the grid), both available, neither of the
    case's department: the one holding a skill the category lists (道路破损 asks for
    road-repair) comes first although the other is nearer, and the reason says so."""
    from hub.bus.contracts import WorkerStatus
    from hub.config import Worker
    from hub.dispatch.assign import recommend

    cat = rig.svc.catalogue.category("02.01")
    assert "road-repair" in cat.skills
    case = await rig.svc.report(
        NewCase(category="02.01", title="t", position=[120.3, 31.8]), source="operator",
        actor="op", role="operator",
    )  # fmt: skip
    near = Worker(username="near", name="近", skills=["patrol"])
    skilled = Worker(username="fixer", name="修", skills=["patrol", "road-repair"])

    def at(u: str, lon: float) -> WorkerStatus:
        return WorkerStatus(
            username=u, name=u, state="available", on_duty=True, position=(lon, 31.8)
        )

    statuses = {"near": at("near", 120.301), "fixer": at("fixer", 120.31)}
    recs = recommend(
        rig.site, case, active={"near", "fixer"}, load={}, workers=[near, skilled],
        statuses=statuses, skills=cat.skills,
    )  # fmt: skip
    assert [r.username for r in recs] == ["fixer", "near"]
    assert "技能 skills: road-repair" in recs[0].reasons
    assert not any(r.startswith("技能") for r in recs[1].reasons)
    # Without skills asked for, the nearer comes first.
    recs = recommend(
        rig.site, case, active={"near", "fixer"}, load={}, workers=[near, skilled],
        statuses=statuses,
    )  # fmt: skip
    assert [r.username for r in recs] == ["near", "fixer"]
