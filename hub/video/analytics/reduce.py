"""Reduce a decoded frame to the small grey image the analytics work on.

Runs in decode threads for every analysed frame, so it avoids colour conversion (the Y plane is
already luma) and picks the cheapest OpenCV resize that still averages pixels: INTER_AREA is
fast for integer factors but several times slower for fractional ones, so a fractional factor is
done as an integer INTER_AREA step followed by a small INTER_LINEAR step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    import av


def analysis_size(width: int, height: int, target_width: int) -> tuple[int, int]:
    """(w, h) of the analysed image: ``target_width`` wide (never upscaled), aspect kept."""
    w = min(target_width, width)
    h = max(1, round(height * w / width))
    return w, h


def reduce_gray_array(gray: np.ndarray, width: int) -> np.ndarray:
    """uint8 HxW (any strides) -> uint8 image ``width`` px wide, aspect kept, C-contiguous."""
    if gray.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {gray.shape}")
    if gray.dtype != np.uint8:
        gray = gray.astype(np.uint8)
    h, w = gray.shape
    tw, th = analysis_size(w, h, width)
    if (tw, th) == (w, h):
        return np.ascontiguousarray(gray)
    factor = w // tw
    if factor >= 2 and (w % tw or h % th or h // th != factor):
        # Integer INTER_AREA step to just above the target, then a cheap bilinear finish. The
        # crop to exact multiples (< factor px) keeps OpenCV on its fast integer path (5x).
        mw, mh = w // factor, h // factor
        mid = cv2.resize(gray[: mh * factor, : mw * factor], (mw, mh), interpolation=cv2.INTER_AREA)
        out = cv2.resize(mid, (tw, th), interpolation=cv2.INTER_LINEAR)
    else:
        out = cv2.resize(gray, (tw, th), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(out)


_PLANAR_YUV = {
    "yuv420p",
    "yuvj420p",
    "yuv422p",
    "yuvj422p",
    "yuv444p",
    "yuvj444p",
    "nv12",
    "nv21",
    "gray",
}


def y_plane(frame: av.VideoFrame) -> np.ndarray:
    """The luma plane of a decoded frame as a (strided) view, converting only when needed."""
    if frame.format.name in _PLANAR_YUV:
        plane = frame.planes[0]
        # Rows are padded to line_size: view with the stride, then crop to the visible width.
        buf = np.frombuffer(memoryview(plane), np.uint8)
        rows = buf[: plane.line_size * plane.height].reshape(plane.height, plane.line_size)
        return rows[:, : plane.width]
    arr: np.ndarray = frame.to_ndarray(format="gray")
    return arr


def reduce_luma(frame: av.VideoFrame, width: int) -> np.ndarray:
    """Y plane of ``frame`` -> small uint8 image ``width`` px wide, aspect kept, C-contiguous."""
    return reduce_gray_array(y_plane(frame), width)
