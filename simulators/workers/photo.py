"""Synthetic field photos: a street scene with the case, the worker and the time burnt in, as
a field app stamps its evidence photos (水印). Pure: numpy and OpenCV, no I/O."""

from __future__ import annotations

import random
from datetime import datetime, tzinfo

import cv2
import numpy as np


def make_photo(
    lines: list[str],
    when: datetime,
    rng: random.Random,
    *,
    width: int = 640,
    height: int = 480,
    quality: int = 80,
    tz: tzinfo | None = None,
) -> bytes:
    """A JPEG of a made-up scene with ``lines`` (ASCII: OpenCV's fonts have no CJK) and the
    time of ``when`` in ``tz`` drawn on a dark band at the bottom."""
    seed = rng.getrandbits(32)
    noise = np.random.default_rng(seed)
    img = np.empty((height, width, 3), np.uint8)
    horizon = int(height * rng.uniform(0.35, 0.55))
    # Sky: a vertical gradient; ground: grey asphalt with grain.
    sky = np.linspace(230, 170, horizon, dtype=np.float32)[:, None]
    img[:horizon, :, 0] = np.clip(sky + 20, 0, 255).astype(np.uint8)
    img[:horizon, :, 1] = np.clip(sky, 0, 255).astype(np.uint8)
    img[:horizon, :, 2] = np.clip(sky - 40, 0, 255).astype(np.uint8)
    ground = noise.normal(105, 12, (height - horizon, width, 1)).clip(0, 255).astype(np.uint8)
    img[horizon:] = ground
    for _ in range(rng.randint(3, 6)):  # buildings with windows along the horizon
        bw, bh = rng.randint(60, 160), rng.randint(80, horizon)
        x = rng.randint(0, max(0, width - bw))
        colour = tuple(int(c) for c in noise.integers(90, 200, 3))
        cv2.rectangle(img, (x, horizon - bh), (x + bw, horizon), colour, -1)
        for wy in range(horizon - bh + 10, horizon - 15, 22):
            for wx in range(x + 8, x + bw - 12, 20):
                cv2.rectangle(img, (wx, wy), (wx + 9, wy + 12), (70, 60, 50), -1)
    # The subject: a pile, a bin or a stall in the foreground.
    cx, cy = rng.randint(width // 4, 3 * width // 4), rng.randint(horizon + 40, height - 90)
    colour = tuple(int(c) for c in noise.integers(30, 220, 3))
    cv2.ellipse(img, (cx, cy), (rng.randint(30, 80), rng.randint(15, 40)), 0, 0, 360, colour, -1)
    band = height - 22 * (len(lines) + 1) - 10
    img[band:] = (img[band:] * 0.35).astype(np.uint8)
    stamp = [*lines, when.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %z")]
    for i, text in enumerate(stamp):
        y = band + 24 + 22 * i
        cv2.putText(img, text, (12, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return bytes(buf.tobytes())
