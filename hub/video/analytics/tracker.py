"""Blobs -> tracks for one camera: greedy IoU / bottom-centre matching with a short memory.

Per-camera object counts are small (a handful), so plain Python beats numpy set-up costs here.
A track survives ``memory_seconds`` without a matching blob (one missed frame at least), moving
on its last velocity, so an object that flickers out of the motion mask keeps its id.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count

Box = tuple[float, float, float, float]
"""x, y, w, h in analysis pixels."""

MIN_HITS = 2
"""Matched frames before a track is confirmed (reported, may raise events)."""
HISTORY = 16


@dataclass(slots=True)
class Track:
    track_id: int
    box: Box
    born: float
    last_seen: float
    hits: int = 1
    misses: int = 0
    vx: float = 0.0
    """Bottom-centre velocity, pixels per second."""
    vy: float = 0.0
    history: deque[tuple[float, Box]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    updated: bool = True
    """Matched to a blob (or coasting inside a merged one) on the latest frame."""
    coasting: bool = False
    """Following its prediction inside a blob shared with another object."""
    kind: str = "unknown"
    score: float = 0.0
    """The detector's score on its latest detection (person tracks)."""
    """``person`` (detector-confirmed), ``vehicle`` (by shape and motion) or ``unknown``."""
    hidden_at: float | None = None
    """Person tracks: the latest frame that showed this unseen person still there, hidden in
    a group (``PersonTracker.hide``)."""

    @property
    def confirmed(self) -> bool:
        return self.hits >= MIN_HITS

    @property
    def still(self) -> bool:
        """Hardly moving: under a fifth of its height per second."""
        return abs(self.vx) + abs(self.vy) < 0.2 * self.box[3]

    @property
    def foot(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return x + w / 2.0, y + h


def iou(a: Box, b: Box) -> float:
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _union(a: Box, b: Box) -> Box:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return x0, y0, x1 - x0, y1 - y0


def _gap(a: Box, b: Box) -> float:
    """Distance between two boxes (0 when they touch or overlap), Chebyshev."""
    gx = max(b[0] - (a[0] + a[2]), a[0] - (b[0] + b[2]), 0.0)
    gy = max(b[1] - (a[1] + a[3]), a[1] - (b[1] + b[3]), 0.0)
    return max(gx, gy)


def _covered(inner: Box, outer: Box) -> float:
    """Fraction of ``inner``'s area inside ``outer``."""
    ix = min(inner[0] + inner[2], outer[0] + outer[2]) - max(inner[0], outer[0])
    iy = min(inner[1] + inner[3], outer[1] + outer[3]) - max(inner[1], outer[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    return ix * iy / max(inner[2] * inner[3], 1e-9)


class Tracker:
    def __init__(
        self,
        memory_seconds: float = 1.0,
        max_misses: int = 8,
        size: tuple[int, int] = (1 << 30, 1 << 30),
        ids: Iterator[int] | None = None,
    ) -> None:
        self.width, self.height = size
        self.memory_seconds = memory_seconds
        self.max_misses = max_misses
        self.tracks: list[Track] = []
        self._ids = ids if ids is not None else count(1)
        self._last_t: float | None = None

    def update(self, t: float, blobs: list[tuple[int, int, int, int]]) -> list[Track]:
        """Match this frame's blobs; returns the live tracks (matched or remembered)."""
        dt = 0.0 if self._last_t is None else max(t - self._last_t, 0.0)
        self._last_t = t
        tracks = self.tracks
        predicted = [_predict(tr, t) for tr in tracks]
        dets: list[Box] = [(float(x), float(y), float(w), float(h)) for x, y, w, h in blobs]

        coast = self._split_merges(predicted, dets)

        pairs: list[tuple[float, int, int]] = []
        for ti, pb in enumerate(predicted):
            if ti in coast:
                continue
            pfx, pfy = pb[0] + pb[2] / 2.0, pb[1] + pb[3]
            reach = max(pb[2], pb[3], 4.0)
            for di, db in enumerate(dets):
                if db[2] <= 0:
                    continue
                o = iou(pb, db)
                if o > 0.05:
                    pairs.append((1.0 + o, ti, di))
                    continue
                dist = abs(db[0] + db[2] / 2.0 - pfx) + abs(db[1] + db[3] - pfy)
                if dist < reach:
                    pairs.append((1.0 - dist / reach, ti, di))
        pairs.sort(key=lambda p: -p[0])
        t_match: dict[int, int] = {}
        d_used: set[int] = set()
        for _, ti, di in pairs:
            if ti in t_match or di in d_used:
                continue
            t_match[ti] = di
            d_used.add(di)

        # A blob mostly inside a matched track's new box, or touching it while the union stays
        # within the size the track has had, is a fragment of the same object (parts of a
        # person whose clothes match the ground).
        merged: dict[int, Box] = {ti: dets[di] for ti, di in t_match.items()}
        for di, db in enumerate(dets):
            if di in d_used or db[2] <= 0:
                continue
            for ti, box in merged.items():
                u = _union(box, db)
                if _covered(db, _union(box, predicted[ti])) >= 0.6 or (
                    tracks[ti].confirmed
                    and _gap(box, db) <= 0.5 * max(box[3], db[3])
                    and self._fits(tracks[ti], u)
                ):
                    merged[ti] = u
                    d_used.add(di)
                    break

        alive: list[Track] = []
        for ti, tr in enumerate(tracks):
            if ti in coast:
                # Merged with another object: follow the prediction, keep the velocity.
                tr.history.append((tr.last_seen, tr.box))
                tr.box = coast[ti]
                tr.last_seen = t
                tr.misses = 0
                tr.updated = True
                tr.coasting = True
                alive.append(tr)
            elif ti in merged:
                nb = merged[ti]
                if dt > 0:
                    fx, fy = nb[0] + nb[2] / 2.0, nb[1] + nb[3]
                    ox, oy = tr.foot
                    # Smooth velocity; the first estimate is taken as is.
                    a = 0.5 if tr.hits > 1 else 1.0
                    span = max(t - tr.last_seen, 1e-6)
                    tr.vx = (1 - a) * tr.vx + a * (fx - ox) / span
                    tr.vy = (1 - a) * tr.vy + a * (fy - oy) / span
                tr.history.append((tr.last_seen, tr.box))
                tr.box = nb
                tr.last_seen = t
                tr.hits += 1
                tr.misses = 0
                tr.updated = True
                tr.coasting = False
                alive.append(tr)
            else:
                tr.misses += 1
                tr.updated = False
                tr.coasting = False
                if tr.misses <= self.max_misses and t - tr.last_seen <= self.memory_seconds:
                    alive.append(tr)
        for di, db in enumerate(dets):
            if di not in d_used and db[2] > 0:
                alive.append(Track(next(self._ids), db, born=t, last_seen=t))
        self.tracks = alive
        return alive

    @staticmethod
    def _fits(tr: Track, b: Box) -> bool:
        """``b`` is no bigger than the track has been (with a margin)."""
        mw = max([tr.box[2], *(hb[2] for _, hb in tr.history)])
        mh = max([tr.box[3], *(hb[3] for _, hb in tr.history)])
        return b[2] <= 1.3 * mw and b[3] <= 1.2 * mh

    def _at_border(self, b: Box) -> bool:
        """Touching the image edge: partly outside, so its blob may legitimately grow."""
        return (
            b[0] <= 1
            or b[1] <= 1
            or b[0] + b[2] >= self.width - 1
            or b[1] + b[3] >= self.height - 1
        )

    def _split_merges(self, predicted: list[Box], dets: list[Box]) -> dict[int, Box]:
        """Tracks whose objects merged into one blob -> the box each follows instead.

        Two established tracks inside one blob (people crossing, a walker passing a parked
        car) both coast on their predictions inside it. A still object whose blob suddenly
        grows keeps its box, and the growth becomes a detection of its own. Consumed blobs
        are blanked (zero width) in ``dets``.
        """
        coast: dict[int, Box] = {}
        for di in range(len(dets)):
            db = dets[di]
            owners = [
                ti
                for ti, pb in enumerate(predicted)
                if ti not in coast
                and self.tracks[ti].hits >= SPLIT_MIN_HITS
                # The last box counts too: an object that stopped short of its prediction.
                and max(_covered(pb, db), _covered(self.tracks[ti].box, db)) >= 0.5
            ]
            if len(owners) >= 2:
                for ti in owners:
                    coast[ti] = _clamp_into(predicted[ti], db)
                dets[di] = (db[0], db[1], 0.0, 0.0)
            elif len(owners) == 1:
                ti = owners[0]
                pb = predicted[ti]
                grew = db[2] * db[3] > SPLIT_GROWTH * pb[2] * pb[3] and _covered(pb, db) >= 0.8
                # Growing back to a size it has had (a person whose legs reappear) is no merge.
                if grew and not self._at_border(pb) and not self._fits(self.tracks[ti], db):
                    coast[ti] = pb
                    dets[di] = _residual(db, pb)
        return coast


SPLIT_MIN_HITS = 3
SPLIT_GROWTH = 2.2
"""A blob this many times the area of the one track inside it holds a second object."""


def _clamp_into(b: Box, outer: Box) -> Box:
    """Shift ``b`` (not resize) so it lies inside ``outer`` as far as it fits."""
    x = min(max(b[0], outer[0]), outer[0] + outer[2] - b[2]) if b[2] <= outer[2] else b[0]
    y = min(max(b[1], outer[1]), outer[1] + outer[3] - b[3]) if b[3] <= outer[3] else b[1]
    return x, y, b[2], b[3]


def _residual(outer: Box, inner: Box) -> Box:
    """The largest strip of ``outer`` left of, right of, above or below ``inner``."""
    ox0, oy0, ox1, oy1 = outer[0], outer[1], outer[0] + outer[2], outer[1] + outer[3]
    ix0, iy0, ix1, iy1 = inner[0], inner[1], inner[0] + inner[2], inner[1] + inner[3]
    strips = [
        (ox0, oy0, max(ix0 - ox0, 0.0), outer[3]),
        (ix1, oy0, max(ox1 - ix1, 0.0), outer[3]),
        (ox0, oy0, outer[2], max(iy0 - oy0, 0.0)),
        (ox0, iy1, outer[2], max(oy1 - iy1, 0.0)),
    ]
    best = max(strips, key=lambda b: b[2] * b[3])
    return best if best[2] >= 2 and best[3] >= 2 else (best[0], best[1], 0.0, 0.0)


def _predict(tr: Track, t: float) -> Box:
    dt = t - tr.last_seen
    x, y, w, h = tr.box
    if dt <= 0 or tr.hits < 2:
        return tr.box
    return x + tr.vx * dt, y + tr.vy * dt, w, h
