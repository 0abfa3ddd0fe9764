"""Evidence snapshots: decodable JPEGs at full resolution, with the box drawn, stored by date."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from hub.video.evidence import EvidenceStore, render_snapshot


def _decode(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a decodable JPEG"
    return img


def test_snapshot_from_bgr_array_has_full_size_and_a_red_box() -> None:
    img = np.full((720, 1280, 3), 90, np.uint8)
    jpeg = render_snapshot(img, (0.25, 0.25, 0.5, 0.5), label="#3 intrusion gate")
    out = _decode(jpeg)
    assert out.shape == (720, 1280, 3)
    b, g, r = out[540, 640].astype(int)  # on the bottom edge of the box
    assert r > 180 and g < 80 and b < 80
    assert np.abs(out[100, 1200].astype(int) - 90).max() < 10  # outside: untouched
    assert np.array_equal(img, np.full((720, 1280, 3), 90, np.uint8))  # source not modified


def test_snapshot_from_video_frame_and_rgb_order() -> None:
    rgb = np.zeros((360, 640, 3), np.uint8)
    rgb[..., 2] = 200  # blue in RGB
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    out = _decode(render_snapshot(frame, None, zone=[[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]))
    assert out.shape == (360, 640, 3)
    assert out[180, 320, 0] > 150  # blue stays blue (BGR index 0)
    out = _decode(render_snapshot(rgb, None, order="rgb", line=[[0.1, 0.5], [0.9, 0.5]]))
    assert out[20, 20, 0] > 150


def test_grey_images_and_bad_input() -> None:
    out = _decode(render_snapshot(np.zeros((100, 200), np.uint8), (0.1, 0.1, 0.2, 0.2)))
    assert out.shape == (100, 200, 3)
    with pytest.raises(TypeError):
        render_snapshot(object(), None)


def test_store_writes_dated_relative_paths(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    when = datetime(2025, 3, 7, 23, 59, tzinfo=UTC)
    img = np.zeros((72, 128, 3), np.uint8)
    rel = store.save_snapshot(
        "0190f0f0-aaaa-7bbb-8ccc-123456789abc", img, (0.1, 0.1, 0.3, 0.5), when=when
    )
    assert rel == "snapshots/2025/03/07/0190f0f0-aaaa-7bbb-8ccc-123456789abc.jpg"
    assert _decode((tmp_path / rel).read_bytes()).shape == (72, 128, 3)
    assert store.path(rel) == (tmp_path / rel).resolve()
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(ValueError):
        store.path("../../etc/passwd")
