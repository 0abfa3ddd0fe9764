"""Tracker: stable ids, a short memory across missed frames, and merged objects kept apart."""

from __future__ import annotations

from hub.video.analytics.tracker import Tracker


def _box(x: float, y: float = 50, w: int = 12, h: int = 36) -> tuple[int, int, int, int]:
    return round(x), round(y), w, h


def test_ids_stay_stable_for_two_objects() -> None:
    tr = Tracker()
    ids = None
    for i in range(15):
        tracks = tr.update(i * 0.2, [_box(20 + 4 * i), _box(200 - 4 * i, y=80)])
        now = {round(t.box[1]): t.track_id for t in tracks}
        if ids is None:
            ids = now
        assert now == ids
    assert len(set(ids.values())) == 2


def test_track_survives_a_missed_frame_and_expires_later() -> None:
    tr = Tracker(memory_seconds=1.0)
    for i in range(5):
        (t,) = tr.update(i * 0.2, [_box(20 + 5 * i)])
    tid = t.track_id
    (t,) = tr.update(1.0, [])  # missed
    assert t.track_id == tid and not t.updated
    (t,) = tr.update(1.2, [_box(20 + 5 * 6)])  # back, where it would be by now
    assert t.track_id == tid and t.updated
    for k in range(7):
        tracks = tr.update(1.4 + 0.2 * k, [])
    assert tracks == []


def test_fast_object_is_followed_by_its_velocity() -> None:
    tr = Tracker()
    first = None
    for i in range(10):
        (t,) = tr.update(i * 0.2, [_box(10 + 15 * i)])  # moves more than its width per frame
        first = first or t.track_id
        assert t.track_id == first


def test_crossing_objects_keep_their_ids_while_merged() -> None:
    tr = Tracker()
    a = b = None
    for i in range(20):
        xa, xb = 40 + 6 * i, 200 - 6 * i
        if abs(xa - xb) < 14:  # overlapping: one blob covering both
            lo, hi = min(xa, xb), max(xa, xb) + 12
            blobs = [(lo, 50, hi - lo, 36)]
        else:
            blobs = [_box(xa), _box(xb)]
        tracks = {t.track_id: t for t in tr.update(i * 0.2, blobs)}
        if a is None:
            a, b = sorted(tracks, key=lambda k: tracks[k].box[0])
        assert {a, b} <= set(tracks)
    # After crossing, a is on the right and b on the left.
    assert tracks[a].box[0] > tracks[b].box[0]


def test_blob_growing_around_a_still_object_does_not_move_it() -> None:
    tr = Tracker()
    for i in range(10):
        (t,) = tr.update(i * 0.2, [(100, 40, 40, 20)])  # a parked car
    car = t.track_id
    tracks = tr.update(2.0, [(100, 40, 40, 50)])  # a walker passes just below it, touching
    by_id = {t.track_id: t for t in tracks}
    assert by_id[car].box == (100.0, 40.0, 40.0, 20.0)
    assert len(tracks) == 2
