"""Tiny synthetic scenes for the analytics tests: bright rectangles moving over a noisy texture.

Frames are analysis-sized luma images (the core's input), so tests control every pixel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import cv2
import numpy as np

from hub.config import Camera
from hub.video.analytics import AnalysisFrame, AnalyticsCore, FrameResult

W, H = 256, 144
FPS = 5.0

# An object: (t) -> (cx, bottom, w, h) in normalised units, or None when absent.
Path = Callable[[float], tuple[float, float, float, float] | None]


def background(seed: int = 0, w: int = W, h: int = H) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.normal(110, 18, (h // 8, w // 8)).astype(np.float32)
    bg = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(bg, 0, 255).astype(np.uint8)


def render(
    bg: np.ndarray,
    objects: Iterable[tuple[float, float, float, float]],
    rng: np.random.Generator,
    *,
    noise: float = 2.0,
    gain: float = 1.0,
    value: int = 220,
) -> np.ndarray:
    h, w = bg.shape
    img = bg.astype(np.float32) * gain
    for cx, bottom, ow, oh in objects:
        x0, x1 = round((cx - ow / 2) * w), round((cx + ow / 2) * w)
        y0, y1 = round((bottom - oh) * h), round(bottom * h)
        img[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = value
    if noise:
        img += rng.normal(0, noise, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def walk(
    t0: float, t1: float, p0: tuple[float, float], p1: tuple[float, float], size=(0.05, 0.25)
) -> Path:
    """Bottom-centre moving linearly from p0 (at t0) to p1 (at t1); absent outside [t0, t1]."""

    def at(t: float) -> tuple[float, float, float, float] | None:
        if t < t0 or t > t1:
            return None
        f = (t - t0) / (t1 - t0) if t1 > t0 else 0.0
        return p0[0] + f * (p1[0] - p0[0]), p0[1] + f * (p1[1] - p0[1]), size[0], size[1]

    return at


def camera(**fields: Any) -> Camera:
    base: dict[str, Any] = {
        "id": "cam-test",
        "name": "test",
        "url": "test.mp4",
        "grid": "g1",
        "position": [0.0, 0.0],
        "analysis_width": W,
        # Moving rectangles, not people: the motion path (the detector: test_detector, footage).
        "detector": "off",
    }
    base.update(fields)
    return Camera.model_validate(base)


def frames(
    cam_id: str, paths: list[Path], duration: float, *, seed: int = 0, fps: float = FPS, **kw: Any
) -> list[AnalysisFrame]:
    bg = background(seed)
    rng = np.random.default_rng(seed + 1)
    out = []
    for i in range(round(duration * fps)):
        t = i / fps
        objs = [o for p in paths if (o := p(t)) is not None]
        out.append(AnalysisFrame(cam_id, t, 1000.0 + t, render(bg, objs, rng, **kw)))
    return out


def run(cam: Camera, fs: list[AnalysisFrame]) -> list[FrameResult]:
    core = AnalyticsCore([cam])
    out: list[FrameResult] = []
    for f in fs:
        out.extend(core.process([f]))
    return out


def events(results: list[FrameResult]) -> list[Any]:
    return [e for r in results for e in r.events]
