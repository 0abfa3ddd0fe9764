"""The core on real footage (TUD-Campus: a group walking, heavy occlusion), scored with
motmetrics. Floors below the issue's targets (MOTA/IDF1 >= 0.5, count within one on >= 80 % of
frames) so a regression fails here; bench/bench_footage.py prints the figures."""

from __future__ import annotations

import pytest
from footage_path import tud_campus

from hub.config import Camera
from hub.video.analytics.mot_eval import score


def _camera(fps: float) -> Camera:
    return Camera(
        id="tud-campus",
        name="TUD-Campus",
        url="tud_campus.mp4",
        grid="g1",
        position=[0.0, 0.0],
        analysis_fps=fps,
        detect_fps=fps,
    )


@pytest.mark.parametrize(
    ("every", "fps", "floor_mota", "floor_idf1", "floor_count"),
    [(1, 25.0, 0.6, 0.7, 0.9), (5, 5.0, 0.5, 0.6, 0.8)],
    ids=["every-frame", "defaults-5fps"],
)
def test_people_are_tracked_on_real_footage(
    every: int, fps: float, floor_mota: float, floor_idf1: float, floor_count: float
) -> None:
    video, gt = tud_campus()
    s = score(video, gt, _camera(fps), every)
    print(f"every {every}: {s}")
    assert s.frames == -(-71 // every)
    assert s.mota >= floor_mota
    assert s.idf1 >= floor_idf1
    assert s.count_within_one >= floor_count
