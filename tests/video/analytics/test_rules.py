"""Zones, lines, loitering, cooldown and minimum size, through the whole core."""

from __future__ import annotations

import pytest
from analytics_synth import FPS, camera, events, frames, run, walk

ZONE = [[0.4, 0.4], [0.8, 0.4], [0.8, 0.9], [0.4, 0.9]]


def _zone(**kw):
    return {"id": "z", "polygon": ZONE, **kw}


@pytest.mark.parametrize("inertia", [1, 2, 4])
def test_intrusion_time_is_first_frame_inside_whatever_the_inertia(inertia: int) -> None:
    cam = camera(zones=[_zone(inertia_frames=inertia)])
    # Bottom-centre enters x = 0.4 at t = 2.0 exactly (0.1/s from 0.2 at t = 0).
    fs = frames(cam.id, [walk(0.0, 6.0, (0.2, 0.7), (0.8, 0.7))], 7.0)
    res = run(cam, fs)
    (ev,) = events(res)
    assert ev.type == "intrusion" and ev.zone_id == "z"
    assert 2.0 <= ev.media_time <= 2.0 + 1 / FPS + 1e-9
    assert ev.frame_media_time == pytest.approx(ev.media_time + (inertia - 1) / FPS, abs=1e-9)
    assert ev.track_boxes and ev.box[2] > 0
    # The object is reported in the zone from the event frame on.
    at = next(r for r in res if r.media_time == ev.frame_media_time)
    assert at.objects[0].zones == ["z"]


def test_object_passing_outside_the_zone_raises_nothing() -> None:
    cam = camera(zones=[_zone()])
    fs = frames(cam.id, [walk(0.0, 6.0, (0.1, 0.3), (0.95, 0.3))], 7.0)  # feet above the zone
    assert events(run(cam, fs)) == []


@pytest.mark.parametrize(
    ("start", "end", "direction"),
    [((0.5, 0.3), (0.5, 0.8), "forward"), ((0.5, 0.8), (0.5, 0.3), "backward")],
)
def test_line_crossing_direction(start, end, direction) -> None:
    # Drawn left to right: forward is moving down (to the right of the directed line).
    cam = camera(lines=[{"id": "l", "points": [[0.2, 0.55], [0.8, 0.55]]}])
    fs = frames(cam.id, [walk(0.5, 5.5, start, end)], 6.5)
    (ev,) = events(run(cam, fs))
    assert (ev.type, ev.line_id, ev.direction) == ("line_crossing", "l", direction)
    assert ev.media_time == pytest.approx(3.0, abs=0.25)  # halfway


def test_line_directions_filter_and_segment_extent() -> None:
    cam = camera(
        lines=[{"id": "l", "points": [[0.2, 0.55], [0.8, 0.55]], "directions": ["forward"]}]
    )
    up = frames(cam.id, [walk(0.5, 5.5, (0.5, 0.8), (0.5, 0.3))], 6.5)
    assert events(run(cam, up)) == []
    beside = frames(cam.id, [walk(0.5, 5.5, (0.9, 0.3), (0.9, 0.8))], 6.5)  # past the end
    assert events(run(cam, beside)) == []


def test_loitering_once_per_dwell_with_entry_plus_limit_as_time() -> None:
    cam = camera(zones=[_zone(intrusion=False, loiter_seconds=3.0)])

    def pace(t: float):
        if t < 1.0 or t > 12.0:
            return None
        # In the zone from t = 1 (x = 0.5), pacing left and right for 11 s.
        x = 0.5 + 0.15 * ((t % 4) / 2 if (t % 4) < 2 else 2 - (t % 4) / 2)
        return x, 0.7, 0.05, 0.25

    res = run(cam, frames(cam.id, [pace], 13.0))
    (ev,) = events(res)
    assert ev.type == "loitering"
    assert ev.media_time == pytest.approx(4.0, abs=0.21)
    assert ev.dwell_seconds == pytest.approx(3.0, abs=0.21)


def test_short_visit_is_not_loitering() -> None:
    cam = camera(zones=[_zone(intrusion=False, loiter_seconds=3.0)])
    fs = frames(cam.id, [walk(0.0, 4.0, (0.3, 0.7), (0.9, 0.7))], 5.0)  # 2 s inside
    assert events(run(cam, fs)) == []


def test_cooldown_suppresses_a_second_intrusion_of_the_zone() -> None:
    paths = [
        walk(0.0, 3.0, (0.3, 0.7), (0.6, 0.7)),  # enters at t = 1
        walk(3.5, 6.5, (0.3, 0.7), (0.6, 0.7)),  # second person enters at t = 4.5
    ]
    cam = camera(zones=[_zone(cooldown_seconds=5.0)])
    evs = events(run(cam, frames(cam.id, paths, 7.0)))
    assert [e.type for e in evs] == ["intrusion"]
    cam = camera(zones=[_zone(cooldown_seconds=1.0)])
    evs = events(run(cam, frames(cam.id, paths, 7.0)))
    assert [round(e.media_time) for e in evs] == [1, 5]


def test_line_cooldown() -> None:
    paths = [
        walk(0.0, 2.0, (0.5, 0.3), (0.5, 0.8)),
        walk(2.5, 4.5, (0.5, 0.3), (0.5, 0.8)),
    ]
    line = {"id": "l", "points": [[0.2, 0.55], [0.8, 0.55]]}
    assert len(events(run(camera(lines=[line]), frames("cam-test", paths, 5.0)))) == 2
    cooled = camera(lines=[{**line, "cooldown_seconds": 10.0}])
    assert len(events(run(cooled, frames("cam-test", paths, 5.0)))) == 1


def test_min_object_size() -> None:
    small = [walk(0.0, 6.0, (0.2, 0.7), (0.8, 0.7), size=(0.03, 0.1))]  # 10 % of the height
    lenient = camera(zones=[_zone(min_object_size=0.05)])
    strict = camera(zones=[_zone(min_object_size=0.2)])
    assert len(events(run(lenient, frames("cam-test", small, 7.0)))) == 1
    assert events(run(strict, frames("cam-test", small, 7.0))) == []


def _stand_with_gap(gap: tuple[float, float], at: float = 0.55):
    def path(t: float):
        if t > 10.0 or gap[0] <= t < gap[1]:
            return None  # lost: longer than the tracker's memory, so the track is dropped
        return min(0.3 + 0.25 * t, at), 0.7, 0.05, 0.25  # walks in (x = 0.4 at t = 0.4)

    return path


def test_loitering_dwell_survives_a_lost_track() -> None:
    cam = camera(zones=[_zone(intrusion=True, loiter_seconds=4.0, cooldown_seconds=0.0)])
    res = run(cam, frames(cam.id, [_stand_with_gap((3.0, 4.6))], 11.0))
    evs = events(res)
    # The object came back as a new track where the old one was lost: same stay, so the dwell
    # goes on from the first entry and the re-found object is no new intrusion.
    assert [e.type for e in evs] == ["intrusion", "loitering"]
    assert evs[0].track_id != evs[1].track_id
    assert evs[1].media_time == pytest.approx(4.4, abs=0.21)


def test_a_new_object_elsewhere_in_the_zone_starts_its_own_dwell() -> None:
    cam = camera(zones=[_zone(intrusion=False, loiter_seconds=4.0)])
    first = walk(0.0, 3.0, (0.3, 0.7), (0.5, 0.7))  # gone at t = 3, 2.6 s inside
    other = walk(3.4, 9.4, (0.75, 0.5), (0.75, 0.52))  # 6 s at another spot of the zone
    (ev,) = events(run(cam, frames(cam.id, [first, other], 10.0)))
    assert ev.media_time == pytest.approx(7.4, abs=0.21)


def _loitering(live_at, until: float) -> list[tuple[int, float]]:
    """Drive the rules of a 10 s loitering zone (inertia 1) with the tracks ``live_at(t)``
    returns, seen on every 0.2 s frame; returns (track id, time) of each loitering event."""
    from hub.video.analytics.rules import CameraRules

    cam = camera(zones=[_zone(loiter_seconds=10.0, inertia_frames=1, cooldown_seconds=0.0)])
    rules = CameraRules(cam, 144, 256)
    out = []
    t = 0.0
    while t < until:
        live = live_at(t)
        for tr in live:
            tr.hits, tr.updated, tr.last_seen = tr.hits + 1, True, t
        _, started, _ = rules.evaluate(t, 1000.0 + t, live, [0.9] * len(live))
        out += [(e.track_id, e.media_time) for e in started if e.type == "loitering"]
        t = round(t + 0.2, 1)
    return out


def test_a_stay_handed_on_twice_keeps_its_first_entry() -> None:
    """A loiterer's track breaks (a passer-by) and a new track takes the stay over; a blob that
    entered on its own meanwhile leaves later and is taken over too: the stay still counts from
    the loiterer's first entry (it used to restart from the blob's)."""
    from hub.video.analytics.tracker import Track

    box = (140.0, 60.0, 12.0, 40.0)  # feet at (146, 100): inside
    a, b, c = (Track(i, box, born=0.0, last_seen=0.0) for i in (1, 2, 3))

    def live_at(t: float) -> list[Track]:
        live = [a] if t < 3.0 else []
        if 2.0 <= t < 3.4:
            live.append(b)  # a blob on the same person, entered on its own
        if t >= 3.2:
            live.append(c)  # the loiterer's new track
        return live

    ((_, at),) = _loitering(live_at, 14.0)
    assert at == pytest.approx(10.0, abs=0.01)


def test_two_crossings_reported_out_of_order_are_both_kept() -> None:
    """Two people cross together; the one the detector misses for a frame is reported a frame
    later with an earlier (interpolated) time: with no cooldown both crossings count."""
    from hub.video.analytics.rules import CameraRules
    from hub.video.analytics.tracker import Track

    cam = camera(lines=[{"id": "l", "points": [[0.5, 0.3], [0.5, 0.99]]}])
    rules = CameraRules(cam, 144, 256)
    a = Track(1, (90.0, 60.0, 12.0, 40.0), born=0.0, last_seen=0.0, hits=3)
    b = Track(2, (95.0, 62.0, 12.0, 40.0), born=0.0, last_seen=0.0, hits=3)
    # (t, a's left edge, b's left edge or None when not observed); the line is at x = 128.
    steps = [(0.0, 100.0, 105.0), (0.2, 110.0, 118.0), (0.4, 125.0, None), (0.6, 131.0, 140.0)]
    crossings = []
    for t, ax, bx in steps:
        live = [a] + ([b] if bx is not None else [])
        a.box = (ax, 60.0, 12.0, 40.0)
        if bx is not None:
            b.box = (bx, 62.0, 12.0, 40.0)
        for tr in (a, b):
            tr.updated = tr in live
        _, started, _ = rules.evaluate(t, 1000.0 + t, [a, b], [0.9, 0.9])
        crossings += [(e.track_id, round(e.media_time, 2)) for e in started]
    assert sorted(tid for tid, _ in crossings) == [1, 2]
    (tb,) = [at for tid, at in crossings if tid == 2]
    (ta,) = [at for tid, at in crossings if tid == 1]
    assert tb < ta, "b crossed first, reported second"


def test_a_lost_track_hands_its_stay_to_an_older_track_on_the_same_person() -> None:
    """A second track picked the loiterer up while the first still held (a detector box the
    tracker did not match), then the first was dropped: the survivor entered before the lost
    track was last seen, and the stay still counts from the first entry (it used to restart
    from the survivor's entry, and loitering came 28 s late on the hard scene)."""
    from hub.video.analytics.tracker import Track

    box = (140.0, 60.0, 12.0, 40.0)
    a, b = Track(1, box, born=0.0, last_seen=0.0), Track(2, box, born=4.0, last_seen=4.0)
    ((_, at),) = _loitering(lambda t: ([a] if t < 6.0 else []) + ([b] if t >= 4.0 else []), 14.0)
    assert at == pytest.approx(10.0, abs=0.01)


def test_a_person_walking_out_does_not_hand_the_stay_to_one_standing_there() -> None:
    """The handover to an older track is for lost tracks only: someone seen leaving the zone
    takes their stay with them, even past a person who entered earlier near the exit."""
    from hub.video.analytics.tracker import Track

    stay = Track(1, (140.0, 60.0, 12.0, 40.0), born=0.0, last_seen=0.0)
    near_exit = Track(2, (104.0, 60.0, 12.0, 40.0), born=5.0, last_seen=5.0)  # feet x 110

    def live_at(t: float) -> list[Track]:
        if t >= 6.0:  # walks out to the left past the other one, and on
            stay.box = (max(140.0 - 40.0 * (t - 6.0), 20.0), 60.0, 12.0, 40.0)
        return [stay] + ([near_exit] if t >= 5.0 else [])

    assert _loitering(live_at, 16.0) == [(2, pytest.approx(15.0, abs=0.01))]
