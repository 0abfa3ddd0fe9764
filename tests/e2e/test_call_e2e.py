"""A dispatch call in two Chromium contexts with fake camera and microphone: the operator calls
the worker a case is dispatched to from the case on the wall; the worker's phone rings and
answers; each side plays the other's video and hears sound; the operator shares a street camera
into the call and it plays on the phone; ending the call closes it on both sides."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_api import act, add_user, api, site_worker, token
from e2e_page import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
PHONE = {"width": 390, "height": 844}
WORKER_PW = "e2e-Call-Passw0rd!"
MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
PLAYING = """sel => {
  const t = document.querySelector(sel);
  return !!t && Number(t.dataset.videoWidth) > 0 && Number(t.dataset.videoTime) > 0.5;
}"""
HEARD = """sel => {
  const t = document.querySelector(sel);
  return !!t && Number(t.dataset.audioLevel) > 0.0005;
}"""

RECORDINGS_PLAYABLE = """() => [...document.querySelectorAll('#case-detail video.ev-recording')]
  .every(v => v.readyState >= 1 && v.videoWidth > 0 && v.duration > 0.5 && !v.error)"""


@pytest.fixture(scope="module")
def media_browser() -> Iterator[Any]:
    """Chromium with a fake camera (a moving test pattern) and microphone (a beep), granted."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + MEDIA_ARGS)
        try:
            yield b
        finally:
            b.close()


def _press(page: Any, selector: str) -> None:
    """Click what ``selector`` names even while a new-case popup lies over it: the simulated
    city's intrusions pop one up every few seconds (an operator would close them; the test
    would race them)."""
    page.wait_for_selector(selector)
    page.locator(selector).dispatch_event("click")


def _page(browser: Any, errors: list[str], **ctx: Any) -> Any:
    c = browser.new_context(locale="zh-CN", **ctx)
    pg = c.new_page()
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    pg.set_default_timeout(20_000)
    return pg


def test_operator_calls_the_worker_from_the_case_and_shares_a_camera(
    media_browser: Any, hub_server: Any, tmp_path: Path
) -> None:
    worker, grid = site_worker(hub_server.site)
    add_user(hub_server, worker, "worker", WORKER_PW)
    op_token = token(hub_server, hub_server.username, hub_server.password)
    case = api(hub_server, "POST", "/api/cases", op_token,
               {"category": "02.01", "title": "井盖缺失 e2e call", "grid_id": grid})  # fmt: skip
    for step in ("accept", "open"):
        act(hub_server, op_token, case["id"], step, only_from=("reported", "accepted"))
    act(hub_server, op_token, case["id"], "dispatch", assignee=worker, only_from=("opened",))

    errors: list[str] = []
    wall = _page(media_browser, errors, viewport={"width": 1600, "height": 1000})
    phone = _page(media_browser, errors, viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        # The worker's phone, logged in: it will ring.
        phone.goto(hub_server.url + "/m/")
        phone.fill("#login-username", worker)
        phone.fill("#login-password", WORKER_PW)
        phone.click("#login-submit")
        phone.wait_for_selector('#link-state[data-state="connected"]')

        # The operator opens the case on the wall and calls its assignee.
        wall.goto(hub_server.url + "/")
        wall.fill("#login-username", hub_server.username)
        wall.fill("#login-password", hub_server.password)
        wall.click("#login-submit")
        wall.wait_for_selector("li.cam")
        wall.click("#tab-cases")
        row = f'#case-list li.case[data-case-id="{case["id"]}"]'
        wall.wait_for_selector(row)
        _press(wall, row)
        wall.wait_for_selector(f'#case-detail[data-case-id="{case["id"]}"]')
        assert worker in wall.inner_text("#case-call")
        _press(wall, "#case-call")
        wall.wait_for_selector("#call-panel")

        phone.wait_for_selector("#call-ring")
        assert "井盖缺失" in phone.inner_text("#call-ring")
        phone.click("#call-accept")
        phone.wait_for_selector("#call-panel")

        # Both see and hear each other.
        on_wall = f'#call-panel .call-tile[data-owner="{worker}"]'
        on_phone = f'#call-panel .call-tile[data-owner="{hub_server.username}"]'
        for pg, sel in ((wall, on_wall), (phone, on_phone)):
            pg.wait_for_function(PLAYING, arg=sel, timeout=30_000)
            pg.wait_for_function(HEARD, arg=sel, timeout=30_000)

        # A street camera shared into the call plays on the phone (H.264, forwarded as it is).
        cam = wall.eval_on_selector(".call-feed-pick", "s => s.value")
        _press(wall, ".call-share")
        feed = f'#call-panel .call-tile.camera[data-owner="{cam}"]'
        phone.wait_for_selector(feed)
        phone.wait_for_function(PLAYING, arg=feed, timeout=30_000)
        wall.screenshot(path=str(ARTIFACTS / "call-wall.png"))
        phone.screenshot(path=str(ARTIFACTS / "call-phone.png"))

        # Ending the call closes it for both.
        _press(wall, ".call-end")
        wall.wait_for_selector("#call-panel", state="detached")
        phone.wait_for_selector("#call-panel", state="detached", timeout=15_000)
        detail = api(hub_server, "GET", f"/api/cases/{case['id']}", op_token)
        actions = [e["action"] for e in detail["timeline"]]
        assert "call_started" in actions and "call_ended" in actions

        # The call's recordings (each side and the camera) are on the case and play on the wall.
        wall.wait_for_function(
            "() => document.querySelectorAll('#case-detail video.ev-recording').length >= 3",
            timeout=30_000,
        )
        wall.wait_for_function(RECORDINGS_PLAYABLE, timeout=30_000)
        wall.screenshot(path=str(ARTIFACTS / "call-recordings.png"))
    finally:
        for pg in (wall, phone):
            with contextlib.suppress(Exception):
                pg.context.close()
    assert not errors, f"uncaught errors in the pages: {errors}"
