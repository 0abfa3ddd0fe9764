"""libx264 settings shared by the MP4 writer and the RTSP pre-encoder.

Baseline-compatible streams that every client takes: main profile, no B-frames, a keyframe every
second with SPS/PPS repeated in front of it, zero-latency tuning (no lookahead, no frame delay).
"""

from __future__ import annotations

import math

import av
import cv2
import numpy as np
import numpy.typing as npt

PRESET = "superfast"
VERSION = 1
"""Bump when the settings change: it is part of the encode cache key."""


def gop_for(fps: float) -> int:
    return max(1, round(fps))


def bitrate_for(width: int, height: int, fps: float) -> int:
    # About 2 Mbit/s for 720p at 15 fps; scales with pixels and (sub-linearly) with fps.
    return int(2_000_000 * (width * height) / (1280 * 720) * math.sqrt(fps / 15.0))


def options(width: int, height: int, fps: float) -> dict[str, str]:
    gop = gop_for(fps)
    br = bitrate_for(width, height, fps)
    return {
        "preset": PRESET,
        "tune": "zerolatency",
        "profile": "main",
        "bf": "0",
        "g": str(gop),
        "keyint_min": str(gop),
        "sc_threshold": "0",
        "maxrate": str(int(br * 1.2)),
        "bufsize": str(br),
    }


def configure(ctx: av.VideoCodecContext, width: int, height: int, fps: float) -> None:
    from fractions import Fraction

    ctx.width = width
    ctx.height = height
    ctx.pix_fmt = "yuv420p"
    rate = Fraction(fps).limit_denominator(1001)
    ctx.framerate = rate
    ctx.time_base = 1 / rate
    ctx.bit_rate = bitrate_for(width, height, fps)
    ctx.options = options(width, height, fps)


def to_frame(rgb: npt.NDArray[np.uint8], pts: int) -> av.VideoFrame:
    # cv2's I420 conversion is several times cheaper than an swscale reformat at 720p.
    yuv = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
    frame.pts = pts
    return frame
