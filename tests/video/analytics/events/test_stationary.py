from __future__ import annotations

import numpy as np
import pytest

from hub.video.analytics.events import StationaryDetector
from hub.video.analytics.events.stationary import GONE_SECONDS
from hub.video.analytics.types import TrackedObject

from .objects import Collector, World, obj
from .scenes import camera, times

ZONE = {
    "id": "z1",
    "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
    "abandoned_seconds": 15,
    "parking_seconds": 20,
}
LUMA = np.zeros((144, 256), np.uint8)
BAG = (0.05, 0.06)
CAR = (0.25, 0.18)


def run(world: World, duration: float = 50.0) -> Collector:
    det = StationaryDetector(camera(zones=[ZONE]), 144, 256)
    out = Collector()
    for t in times(duration):
        out.add(det.update(t, 1e9 + t, LUMA, None, world(t)))
    out.ended += det.close_all()
    return out


def jitter(t: float) -> float:
    return 0.003 * np.sin(7.0 * t)


def left_bag(t: float) -> list[TrackedObject]:
    """A bag put down at 5 s (new track at 12 s: the tracker lost it), taken away at 35 s;
    a person walks through all along."""
    objs = [obj(1, (0.1 * t) % 1.0, 0.4, velocity=(0.1, 0.0))]
    if 5.0 <= t < 35.0:
        tid = 2 if t < 12.0 else 3
        if not 12.0 <= t < 12.6:
            objs.append(obj(tid, 0.5 + jitter(t), 0.7, kind="unknown", size=BAG))
    return objs


def test_abandoned_object_raised_once_and_ends_when_taken() -> None:
    out = run(left_bag)
    assert len(out.started) == 1
    ev = out.started[0]
    assert ev.type == "abandoned_object" and ev.object_kind == "unknown" and ev.zone_id == "z1"
    assert abs(ev.media_time - 20.0) <= 1.0
    assert ev.track_id == 3
    [end] = out.ended
    assert end.id == ev.id and end.end_media_time == pytest.approx(34.8)
    assert end.dwell_seconds == pytest.approx(34.8 - 5.0)


def test_a_bag_whose_blob_a_shadow_joins_stays_abandoned() -> None:
    """A cloud's shadow reaches the bag 4 s after it was left: the blob grows upwards to 2.5x
    the bag's height over 5 s (its centre moves and the tracker gives it speed), the bag has
    not moved. The stay goes on; it used to restart and the event came 4 s late."""

    def world(t: float) -> list[TrackedObject]:
        if t < 5.0:
            return []
        grow = min(max(t - 9.0, 0.0), 5.0) / 5.0 * 1.5 * BAG[1]
        moving = 9.0 <= t < 14.0
        size = (BAG[0], BAG[1] + grow)
        return [obj(4, 0.5, 0.7 - grow, kind="unknown", size=size, velocity=(0, -0.06 * moving))]

    out = run(world, 30.0)
    assert [e.type for e in out.started] == ["abandoned_object"]
    assert abs(out.started[0].media_time - 20.0) <= 1.0


def test_parked_car_is_illegal_parking_not_abandoned() -> None:
    def world(t: float) -> list[TrackedObject]:
        objs = [obj(5, -0.3 + 0.2 * t, 0.5, kind="vehicle", size=CAR, velocity=(0.2, 0))]
        if t >= 8.0:
            objs.append(obj(6, 0.3 + jitter(t), 0.6, kind="vehicle", size=CAR))
        return objs

    out = run(world)
    assert [e.type for e in out.started] == ["illegal_parking"]
    ev = out.started[0]
    assert ev.object_kind == "vehicle" and abs(ev.media_time - 28.0) <= 1.0
    assert ev.box[2:] == CAR


def test_people_standing_and_cars_passing_or_stopping_briefly_raise_nothing() -> None:
    def world(t: float) -> list[TrackedObject]:
        stop = 10.0 <= t < 25.0  # stops 15 s < parking 20 s
        x = 0.4 if stop else (-0.3 + 0.05 * t if t < 10.0 else 0.4 + 0.05 * (t - 25.0))
        return [
            obj(1, 0.2, 0.5),  # a person standing all along
            obj(2, x, 0.6, kind="vehicle", size=CAR, velocity=(0 if stop else 0.05, 0)),
        ]

    assert run(world).started == []


def test_object_moving_away_ends_the_stay() -> None:
    def world(t: float) -> list[TrackedObject]:
        x = 0.5 if t < 25.0 else 0.5 + 0.04 * (t - 25.0)
        return [obj(7, x, 0.7, kind="unknown", size=BAG, velocity=(0 if t < 25 else 0.04, 0))]

    out = run(world)
    assert len(out.started) == 1 and abs(out.started[0].media_time - 15.0) <= 1.0
    [end] = out.ended
    assert 25.0 <= (end.end_media_time or 0.0) <= 26.0


def test_object_out_of_the_zone_is_ignored_and_a_vanished_one_ends() -> None:
    def world(t: float) -> list[TrackedObject]:
        objs = [obj(8, 0.2, 0.2, kind="unknown", size=BAG, zones=())]
        if t < 30.0:
            objs.append(obj(9, 0.6, 0.7, kind="unknown", size=BAG))
        return objs

    out = run(world)
    assert [e.track_id for e in out.started] == [9]
    [end] = out.ended
    assert end.end_media_time == pytest.approx(29.8)
    assert GONE_SECONDS > 0
