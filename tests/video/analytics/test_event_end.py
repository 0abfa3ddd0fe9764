"""Events end: intrusion and loitering last as long as their stay, line crossings are instants."""

from __future__ import annotations

import random

import pytest
from analytics_synth import FPS, camera, frames, run, walk

from hub.video.analytics import AnalyticsCore, FrameResult, RawEvent
from hub.video.analytics.rules import RESUME_SECONDS

ZONE = [[0.4, 0.4], [0.8, 0.4], [0.8, 0.9], [0.4, 0.9]]
FRAME = 1 / FPS


def _zone(**kw):
    return {"id": "z", "polygon": ZONE, **kw}


def started(results: list[FrameResult]) -> list[RawEvent]:
    return [e for r in results for e in r.events]


def ended(results: list[FrameResult]) -> list[tuple[float, RawEvent]]:
    """(media time of the frame that reported it, event)."""
    return [(r.media_time, e) for r in results for e in r.ended]


def _stand(t0: float, t1: float, x: float = 0.6, *, skip: float | None = None, jump=None):
    """Standing at ``x`` in the zone from t0 to t1 (inclusive); absent at ``skip``; at
    ``jump = (t, x)`` the foot is at another x for one frame."""

    def path(t: float):
        if t < t0 - 1e-9 or t > t1 + 1e-9:
            return None
        if skip is not None and abs(t - skip) < 1e-6:
            return None
        at = jump[1] if jump is not None and abs(t - jump[0]) < 1e-6 else x
        return at, 0.7, 0.05, 0.25

    return path


def test_intrusion_ends_when_the_object_leaves_the_zone() -> None:
    cam = camera(zones=[_zone()])
    # Feet enter x = 0.4 at t = 1.5 and leave x = 0.8 at t = 4.5; still in view until t = 6.
    res = run(cam, frames(cam.id, [walk(0.0, 6.0, (0.2, 0.7), (1.0, 0.7))], 9.0))
    (ev,) = started(res)
    assert ev.end_media_time is None and ev.end_wall_time is None
    ((at, end),) = ended(res)
    assert end.id == ev.id and end.type == "intrusion" and end.track_id == ev.track_id
    assert end.media_time == ev.media_time
    assert 4.5 - 2 * FRAME <= end.end_media_time <= 4.5 + 1e-9
    assert end.end_wall_time == pytest.approx(1000.0 + end.end_media_time)
    # Reported once a new track can no longer resume the stay.
    assert end.end_media_time + RESUME_SECONDS < at <= end.end_media_time + RESUME_SECONDS + 0.5
    assert ev.end_media_time is None  # the started event is not changed afterwards


@pytest.mark.parametrize("miss", ["skip", "jump"])
def test_a_missed_frame_is_no_exit(miss: str) -> None:
    cam = camera(zones=[_zone(inertia_frames=2)])
    # Stands just inside the edge; one frame the object is not seen, or its feet jitter out.
    if miss == "skip":
        path = _stand(0.4, 5.0, x=0.45, skip=2.0)
    else:
        path = _stand(0.4, 5.0, x=0.45, jump=(2.0, 0.37))
    res = run(cam, frames(cam.id, [path], 9.0))
    (ev,) = started(res)
    ((_, end),) = ended(res)
    assert end.id == ev.id
    assert end.end_media_time == pytest.approx(5.0, abs=1e-9)  # last frame seen inside


def test_a_lost_track_ends_the_intrusion_at_its_last_sighting() -> None:
    cam = camera(zones=[_zone()])
    res = run(cam, frames(cam.id, [_stand(0.4, 3.0)], 8.0))
    (ev,) = started(res)
    ((at, end),) = ended(res)
    assert end.id == ev.id and end.end_media_time == pytest.approx(3.0, abs=1e-9)
    assert at > 3.0 + RESUME_SECONDS


def test_loitering_ends_with_the_total_dwell() -> None:
    cam = camera(zones=[_zone(intrusion=False, loiter_seconds=3.0)])

    def pace(t: float):
        if t < 1.0 or t > 12.0:
            return None
        x = 0.5 + 0.15 * ((t % 4) / 2 if (t % 4) < 2 else 2 - (t % 4) / 2)
        return x, 0.7, 0.05, 0.25

    res = run(cam, frames(cam.id, [pace], 16.0))
    (ev,) = started(res)
    assert ev.dwell_seconds == pytest.approx(3.0, abs=0.21)
    ((_, end),) = ended(res)
    assert end.id == ev.id and end.type == "loitering"
    assert end.end_media_time == pytest.approx(12.0, abs=1e-9)
    assert end.dwell_seconds == pytest.approx(11.0, abs=0.21)
    assert end.media_time == ev.media_time


def test_events_follow_a_stay_resumed_by_a_new_track() -> None:
    cam = camera(zones=[_zone(intrusion=True, loiter_seconds=4.0, cooldown_seconds=0.0)])

    def path(t: float):
        if t > 10.0 or 3.0 <= t < 4.6:
            return None  # lost for longer than the tracker's memory
        return min(0.3 + 0.25 * t, 0.55), 0.7, 0.05, 0.25

    res = run(cam, frames(cam.id, [path], 14.0))
    intrusion, loitering = started(res)
    assert intrusion.track_id != loitering.track_id
    ends = {e.id: e for _, e in ended(res)}
    assert set(ends) == {intrusion.id, loitering.id}  # each once, and only at the very end
    for e in ends.values():
        assert e.end_media_time == pytest.approx(10.0, abs=1e-9)
    assert ends[loitering.id].dwell_seconds == pytest.approx(10.0 - 0.4, abs=0.21)


def test_line_crossing_ends_where_it_starts() -> None:
    cam = camera(lines=[{"id": "l", "points": [[0.2, 0.55], [0.8, 0.55]]}])
    res = run(cam, frames(cam.id, [walk(0.5, 5.5, (0.5, 0.3), (0.5, 0.8))], 9.0))
    (ev,) = started(res)
    assert ev.end_media_time == ev.media_time and ev.end_wall_time == ev.wall_time
    assert ended(res) == []


def test_close_events_ends_open_stays_once() -> None:
    cam = camera(zones=[_zone(loiter_seconds=1.0)])
    fs = frames(cam.id, [_stand(0.4, 20.0)], 4.0)
    core = AnalyticsCore([cam])
    res = [r for f in fs for r in core.process([f])]
    evs = started(res)
    assert [e.type for e in evs] == ["intrusion", "loitering"] and ended(res) == []
    last = fs[-1].media_time
    closed = core.close_events()
    assert {e.id for e in closed} == {e.id for e in evs}
    for e in closed:
        assert e.end_media_time == pytest.approx(last)
        assert e.end_wall_time == pytest.approx(1000.0 + last)
    assert core.close_events(cam.id) == []
    assert core.remove_camera(cam.id) == []

    # Removing a camera ends its open events too; a second camera is not touched.
    other = camera(id="cam-other", zones=[_zone()])
    core = AnalyticsCore([cam, other])
    for f in fs:
        core.process([f])
    assert {e.type for e in core.remove_camera(cam.id)} == {"intrusion", "loitering"}
    assert core.close_events("cam-other") == []


def _key(r: FrameResult) -> tuple:
    def ev(e: RawEvent) -> tuple:
        return (e.type, e.track_id, e.media_time, e.end_media_time, e.dwell_seconds)

    return (r.camera_id, r.media_time, [ev(e) for e in r.events], [ev(e) for e in r.ended])


def test_ends_identical_when_batched_across_cameras() -> None:
    z = _zone(loiter_seconds=1.5)
    cams = [camera(id=f"cam-{i}", zones=[z]) for i in range(3)]
    seqs = [
        frames("cam-0", [walk(0.0, 6.0, (0.2, 0.7), (1.0, 0.7))], 10.0, seed=1),
        frames("cam-1", [_stand(0.4, 3.0)], 10.0, seed=2),
        frames("cam-2", [_stand(1.0, 5.0, x=0.7)], 10.0, seed=3),
    ]
    expected: dict[str, list[tuple]] = {}
    for cam, seq in zip(cams, seqs, strict=True):
        res = run(cam, seq)
        assert ended(res)
        expected[cam.id] = [_key(r) for r in res]
    core = AnalyticsCore(cams)
    got: dict[str, list[tuple]] = {c.id: [] for c in cams}
    ids: dict[object, int] = {}
    rng = random.Random(1)
    i = 0
    while i < len(seqs[0]):
        step = rng.randint(1, 3)
        batch = [f for seq in seqs for f in seq[i : i + step]]
        rng.shuffle(batch)
        for r in sorted(core.process(batch), key=lambda r: r.media_time):
            got[r.camera_id].append(_key(r))
            for e in r.events:
                ids[e.id] = ids.get(e.id, 0) + 1
            for e in r.ended:
                assert ids.get(e.id) == 1  # ends an event that started, once
                ids[e.id] += 1
        i += step
    assert got == expected
    assert set(ids.values()) == {2}


def test_a_new_image_size_ends_what_was_open() -> None:
    import cv2

    from hub.video.analytics import AnalysisFrame

    cam = camera(zones=[_zone()])
    fs = frames(cam.id, [_stand(0.4, 20.0)], 4.0)
    core = AnalyticsCore([cam])
    (ev,) = [e for f in fs[:10] for r in core.process([f]) for e in r.events]
    f = fs[10]
    small = AnalysisFrame(f.camera_id, f.media_time, f.wall_time, cv2.resize(f.luma, (128, 72)))
    (r,) = core.process([small])
    (end,) = r.ended
    assert end.id == ev.id and end.end_media_time == pytest.approx(fs[9].media_time)
