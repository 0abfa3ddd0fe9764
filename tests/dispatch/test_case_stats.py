"""Supervision figures: closure, on-time and rework rates and mean times, by grid and worker,
on SQLite and PostgreSQL; the CSV opens in a spreadsheet and never runs a formula."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from case_helpers import MONDAY_10, Rig, case_rig

from hub.dispatch.models import Case, NewCase
from hub.dispatch.stats import StatsRow, to_csv


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    async with case_rig(request.param, tmp_path) as r:
        yield r


async def _case(rig: Rig, grid: str) -> Case:
    new = NewCase(category="02.01", title="道路破损", grid_id=grid)
    return await rig.svc.report(new, source="operator", actor="op", role="operator")


async def _to_handled(rig: Rig, case: Case, worker: str) -> Case:
    c = await rig.step(await rig.step(case, "accept"), "open")
    c = await rig.step(c, "dispatch", assignee=worker)
    c = await rig.step(c, "receive", actor=worker, role="worker")
    return await rig.step(c, "feedback", actor=worker, role="worker")


async def test_rates_and_times(rig: Rig) -> None:
    # g1: two cases closed by wang, one of them after a rework; one voided.
    a = await _to_handled(rig, await _case(rig, "g1"), "wang")
    rig.clock.advance(minutes=30)
    await rig.step(a, "check_pass")
    b = await _to_handled(rig, await _case(rig, "g1"), "wang")
    b = await rig.step(b, "check_fail")
    b = await rig.step(b, "receive", actor="wang", role="worker")
    b = await rig.step(b, "feedback", actor="wang", role="worker")
    await rig.step(b, "check_pass")
    await rig.step(await _case(rig, "g1"), "void")
    # g2: one handled by li, closed 30 days later: past its 4-working-day limit.
    c = await _to_handled(rig, await _case(rig, "g2"), "li")
    rig.clock.advance(days=30)
    await rig.step(c, "check_pass")

    by_grid = await rig.svc.stats("grid", since=MONDAY_10, until=None)
    rows = {r.key: r for r in by_grid.rows}
    g1, g2 = rows["g1"], rows["g2"]
    assert (g1.reported, g1.opened, g1.voided, g1.closed, g1.reworked) == (3, 2, 1, 2, 1)
    assert g1.closure_rate == 1.0 and g1.on_time_rate == 1.0 and g1.rework_rate == 0.5
    assert g2.closed == 1 and g2.closed_on_time == 0 and g2.on_time_rate == 0.0
    assert g2.mean_close_minutes == pytest.approx(30 * 24 * 60, abs=1)
    assert by_grid.total.reported == 4 and by_grid.total.closed == 3
    by_worker = await rig.svc.stats("worker", since=None, until=None)
    assert {r.key: r.closed for r in by_worker.rows} == {"wang": 2, "li": 1, None: 0}
    assert {r.key: r.name for r in by_worker.rows}["wang"] == "王网格员"
    # The range counts cases by when they were reported.
    later = await rig.svc.stats("grid", since=rig.clock.now + timedelta(days=1), until=None)
    assert later.rows == [] and later.total.reported == 0


def test_csv_has_a_bom_chinese_headers_and_no_formulas() -> None:
    row = StatsRow(
        key="=HYPERLINK(\"http://x\")", name="-2+3", reported=1, opened=1, voided=0, closed=1,
        closed_on_time=1, reworked=0, handled=1, closure_rate=1.0, on_time_rate=1.0,
        rework_rate=0.0, mean_accept_minutes=None, mean_handle_minutes=3.5,
        mean_close_minutes=4.0,
    )  # fmt: skip
    text = to_csv([row])
    assert text.startswith("\ufeff编码 key,名称 name,上报 reported")
    line = text.splitlines()[1]
    assert line.startswith("\"'=HYPERLINK") and ",'-2+3," in line
