"""Co-dispatch (联合派遣) on a real store, SQLite and PostgreSQL: a case sent to two departments,
each department's part received, handled and closed by its own worker, the case's check refused
while a part is open, rework, roles and ownership, the timeline and versions, the bus with
``notify``; and the small fixes around it (workers see their own reports, the ``pending``
filter, the worker a case is taken from hears of it)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from case_helpers import Rig, case_rig, make_site

from hub.bus.contracts import CaseChange
from hub.config import Site
from hub.dispatch.models import Case, NewCase, WorkerReport
from hub.dispatch.parts import CoDispatch, CoDispatchResult, PartStep, PartStepResult
from hub.dispatch.repo import CaseFilter
from hub.errors import ConflictError, ForbiddenError, HubError, NotFoundError

DEPT_WORKERS = [
    {"username": "pol1", "name": "公安一", "department": "police"},
    {"username": "pol2", "name": "公安二", "department": "police"},
    {"username": "mun1", "name": "市政一", "department": "municipal"},
]


def parts_site() -> Site:
    data = make_site().model_dump()
    data["workers"] = [*data["workers"], *DEPT_WORKERS]
    return Site.model_validate(data)


def parts_rig(kind: str, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[Rig]:
    return case_rig(
        kind, tmp_path, site=parts_site(), workers=("wang", "li", "pol1", "pol2", "mun1"),
        others={"op": "operator", "boss": "supervisor"},
    )  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    async with parts_rig(request.param, tmp_path) as r:
        yield r


async def _opened(rig: Rig, lead: str | None = "wang") -> Case:
    case = await rig.svc.report(
        NewCase(category="02.01", title="道路塌陷 road collapse", grid_id="g1"),
        source="operator",
        actor="op",
        role="operator",
    )
    case = await rig.step(case, "accept")
    case = await rig.step(case, "open")
    if lead is not None:
        case = await rig.step(case, "dispatch", assignee=lead)
    return case


async def _co(
    rig: Rig, case: Case, *targets: dict[str, Any], actor: str = "op", role: str = "operator"
) -> CoDispatchResult:
    body = CoDispatch.model_validate({"version": case.version, "parts": list(targets)})
    return await rig.svc.parts.co_dispatch(case.id, body, actor=actor, role=role)  # type: ignore[arg-type]


async def _part(
    rig: Rig, case: Case, part_id: int, action: str, actor: str, role: str = "worker", **kw: Any
) -> PartStepResult:
    body = PartStep.model_validate({"action": action, "version": case.version, **kw})
    return await rig.svc.parts.step(case.id, part_id, body, actor=actor, role=role)  # type: ignore[arg-type]


def _changes(rig: Rig, since: int = 0) -> list[CaseChange]:
    return rig.drain()[since:]


async def test_two_departments_each_close_their_part_then_the_case_passes(rig: Rig) -> None:
    case = await _opened(rig)
    seen = len(rig.drain())
    out = await _co(
        rig,
        case,
        {"department": "police", "assignee": "pol1", "note": "维持秩序"},
        {"department": "municipal", "assignee": "mun1", "note": "抢修路面"},
    )
    police, municipal = out.parts
    assert out.case.version == case.version + 1 and out.case.state == "dispatched"
    assert (police.department, police.assignee, police.state) == ("police", "pol1", "dispatched")
    assert police.department_name == "公安分局" and police.note == "维持秩序"
    [change] = _changes(rig, seen)
    assert (change.action, change.actor, sorted(change.notify)) == (
        "co_dispatch", "op", ["mun1", "pol1"],
    )  # fmt: skip
    case = out.case

    # Each department's worker takes their own part; the case's lead handles the case.
    rig.clock.advance(minutes=3)
    case = (await _part(rig, case, police.id, "receive", "pol1")).case
    case = (await _part(rig, case, municipal.id, "receive", "mun1")).case
    rig.clock.advance(minutes=20)
    step = await _part(rig, case, police.id, "feedback", "pol1", note="已疏导交通")
    assert step.part.state == "handled" and step.part.feedback == "已疏导交通"
    assert step.part.received_at is not None and step.part.handled_at == rig.clock.now
    case = step.case
    case = await rig.step(case, "receive", actor="wang", role="worker")
    case = await rig.step(case, "feedback", actor="wang", role="worker", note="现场已围挡")

    # Not yet: the municipal part is still open.
    with pytest.raises(ConflictError, match="municipal"):
        await rig.step(case, "check_pass", actor="boss", role="supervisor")
    case = (await _part(rig, case, police.id, "close", "boss", "supervisor")).case
    with pytest.raises(ConflictError, match="still open"):
        await rig.step(case, "check_pass", actor="boss", role="supervisor")
    case = (await _part(rig, case, municipal.id, "feedback", "mun1", note="已修复")).case
    case = (await _part(rig, case, municipal.id, "close", "op", "operator")).case
    case = await rig.step(case, "check_pass", actor="boss", role="supervisor")
    assert case.state == "closed"

    detail = await rig.svc.get(case.id, viewer="op", role="operator")
    assert [(p.department, p.state) for p in detail.parts] == [
        ("police", "closed"), ("municipal", "closed"),
    ]  # fmt: skip
    part_entries = [t for t in detail.timeline if t.action.startswith(("co_", "part_"))]
    assert [(t.action, t.actor) for t in part_entries] == [
        ("co_dispatch", "op"),
        ("part_receive", "pol1"),
        ("part_receive", "mun1"),
        ("part_feedback", "pol1"),
        ("part_close", "boss"),
        ("part_feedback", "mun1"),
        ("part_close", "op"),
    ]
    assert part_entries[1].detail == {
        "part": police.id, "department": "police", "from": "dispatched", "to": "received",
        "assignee": "pol1",
    }  # fmt: skip
    # One version per step, and the case's state chain is unbroken by the parts' entries.
    assert [t.version for t in detail.timeline] == list(range(1, detail.version + 1))
    for prev, nxt in zip(detail.timeline, detail.timeline[1:], strict=False):
        assert nxt.from_state == prev.to_state
    # Every part step was announced, to the part's worker.
    by_action = [(c.action, c.notify) for c in _changes(rig, seen) if c.action.startswith("part_")]
    assert ("part_receive", ["pol1"]) in by_action and ("part_close", ["mun1"]) in by_action
    assert len(by_action) == 6


async def test_rework_of_one_part_goes_back_and_may_change_hands(rig: Rig) -> None:
    case = await _opened(rig)
    out = await _co(rig, case, {"department": "police", "assignee": "pol1"})
    part = out.parts[0]
    case = (await _part(rig, out.case, part.id, "receive", "pol1")).case
    case = (await _part(rig, case, part.id, "feedback", "pol1", note="done")).case
    seen = len(rig.drain())
    step = await _part(
        rig, case, part.id, "rework", "boss", "supervisor", note="照片不清", assignee="pol2"
    )
    assert (step.part.state, step.part.assignee, step.part.rework_count) == (
        "dispatched", "pol2", 1,
    )  # fmt: skip
    [change] = _changes(rig, seen)
    assert change.action == "part_rework" and change.notify == ["pol1", "pol2"]
    # The part left pol1: the case left their view with it.
    with pytest.raises(NotFoundError):
        await rig.svc.get(case.id, viewer="pol1", role="worker")
    case = step.case
    with pytest.raises(NotFoundError):
        await _part(rig, case, part.id, "receive", "pol1")
    case = (await _part(rig, case, part.id, "receive", "pol2")).case
    case = (await _part(rig, case, part.id, "feedback", "pol2", note="重新处理")).case
    closed = await _part(rig, case, part.id, "close", "op", "operator")
    assert closed.part.state == "closed" and closed.part.closed_at == rig.clock.now


async def test_roles_and_ownership(rig: Rig) -> None:
    case = await _opened(rig)
    other = await _opened(rig, lead="li")  # unrelated to the police worker
    with pytest.raises(ForbiddenError):
        await _co(rig, case, {"department": "police"}, actor="wang", role="worker")
    out = await _co(
        rig,
        case,
        {"department": "police", "assignee": "pol1"},
        {"department": "municipal", "assignee": "mun1"},
    )
    police, municipal = out.parts
    case = out.case
    # Another department's worker, the case's lead, a supervisor: none may take pol1's steps.
    for actor, role in (("mun1", "worker"), ("wang", "worker"), ("boss", "supervisor")):
        with pytest.raises(ForbiddenError):
            await _part(rig, case, police.id, "receive", actor, role)
    # A worker checks nobody's part, their own neither.
    case = (await _part(rig, case, police.id, "receive", "pol1")).case
    case = (await _part(rig, case, police.id, "feedback", "pol1")).case
    with pytest.raises(ForbiddenError):
        await _part(rig, case, police.id, "close", "pol1")
    # A part's worker sees the case, read-only for the case's own steps.
    assert (await rig.svc.get(case.id, viewer="pol1", role="worker")).id == case.id
    with pytest.raises(ForbiddenError):
        await rig.step(case, "receive", actor="pol1", role="worker")
    # ... and nothing else: not the unrelated case, by id or in their list.
    with pytest.raises(NotFoundError):
        await rig.svc.get(other.id, viewer="pol1", role="worker")
    with pytest.raises(NotFoundError):
        await _part(rig, other, police.id, "receive", "pol1")
    page = await rig.svc.page(CaseFilter(), viewer="pol1", role="worker", limit=50, before_id=None)
    assert [c.id for c in page.items] == [case.id] and page.total == 1
    lead = await rig.svc.page(CaseFilter(), viewer="wang", role="worker", limit=50, before_id=None)
    assert [c.id for c in lead.items] == [case.id]
    # The desk records a department's step on its behalf (代录: answered by phone).
    step = await _part(rig, case, municipal.id, "receive", "op", "operator")
    assert step.part.state == "received" and step.part.assignee == "mun1"


async def test_bad_co_dispatches_and_steps_are_refused_and_change_nothing(rig: Rig) -> None:
    reported = await rig.svc.report(
        NewCase(category="02.01", title="t", grid_id="g1"),
        source="operator",
        actor="op",
        role="operator",
    )
    with pytest.raises(ConflictError, match="reported"):
        await _co(rig, reported, {"department": "police"})
    case = await _opened(rig, lead=None)  # opened: co-dispatch may come before the lead
    bad: list[tuple[dict[str, Any], int]] = [
        ({"department": "nowhere"}, 422),
        ({"department": "police", "assignee": "mun1"}, 422),  # not a police worker
        ({"department": "police", "assignee": "ghost"}, 422),  # no account
        ({"department": "police", "assignee": "op"}, 422),  # not a worker
    ]
    for target, status in bad:
        with pytest.raises(HubError) as err:
            await _co(rig, case, target)
        assert err.value.status == status, target
    with pytest.raises(ConflictError):
        stale = case.model_copy(update={"version": case.version - 1})
        await _co(rig, stale, {"department": "police"})
    out = await _co(rig, case, {"department": "police"})  # no worker yet
    assert out.parts[0].assignee is None and out.case.state == "opened"
    case = out.case
    with pytest.raises(ConflictError, match="police"):
        await _co(rig, case, {"department": "police"})
    part = out.parts[0]
    with pytest.raises(HubError) as err:
        await _part(rig, case, part.id, "return", "op", "operator")  # a reason is required
    assert err.value.status == 422
    with pytest.raises(HubError) as err:
        await _part(rig, case, part.id, "assign", "op", "operator")  # to whom?
    assert err.value.status == 422
    with pytest.raises(ConflictError):
        await _part(rig, case, part.id, "close", "op", "operator")  # not handled yet
    with pytest.raises(NotFoundError):
        await _part(rig, case, part.id + 100, "receive", "op", "operator")
    after = await rig.svc.get(case.id, viewer="op", role="operator")
    assert after.version == case.version and after.parts[0].state == "dispatched"

    # Assigned later; a return (回退) with a reason ends the part and frees the department.
    step = await _part(rig, case, part.id, "assign", "op", "operator", assignee="pol2")
    assert step.part.assignee == "pol2"
    step = await _part(rig, step.case, part.id, "return", "pol2", note="不属于本部门")
    assert step.part.state == "returned" and step.part.returned_at is not None
    again = await _co(rig, step.case, {"department": "police", "assignee": "pol1"})
    assert [p.state for p in (await rig.svc.get(case.id, viewer="op", role="operator")).parts] == [
        "returned", "dispatched",
    ]  # fmt: skip
    # Eight parts at most on a case.
    many = [{"department": d} for d in ("fire", "water", "housing", "market", "emergency")]
    more = await _co(
        rig, again.case, *many, {"department": "transport"}, {"department": "gas-utility"}
    )
    with pytest.raises(ConflictError, match="at most"):
        await _co(rig, more.case, {"department": "greening"})


async def test_a_returned_part_does_not_hold_the_check(rig: Rig) -> None:
    case = await _opened(rig)
    out = await _co(rig, case, {"department": "police", "assignee": "pol1"})
    case = (await _part(rig, out.case, out.parts[0].id, "return", "pol1", note="非本部门")).case
    case = await rig.step(case, "receive", actor="wang", role="worker")
    case = await rig.step(case, "feedback", actor="wang", role="worker")
    assert (await rig.step(case, "check_pass", actor="boss", role="supervisor")).state == "closed"


async def test_part_feedback_photos_are_the_cases_evidence(rig: Rig, tmp_path: Path) -> None:
    case = await _opened(rig)
    out = await _co(rig, case, {"department": "police", "assignee": "pol1"})
    photo = "ab" * 16
    async with rig.svc.repo.begin() as conn:
        await rig.svc.repo.add_photo(conn, photo, "pol1", rig.clock.now, 10, 10, 100)
    case = (await _part(rig, out.case, out.parts[0].id, "receive", "pol1")).case
    with pytest.raises(HubError):  # someone else's photo
        await _part(rig, case, out.parts[0].id, "feedback", "mun1", photos=[photo])
    step = await _part(rig, case, out.parts[0].id, "feedback", "pol1", photos=[photo])
    assert step.part.photos == [photo] and step.case.evidence_count == case.evidence_count + 1
    detail = await rig.svc.get(case.id, viewer="op", role="operator")
    assert [(e.kind, e.ref, e.detail["part"]) for e in detail.evidence if e.kind == "photo"] == [
        ("photo", photo, out.parts[0].id)
    ]


# -- the small fixes around it ---------------------------------------------------------------


async def test_a_worker_sees_their_own_reports_read_only(rig: Rig) -> None:
    report = WorkerReport(category="02.01", title="路面破损", position=(120.003, 31.797))
    case = await rig.svc.worker_report(report, actor="li")  # li's patrol, in wang's grid
    assert (await rig.svc.get(case.id, viewer="li", role="worker")).reporter == "li"
    page = await rig.svc.page(CaseFilter(), viewer="li", role="worker", limit=50, before_id=None)
    assert [c.id for c in page.items] == [case.id]
    with pytest.raises(ForbiddenError):
        await rig.step(case, "accept", actor="li", role="worker")
    with pytest.raises(NotFoundError):
        await rig.svc.get(case.id, viewer="wang", role="worker")


async def test_the_pending_filter_finds_waiting_requests(rig: Rig) -> None:
    a = await _opened(rig)
    b = await _opened(rig)
    await _opened(rig)
    a = await rig.step(a, "request_extension", actor="wang", role="worker")
    b = await rig.step(b, "request_return", actor="wang", role="worker")

    async def ids(pending: str) -> list[int]:
        f = CaseFilter(pending=pending)
        page = await rig.svc.page(f, viewer="op", role="operator", limit=200, before_id=None)
        return [c.id for c in page.items]

    assert await ids("extension") == [a.id]
    assert await ids("return") == [b.id]


async def test_the_worker_a_case_is_taken_from_hears_of_it(rig: Rig) -> None:
    case = await _opened(rig)
    case = await rig.step(case, "request_return", actor="wang", role="worker")
    seen = len(rig.drain())
    case = await rig.step(case, "approve_return", actor="boss", role="supervisor")
    [change] = _changes(rig, seen)
    assert change.action == "approve_return" and change.notify == ["wang"]
    case = await rig.step(case, "dispatch", assignee="li")
    case = await rig.step(case, "receive", actor="li", role="worker")
    case = await rig.step(case, "feedback", actor="li", role="worker")
    seen = len(rig.drain())
    case = await rig.step(case, "check_fail", actor="boss", role="supervisor", assignee="wang")
    [change] = _changes(rig, seen)
    assert change.action == "check_fail" and change.notify == ["wang", "li"]
