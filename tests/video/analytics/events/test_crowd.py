from __future__ import annotations

import numpy as np
import pytest

from hub.video.analytics.events import CrowdDetector
from hub.video.analytics.events.crowd import END_SECONDS
from hub.video.analytics.types import TrackedObject

from .objects import Collector, World, obj
from .scenes import camera, times

ZONE = {"id": "z1", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]], "crowd_people": 3}
LUMA = np.zeros((144, 256), np.uint8)


def run(world: World, duration: float = 60.0, **zone: object) -> Collector:
    det = CrowdDetector(camera(zones=[{**ZONE, "crowd_seconds": 20, **zone}]), 144, 256)
    out = Collector()
    for t in times(duration):
        out.add(det.update(t, 1e9 + t, LUMA, None, world(t)))
    out.ended += det.close_all()
    return out


def people(n: int, *, t: float = 0.0, zones: tuple[str, ...] = ("z1",)) -> list[TrackedObject]:
    return [obj(i + 1, 0.1 + 0.1 * i + 0.01 * t, 0.5, zones=zones) for i in range(n)]


def gathering(t: float) -> list[TrackedObject]:
    """Two people from the start, a third at 10 s, a fourth 20-25 s, one leaves at 40 s, with
    the third hidden for a second at 15 s."""
    n = 2
    if 10.0 <= t < 40.0:
        n = 3 if not 15.0 <= t < 16.0 else 2
        if 20.0 <= t < 25.0:
            n = 4
    return people(n, t=t)


def test_crowd_raised_once_after_its_time_and_ends_when_people_leave() -> None:
    out = run(gathering)
    assert len(out.started) == 1
    ev = out.started[0]
    assert ev.type == "crowd" and ev.zone_id == "z1" and ev.count == 4
    assert abs(ev.media_time - 30.0) <= 1.0  # 3 people from 10 s, for 20 s
    assert len(ev.track_boxes) == 3 + (ev.frame_media_time < 25.0)
    assert ev.box[0] == pytest.approx(0.1 + 0.01 * ev.frame_media_time)
    [end] = out.ended
    assert end.id == ev.id and end.count == 4
    assert end.end_media_time == pytest.approx(39.8)
    assert end.dwell_seconds == pytest.approx(39.8 - 10.0)
    assert end.frame_media_time == ev.frame_media_time


def test_ends_after_the_count_stays_below() -> None:
    det = CrowdDetector(camera(zones=[{**ZONE, "crowd_seconds": 5}]), 144, 256)
    out = Collector()
    ended_at = None
    for t in times(30.0):
        out.add(det.update(t, t, LUMA, None, people(3 if t < 12 else 1)))
        if out.ended and ended_at is None:
            ended_at = t
    assert len(out.started) == 1 and len(out.ended) == 1
    assert ended_at == pytest.approx(11.8 + END_SECONDS)


def test_two_people_are_no_crowd_of_three() -> None:
    assert not run(lambda t: people(2, t=t)).started


def test_only_people_in_the_zone_count() -> None:
    def world(t: float) -> list[TrackedObject]:
        others = [obj(9, 0.5, 0.5, kind="vehicle"), obj(8, 0.6, 0.5, kind="unknown")]
        return people(2, t=t) + people(2, t=t, zones=("z2",))[1:] + others

    assert not run(world).started


def test_dips_longer_than_two_seconds_restart_the_wait() -> None:
    def world(t: float) -> list[TrackedObject]:
        return people(2 if 12.0 <= t < 15.0 else 3, t=t)

    out = run(world, duration=50.0)
    assert len(out.started) == 1
    assert abs(out.started[0].media_time - 35.0) <= 1.0


def test_close_all_ends_an_open_crowd() -> None:
    out = run(lambda t: people(3, t=t), duration=25.0)
    assert len(out.started) == 1 and [e.id for e in out.ended] == [out.started[0].id]
    assert out.ended[0].end_media_time == pytest.approx(24.8)


def _with_blob(size: tuple[float, float], *, dx: float = 0.02, **kw: object):  # type: ignore[no-untyped-def]
    """Two people, and an unclassified blob standing ``dx`` right of the first one's corner."""

    def world(t: float) -> list[TrackedObject]:
        blob = obj(9, 0.1 + dx + 0.01 * t, 0.52, kind="unknown", size=size, **kw)  # type: ignore[arg-type]
        return [*people(2, t=t), blob]

    return world


def test_a_person_the_detector_did_not_separate_counts() -> None:
    # Half behind the first person, standing, a person's shape: the third of the crowd.
    out = run(_with_blob((0.06, 0.17)))
    assert len(out.started) == 1 and out.started[0].count == 3
    # Two people's worth of blob beside them (one behind the other), uncovered: two more.
    out = run(_with_blob((0.07, 0.24), dx=0.03), crowd_people=4)
    assert len(out.started) == 1 and out.started[0].count == 4


@pytest.mark.parametrize(
    ("what", "size", "kw"),
    [
        ("a cast shadow lies flat", (0.15, 0.05), {}),
        ("a bag is small", (0.03, 0.05), {}),
        ("a walking group moves", (0.06, 0.17), {"velocity": (0.1, 0.0)}),
        ("a blob apart from the people", (0.06, 0.17), {"dx": 0.5}),
    ],
)
def test_blobs_that_are_not_people_do_not_count(
    what: str, size: tuple[float, float], kw: dict[str, object]
) -> None:
    assert not run(_with_blob(size, **kw)).started, what
