"""The wall in a real browser: an event's clip arrives after its start and plays in the event
detail; the snapshot opens large.

Runs the built UI (``hub/web/ui/dist``) on the light web harness (fake video, real routes), with
a clip cut by the hub's own ring and clip writer from a generated H.264 stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeout
from web_helpers import PASSWORDS, RunningHub, detection, make_settings, record, run_hub

from hub.bus.contracts import DETECTIONS
from hub.video.clips import write_clip
from hub.video.evidence import EvidenceStore, render_snapshot
from hub.video.ring import PacketRing

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
    "--autoplay-policy=no-user-gesture-required",
]

pytestmark = [pytest.mark.e2e]


def camera_stream(path: Path, seconds: float = 6.0, fps: int = 25) -> Path:
    """What a camera sends: baseline H.264, a keyframe a second, a square moving."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = 320, 180, "yuv420p"
        s.time_base = Fraction(1, fps)
        s.codec_context.options = {
            "profile": "baseline",
            "preset": "ultrafast",
            "x264-params": f"keyint={fps}:min-keyint={fps}:scenecut=0:bframes=0",
        }
        for i in range(round(seconds * fps)):
            img = np.full((180, 320, 3), 30, np.uint8)
            img[70:110, (i * 4) % 280 : (i * 4) % 280 + 40] = (220, 200, 60)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for pkt in s.encode(frame):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    return path


def cut_clip(src: Path, dest: Path, start_offset: float = 3.0) -> None:
    """The event at ``start_offset`` s into the stream; 2 s before, 2 s after."""
    ring = PacketRing("cam-a", keep_seconds=5.0, max_bytes=64 << 20)
    t0 = 1_000.0
    with av.open(str(src)) as c:
        stream = c.streams.video[0]
        ring.on_connect(stream)
        col = None
        for i, pkt in enumerate(p for p in c.demux(stream) if p.size):
            if i == 100 and col is None:
                col = ring.collect("ev", t0 + start_offset - 2, t0 + start_offset + 2)
            ring.on_packet(pkt, t0 + i / 25)
    assert col is not None and col.done.is_set()
    write_clip(dest, col.template, col.packets)


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
            pg.on(
                "console",
                lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
            )
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


async def test_event_clip_plays_in_the_detail(
    ui_hub: RunningHub, page: Any, tmp_path: Path
) -> None:
    evidence = EvidenceStore(ui_hub.settings.data_dir / "evidence")
    start = datetime.now(UTC) - timedelta(seconds=3)
    ev = detection(start=start)
    snap = evidence.relative_path(ev.id, start)
    clip = evidence.clip_relative_path(ev.id, start)
    image = np.full((180, 320, 3), 90, np.uint8)
    assert evidence.save(ev.id, render_snapshot(image, (0.1, 0.2, 0.05, 0.2)), start) == snap
    ev = ev.model_copy(update={"snapshot": snap})
    await record(ui_hub, ev)

    item = f'#event-list li.event[data-event-id="{ev.id}"]'
    await page.wait_for_selector(item)
    # The intrusion opens a case, which pops up over the events list: close it.
    popup = page.locator("#popup-close")
    try:
        await popup.wait_for(timeout=5_000)
        await popup.click()
    except PlaywrightTimeout:
        pass
    await page.click(item)
    await page.wait_for_selector("#event-clip-pending")  # the clip is on its way

    # The clip is written (by the hub's own writer) and announced with the same id.
    cut_clip(camera_stream(tmp_path / "cam.mp4"), evidence.root / clip)
    await ui_hub.bus.publish(DETECTIONS, ev.model_copy(update={"clip": clip}))
    await page.wait_for_selector("#event-clip")
    assert await page.locator(item).count() == 1  # an update, not a new event
    assert await page.locator("#event-clip-pending").count() == 0
    # It plays: its time advances (the player fetched it with the token, by Range requests).
    await page.wait_for_function(
        "() => { const v = document.getElementById('event-clip');"
        " return v && v.readyState >= 2 && v.currentTime > 0.5; }",
        timeout=20_000,
    )
    t1 = await page.evaluate("() => document.getElementById('event-clip').currentTime")
    await page.wait_for_timeout(600)
    t2 = await page.evaluate("() => document.getElementById('event-clip').currentTime")
    duration = await page.evaluate("() => document.getElementById('event-clip').duration")
    assert t2 > t1 or t2 >= duration - 0.1
    assert 3.5 <= duration <= 5.5  # from the keyframe 2 s before the event to 2 s after
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "event-clip.png"))

    # The snapshot opens large, and closes with Escape.
    await page.click("#event-snapshot")
    await page.wait_for_selector("#snapshot-large img")
    await page.keyboard.press("Escape")
    await page.wait_for_selector("#snapshot-large", state="detached")
