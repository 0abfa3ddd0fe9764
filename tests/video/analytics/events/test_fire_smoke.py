from __future__ import annotations

from collections.abc import Callable

import av
import cv2
import numpy as np
import pytest

from hub.video.analytics.events import FireSmokeDetector, small_bgr
from hub.video.analytics.types import RawEvent

from .scenes import CH, CW, box, camera, car, finish, flame, texture, times

Scene = Callable[[float, np.random.Generator], np.ndarray]
BG = texture(2, CW, CH, colour=True)
FPS = 4.0  # the detectors sample 4 times a second: feeding more frames changes nothing


def run(scene: Scene, duration: float = 25.0, **cam: object) -> list[RawEvent]:
    det = FireSmokeDetector(camera(**{"fire": True, "smoke": True, **cam}), 144, 256)
    rng = np.random.default_rng(4)
    events: list[RawEvent] = []
    for t in times(duration, FPS):
        s, e = det.update(t, 1e9 + t, None, scene(t, rng))
        events += s + e
    return events + det.close_all()


def fire(t: float, rng: np.random.Generator) -> np.ndarray:
    img = BG.copy()
    if t >= 8.0:  # a small fire that grows
        flame(img, 0.6, 0.8, 0.06 + 0.005 * (t - 8.0), 0.15 + 0.01 * (t - 8.0), t)
    return finish(img, rng)


def plume(t: float, rng: np.random.Generator) -> np.ndarray:
    img = BG.copy()
    if t >= 6.0:  # grey smoke rising and spreading
        k = min((t - 6.0) / 10.0, 1.0)
        yy, xx = np.mgrid[0:CH, 0:CW].astype(np.float32)
        cx, cy = 0.3 * CW, (0.6 - 0.1 * k) * CH
        rx, ry = (0.12 + 0.1 * k) * CW, (0.15 + 0.15 * k) * CH
        a = np.clip(1.3 - ((xx - cx) / rx) ** 2 - ((yy - cy) / ry) ** 2, 0, 1) * 0.6
        img = img * (1.0 - a[..., None]) + 185.0 * a[..., None]
    return finish(img, rng)


def test_fire_raised_once_after_fire_seconds() -> None:
    events = run(fire, smoke=False)
    [ev] = events[:1]
    assert ev.type == "fire" and ev.cause == "heuristic" and ev.end_media_time is None
    assert abs(ev.media_time - (8.0 + 3.0)) <= 1.0
    x, y, w, h = ev.box
    assert x <= 0.6 <= x + w and y <= 0.75 <= y + h and w < 0.2
    # Open until the stream stops: the only other event is its end.
    assert [(e.id, e.end_media_time is not None) for e in events[1:]] == [(ev.id, True)]


def test_fire_ends_when_flames_are_out() -> None:
    def out_at_15(t: float, rng: np.random.Generator) -> np.ndarray:
        return fire(t, rng) if t < 15.0 else finish(BG, rng)

    events = run(out_at_15, smoke=False)
    assert [e.type for e in events] == ["fire", "fire"]
    assert events[1].end_media_time is not None and 14.0 <= events[1].end_media_time <= 15.0


def test_red_cars_and_blinking_lights_are_not_fire() -> None:
    def street(t: float, rng: np.random.Generator) -> np.ndarray:
        img = BG.copy()
        car(img, -0.3 + 0.08 * t, 0.55, 0.22, 0.18, (40, 40, 200))  # red, driving
        car(img, 1.1 - 0.05 * t, 0.7, 0.22, 0.18, (30, 100, 230))  # orange-red, slow
        car(img, 0.1, 0.3, 0.2, 0.15, (30, 110, 235))  # orange, parked
        car(img, 0.45, 0.3, 0.2, 0.15, (35, 35, 210))  # red, parked
        if int(t * 1.5) % 2 == 0:  # hazard lights
            box(img, 0.45, 0.38, 0.02, 0.03, (40, 170, 255))
            box(img, 0.63, 0.38, 0.02, 0.03, (40, 170, 255))
        return finish(img, rng)

    assert run(street) == []


def test_smoke_raised_once_after_smoke_seconds() -> None:
    events = run(plume, duration=30.0, fire=False, smoke_seconds=8)
    [ev, end] = events
    assert ev.type == "smoke" and ev.cause == "heuristic"
    assert abs(ev.media_time - (6.0 + 8.0)) <= 1.0
    assert end.id == ev.id and end.end_media_time is not None
    x, _, w, _ = ev.box
    assert x <= 0.3 <= x + w


@pytest.mark.parametrize("name", ["ramp", "fog", "grey_bus", "people"])
def test_no_fire_or_smoke_on_lighting_weather_or_traffic(name: str) -> None:
    def ramp(t: float, rng: np.random.Generator) -> np.ndarray:
        return finish(BG * (1.0 - 0.4 * min(max((t - 5.0) / 10.0, 0.0), 1.0)), rng)

    def fog(t: float, rng: np.random.Generator) -> np.ndarray:
        a = 0.6 * min(max((t - 5.0) / 8.0, 0.0), 1.0)
        return finish(BG * (1.0 - a) + 180.0 * a, rng)

    def grey_bus(t: float, rng: np.random.Generator) -> np.ndarray:
        img = BG.copy()
        x = -0.5 + t / 25.0 * 1.6
        box(img, x, 0.2, 0.5, 0.6, (150, 150, 152))
        box(img, x + 0.05, 0.3, 0.1, 0.15, (60, 60, 60))
        return finish(img, rng)

    def people(t: float, rng: np.random.Generator) -> np.ndarray:
        img = BG.copy()
        for i in range(8):
            x = ((t * 0.05 * (1 + i % 3) + i * 0.13) % 1.2) - 0.1
            box(img, x, 0.4 + 0.05 * (i % 5), 0.04, 0.2, (40 + 20 * i, 60 + 10 * i, 150))
        return finish(img, rng)

    scenes = {"ramp": ramp, "fog": fog, "grey_bus": grey_bus, "people": people}
    assert run(scenes[name]) == []


def test_frames_without_colour_are_skipped() -> None:
    det = FireSmokeDetector(camera(fire=True), 144, 256)
    grey = np.zeros((144, 256), np.uint8)
    assert det.update(0.0, 0.0, grey, grey) == ([], [])
    assert det.update(1.0, 1.0, grey, None) == ([], [])


def test_small_bgr_from_arrays_and_decoded_frames() -> None:
    img = cv2.resize(BG, (1920, 1080)).astype(np.uint8)
    small = small_bgr(img)
    assert small is not None and small.shape == (90, 160, 3)
    assert np.abs(small.astype(int) - cv2.resize(BG, (160, 90)).astype(int)).mean() < 6
    frame = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format="yuv420p")
    from_frame = small_bgr(frame)
    assert from_frame is not None and from_frame.shape == (90, 160, 3)
    assert np.abs(from_frame.astype(int) - small.astype(int)).mean() < 6
    assert small_bgr(np.zeros((10, 10), np.uint8)) is None
