"""The workers' field app (/m/) on a phone-sized Chromium against the real hub: a grid worker
logs in, goes on duty (the phone's GPS reaches the hub), finds the case dispatched to them in
the inbox with its light and countdown, receives it, arrives, sends feedback with a photo taken
on the phone, and files a patrol report (随手拍) with a photo that is handled on the spot."""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml
from e2e_api import act, add_user, api, site_worker, token

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PHONE = {"width": 390, "height": 844}
WORKER_PW = "e2e-Field-Passw0rd!"
DUTY, DUTY_PW = "e2e-duty01", "e2e-Duty-Passw0rd!"
STEP_MS = 30_000


def _grid_centre(site: Path, grid_id: str) -> tuple[float, float]:
    doc = yaml.safe_load(site.read_text(encoding="utf-8"))
    for street in doc["district"]["streets"]:
        for community in street["communities"]:
            for g in community["grids"]:
                if g["id"] == grid_id:
                    ring = g["geometry"]["coordinates"][0][:-1]
                    return (
                        sum(p[0] for p in ring) / len(ring),
                        sum(p[1] for p in ring) / len(ring),
                    )
    raise AssertionError(grid_id)


def _photo(path: Path, text: str) -> Path:
    img = np.full((960, 1280, 3), (70, 110, 90), np.uint8)
    cv2.rectangle(img, (300, 300), (980, 700), (40, 40, 200), -1)
    cv2.putText(img, text, (320, 520), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 6)
    ok, jpeg = cv2.imencode(".jpg", img)
    assert ok
    path.write_bytes(jpeg.tobytes())
    return path


@pytest.fixture
def phone(browser: Any, hub_server: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A phone: 390x844, touch, Chinese, GPS allowed (the position is set per test)."""
    ctx = browser.new_context(
        viewport=PHONE,
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        permissions=["geolocation"],
        geolocation={"longitude": 0.0, "latitude": 0.0},
    )
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    pg.set_default_timeout(STEP_MS)
    try:
        yield pg
    finally:
        artifacts = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
        name = request.node.name.replace("/", "_")
        with contextlib.suppress(Exception):  # the page may be gone after a failure
            pg.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
        ctx.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def _fits_the_phone(page: Any) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"


def test_a_worker_handles_a_task_and_reports_from_the_phone(
    phone: Any, hub_server: Any, tmp_path: Path
) -> None:
    worker, grid = site_worker(hub_server.site)
    lon, lat = _grid_centre(hub_server.site, grid)
    add_user(hub_server, worker, "worker", WORKER_PW)
    add_user(hub_server, DUTY, "operator", DUTY_PW)
    duty = token(hub_server, DUTY, DUTY_PW)

    # The center enters a case in the worker's grid and dispatches it to them.
    case = api(
        hub_server,
        "POST",
        "/api/cases",
        duty,
        {"category": "02.01", "title": "人行道破损 e2e", "description": "路面坑洞约半米",
         "position": [lon + 0.001, lat + 0.001]},
    )  # fmt: skip
    assert case["grid_id"] == grid
    for step in ("accept", "open"):
        act(hub_server, duty, case["id"], step, only_from=("reported", "accepted"))
    act(hub_server, duty, case["id"], "dispatch", assignee=worker, only_from=("opened",))

    page = phone
    page.context.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 12})
    page.goto(hub_server.url + "/m/")
    page.fill("#login-username", worker)
    page.fill("#login-password", WORKER_PW)
    page.click("#login-submit")
    page.wait_for_selector("#field-app")
    page.wait_for_selector('#link-state[data-state="connected"]')

    # On duty: the phone's position reaches the hub.
    page.click("#duty-toggle")
    page.wait_for_selector('#duty-toggle[data-duty="on"]')
    page.wait_for_selector('#gps-state[data-state="fixed"]')
    op = token(hub_server, hub_server.username, hub_server.password)

    def tracked() -> list[Any]:
        since = urllib.parse.quote((datetime.now(UTC) - timedelta(minutes=10)).isoformat())
        path = f"/api/workers/{worker}/track?since={since}"
        return list(api(hub_server, "GET", path, op)["points"])

    for _ in range(40):
        if tracked():
            break
        page.wait_for_timeout(250)
    points = tracked()
    assert points and abs(points[-1][1] - lon) < 1e-6 and abs(points[-1][2] - lat) < 1e-6

    # The inbox: the task with its light and a countdown that ticks.
    row = f'#task-list li.task[data-case-id="{case["id"]}"]'
    page.wait_for_selector(row)
    assert "人行道破损 e2e" in page.inner_text(row)
    assert page.locator(f"{row} .light-dot").count() == 1
    page.wait_for_function(
        "sel => /^(剩余|超时) \\d/.test(document.querySelector(sel + ' .countdown').textContent)",
        arg=row,
    )
    assert page.inner_text("#task-count") != ""
    _fits_the_phone(page)

    # The task: the way to it, then receive, arrive, feedback with a photo from the camera.
    page.click(row)
    page.wait_for_selector('#task-state[data-state="dispatched"]')
    page.wait_for_selector(".minimap .target")
    page.wait_for_selector(".minimap .me")
    assert "距离" in page.inner_text("#task-way")
    assert (page.get_attribute(".nav-link", "href") or "").startswith("geo:")
    _fits_the_phone(page)
    page.click("#act-receive")
    page.wait_for_selector('#task-state[data-state="received"]')
    page.click("#act-arrive")
    page.wait_for_selector('#task-state[data-state="on_scene"]')
    page.fill("#feedback-note", "已设置围挡，通知市政修补")
    page.set_input_files("#feedback-photo-input", str(_photo(tmp_path / "scene.jpg", "FIXED")))
    page.wait_for_selector("#feedback-photos .photo[data-photo-id]")
    page.click("#feedback-submit")
    page.wait_for_selector('#task-state[data-state="handled"]')
    page.wait_for_selector(".ev-photo")

    detail = api(hub_server, "GET", f"/api/cases/{case['id']}", duty)
    assert detail["state"] == "handled"
    assert [e["kind"] for e in detail["evidence"]].count("photo") == 1
    assert [t["action"] for t in detail["timeline"]][-3:] == ["receive", "arrive", "feedback"]
    assert all(t["actor"] == worker for t in detail["timeline"][-3:])

    # A patrol report (随手拍) with a photo, handled on the spot (自行处置).
    page.click("#nav-report")
    page.wait_for_selector("#report-form")
    page.select_option("#report-category", "11.02")
    page.fill("#report-title", "楼道口乱堆杂物 e2e")
    page.set_input_files("#report-photo-input", str(_photo(tmp_path / "found.jpg", "FOUND")))
    page.wait_for_selector("#report-photos .photo[data-photo-id]")
    page.check("#report-on-spot")
    _fits_the_phone(page)
    page.click("#report-submit")
    page.wait_for_selector("#inbox")
    mine = api(hub_server, "GET", "/api/cases?source=worker&limit=5", duty)["items"]
    report = next(c for c in mine if c["title"] == "楼道口乱堆杂物 e2e")
    assert report["reporter"] == worker and report["state"] == "handled"
    assert report["grid_id"] == grid
    detail = api(hub_server, "GET", f"/api/cases/{report['id']}", duty)
    assert [e["kind"] for e in detail["evidence"]] == ["photo"]

    # Off duty: the hub knows.
    page.click("#duty-toggle")
    page.wait_for_selector('#duty-toggle[data-duty="off"]')
    states = {w["username"]: w for w in api(hub_server, "GET", "/api/workers", op)}
    assert states[worker]["state"] == "off_duty"


def test_the_field_app_is_for_workers(phone: Any, hub_server: Any) -> None:
    phone.goto(hub_server.url + "/m/")
    phone.fill("#login-username", hub_server.username)
    phone.fill("#login-password", hub_server.password)
    phone.click("#login-submit")
    phone.wait_for_selector("#to-wall")
    assert phone.locator("#field-app").count() == 0


def test_a_department_worker_handles_their_part_from_the_phone(
    phone: Any, hub_server: Any, tmp_path: Path
) -> None:
    """Co-dispatch (联合派遣): the center sends a case to a department as well; the department's
    worker finds their part in the inbox, receives it and sends the part's feedback with a
    photo, while the case itself stays with its lead."""
    doc = yaml.safe_load(hub_server.site.read_text(encoding="utf-8"))
    staff = next(w for w in doc["workers"] if w.get("department") and not w.get("grids"))
    worker, dept = str(staff["username"]), str(staff["department"])
    _, grid = site_worker(hub_server.site)
    add_user(hub_server, worker, "worker", WORKER_PW)
    add_user(hub_server, DUTY, "operator", DUTY_PW)
    duty = token(hub_server, DUTY, DUTY_PW)
    case = api(hub_server, "POST", "/api/cases", duty,
               {"category": "02.01", "title": "路面塌陷 会办 e2e", "grid_id": grid})  # fmt: skip
    for step in ("accept", "open"):
        act(hub_server, duty, case["id"], step, only_from=("reported", "accepted"))
    case = api(hub_server, "GET", f"/api/cases/{case['id']}", duty)
    target = {"department": dept, "assignee": worker, "note": "设置围挡"}
    body = {"version": case["version"], "parts": [target]}
    made = api(hub_server, "POST", f"/api/cases/{case['id']}/parts", duty, body)
    part = made["parts"][0]

    page = phone
    page.goto(hub_server.url + "/m/")
    page.fill("#login-username", worker)
    page.fill("#login-password", WORKER_PW)
    page.click("#login-submit")
    row = f'#task-list li.task.part[data-case-id="{case["id"]}"]'
    page.wait_for_selector(row)
    assert "会办" in page.inner_text(row)
    page.click(row)
    page.wait_for_selector(f'#part-{part["id"]}[data-part-state="dispatched"]')
    assert "设置围挡" in page.inner_text(f"#part-{part['id']}")
    assert page.locator("#act-receive").count() == 0, "the case's own steps are its lead's"
    page.click("#part-receive")
    page.wait_for_selector(f'#part-{part["id"]}[data-part-state="received"]')
    page.fill("#part-note", "已设置围挡")
    page.set_input_files("#part-photo-input", str(_photo(tmp_path / "fence.jpg", "FENCE")))
    page.wait_for_selector("#part-photos .photo[data-photo-id]")
    page.click("#part-feedback")
    page.wait_for_selector(f'#part-{part["id"]}[data-part-state="handled"]')
    _fits_the_phone(page)

    detail = api(hub_server, "GET", f"/api/cases/{case['id']}", duty)
    [got] = detail["parts"]
    assert (got["state"], got["assignee"], len(got["photos"])) == ("handled", worker, 1)
    assert detail["state"] == "opened", "the case's own loop is untouched"
