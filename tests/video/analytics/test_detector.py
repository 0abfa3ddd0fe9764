from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from footage_path import tud_campus

from hub.video.analytics import detector as det
from hub.video.analytics.mot_eval import read_gt


@pytest.fixture(scope="module")
def model() -> det.PersonDetector:
    return det.PersonDetector()


def test_anchor_grid_matches_the_heads(model: det.PersonDetector) -> None:
    # 19x19x3 + (10x10 + 5x5 + 3x3 + 2x2 + 1x1) x 6: the SSD grid of a 300 input.
    assert det._anchors().shape == (1917, 4)
    (out,) = model.detect([np.zeros((300, 300, 3), np.uint8)])
    assert all(d.score < 0.5 for d in out), "a black square holds nobody confidently"


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 20], [1, 0, 11, 20], [30, 0, 40, 20]], np.float32)
    assert det.nms(boxes, np.array([0.6, 0.9, 0.5])) == [1, 2]


def test_a_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(det.DetectorUnavailable):
        det.PersonDetector(tmp_path / "missing.pb")


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


def test_finds_the_people_of_a_real_frame(model: det.PersonDetector) -> None:
    video, gt_path = tud_campus()
    with av.open(str(video)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="bgr24")
    truth = [b for _, b in read_gt(gt_path)[1]]
    # Two 480x480 squares cover the 640x480 frame.
    found = []
    for x0, dets in zip((0, 160), model.detect([frame[:, :480], frame[:, 160:]]), strict=True):
        found += [(d.box[0] + x0, d.box[1], d.box[2], d.box[3]) for d in dets if d.score >= 0.5]
    hit = sum(any(_iou(t, f) >= 0.5 for f in found) for t in truth)
    assert hit >= len(truth) - 1, (truth, found)
