"""reduce_luma / reduce_gray_array: width, aspect, padded line strides, contiguity."""

from __future__ import annotations

import av
import numpy as np
import pytest

from hub.video.analytics import analysis_size, reduce_gray_array, reduce_luma


@pytest.mark.parametrize(
    ("w", "h", "expected"),
    [
        (768, 576, (256, 192)),
        (1280, 720, (256, 144)),
        (1920, 1080, (256, 144)),
        (704, 576, (256, 209)),
        (200, 100, (200, 100)),
    ],
)
def test_sizes(w: int, h: int, expected: tuple[int, int]) -> None:
    assert analysis_size(w, h, 256) == expected
    gray = np.random.default_rng(0).integers(0, 255, (h, w), dtype=np.uint8)
    out = reduce_gray_array(gray, 256)
    assert (out.shape[1], out.shape[0]) == expected
    assert out.dtype == np.uint8 and out.flags.c_contiguous


def test_area_averaging_keeps_levels() -> None:
    gray = np.full((576, 768), 77, np.uint8)
    gray[:, :384] = 177
    out = reduce_gray_array(gray, 256)
    assert out[:, :120].min() == 177 and out[:, 136:].max() == 77


@pytest.mark.parametrize("width", [768, 770, 1918])  # 770 / 1918: rows padded past the width
def test_reduce_luma_reads_the_y_plane_with_its_stride(width: int) -> None:
    h = 576 if width < 1000 else 1080
    rng = np.random.default_rng(1)
    y = rng.integers(16, 235, (h, width), dtype=np.uint8)
    y[:, : width // 2] = 40  # left half dark: a wrong stride would shear this edge
    frame = _yuv(y)
    plane = frame.planes[0]
    assert plane.width == width
    if width == 770:
        assert plane.line_size > width  # the case this test is about
    out = reduce_luma(frame, 256)
    assert np.array_equal(out, reduce_gray_array(y, 256))


def _yuv(y: np.ndarray) -> av.VideoFrame:
    h, w = y.shape
    frame = av.VideoFrame(w, h, "yuv420p")
    p = frame.planes[0]
    buf = np.frombuffer(memoryview(p), np.uint8).reshape(p.height, p.line_size)
    buf[:, :w] = y
    for q in frame.planes[1:]:
        np.frombuffer(memoryview(q), np.uint8)[:] = 128
    return frame


def test_rgb_frames_fall_back_to_a_grey_conversion() -> None:
    rgb = np.zeros((360, 640, 3), np.uint8)
    rgb[:, 320:] = 200
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    out = reduce_luma(frame, 256)
    assert out.shape == (144, 256)
    assert out[:, :120].max() < 30 and out[:, 136:].min() > 150
