"""Synthetic scenes for the event detectors: a textured street-like background (a gradient,
random blobs and sharp-edged shapes), sensor noise, and objects drawn on top.

Luma frames are analysis-sized (256x144); colour frames are BGR at 320x180 (the detectors
reduce them as they would a camera frame).
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from hub.config import Camera

W, H = 256, 144
FPS = 5.0


def texture(seed: int = 0, w: int = W, h: int = H, *, colour: bool = False) -> np.ndarray:
    """float32 HxW (or HxWx3 BGR) background in 0..255: a vertical gradient, soft blobs and
    sharp rectangles, circles and lines (the edges a real street shows)."""
    rng = np.random.default_rng(seed)
    ch = 3 if colour else 1
    img = np.zeros((h, w, ch), np.float32)
    img += np.linspace(70, 140, h, dtype=np.float32)[:, None, None]
    blobs = rng.normal(0, 25, (h // 12 + 1, w // 12 + 1, ch)).astype(np.float32)
    img += cv2.resize(blobs, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, ch)
    s = w / 256
    for _ in range(40):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        val = tuple(float(v) for v in rng.uniform(30, 220, ch))
        if colour:
            # Muted, greyish colours (walls, asphalt, windows), never flame-like.
            grey = float(np.mean(val))
            val = tuple(0.3 * v + 0.7 * grey for v in val)
        kind = rng.integers(0, 3)
        if kind == 0:
            bw, bh = int(rng.integers(4, 30) * s), int(rng.integers(4, 30) * s)
            cv2.rectangle(img, (x, y), (x + bw, y + bh), val, -1)
        elif kind == 1:
            cv2.circle(img, (x, y), int(rng.integers(2, 12) * s), val, -1)
        else:
            x2, y2 = int(rng.integers(0, w)), int(rng.integers(0, h))
            cv2.line(img, (x, y), (x2, y2), val, max(1, int(s)))
    img = np.clip(img, 0, 255)
    return img if colour else img[:, :, 0]


_NOISE: dict[tuple[tuple[int, ...], float], np.ndarray] = {}


def finish(img: np.ndarray, rng: np.random.Generator, noise: float = 2.0) -> np.ndarray:
    """Add sensor noise (one of a bank of 16 fields, shifted at random) and quantise to
    uint8."""
    if noise:
        bank = _NOISE.get((img.shape, noise))
        if bank is None:
            gen = np.random.default_rng(12345)
            bank = _NOISE[(img.shape, noise)] = gen.normal(0, noise, (16, *img.shape)).astype(
                np.float32
            )
        field = np.roll(bank[int(rng.integers(16))], int(rng.integers(img.shape[1])), axis=1)
        img = img + field
    return np.clip(img, 0, 255).astype(np.uint8)


def box(img: np.ndarray, x: float, y: float, w: float, h: float, value: object) -> None:
    """Fill a normalised box (x, y of the top-left) in place."""
    ih, iw = img.shape[:2]
    x0, x1 = max(round(x * iw), 0), min(round((x + w) * iw), iw)
    y0, y1 = max(round(y * ih), 0), min(round((y + h) * ih), ih)
    if x1 > x0 and y1 > y0:
        img[y0:y1, x0:x1] = value


def times(duration: float, fps: float = FPS) -> Iterator[float]:
    n = round(duration * fps)
    return (i / fps for i in range(n))


def camera(**fields: object) -> Camera:
    base: dict[str, object] = {
        "id": "cam-test",
        "name": "test",
        "url": "test.mp4",
        "grid": "g1",
        "position": [0.0, 0.0],
        "analysis_width": W,
    }
    base.update(fields)
    return Camera.model_validate(base)


CW, CH = 320, 180


def flame(img: np.ndarray, cx: float, bottom: float, w: float, h: float, t: float) -> None:
    """Draw a flickering flame (orange rim, yellow core) in place on a BGR float image: its
    height and the brightness of its pixels change from frame to frame."""
    ih, iw = img.shape[:2]
    rng = np.random.default_rng(int(t * 1000) + 17)
    fh = h * rng.uniform(0.55, 1.0)
    x0, x1 = int((cx - w / 2) * iw), int((cx + w / 2) * iw)
    y0, y1 = int((bottom - fh) * ih), int(bottom * ih)
    if x1 <= x0 or y1 <= y0:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    u = (xx - (x0 + x1) / 2) / ((x1 - x0) / 2)
    v = (y1 - yy) / (y1 - y0)  # 0 at the base, 1 at the tip
    inside = np.abs(u) <= (1.0 - v) ** 0.7
    flick = cv2.resize(rng.uniform(0.55, 1.0, (4, 4)).astype(np.float32), (x1 - x0, y1 - y0))
    core = np.clip(1.0 - np.abs(u) * 1.5, 0, 1)
    r = 255.0 * np.ones_like(u)
    g = (120 + 110 * core) * flick
    b = (20 + 60 * core * core) * flick
    r = r * (0.7 + 0.3 * flick)
    patch = img[y0:y1, x0:x1]
    patch[inside] = np.stack([b, g, r], axis=-1)[inside]


def car(img: np.ndarray, x: float, y: float, w: float, h: float, bgr: tuple[float, ...]) -> None:
    """A car: a coloured body with dark windows and wheels (normalised top-left box)."""
    box(img, x, y + h * 0.3, w, h * 0.55, bgr)
    box(img, x + w * 0.2, y, w * 0.6, h * 0.35, tuple(0.8 * c for c in bgr))
    box(img, x + w * 0.28, y + h * 0.05, w * 0.2, h * 0.22, (40, 40, 45))
    box(img, x + w * 0.52, y + h * 0.05, w * 0.2, h * 0.22, (40, 40, 45))
    box(img, x + w * 0.12, y + h * 0.8, w * 0.16, h * 0.2, (20, 20, 20))
    box(img, x + w * 0.72, y + h * 0.8, w * 0.16, h * 0.2, (20, 20, 20))
