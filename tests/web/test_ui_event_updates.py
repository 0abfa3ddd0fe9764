"""The wall in a real browser: an event's end updates its list item in place, without a flash.

Runs the built UI (``hub/web/ui/dist``, `npm run build`) on the light web harness (fake video),
so it needs Chromium but no simulated city.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from web_helpers import PASSWORDS, RunningHub, detection, make_settings, record, run_hub

from hub.bus.contracts import DETECTIONS

REPO = Path(__file__).resolve().parents[2]
UI_DIST = REPO / "hub" / "web" / "ui" / "dist"
ARTIFACTS = REPO / "test-artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# No skip when Chromium or the built UI is missing: `make test` installs and builds both, and
# a test that skips on a newcomer's machine tests nothing there.
pytestmark = [pytest.mark.e2e]


@pytest.fixture
async def ui_hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    async with run_hub(make_settings(tmp_path), ui_dir=UI_DIST) as h:
        await h.state.store.users.create("operator", "operator", PASSWORDS["operator"])
        h.state.throttle.failure_delay = 0.0
        yield h


@pytest.fixture
async def page(ui_hub: RunningHub) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            ctx = await browser.new_context(viewport={"width": 1600, "height": 900})
            pg = await ctx.new_page()
            errors: list[str] = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.set_default_timeout(10_000)
            await pg.goto(ui_hub.url + "/")
            await pg.fill("#login-username", "operator")
            await pg.fill("#login-password", PASSWORDS["operator"])
            await pg.click("#login-submit")
            await pg.wait_for_selector('#link-state[data-state="connected"]')
            yield pg
            assert not errors, errors
        finally:
            await browser.close()


async def test_end_updates_the_item_in_place(ui_hub: RunningHub, page: Any) -> None:
    start = datetime.now(UTC) - timedelta(seconds=20)
    ev = detection(type="loitering", start=start, dwell_seconds=60.0, snapshot="cam-a/x.jpg")
    item = f'#event-list li.event[data-event-id="{ev.id}"]'
    await record(ui_hub, ev)
    await page.wait_for_selector(item)
    assert "进行中 Ongoing" in await page.inner_text(item)
    assert "fresh" in (await page.get_attribute(item, "class") or "")
    await page.wait_for_function(
        "() => document.getElementById('events-today').textContent === '1'"
    )
    await page.click(item)
    detail = await page.inner_text("#event-detail")
    assert "结束 End" in detail and "进行中 Ongoing" in detail

    # Mark the wall so a new flash would show: the update must not flash a tile again.
    await page.evaluate(
        "() => document.querySelectorAll('.tile.flash').forEach(t => t.classList.remove('flash'))"
    )
    ended = ev.model_copy(update={"end": start + timedelta(seconds=12), "dwell_seconds": 72.0})
    await ui_hub.bus.publish(DETECTIONS, ended)
    await page.wait_for_selector(f"{item} .ev-dur:not(.ongoing)")
    assert await page.locator(item).count() == 1  # updated, not duplicated
    assert "持续 Duration 12 s" in await page.inner_text(item)
    assert "fresh" not in (await page.get_attribute(item, "class") or "")
    assert "selected" in (await page.get_attribute(item, "class") or "")
    assert await page.locator(".tile.flash").count() == 0
    assert await page.inner_text("#events-today") == "1"
    detail = await page.inner_text("#event-detail")
    assert "开始 Start" in detail and "持续 Duration" in detail and "12 s" in detail
    assert "进行中" not in detail
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "event-end-in-place.png"))

    # A line crossing is an instant: no duration, one time.
    line = detection(type="line_crossing", zone_id=None, line_id="l1", direction="forward")
    line = line.model_copy(update={"end": line.start})
    await ui_hub.bus.publish(DETECTIONS, line)
    line_item = f'#event-list li.event[data-event-id="{line.id}"]'
    await page.wait_for_selector(line_item)
    assert await page.locator(f"{line_item} .ev-dur").count() == 0
    assert await page.locator("#event-list li.event").count() == 2
    await page.wait_for_function(
        "() => document.getElementById('events-today').textContent === '2'"
    )
