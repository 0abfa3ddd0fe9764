"""Operator case entry on the wall (新建案件 New case), in a real browser against the real hub.

The operator takes a phoned-in report: opens the form from the case queue, chooses the category
(its time limit shown), types the title, a two-line description (Enter in the description is a
new line, Enter in a one-line field sends nothing) and the address, and picks the place on the
map. The new case opens in the detail, stands in the queue with its light and countdown, and the
hub put it in the grid that was clicked. A submission without a category shows the hub's problem
in the form, on the category field, and creates nothing.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from e2e_api import api, token
from e2e_page import held_lists

from hub.config import load_site

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
CATEGORY = "11.02"  # 乱堆物料: an event an operator enters, not dispatched by the system
OPERATOR_CASES = "/api/cases?source=operator&limit=1"  # only the tests enter cases here
UNIT = {"working_hours": "工作小时", "working_days": "工作日", "hours": "小时", "minutes": "分钟"}


def _open_form(page: Any) -> None:
    page.click("#tab-cases")
    page.click("#case-new-open")
    page.wait_for_selector("#case-new:not([hidden])")
    page.wait_for_selector(f'#case-new-category option[value="{CATEGORY}"]', state="attached")


def _grid_to_click(page: Any, candidates: list[str]) -> tuple[str, float, float]:
    """A grid whose middle, on the screen, shows the grid itself (no marker or overlay on it)."""
    found = page.evaluate(
        """(ids) => {
            for (const id of ids) {
                const p = document.querySelector(`#city-map path.map-grid[data-grid-id="${id}"]`);
                if (!p) continue;
                const r = p.getBoundingClientRect();
                const [x, y] = [r.left + r.width / 2, r.top + r.height / 2];
                const hit = document.elementFromPoint(x, y);
                if (hit && hit.dataset && hit.dataset.gridId === id) return [id, x, y];
            }
            return null;
        }""",
        candidates,
    )
    assert found, "no grid without a marker on its middle"
    return str(found[0]), float(found[1]), float(found[2])


def test_an_operator_enters_a_case_with_a_point_on_the_map(wall: Any, hub_server: Any) -> None:
    page = wall
    site = load_site(hub_server.site)
    tok = token(hub_server, hub_server.username, hub_server.password)
    posts: list[str] = []
    page.on(
        "request",
        lambda r: posts.append(r.url) if r.method == "POST" and "/api/cases" in r.url else None,
    )

    _open_form(page)
    assert page.locator("#case-new-category").evaluate("e => e === document.activeElement")
    # Categories grouped by 大类, each with its time limit.
    cat = next(
        c for c in api(hub_server, "GET", "/api/categories", tok)["categories"]
        if c["code"] == CATEGORY
    )  # fmt: skip
    group = page.locator(f'#case-new-category optgroup:has(option[value="{CATEGORY}"])')
    assert group.get_attribute("label") == f"{cat['major_code']} {cat['major_name']}"
    total = f"{cat['limits']['total']['amount']:g} {UNIT[cat['limits']['total']['unit']]}"
    assert total in page.inner_text(f'#case-new-category option[value="{CATEGORY}"]')
    assert page.locator("#case-new-limit").is_hidden()
    page.select_option("#case-new-category", CATEGORY)
    limit = page.inner_text("#case-new-limit")
    assert "时限" in limit and f"总 {total}" in limit

    page.fill("#case-new-title", "e2e 电话上报 路边乱堆建材")
    page.press("#case-new-title", "Enter")  # a one-line field: nothing is sent
    page.fill("#case-new-description", "来电人：张先生")
    page.press("#case-new-description", "Enter")  # a new line, not a submission
    page.keyboard.type("建材堆放约三天，占用人行道")
    page.fill("#case-new-address", "秀水路12号门前")
    page.press("#case-new-address", "Enter")
    page.wait_for_timeout(300)
    assert posts == [] and page.locator("#case-new").is_visible()
    assert page.input_value("#case-new-description") == "来电人：张先生\n建材堆放约三天，占用人行道"

    # The place: a point picked on the map, in a grid no camera watches (no detection lands
    # there), the form hidden meanwhile and back with the point and its grid.
    watched = {c.grid for c in site.cameras}
    candidates = [g.id for g in site.grids() if g.id not in watched][::-1]
    page.click("#case-new-pick")
    page.wait_for_selector("#map-pick-banner:not([hidden])")
    assert page.locator("#view-map.active").count() == 1
    assert page.locator("#case-new").is_hidden()
    assert "picking" in (page.get_attribute("#map-svg", "class") or "")
    grid_id, x, y = _grid_to_click(page, candidates)
    page.mouse.click(x, y)
    page.wait_for_selector("#case-new:not([hidden])")
    assert page.locator("#map-pick-banner").is_hidden()
    point = page.locator("#case-new-point")
    assert point.get_attribute("data-grid-id") == grid_id
    lon, lat = (
        float(point.get_attribute("data-lon") or 0),
        float(point.get_attribute("data-lat") or 0),
    )
    assert site.grid_path[grid_id][2].name in point.inner_text()
    assert page.locator("#map-pick-mark").count() == 1
    page.screenshot(path=str(ARTIFACTS / "case-entry-form.png"))

    page.click("#case-new-submit")
    page.wait_for_selector("#case-detail:not([hidden])[data-case-id]")
    case_id = int(page.get_attribute("#case-detail", "data-case-id") or 0)
    assert case_id and page.locator("#case-new").is_hidden()
    assert page.locator("#map-pick-mark").count() == 0
    assert len(posts) == 1

    # In the hub: the clicked grid, the picked point, what was typed, entered by the operator.
    c = api(hub_server, "GET", f"/api/cases/{case_id}", tok)
    assert c["grid_id"] == grid_id
    assert c["position"] == pytest.approx([lon, lat], abs=1e-9)
    assert c["source"] == "operator" and c["category"] == CATEGORY
    assert c["title"] == "e2e 电话上报 路边乱堆建材"
    assert c["description"] == "来电人：张先生\n建材堆放约三天，占用人行道"
    assert c["address"] == "秀水路12号门前"

    # In the queue: its row with the light and a countdown to the stage deadline that ticks.
    row = page.locator(f'#case-list li.case[data-case-id="{case_id}"]')
    row.wait_for()
    light = api(hub_server, "GET", f"/api/cases/{case_id}", tok)["light"]
    assert row.get_attribute("data-light") == light
    assert row.locator(f".light-dot.{light}").count() == 1
    clock = row.locator(".case-countdown")
    first = clock.inner_text()
    assert first.startswith(("剩余", "超时")), first
    assert clock.get_attribute("data-deadline") == c["stage_deadline"]
    if "秒" in first:  # under an hour left: it shows seconds, which tick
        page.wait_for_function(
            """([id, t]) => {
                const li = document.querySelector(`#case-list li.case[data-case-id="${id}"]`);
                const el = li && li.querySelector('.case-countdown');
                return el && el.textContent !== t;
            }""",
            arg=[case_id, first],
            timeout=5_000,
        )
    # And on the map, where it was picked.
    page.wait_for_selector(f'#city-map g.map-case[data-case-id="{case_id}"]')
    page.screenshot(path=str(ARTIFACTS / "case-entry-created.png"))
    page.keyboard.press("Escape")
    page.wait_for_selector("#case-detail", state="hidden")


def test_a_case_without_category_shows_the_problem_in_the_form(wall: Any, hub_server: Any) -> None:
    page = wall
    site = load_site(hub_server.site)
    tok = token(hub_server, hub_server.username, hub_server.password)
    before = api(hub_server, "GET", OPERATOR_CASES, tok)["total"]
    _open_form(page)
    page.fill("#case-new-title", "e2e 缺少类别 no category")
    page.check("#case-new-place-grid")
    assert page.locator("#case-new-grid").is_visible()
    grid = next(iter(site.grids()))
    page.select_option("#case-new-grid", grid.id)

    page.click("#case-new-submit")
    error = page.locator("#case-new-error")
    error.wait_for()
    text = error.inner_text()
    assert "类别 Category" in text and "请检查" in text, text
    assert page.locator('#case-new-form [data-field="category"].invalid').count() == 1
    assert page.locator('#case-new-form [data-field="title"].invalid').count() == 0
    assert page.locator("#case-new-category").evaluate("e => e === document.activeElement")
    assert page.locator("#case-new").is_visible()
    assert api(hub_server, "GET", OPERATOR_CASES, tok)["total"] == before

    # Fixed, the error goes; without a place the hub's own words show.
    page.select_option("#case-new-category", CATEGORY)
    page.check("#case-new-place-point")
    page.click("#case-new-submit")
    page.wait_for_function(
        "() => document.querySelector('#case-new-error').textContent.includes('position or a grid')"
    )
    assert page.locator('#case-new-form [data-field="category"].invalid').count() == 0
    assert api(hub_server, "GET", OPERATOR_CASES, tok)["total"] == before

    # Esc closes the form (the draft stays for the next time).
    page.keyboard.press("Escape")
    page.wait_for_selector("#case-new", state="hidden")
    page.click("#case-new-open")
    assert page.input_value("#case-new-title") == "e2e 缺少类别 no category"
    page.click("#case-new-cancel")
    page.wait_for_selector("#case-new", state="hidden")


def test_a_case_entered_elsewhere_while_the_queue_loads_stays_in_it(
    wall: Any, hub_server: Any
) -> None:
    """The queue's page of cases is slow (held here: fetched from the hub at once, handed over
    later) and another console enters a case meanwhile: the case arrives live, and the older page
    landing after it must not drop it from the queue."""
    page = wall
    site = load_site(hub_server.site)
    tok = token(hub_server, hub_server.username, hub_server.password)
    watched = {c.grid for c in site.cameras}
    grid = next(g for g in site.grids() if g.id not in watched)  # no detection lands there
    page.click("#tab-cases")
    page.wait_for_selector(f'#case-grid-filter option[value="{grid.id}"]', state="attached")
    listing = re.compile(rf".*/api/cases\?.*grid_id={re.escape(grid.id)}.*")
    with held_lists(page, listing, lambda: page.select_option("#case-grid-filter", grid.id)):
        title = "e2e 加载中录入 entered while loading"
        body = {"category": CATEGORY, "title": title, "grid_id": grid.id}
        case_id = api(hub_server, "POST", "/api/cases", tok, body)["id"]
        row = page.locator(f'#case-list li.case[data-case-id="{case_id}"]')
        row.wait_for()  # live, before the page
    assert row.count() == 1, "the older page dropped the case that arrived live"


def test_a_busy_hub_is_waited_out(wall: Any, hub_server: Any) -> None:
    """The hub's store answers 503 with Retry-After (SQLite busy; the write rolled back): the
    page sends the case again after the wait instead of showing an error, and it is created
    once."""
    page = wall
    site = load_site(hub_server.site)
    tok = token(hub_server, hub_server.username, hub_server.password)
    before = api(hub_server, "GET", OPERATOR_CASES, tok)["total"]
    tries: list[float] = []

    def busy_once(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        tries.append(time.monotonic())
        if len(tries) == 1:
            route.fulfill(
                status=503,
                headers={"Retry-After": "1", "Content-Type": "application/problem+json"},
                body='{"title": "Service Unavailable", "detail": "the database is busy"}',
            )
        else:
            route.continue_()

    page.route(re.compile(r".*/api/cases$"), busy_once)
    _open_form(page)
    page.select_option("#case-new-category", CATEGORY)
    page.fill("#case-new-title", "e2e 繁忙重试 busy retry")
    page.check("#case-new-place-grid")
    page.select_option("#case-new-grid", next(iter(site.grids())).id)
    page.click("#case-new-submit")
    page.wait_for_selector("#case-detail:not([hidden])[data-case-id]")
    page.unroute(re.compile(r".*/api/cases$"))
    assert len(tries) == 2 and tries[1] - tries[0] >= 0.9, tries
    assert page.locator("#case-new-error").is_hidden()
    assert api(hub_server, "GET", OPERATOR_CASES, tok)["total"] == before + 1
