"""Detector boxes -> person tracks for one camera (the ByteTrack idea, with a Kalman filter).

Each person has a constant-velocity Kalman filter. On a frame where the detector looked:
1. confident boxes (score >= ``HIGH``) are matched to all tracks by IoU against the predicted
   boxes, buffered (both boxes grown) in proportion to how long the track has gone unseen: at a
   few detector looks per second people move more than a box width between looks;
2. weak boxes (occluded, blurred people) are matched only to tracks left over, at a stricter IoU:
   alone they would be noise, next to a known person they keep the track;
3. a confident box left over that appears where a confirmed person still unmatched could have
   walked to, at that person's height, continues that person (see below);
4. confident boxes left start tracks, confirmed by a second detection (or at once when sure).
Unconfirmed tracks that miss a look are dropped; confirmed ones are matched for
``memory_seconds``, and by place (step 3) for ``REVIVE_SECONDS`` more, which takes a lost
track back: a person hidden behind a van or missed by the detector for a while keeps their id, their
stay in a zone and the side of a line they were on.
Tracks only take positions the detector observed: ``box`` is the last detected box, and
``updated`` says whether this frame observed it (the rules only use observed positions).

A person who stood still and is lost where something else is still seen (a motion blob, or
another person, over their last box) is hidden in a group, not gone: ``hide`` keeps such a
track remembered, for up to ``HIDDEN_MAX_SECONDS``, where it was last seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count

from hub.video.analytics.kalman import BoxFilter
from hub.video.analytics.tracker import Box, Track, iou

HIGH = 0.5
MATCH_IOU = 0.2
WEAK_IOU = 0.5
SURE_SCORE = 0.85
BUFFER_PER_SECOND = 1.0
BUFFER_MAX = 0.5
REVIVE_SECONDS = 6.0
REVIVE_SPEED = 1.0
"""How far (person heights per second unseen, plus half a height) a lost person may have gone."""
REVIVE_HEIGHT = (0.6, 1.33)
"""Height ratio (to the tallest of the track's recent boxes) a box must have to revive it."""
REVIVE_CLEAR = 0.6
"""The nearest lost person must be this much nearer (relative to reach) than the next."""
DUPLICATE_IOU = 0.7
"""A confident box this close to a matched one is the same person seen twice, not a new one."""
HIDDEN_MAX_SECONDS = 60.0
"""The longest a person hidden in a group is kept without being detected again."""


@dataclass(slots=True, frozen=True)
class PersonBox:
    box: Box
    """x, y, w, h in analysis pixels."""
    score: float


def _known_at(tr: Track) -> float:
    """The last time the person was known to be where ``tr.box`` says: seen, or hidden there (a
    person hidden in a group for a minute has not had a minute to walk anywhere)."""
    return tr.last_seen if tr.hidden_at is None else max(tr.last_seen, tr.hidden_at)


def _grow(b: Box, f: float) -> Box:
    return b[0] - f * b[2], b[1] - f * b[3], b[2] * (1 + 2 * f), b[3] * (1 + 2 * f)


class PersonTracker:
    def __init__(
        self,
        memory_seconds: float = 1.5,
        ids: Iterator[int] | None = None,
        size: tuple[int, int] | None = None,
    ) -> None:
        self.memory_seconds = memory_seconds
        self.size = size
        """(width, height) of the analysed image: a person lost at its edge has left."""
        self.tracks: list[Track] = []
        self._filters: dict[int, BoxFilter] = {}
        self._t: dict[int, float] = {}
        """Time each filter was last advanced to."""
        self._ids = ids if ids is not None else count(1)

    def predicted(self, tr: Track, t: float) -> Box:
        f = self._filters.get(tr.track_id)
        if f is None:
            return tr.box
        return f.predicted(t - self._t[tr.track_id])

    def update(self, t: float, dets: list[PersonBox] | None) -> list[Track]:
        """``dets``: the detector's boxes on this frame, None when it did not look. Returns the
        live tracks; ``updated`` marks the ones observed on this frame."""
        if dets is None:
            for tr in self.tracks:
                tr.updated = False
            self.tracks = [tr for tr in self.tracks if self._remembered(tr, t)]
            self._forget()
            return self.tracks
        tracks = self.tracks
        for tr in tracks:
            tr.updated = False
        high = [d for d in dets if d.score >= HIGH]
        low = [d for d in dets if d.score < HIGH]
        matched: dict[int, PersonBox] = {}
        active = [tr for tr in tracks if self.active(tr, t)]
        left = self._match(t, active, high, MATCH_IOU, matched)
        recent = [tr for tr in active if tr.track_id not in matched and tr.confirmed]
        self._match(t, recent, low, WEAK_IOU, matched)
        # By place: people lost for a while, and people just missed whose box no longer
        # overlaps their prediction (a thin, distant person who turned round).
        missing = [tr for tr in tracks if tr.confirmed and tr.track_id not in matched]
        left = self._revive(t, missing, left, matched)
        alive: list[Track] = []
        for tr in tracks:
            d = matched.get(tr.track_id)
            if d is not None:
                self._observe(tr, t, d)
                alive.append(tr)
            elif tr.confirmed and self._remembered(tr, t):
                tr.misses += 1
                self._filters[tr.track_id].stop_growing()
                alive.append(tr)
        taken = [matched[tr.track_id].box for tr in alive if tr.track_id in matched]
        for d in left:
            if any(iou(d.box, b) > DUPLICATE_IOU for b in taken):
                continue
            tr = Track(next(self._ids), d.box, born=t, last_seen=t, kind="person")
            tr.hits = 2 if d.score >= SURE_SCORE else 1
            tr.score = d.score
            self._filters[tr.track_id] = BoxFilter(d.box)
            self._t[tr.track_id] = t
            alive.append(tr)
            taken.append(d.box)
        self.tracks = alive
        self._forget()
        return alive

    def active(self, tr: Track, t: float) -> bool:
        """Seen recently enough to be matched by overlap (else only revived by place)."""
        return t - tr.last_seen <= self.memory_seconds

    def hide(self, tr: Track, t: float) -> None:
        """``tr``, unseen on this frame, is still there (something covers its last box)."""
        if tr.confirmed and t - tr.last_seen <= HIDDEN_MAX_SECONDS:
            tr.hidden_at = t

    def _remembered(self, tr: Track, t: float) -> bool:
        return t - _known_at(tr) <= self.memory_seconds + (REVIVE_SECONDS if tr.confirmed else 0.0)

    def _left_view(self, tr: Track) -> bool:
        if self.size is None:
            return False
        x, y, w, h = tr.box
        return x <= 2 or y <= 2 or x + w >= self.size[0] - 2 or y + h >= self.size[1] - 2

    def _revive(
        self, t: float, lost: list[Track], dets: list[PersonBox], matched: dict[int, PersonBox]
    ) -> list[PersonBox]:
        """Confident boxes left over -> lost tracks they clearly continue; returns the rest."""
        if not lost:
            return dets
        left: list[PersonBox] = []
        for d in dets:
            fx, fy = d.box[0] + d.box[2] / 2.0, d.box[1] + d.box[3]
            near: list[tuple[float, Track]] = []
            for tr in lost:
                if tr.track_id in matched or self._left_view(tr):
                    continue
                # Partial boxes (a person half hidden) are shorter: compare with the tallest.
                tall = max([tr.box[3], *(b[3] for _, b in tr.history)])
                if not REVIVE_HEIGHT[0] <= d.box[3] / max(tall, 1.0) <= REVIVE_HEIGHT[1]:
                    continue
                gap = t - _known_at(tr)
                reach = tall * (0.5 + REVIVE_SPEED * gap)
                ox, oy = tr.foot
                # Where it was, or where it was heading (at no more than a walking pace).
                speed = max(abs(tr.vx) + abs(tr.vy), 1e-9)
                k = min(1.0, REVIVE_SPEED * tall / speed) * gap
                px, py = ox + tr.vx * k, oy + tr.vy * k
                # Or by the head: a box cut short (legs hidden, a person turning) has its foot
                # in the wrong place, its top in the right one.
                hx, hy = d.box[0] + d.box[2] / 2.0, d.box[1]
                tx, ty = tr.box[0] + tr.box[2] / 2.0, tr.box[1]
                dist = min(
                    abs(fx - ox) + abs(fy - oy),
                    abs(fx - px) + abs(fy - py),
                    abs(hx - tx) + abs(hy - ty),
                )
                if dist <= reach:
                    near.append((dist / reach, tr))
            near.sort(key=lambda n: n[0])
            # Only a clear continuation: two lost people equally near could be either.
            if near and (len(near) == 1 or near[0][0] < REVIVE_CLEAR * near[1][0]):
                tr = near[0][1]
                matched[tr.track_id] = d
                # Where it went while hidden is unknown: restart its motion from here.
                self._filters[tr.track_id] = BoxFilter(d.box)
                self._t[tr.track_id] = t
            else:
                left.append(d)
        return left

    def _forget(self) -> None:
        live = {tr.track_id for tr in self.tracks}
        for tid in [k for k in self._filters if k not in live]:
            del self._filters[tid]
            del self._t[tid]

    def _match(
        self,
        t: float,
        tracks: list[Track],
        dets: list[PersonBox],
        threshold: float,
        matched: dict[int, PersonBox],
    ) -> list[PersonBox]:
        """Greedy best-IoU matching into ``matched``; returns the boxes left over."""
        pairs: list[tuple[float, int, int]] = []
        for ti, tr in enumerate(tracks):
            if tr.track_id in matched:
                continue
            grow = min(BUFFER_PER_SECOND * (t - tr.last_seen), BUFFER_MAX)
            pb = _grow(self.predicted(tr, t), grow)
            for di, d in enumerate(dets):
                o = iou(pb, _grow(d.box, grow))
                if o >= threshold:
                    pairs.append((o, ti, di))
        pairs.sort(key=lambda p: -p[0])
        used: set[int] = set()
        for _, ti, di in pairs:
            tid = tracks[ti].track_id
            if tid in matched or di in used:
                continue
            matched[tid] = dets[di]
            used.add(di)
        return [d for di, d in enumerate(dets) if di not in used]

    def _observe(self, tr: Track, t: float, d: PersonBox) -> None:
        f = self._filters[tr.track_id]
        f.predict(t - self._t[tr.track_id])
        f.update(d.box)
        self._t[tr.track_id] = t
        tr.history.append((tr.last_seen, tr.box))
        tr.box = d.box
        tr.vx, tr.vy = f.velocity
        tr.last_seen = t
        tr.hits += 1
        tr.misses = 0
        tr.updated = True
        tr.score = d.score
