from __future__ import annotations

import numpy as np

from hub.video.analytics import crops
from hub.video.analytics.detector import Detection


def test_full_frame_squares_cover_the_view() -> None:
    for w, h in ((640, 360), (640, 480), (300, 300), (360, 640)):
        squares = crops.full_frame(w, h)
        covered = np.zeros((h, w), bool)
        for s in squares:
            covered[s.y : s.y + s.side, s.x : s.x + s.side] = True
            assert s.x + s.side <= w and s.y + s.side <= h
        assert covered.all(), (w, h, squares)
    assert len(crops.full_frame(300, 300)) == 1
    assert len(crops.full_frame(640, 360)) == 2


def test_small_distant_people_get_their_own_square() -> None:
    squares = crops.plan([(600.0, 200.0, 8.0, 20.0)], 1280, 720)
    assert len(squares) == 1
    (s,) = squares
    assert s.side == crops.MIN_SIDE, "magnified: 20 px become 62 of the model's 300"
    assert s.x <= 600 and s.x + s.side >= 608 and s.y <= 200 and s.y + s.side >= 220


def test_overlapping_proposals_share_a_square_and_crowds_use_the_whole_frame() -> None:
    two = crops.plan([(100.0, 100.0, 20.0, 50.0), (130.0, 110.0, 20.0, 50.0)], 640, 360)
    assert len(two) == 1
    everywhere = [(x, y, 30.0, 80.0) for x in (10.0, 200.0, 400.0, 600.0) for y in (10.0, 270.0)]
    assert crops.plan(everywhere, 640, 360) == crops.full_frame(640, 360)


def _covers(squares: list[crops.Square], b: tuple[float, float, float, float]) -> bool:
    x, y, w, h = b
    return any(
        s.x <= x and s.y <= y and x + w <= s.x + s.side and y + h <= s.y + s.side for s in squares
    )


def test_a_crowd_keeps_its_detail_beside_people_elsewhere() -> None:
    """Five people of 60-70 px standing close, a person across the view and a small blob: the
    crowd gets a square of its own small enough for the model to see each of them (the whole
    640x360 view used to be taken, where the model found 2 of the 5)."""
    crowd = [(265.0, 94.0, 24.0, 70.0), (318.0, 96.0, 22.0, 66.0), (335.0, 109.0, 26.0, 68.0)]
    crowd += [(245.0, 118.0, 28.0, 68.0), (300.0, 130.0, 26.0, 66.0)]
    others = [(525.0, 200.0, 40.0, 98.0), (122.0, 295.0, 20.0, 18.0)]
    squares = crops.plan(crowd + others, 640, 360)
    assert squares != crops.full_frame(640, 360)
    assert len(squares) <= crops.MAX_CROPS
    assert all(_covers(squares, b) for b in crowd + others)
    (home,) = [s for s in squares if _covers([s], crowd[0])]
    assert home.side <= crops.ZOOM_OUT * 70
    assert all(_covers([home], b) for b in crowd)


def test_many_spread_proposals_cost_at_most_max_crops() -> None:
    spread = [(x, 20.0, 10.0, 25.0) for x in (10.0, 130.0, 250.0, 370.0, 490.0, 600.0)]
    squares = crops.plan(spread, 640, 360)
    assert len(squares) == crops.MAX_CROPS
    assert all(_covers(squares, b) for b in spread)


def test_a_person_cut_by_a_crop_edge_loses_to_the_whole_box() -> None:
    left, right = crops.Square(0, 0, 360), crops.Square(280, 0, 360)
    cut = crops.to_view([Detection((330.0, 50.0, 30.0, 120.0), 0.9)], left, 640, 360)
    whole = crops.to_view([Detection((50.0, 50.0, 60.0, 120.0), 0.8)], right, 640, 360)
    assert cut[0].score < 0.9
    kept = crops.dedupe([(0, cut[0]), (1, whole[0])])
    assert kept == whole


def test_two_people_one_behind_the_other_in_one_crop_both_stay() -> None:
    front = Detection((100.0, 50.0, 60.0, 150.0), 0.9)
    behind = Detection((110.0, 40.0, 40.0, 110.0), 0.6)
    assert crops.dedupe([(0, front), (0, behind)]) == [front, behind]


def test_detector_view_from_grey_and_large_images() -> None:
    grey = np.zeros((720, 1280), np.uint8)
    view = crops.detector_view(grey, grey)
    assert view.shape == (360, 640, 3)


def test_a_plan_without_detail_costs_at_most_the_whole_view() -> None:
    """Short of detector time the core asks for a lean plan: one square around everything, or
    the whole view when that square would be about as large."""
    near = [(100.0, 100.0, 20.0, 50.0), (220.0, 110.0, 20.0, 50.0)]
    assert len(crops.plan(near, 640, 360)) == 2
    (one,) = crops.plan(near, 640, 360, detail=False)
    assert all(_covers([one], b) for b in near)
    spread = [(10.0, 20.0, 20.0, 50.0), (600.0, 300.0, 20.0, 50.0)]
    assert crops.plan(spread, 640, 360, detail=False) == crops.full_frame(640, 360)
