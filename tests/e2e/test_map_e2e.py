"""The city map (地图 Map) and the statistics (统计 Statistics) of the wall, in a real browser
against the real hub.

A case is entered through the API (as an operator would from another console) in a grid that no
camera watches, so that no simulated detection lands in it: the map shows it as a marker with
its traffic light and opens its detail on a click; the statistics count it in its grid's row and
the CSV export downloads the same figures. Grid workers of the site file, heard from through the
field app's heartbeat API, show on the map by state and move live.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from e2e_api import act, add_user, api, token
from e2e_page import held_lists

from hub.config import Site, load_site
from hub.dispatch.stats import CSV_COLUMNS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
CATEGORY = "11.02"  # 乱堆物料: an event an operator enters, not dispatched by the system
WORKER_PW = "e2e-Map-Worker-Passw0rd!"


@dataclass
class MapCase:
    site: Site
    token: str
    case: dict[str, Any]
    grid_id: str
    street_id: str


@pytest.fixture(scope="module")
def map_case(hub_server: Any) -> MapCase:
    """One case entered through the API at the centre of a grid without cameras."""
    site = load_site(hub_server.site)
    watched = {c.grid for c in site.cameras}
    street, grid = next(
        (st, g)
        for st in site.district.streets
        for cm in st.communities
        for g in cm.grids
        if g.id not in watched
    )
    ring = grid.geometry.coordinates[0][:-1]
    centre = [sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring)]
    tok = token(hub_server, hub_server.username, hub_server.password)
    body = {"category": CATEGORY, "title": "e2e 地图案件 map case", "position": centre}
    case = api(hub_server, "POST", "/api/cases", tok, body)
    assert case["grid_id"] == grid.id, case
    return MapCase(site, tok, case, grid.id, street.id)


def _open_map(page: Any) -> None:
    page.click("#view-map")
    page.wait_for_selector("#city-map:not([hidden]) path.map-grid")
    assert page.locator("#view-map.active").count() == 1
    assert page.locator("#wall").is_hidden()


def test_map_draws_the_site_and_opens_a_case(wall: Any, hub_server: Any, map_case: MapCase) -> None:
    page = wall
    site = map_case.site
    _open_map(page)

    # Every grid of the site file as a polygon, the streets' and district's outlines over them.
    grid_ids = {g.id for g in site.grids()}
    drawn = page.eval_on_selector_all(
        "#city-map path.map-grid", "ps => ps.map(p => p.dataset.gridId)"
    )
    assert len(drawn) == len(grid_ids) and set(drawn) == grid_ids
    assert page.locator("#city-map path.map-street").count() == len(site.district.streets)
    assert page.locator("#city-map path.map-district").count() == 1
    assert page.inner_text("#map-count-grids") == str(len(grid_ids))

    # Every camera at its position.
    cams = page.eval_on_selector_all(
        "#city-map g.map-camera", "gs => gs.map(g => g.dataset.cameraId)"
    )
    assert sorted(cams) == sorted(c.id for c in site.cameras)

    # The case entered through the API: a marker with its light; a click opens its detail.
    case_id = map_case.case["id"]
    marker = page.locator(f'#city-map g.map-case[data-case-id="{case_id}"]')
    marker.wait_for()
    light = api(hub_server, "GET", f"/api/cases/{case_id}", map_case.token)["light"]
    assert marker.get_attribute("data-light") == light
    assert f"light-{light}" in (marker.get_attribute("class") or "")
    assert page.locator("#map-legend").is_visible()
    page.screenshot(path=str(ARTIFACTS / "map.png"))
    marker.locator(".case-pin").click()
    page.wait_for_selector(f'#case-detail[data-case-id="{case_id}"][data-state]')
    assert page.locator("#tab-cases.active").count() == 1
    assert page.locator("#city-map").is_visible()  # the map stays beside the drawer
    page.keyboard.press("Escape")
    page.wait_for_selector("#case-detail", state="hidden")

    # Layers: the cases' layer off hides every case marker (and uncovers the cameras).
    page.uncheck("#map-layer-cases")
    assert marker.is_hidden()
    page.check("#map-layer-cases")
    assert marker.is_visible()
    page.uncheck("#map-layer-cases")

    # Zoom (wheel and buttons) and pan (drag) move the world; 全图 fits it back.
    world = page.locator("#city-map g.map-world")
    fitted = world.get_attribute("transform")
    box = page.locator("#map-svg").bounding_box()
    assert box
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -400)
    page.wait_for_function(
        "t => document.querySelector('#city-map g.map-world').getAttribute('transform') !== t",
        arg=fitted,
    )
    zoomed = world.get_attribute("transform")
    page.mouse.move(box["x"] + 40, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + 160, box["y"] + 120, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "t => document.querySelector('#city-map g.map-world').getAttribute('transform') !== t",
        arg=zoomed,
    )
    page.click("#map-zoom-in")
    page.click("#map-reset")
    page.wait_for_function(
        "t => document.querySelector('#city-map g.map-world').getAttribute('transform') === t",
        arg=fitted,
    )

    # A camera that is not on the wall yet: a click puts it there, as a double-click in the tree.
    on_wall = set(
        page.eval_on_selector_all(
            "#wall .tile:not([hidden])", "ts => ts.map(t => t.dataset.cameraId).filter(Boolean)"
        )
    )
    camera = page.evaluate(
        """(skip) => {
            const s = document.querySelector('#map-svg').getBoundingClientRect();
            const [x0, y0] = [s.left + s.width / 2, s.top + s.height / 2];
            const d = g => { const r = g.querySelector('.cam-body').getBoundingClientRect();
                             return Math.hypot(r.x - x0, r.y - y0); };
            const gs = [...document.querySelectorAll('#city-map g.map-camera')]
                .filter(g => !skip.includes(g.dataset.cameraId));
            gs.sort((a, b) => d(a) - d(b));
            return gs[0].dataset.cameraId;
        }""",
        sorted(on_wall),
    )
    page.click(f'#city-map g.map-camera[data-camera-id="{camera}"] .cam-body')
    page.wait_for_selector(f'#wall .tile:not([hidden])[data-camera-id="{camera}"]')
    assert page.locator("#view-wall.active").count() == 1
    assert page.locator("#city-map").is_hidden()


def test_a_case_entered_while_the_map_loads_stays_on_it(
    wall: Any, hub_server: Any, map_case: MapCase
) -> None:
    """The map's list of running cases is slow (held here) and a case is entered meanwhile: the
    case arrives live, and the older list landing after it must not wipe its marker (it did on a
    loaded machine: an operator's new case vanished from the map until the next reload)."""
    page = wall
    listing = re.compile(r".*/api/cases\?.*state=open.*")
    with held_lists(page, listing, lambda: page.click("#view-map")):
        page.wait_for_selector("#city-map:not([hidden]) path.map-grid")
        grid = next(g for g in map_case.site.grids() if g.id == map_case.grid_id)
        x, y = _centre(grid.geometry.coordinates[0])
        title = "e2e 加载中录入 entered while loading"
        body = {"category": CATEGORY, "title": title, "position": [x, y]}
        case = api(hub_server, "POST", "/api/cases", map_case.token, body)
        marker = page.locator(f'#city-map g.map-case[data-case-id="{case["id"]}"]')
        marker.wait_for()  # live, before the list
    assert marker.count() == 1, "the older list wiped the case that arrived live"
    assert page.locator(f'#city-map g.map-case[data-case-id="{map_case.case["id"]}"]').count() == 1


def _centre(ring: list[Any]) -> tuple[float, float]:
    pts = ring[:-1]
    return sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)


def _translate(page: Any, username: str) -> tuple[str, float, float]:
    """The worker marker's transform, and the screen point it puts the marker at."""
    t = page.get_attribute(f'#city-map g.map-worker[data-username="{username}"]', "transform")
    m = re.fullmatch(r"translate\(([-\d.]+) ([-\d.]+)\)", t or "")
    assert m, t
    return str(t), float(m.group(1)), float(m.group(2))


def test_map_shows_workers_by_state(wall: Any, hub_server: Any, map_case: MapCase) -> None:
    """Three grid workers of the site file (not the first: the field app's test takes that one)
    with accounts, heard from at a point of their own grid: one available, one busy with a case
    dispatched to them, one off duty. The map shows each at its point by state, and follows a
    heartbeat that moves one without a reload."""
    page = wall
    site = map_case.site
    grid_by_id = {g.id: g for g in site.grids()}
    chosen = [w for w in site.workers if w.grids][1:4]
    assert len(chosen) == 3, "the demo site lists grid workers"
    avail, busy, home = (w.username for w in chosen)
    at = {w.username: _centre(grid_by_id[w.grids[0]].geometry.coordinates[0]) for w in chosen}
    tokens = {}
    for w in chosen:
        add_user(hub_server, w.username, "worker", WORKER_PW)
        tokens[w.username] = token(hub_server, w.username, WORKER_PW)

    def beat(username: str, on_duty: bool, position: tuple[float, float]) -> dict[str, Any]:
        body = {"position": list(position), "accuracy_m": 8, "on_duty": on_duty}
        return dict(api(hub_server, "POST", "/api/workers/me/heartbeat", tokens[username], body))

    try:
        for u in (avail, busy):
            assert beat(u, True, at[u])["on_duty"] is True
        assert beat(home, False, at[home])["state"] == "off_duty"

        # The center sends a case in the busy worker's grid to them: busy while it is in hand.
        case = api(
            hub_server, "POST", "/api/cases", map_case.token,
            {"category": CATEGORY, "title": "e2e 网格员在办 worker busy",
             "position": [at[busy][0], at[busy][1]]},
        )  # fmt: skip
        for step in ("accept", "open"):
            act(hub_server, map_case.token, case["id"], step, only_from=("reported", "accepted"))
        act(
            hub_server, map_case.token, case["id"], "dispatch", assignee=busy, only_from=("opened",)
        )
        statuses = {
            s["username"]: s for s in api(hub_server, "GET", "/api/workers", map_case.token)
        }
        assert statuses[busy]["state"] == "busy" and statuses[busy]["running_cases"] >= 1
        # The available one stays so unless the system itself dispatched a case to them since
        # (a manhole alarm in their grid): then the map must say busy, as the hub does.
        want = {
            avail: "busy" if statuses[avail]["running_cases"] else "available",
            busy: "busy",
            home: "off_duty",
        }

        fetches: list[str] = []
        page.on("request", lambda r: fetches.append(r.url) if "/api/workers" in r.url else None)
        _open_map(page)
        for u, state in want.items():
            page.wait_for_selector(
                f'#city-map g.map-worker[data-username="{u}"][data-state="{state}"]'
            )
        shown = dict(
            page.eval_on_selector_all(
                "#city-map g.map-worker", "gs => gs.map(g => [g.dataset.username, g.dataset.state])"
            )
        )
        assert {u: shown.get(u) for u in want} == want
        assert int(page.inner_text("#map-count-workers")) >= 3
        # The site's other workers, never heard from, have no point to be drawn at.
        assert "名网格员无位置" in page.inner_text("#city-map .map-note")
        marker = page.locator(f'#city-map g.map-worker[data-username="{avail}"]')
        assert chosen[0].name in (marker.locator("title").text_content() or "")
        assert page.locator(
            f'#city-map g.map-worker.{want[avail]}[data-username="{avail}"]'
        ).count()
        page.screenshot(path=str(ARTIFACTS / "map-workers.png"))

        # Live: a heartbeat from another point of the grid moves the marker, with no fetch again.
        before = _translate(page, avail)
        fetched = len(fetches)
        ring = grid_by_id[chosen[0].grids[0]].geometry.coordinates[0]
        east = max(ring[:-1], key=lambda p: p[0] + p[1])
        moved = ((at[avail][0] + east[0]) / 2, (at[avail][1] + east[1]) / 2)
        beat(avail, True, moved)
        page.wait_for_function(
            """([u, t]) => {
                const g = document.querySelector(`#city-map g.map-worker[data-username="${u}"]`);
                return g && g.getAttribute('transform') !== t;
            }""",
            arg=[avail, before[0]],
        )
        after = _translate(page, avail)
        # East is right and north is up on the screen.
        assert (after[1] - before[1]) * (moved[0] - at[avail][0]) > 0, (before, after)
        assert (after[2] - before[2]) * (moved[1] - at[avail][1]) < 0, (before, after)
        # Going on duty again turns the off-duty one live too.
        beat(home, True, at[home])
        page.wait_for_selector(
            f'#city-map g.map-worker[data-username="{home}"][data-state="available"],'
            f' #city-map g.map-worker[data-username="{home}"][data-state="busy"]'
        )
        assert len(fetches) == fetched, fetches

        # The track (活动轨迹): the worker's marker (Enter, as a click) shows today's fixes as a
        # line, as many as the hub holds, and follows a new fix live.
        since = _today_since(site.site.timezone)
        path = f"/api/workers/{avail}/track?since={urllib.parse.quote(since)}"
        held = api(hub_server, "GET", path, map_case.token)["points"]
        assert len(held) >= 2  # this test's two fixes at least
        marker.focus()
        page.keyboard.press("Enter")
        panel = page.locator(f'#map-track:not([hidden])[data-username="{avail}"]')
        panel.wait_for()
        page.wait_for_selector(f'#map-track[data-points="{len(held)}"]')
        text = page.inner_text("#map-track-text")
        assert "活动轨迹" in text and f"{len(held)} 点" in text and "km" in text, text
        line = page.get_attribute("#map-track-line", "points") or ""
        assert len(line.split()) == len(held)
        beat(avail, True, at[avail])
        page.wait_for_selector(f'#map-track[data-points="{len(held) + 1}"]')
        assert len((page.get_attribute("#map-track-line", "points") or "").split()) == len(held) + 1
        box = page.locator("#map-track-line").bounding_box()
        assert box and box["width"] > 2, box  # drawn, not a dot
        page.screenshot(path=str(ARTIFACTS / "map-track.png"))
        page.click("#map-track-close")
        page.wait_for_selector("#map-track", state="hidden")
        assert page.get_attribute("#map-track-line", "points") == ""

        # The busy worker's case, in its detail: a mini-map of its grid with the case and the
        # worker's last fix, who stands at the case's point.
        page.click("#tab-cases")
        page.click(f'#case-list li.case[data-case-id="{case["id"]}"]')
        page.wait_for_selector(f'#case-detail[data-case-id="{case["id"]}"][data-state]')
        mini = page.locator("#case-minimap")
        assert mini.locator("polygon.grid.own").count() == 1
        assert mini.locator("circle.target").count() == 1 and mini.locator("circle.me").count() == 1
        note = page.inner_text("#case-place-note")
        assert busy in note and "在现场附近" in note, note
        page.keyboard.press("Escape")
    finally:
        for u in tokens:  # off duty at the end, whatever happened
            with contextlib.suppress(Exception):
                beat(u, False, at[u])


def _today_since(tz: str) -> str:
    midnight = datetime.combine(datetime.now(ZoneInfo(tz)).date(), time(), ZoneInfo(tz))
    return midnight.isoformat()


def test_stats_count_the_case_and_export_csv(wall: Any, hub_server: Any, map_case: MapCase) -> None:
    page = wall
    page.click("#view-stats")
    page.wait_for_selector("#stats-view:not([hidden])")
    assert page.input_value("#stats-by") == "grid"
    assert page.locator("#stats-range-today.active").count() == 1

    # The case's grid has a row for today with the hub's figures (only this test writes there).
    row = page.locator(f'#stats-table tbody tr[data-key="{map_case.grid_id}"]')
    row.wait_for()
    since = urllib.parse.quote(_today_since(map_case.site.site.timezone))
    stats = api(hub_server, "GET", f"/api/stats/cases?by=grid&since={since}", map_case.token)
    mine = next(r for r in stats["rows"] if r["key"] == map_case.grid_id)
    assert mine["reported"] >= 1
    assert row.locator('td[data-col="reported"] .val').inner_text() == str(mine["reported"])
    assert row.locator('td[data-col="closed"] .val').inner_text() == str(mine["closed"])
    assert row.locator('td[data-col="reported"] .bar .fill').count() == 1
    assert page.locator("#stats-table tfoot tr.total").count() == 1
    for card in ("reported", "closure", "ontime", "rework", "accept", "handle", "close"):
        assert page.locator(f"#stats-total-{card}").is_visible()

    # Sortable: 上报 descending first, a click turns it ascending.
    def reported() -> list[int]:
        cells = page.eval_on_selector_all(
            '#stats-table tbody td[data-col="reported"] .val', "cs => cs.map(c => c.textContent)"
        )
        return [int(c) for c in cells]

    assert reported() == sorted(reported(), reverse=True)
    page.click('#stats-table th[data-sort="reported"]')
    page.wait_for_selector('#stats-table th[data-sort="reported"].asc')
    assert reported() == sorted(reported())

    # By street, over the last 7 days: the case's street has a row.
    page.select_option("#stats-by", "street")
    page.click("#stats-range-7d")
    page.wait_for_selector(f'#stats-table tbody tr[data-key="{map_case.street_id}"]')
    page.click("#stats-range-custom")
    page.wait_for_selector("#stats-from:visible")
    page.wait_for_selector(f'#stats-table tbody tr[data-key="{map_case.street_id}"]')

    # CSV export: a file whose first line is the header (after Excel's BOM).
    with page.expect_download() as info:
        page.click("#stats-csv")
    download = info.value
    assert download.suggested_filename == "cases-by-street.csv"
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == [label for _, label in CSV_COLUMNS]
    assert any(line[0] == map_case.street_id for line in lines[1:])
    page.screenshot(path=str(ARTIFACTS / "stats.png"))
