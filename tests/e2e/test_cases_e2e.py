"""The case queue and case detail (案件 Cases) in a real browser against the real hub.

The demo hub turns the simulated cameras' detections into cases: an intrusion (区域入侵) is an
auto-dispatch category, so the system accepts and opens it at once; the demo site lists its grid
workers, but this hub gives none of them an account (only `make demo` does), so it then waits,
opened, for the operator to dispatch it. The test adds a worker account (as an admin, through the
API), dispatches the case to it from the wall, plays the worker's field steps
through the API and watches the wall follow them live, then checks and evaluates it on the wall.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_api import act as _act
from e2e_api import api as _api
from e2e_api import token as _token

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
CASE_WAIT_S = 75.0  # the scenes loop every 60 s and every loop has intrusions
STEP_TIMEOUT_MS = 30_000  # a step is a write, a message and a reload: slower than a page read
ADMIN, ADMIN_PW = "e2e-admin01", "e2e-Admin-Passw0rd!"
WORKER, WORKER_PW = "wangwu01", "e2e-Worker-Passw0rd!"


@dataclass
class Accounts:
    admin: str
    worker: str


@pytest.fixture(scope="module")
def accounts(hub_server: Any) -> Accounts:
    """An admin (from the command line, as an installer would make one) and a worker account
    that the admin creates through the API (not one of the site's grid workers)."""
    subprocess.run(
        [sys.executable, "-m", "hub", "users", "add", ADMIN, "--role", "admin",
         "--password", ADMIN_PW],
        env={**os.environ, "HUB_DATA_DIR": str(hub_server.data_dir)},
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    admin = _token(hub_server, ADMIN, ADMIN_PW)
    made = _api(
        hub_server,
        "POST",
        "/api/users",
        admin,
        {"username": WORKER, "role": "worker", "password": WORKER_PW},
    )
    assert made["role"] == "worker" and made["active"]
    return Accounts(admin=admin, worker=_token(hub_server, WORKER, WORKER_PW))


def _row(case_id: str, state: str = "") -> str:
    sel = f'#case-list li.case[data-case-id="{case_id}"]'
    return sel + (f'[data-state="{state}"]' if state else "")


def _click_step(page: Any, button: str, reached: str) -> None:
    """Click a step's button until the case reaches `reached`. The system changing the case's
    light between the wall's last reload and the click is a real 409: the wall reloads, says
    so, and the operator (here: the loop) clicks again."""
    for _ in range(4):
        page.click(button)
        page.wait_for_selector(f"{reached}, #case-notice.warn:not([hidden])")
        if page.locator(reached).count():
            return
        assert "案件已被他人更新" in page.inner_text("#case-notice")
    raise AssertionError(f"{button} did not reach {reached}")


def _timeline_actions(page: Any) -> list[str]:
    return list(
        page.eval_on_selector_all("#case-timeline li.tl", "ls => ls.map(l => l.dataset.action)")
    )


def test_case_queue_detail_dispatch_and_closing(
    wall: Any, hub_server: Any, accounts: Accounts
) -> None:
    page = wall
    page.set_default_timeout(STEP_TIMEOUT_MS)
    page.click("#tab-cases")
    page.wait_for_selector("#cases:not([hidden])")
    assert page.locator("#tab-cases.active").count() == 1

    # A simulated intrusion becomes a case that the system accepted and opened: it waits for
    # dispatch (待派遣) at the top of the running queue.
    waiting = '#case-list li.case[data-source="video"][data-state="opened"]'
    page.wait_for_selector(waiting, timeout=CASE_WAIT_S * 1000)
    case_id = page.locator(waiting).first.get_attribute("data-case-id")
    assert case_id
    row = page.locator(_row(case_id))
    text = row.inner_text()
    assert "区域入侵" in text and "待派遣" in text and "未派遣" in text, text
    assert row.locator(".light-dot").count() == 1
    clock = row.locator(".case-countdown").inner_text()
    assert re.match(r"^(剩余|超时) \d", clock), clock
    if clock.startswith("剩余") and "秒" in clock:  # under an hour left: it ticks every second
        page.wait_for_function(
            "([sel, t]) => document.querySelector(sel + ' .case-countdown').textContent !== t",
            arg=[_row(case_id), clock],
            timeout=5_000,
        )

    # The detail: timeline (reported, accepted and opened by the system), evidence with the
    # detection's snapshot, and only the steps an operator may take now.
    row.click()
    page.wait_for_selector(f'#case-detail[data-case-id="{case_id}"][data-state="opened"]')
    assert "selected" in (row.get_attribute("class") or "")
    actions = _timeline_actions(page)
    assert actions[:3] == ["created", "accept", "open"], actions
    timeline = page.inner_text("#case-timeline")
    assert "受理" in timeline and "立案" in timeline and "system" in timeline
    detection = page.locator('#case-evidence li.evidence[data-kind="detection"]').first
    detection.wait_for()
    page.wait_for_function(
        "() => { const i = document.querySelector('#case-evidence img.ev-thumb');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    camera = detection.locator(".ev-wall").get_attribute("data-camera-id")
    assert camera
    buttons = page.eval_on_selector_all(
        "#case-actions button.case-act", "bs => [...new Set(bs.map(b => b.dataset.action))]"
    )
    # Dispatch and co-dispatch (联合派遣); no accept/void/approvals for an opened case.
    assert sorted(buttons) == ["co_dispatch", "dispatch"], buttons
    # Recommendations: the site's workers who have accounts (other tests may have made some).
    page.wait_for_selector("#case-no-recs, #case-recs li")
    # Its place: the camera's grid and the detection's point on the mini-map; no one sent yet.
    mini = page.locator("#case-minimap")
    assert mini.locator("polygon.grid.own").count() == 1
    assert mini.locator("circle.target").count() == 1 and mini.locator("circle.me").count() == 0
    page.screenshot(path=str(ARTIFACTS / "case-detail.png"))

    # A stale version (someone moved the case meanwhile) gets the hub's real 409: the wall
    # reloads the case and says so, and the operator decides again.
    def stale(route: Any) -> None:
        body = json.loads(route.request.post_data or "{}")
        body["version"] -= 1
        route.fulfill(response=route.fetch(post_data=json.dumps(body)))

    page.route("**/api/cases/*/actions", stale, times=1)
    page.fill("#case-assignee", WORKER)
    page.click("#case-dispatch")
    page.wait_for_selector("#case-notice.warn:not([hidden])")
    assert "案件已被他人更新 The case changed; reloaded" in page.inner_text("#case-notice")
    assert page.get_attribute("#case-detail", "data-state") == "opened"

    # Dispatch to the worker with the assignee picker (the input keeps what was typed).
    assert page.input_value("#case-assignee") == WORKER
    _click_step(page, "#case-dispatch", '#case-detail[data-state="dispatched"]')
    page.wait_for_selector(_row(case_id, "dispatched"))
    assert "已派遣" in row.inner_text() and WORKER in row.inner_text()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#case-timeline li.tl')]"
        ".some(l => l.dataset.action === 'dispatch' && l.textContent.includes('wangwu01'))"
    )

    # The worker signs for it and reports it handled from the field: the wall follows live.
    got = _act(hub_server, accounts.worker, case_id, "receive")
    assert got is not None and got["state"] == "received"
    note = "已驱离 intruder sent away"
    _act(hub_server, accounts.worker, case_id, "feedback", got["version"], note=note)
    page.wait_for_selector(_row(case_id, "handled"))
    assert "待核查" in row.inner_text()
    page.wait_for_selector('#case-detail[data-state="handled"]')
    assert note in page.inner_text("#case-timeline")
    assert {"receive", "feedback"} <= set(_timeline_actions(page))
    buttons = page.eval_on_selector_all(
        "#case-actions button.case-act", "bs => [...new Set(bs.map(b => b.dataset.action))]"
    )
    assert set(buttons) == {"check_pass", "check_fail"}, buttons

    # 核查通过: closed, so it leaves the running queue; then 评价 with five stars.
    check_pass = '#case-actions button[data-action="check_pass"]'
    _click_step(page, check_pass, '#case-detail[data-state="closed"]')
    page.wait_for_selector(_row(case_id), state="detached")
    page.click('#case-actions button.star[data-rating="5"]')
    _click_step(page, "#case-evaluate", '#case-detail[data-state="evaluated"]')
    assert "★★★★★" in page.inner_text("#case-timeline")
    assert page.locator("#case-actions button.case-act").count() == 0
    page.screenshot(path=str(ARTIFACTS / "case-evaluated.png"))


def _void_waiting_video_cases(hub: Any, acc: Accounts) -> list[int]:
    """A running case takes in new detections at its place (fusion) instead of a new case being
    opened. The line crossing and loitering cases wait to be accepted (their categories are not
    auto-dispatched): voiding them, one request each, lets the next such detection open a new
    case. Returns the ids voided."""
    waiting = ("reported", "accepted")
    query = "&".join(f"state={s}" for s in waiting) + "&source=video&limit=500"
    voided = []
    for case in _api(hub, "GET", f"/api/cases?{query}", acc.admin)["items"]:
        # An intrusion just reported is accepted and opened by the system meanwhile: left as is.
        _act(hub, acc.admin, case["id"], "void", case["version"], waiting, note="e2e")
        voided.append(case["id"])
    return voided


def test_a_new_video_case_pops_up_and_opens_with_its_camera(
    wall: Any, hub_server: Any, accounts: Accounts
) -> None:
    page = wall
    page.set_default_timeout(STEP_TIMEOUT_MS)
    page.wait_for_selector('#link-state[data-state="connected"]')
    voided = _void_waiting_video_cases(hub_server, accounts)

    # The next detection opens a new case: it pops up like an alarm, with the detection's
    # snapshot and a chime, and a button that opens it and puts its camera on the big tile.
    # Not a popup still up (or queued) for a case voided just now: a voided case leaves the
    # queue, and its row would never be there to show as selected. Those are dismissed.
    deadline = time.monotonic() + CASE_WAIT_S
    while True:
        shown = page.get_attribute("#popup-open-case", "data-case-id", timeout=CASE_WAIT_S * 1000)
        if int(shown or 0) not in voided:
            break
        assert time.monotonic() < deadline, "no popup for a new case"
        page.click("#popup-close")
    text = page.inner_text("#case-popup")
    assert page.locator("#popup-snapshot, .popup-snapshot.missing").count() >= 1
    assert int(page.get_attribute("#sound-toggle", "data-played") or 0) >= 1
    # Its camera plays live in the popup; the wall stays as the operator arranged it.
    page.wait_for_selector('#case-popup[data-live="playing"]')
    page.click("#popup-open-case")
    assert "新案件 New case" in text, text
    page.wait_for_selector("#case-detail:not([hidden])")
    case_id = page.get_attribute("#case-detail", "data-case-id")
    assert page.locator("#tab-cases.active").count() == 1
    page.wait_for_selector(f'#case-detail[data-case-id="{case_id}"][data-state]')
    cam = page.locator('#case-evidence li.evidence[data-kind="detection"] .ev-wall').first
    cam.wait_for()
    camera = cam.get_attribute("data-camera-id")
    page.wait_for_selector(f'#wall .tile[data-index="0"][data-camera-id="{camera}"]')
    page.wait_for_selector(f"{_row(case_id)}.selected")
    page.screenshot(path=str(ARTIFACTS / "case-popup-opened.png"))

    page.keyboard.press("Escape")
    page.wait_for_selector("#case-detail", state="hidden")
