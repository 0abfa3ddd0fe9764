from __future__ import annotations

from hub.video.analytics.classify import classify, not_on_people
from hub.video.analytics.tracker import Track


def _track(box: tuple[float, float, float, float], vx: float, hits: int = 4) -> Track:
    return Track(1, box, born=0.0, last_seen=1.0, hits=hits, vx=vx)


def test_a_wide_moving_blob_is_a_vehicle_and_stays_one_when_parked() -> None:
    car = _track((10, 60, 60, 30), vx=40)
    classify(car, 144, [])
    assert car.kind == "vehicle"
    car.vx = 0.0
    classify(car, 144, [])
    assert car.kind == "vehicle"


def test_slow_tall_small_or_young_blobs_are_not_vehicles() -> None:
    for tr in (
        _track((10, 60, 60, 30), vx=5),  # a shadow creeping
        _track((10, 40, 20, 50), vx=40),  # tall: a cyclist, a person the detector missed
        _track((10, 60, 6, 4), vx=40),  # too small to tell
        _track((10, 60, 60, 30), vx=40, hits=2),
    ):
        classify(tr, 144, [])
        assert tr.kind == "unknown"


def test_blobs_around_people_are_theirs() -> None:
    person = (50.0, 20.0, 20.0, 50.0)
    assert not_on_people([(50, 40, 20, 30), (150, 40, 40, 20)], [person]) == [(150, 40, 40, 20)]
    group_rest = _track((65, 40, 40, 30), vx=40)
    classify(group_rest, 144, [person])
    assert group_rest.kind == "unknown"
