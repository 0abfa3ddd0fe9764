from __future__ import annotations

from hub.video.analytics.core import hide_people
from hub.video.analytics.person_tracker import (
    HIDDEN_MAX_SECONDS,
    REVIVE_SECONDS,
    PersonBox,
    PersonTracker,
)
from hub.video.analytics.tracker import Track


def _walk(x0: float, vx: float, t: float, y: float = 50.0) -> tuple[float, float, float, float]:
    return (x0 + vx * t, y, 20.0, 50.0)


def test_people_crossing_keep_their_ids() -> None:
    pt = PersonTracker()
    ids: dict[str, set[int]] = {"a": set(), "b": set()}
    for k in range(40):
        t = k * 0.2
        a, b = _walk(0, 20, t), _walk(160, -20, t, y=56)
        # While they overlap the detector sees only the one in front.
        dets = (
            [PersonBox(a, 0.9)] if abs(a[0] - b[0]) < 12 else [PersonBox(a, 0.9), PersonBox(b, 0.9)]
        )
        for tr in pt.update(t, dets):
            if tr.updated and tr.confirmed:
                key = "a" if abs(tr.box[0] - a[0]) < 5 and abs(tr.box[1] - a[1]) < 3 else "b"
                ids[key].add(tr.track_id)
    assert len(ids["a"]) == 1 and len(ids["b"]) == 1 and ids["a"] != ids["b"]


def test_a_person_hidden_for_a_second_comes_back_with_the_same_id() -> None:
    pt = PersonTracker(memory_seconds=1.5)
    seen = set()
    for k in range(30):
        t = k * 0.2
        hidden = 10 <= k < 15  # 1 s behind a parked van
        dets = [] if hidden else [PersonBox(_walk(0, 15, t), 0.8)]
        for tr in pt.update(t, dets):
            if tr.updated:
                seen.add(tr.track_id)
    assert len(seen) == 1


def test_weak_boxes_keep_a_track_but_never_start_one() -> None:
    pt = PersonTracker()
    for k in range(5):
        assert not pt.update(k * 0.2, [PersonBox(_walk(0, 10, k * 0.2), 0.3)])
    first = pt.update(1.0, [PersonBox(_walk(0, 10, 1.0), 0.9)])
    tid = first[0].track_id
    for k in range(6, 12):
        t = k * 0.2
        live = pt.update(t, [PersonBox(_walk(0, 10, t), 0.3)])
        assert [tr.track_id for tr in live if tr.updated] == [tid]


def test_one_unsure_detection_is_not_a_person_yet() -> None:
    pt = PersonTracker()
    (tr,) = pt.update(0.0, [PersonBox((10, 10, 20, 50), 0.6)])
    assert not tr.confirmed
    assert pt.update(0.2, []) == [], "an unconfirmed track that misses a look is dropped"
    (sure,) = pt.update(0.4, [PersonBox((10, 10, 20, 50), 0.95)])
    assert sure.confirmed


def test_a_fast_walker_keeps_its_id_at_two_looks_per_second() -> None:
    pt = PersonTracker()
    seen = set()
    for k in range(12):
        t = k * 0.5
        # 1.2 box widths per look: plain IoU would lose it, the buffered IoU does not.
        for tr in pt.update(t, [PersonBox(_walk(0, 48, t), 0.9)]):
            seen.add(tr.track_id)
    assert len(seen) == 1


def test_between_looks_tracks_are_remembered_not_observed() -> None:
    pt = PersonTracker()
    pt.update(0.0, [PersonBox((10, 10, 20, 50), 0.95)])
    (tr,) = pt.update(0.1, None)
    assert not tr.updated, "no look: the rules must not use a predicted position"
    (lost,) = pt.update(5.0, None)
    assert not pt.active(lost, 5.0), "only revived by place from now on"
    assert pt.update(8.0, None) == []


def test_a_person_hidden_behind_a_van_for_four_seconds_keeps_the_id() -> None:
    pt = PersonTracker()
    seen = set()
    for k in range(40):
        t = k * 0.2
        hidden = 10 <= k < 30  # 4 s behind the van, walking on
        for tr in pt.update(t, [] if hidden else [PersonBox(_walk(0, 15, t), 0.9)]):
            if tr.updated:
                seen.add(tr.track_id)
    assert len(seen) == 1


def test_a_lost_person_is_not_revived_far_away_or_at_another_size() -> None:
    pt = PersonTracker()
    for k in range(5):
        pt.update(k * 0.2, [PersonBox((10, 10, 20, 50), 0.9)])
    (first,) = pt.tracks
    far = PersonBox((10 + 3.5 * 50, 10, 20, 50), 0.9)  # 2.2 s unseen: 2.7 heights at most
    child = PersonBox((12, 35, 10, 25), 0.9)
    live = pt.update(3.0, [far, child])
    assert first.track_id not in {tr.track_id for tr in live if tr.updated}


def test_between_two_lost_people_a_new_box_starts_its_own_track() -> None:
    pt = PersonTracker()
    for k in range(5):
        pt.update(k * 0.2, [PersonBox((10, 10, 20, 50), 0.9), PersonBox((40, 10, 20, 50), 0.9)])
    ids = {tr.track_id for tr in pt.tracks}
    live = pt.update(3.0, [PersonBox((25, 10, 20, 50), 0.9)])
    assert {tr.track_id for tr in live if tr.updated}.isdisjoint(ids)


def test_a_person_who_walked_out_of_the_picture_is_not_revived() -> None:
    pt = PersonTracker(size=(256, 144))
    for k in range(5):
        pt.update(k * 0.2, [PersonBox((236.0 + 4 * k, 40, 20, 50), 0.9)])  # at the right edge
    (gone,) = pt.tracks
    live = pt.update(2.5, [PersonBox((230.0, 40, 20, 50), 0.9)])
    assert gone.track_id not in {tr.track_id for tr in live if tr.updated}


def test_a_thin_person_who_turns_round_keeps_the_id() -> None:
    """A distant person, 10 px wide, walks on, is missed for a look and comes back the other
    way: the new box no longer overlaps the prediction, but it is where that person could be and
    at their height (a new track here raised a second intrusion on the hard scene)."""
    pt = PersonTracker(memory_seconds=1.5)
    seen = set()
    for k in range(20):
        t = k * 0.2
        x = 40.0 + 5.0 * k if k <= 8 else 80.0 - 5.0 * (k - 8)
        dets = [] if k == 9 else [PersonBox((x, 50.0, 10.0, 30.0), 0.8)]
        for tr in pt.update(t, dets):
            if tr.updated:
                seen.add(tr.track_id)
    assert len(seen) == 1


def test_a_new_person_beside_one_just_seen_starts_a_track() -> None:
    """Only a missing person is continued by place: someone who appears beside a person the
    detector matched this look is someone else."""
    pt = PersonTracker(memory_seconds=1.5)
    for k in range(10):
        t = k * 0.2
        dets = [PersonBox((40.0 + 4.0 * k, 50.0, 20.0, 50.0), 0.9)]
        if k >= 6:
            dets.append(PersonBox((70.0 + 4.0 * k, 50.0, 20.0, 50.0), 0.9))
        pt.update(t, dets)
    assert len({tr.track_id for tr in pt.tracks}) == 2


def _stand(pt: PersonTracker, box: tuple[float, float, float, float], until: float) -> Track:
    tr = None
    for k in range(round(until / 0.2)):
        tr = next(iter(pt.update(k * 0.2, [PersonBox(box, 0.9)])))
    assert tr is not None and tr.confirmed
    return tr


def test_a_person_hidden_in_a_group_is_kept_while_something_covers_them() -> None:
    pt = PersonTracker(memory_seconds=1.5)
    box = (100.0, 50.0, 20.0, 50.0)
    tr = _stand(pt, box, 2.0)
    # Unseen from 2 s; a blob over their place says they are still there, for 30 s.
    blob = Track(999, (95.0, 45.0, 30.0, 60.0), born=2.0, last_seen=2.0)
    t = 2.0
    while t < 32.0:
        assert tr in pt.update(t, []), f"forgotten at {t:.1f} s"
        hide_people(pt, pt.tracks, [blob], t)
        assert tr.hidden_at == t and not tr.updated
        t += 0.2
    # Found again where they stood: the same person.
    assert [x.track_id for x in pt.update(t, [PersonBox(box, 0.9)])] == [tr.track_id]
    assert tr.updated and tr.box == box


def test_a_hidden_person_is_forgotten_once_nothing_covers_their_place() -> None:
    pt = PersonTracker(memory_seconds=1.5)
    tr = _stand(pt, (100.0, 50.0, 20.0, 50.0), 2.0)
    elsewhere = Track(999, (10.0, 45.0, 30.0, 60.0), born=2.0, last_seen=2.0)
    t = 2.0
    while tr in pt.tracks and t < 30.0:
        pt.update(t, [])
        hide_people(pt, pt.tracks, [elsewhere], t)
        t += 0.2
    assert tr not in pt.tracks and tr.hidden_at is None
    assert t - 2.0 <= 1.5 + REVIVE_SECONDS + 0.5


def test_only_people_who_stood_still_hide_and_never_for_longer_than_the_limit() -> None:
    pt = PersonTracker(memory_seconds=1.5)
    walker = None
    for k in range(10):
        walker = next(iter(pt.update(k * 0.2, [PersonBox(_walk(0, 30, k * 0.2), 0.9)])))
    assert walker is not None
    hide_people(pt, [walker], [Track(9, (0.0, 0.0, 300.0, 300.0), born=0, last_seen=0)], 2.0)
    assert walker.hidden_at is None, "a walker who vanished has walked on"
    still = _stand(PersonTracker(), (100.0, 50.0, 20.0, 50.0), 2.0)
    pt.hide(still, 2.0 + HIDDEN_MAX_SECONDS + 1.0)
    assert still.hidden_at is None


def test_someone_arriving_elsewhere_does_not_take_a_hidden_persons_id() -> None:
    pt = PersonTracker(memory_seconds=1.5)
    tr = _stand(pt, (100.0, 50.0, 20.0, 50.0), 2.0)
    blob = Track(999, (95.0, 45.0, 30.0, 60.0), born=2.0, last_seen=2.0)
    t = 2.0
    while t < 30.0:
        pt.update(t, [])
        hide_people(pt, pt.tracks, [blob], t)
        t += 0.2
    # Hidden for 28 s means known to be there until now, not free to have walked 28 s away.
    [new] = [x for x in pt.update(t, [PersonBox((200.0, 50.0, 20.0, 50.0), 0.9)]) if x.updated]
    assert new.track_id != tr.track_id
