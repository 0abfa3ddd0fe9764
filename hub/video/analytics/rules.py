"""Zone intrusion, loitering and line crossing for one camera, on its tracks.

Zone membership is a pixel lookup in a bit map drawn once at analysis resolution (bit i = zone
i), so the per-object cost does not depend on polygon complexity. Lines use the signed distance of
the bottom-centre with a small hysteresis band, so feet jittering on the line do not cross it
back and forth; the crossing time is interpolated between the two frames around the sign change.

A stay in a zone belongs to the place as much as to the track: when a track inside a zone is
lost (its object merged into another blob, or vanished for longer than the tracker's memory) and
a new track enters the zone where the old one was, within ``RESUME_SECONDS``, the new track
resumes the old stay. Its dwell counts from the first entry and it raises no second intrusion,
so an identity break does not delay loitering or duplicate intrusions.

Intrusion and loitering events last as long as the stay that raised them, and follow it from
track to track. A stay ends when its object leaves the zone (after the zone's inertia) or its
track is lost, and no new track resumes it within ``RESUME_SECONDS``: then its open events end
with the last time the object was seen inside. The end is therefore reported up to
``RESUME_SECONDS`` after that time. Line crossings are instants: they end where they start.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from hub.config import Camera, Line, Zone
from hub.video.analytics.tracker import Box, Track
from hub.video.analytics.types import NormBox, RawEvent

MAX_ZONES = 64
RESUME_SECONDS = 2.5
"""Longest time between the last frame a lost track was seen in a zone and a new track's entry
at the same place for the new one to resume the stay (the tracker's memory is about 1 s)."""
RESUME_DISTANCE = 0.6
"""Feet closer than this many object heights count as the same place."""
_SHIFT = 4  # fixed-point bits for sub-pixel polygon vertices


def polygon_mask(polygons: list[list[list[float]]], height: int, width: int) -> np.ndarray:
    """uint8 HxW, 255 inside any of the normalised polygons."""
    out = np.zeros((height, width), np.uint8)
    pts = [_to_fixed(p, height, width) for p in polygons]
    if pts:
        cv2.fillPoly(out, pts, 255, lineType=cv2.LINE_8, shift=_SHIFT)
    return out


def _to_fixed(poly: list[list[float]], height: int, width: int) -> np.ndarray:
    scale = 1 << _SHIFT
    # Pixel centres sit at +0.5: a normalised x maps to x * width - 0.5 in pixel indices.
    return np.array(
        [[round((x * width - 0.5) * scale), round((y * height - 0.5) * scale)] for x, y in poly],
        np.int32,
    )


@dataclass(slots=True)
class _ZoneState:
    streak_in: int = 0
    streak_out: int = 0
    first_in: float = 0.0
    inside: bool = False
    intrusion_done: bool = False
    dwell_start: float = 0.0
    loiter_done: bool = False
    last_in: tuple[float, float, float, float] | None = None
    """Foot x, y, box height and time of the latest frame the foot was in the zone."""
    last_in_wall: float = 0.0
    open: list[RawEvent] | None = None
    """Events of this stay that have not ended (intrusion, loitering)."""


@dataclass(slots=True)
class _Departure:
    """A stay that ended without its object being seen to leave (or not yet known to)."""

    zone: int
    track_id: int
    foot: tuple[float, float]
    height: float
    t: float
    dwell_start: float
    loiter_done: bool
    wall: float
    open: list[RawEvent] | None


@dataclass(slots=True)
class _LineState:
    side: int = 0
    prev_s: float | None = None
    prev_foot: tuple[float, float] = (0.0, 0.0)
    prev_t: float = 0.0
    cand_t: float | None = None


@dataclass(slots=True)
class _TrackRules:
    zones: list[_ZoneState]
    lines: list[_LineState]
    in_zones: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _LineGeom:
    line: Line
    x0: float
    y0: float
    dx: float
    dy: float
    length: float


class CameraRules:
    def __init__(self, camera: Camera, height: int, width: int, classified: bool = False) -> None:
        self.camera_id = camera.id
        self.classified = classified
        """Tracks carry a detector's class: zones and lines apply their ``objects`` filter."""
        self.height = height
        self.width = width
        self.zones: list[Zone] = list(camera.zones[:MAX_ZONES])
        self.zone_map = np.zeros((height, width), np.uint64)
        for i, z in enumerate(self.zones):
            m = polygon_mask([z.polygon], height, width)
            self.zone_map[m > 0] |= np.uint64(1 << i)
        self.lines: list[_LineGeom] = []
        for ln in camera.lines:
            (ax, ay), (bx, by) = ln.points
            x0, y0 = ax * width, ay * height
            dx, dy = bx * width - x0, by * height - y0
            self.lines.append(_LineGeom(ln, x0, y0, dx, dy, max(float(np.hypot(dx, dy)), 1e-6)))
        self.margin = max(1.5, 0.01 * height)
        self._state: dict[int, _TrackRules] = {}
        self._last_event: dict[tuple[str, str], float] = {}
        self._departures: list[_Departure] = []

    @property
    def empty(self) -> bool:
        return not self.zones and not self.lines

    @property
    def pending(self) -> bool:
        """Stays whose end is not settled yet: ``expire`` must run even without any track."""
        return bool(self._departures)

    def evaluate(
        self, t: float, wall: float, tracks: list[Track], confidences: list[float]
    ) -> tuple[list[list[str]], list[RawEvent], list[RawEvent]]:
        """Advance the rules by one frame; returns the zones of each track, the events that
        started and the events that ended."""
        events: list[RawEvent] = []
        zones_of: list[list[str]] = []
        live: dict[int, _TrackRules] = {}
        for tr, conf in zip(tracks, confidences, strict=True):
            st = self._state.get(tr.track_id)
            if st is None:
                st = _TrackRules(
                    [_ZoneState() for _ in self.zones], [_LineState() for _ in self.lines]
                )
            live[tr.track_id] = st
            if tr.updated:
                self._track_frame(t, wall, tr, conf, st, live, events)
            zones_of.append(st.in_zones)
        for track_id, st in self._state.items():
            if track_id not in live:  # dropped by the tracker while (maybe) inside
                for i, zs in enumerate(st.zones):
                    if zs.inside:
                        self._depart(i, track_id, zs, live)
        self._state = live
        ended = self.expire(t) if self._departures else []
        return zones_of, events, ended

    def expire(self, t: float) -> list[RawEvent]:
        """Give up stays left longer than ``RESUME_SECONDS`` ago; their events end."""
        ended: list[RawEvent] = []
        keep: list[_Departure] = []
        for d in self._departures:
            if t - d.t <= RESUME_SECONDS:
                keep.append(d)
            elif d.open:
                ended.extend(_ended(d.open, d.t, d.wall, d.dwell_start))
        self._departures = keep
        return ended

    def close_all(self) -> list[RawEvent]:
        """End every open event at its last sighting and forget all tracks' state (the stream
        ended or is lost, the camera goes away)."""
        ended: list[RawEvent] = []
        for d in self._departures:
            if d.open:
                ended.extend(_ended(d.open, d.t, d.wall, d.dwell_start))
        for st in self._state.values():
            for zs in st.zones:
                if zs.open and zs.last_in is not None:
                    ended.extend(_ended(zs.open, zs.last_in[3], zs.last_in_wall, zs.dwell_start))
        self._departures = []
        self._state = {}
        return ended

    def _depart(
        self, zone: int, track_id: int, zs: _ZoneState, live: dict[int, _TrackRules]
    ) -> None:
        """A track's stay in ``zone`` ended: hand it to a new track at the same place, if any."""
        if zs.last_in is None:
            return
        x, y, h, t = zs.last_in
        d = _Departure(
            zone, track_id, (x, y), h, t, zs.dwell_start, zs.loiter_done, zs.last_in_wall, zs.open
        )
        zs.open = None
        # The successor may already be inside (born before the tracker gave up the old track).
        # A lost track's successor may even have entered before it was last seen: a second
        # track on the same person, which the tracker kept while dropping the first.
        lost = track_id not in live
        for tid, st in live.items():
            other = st.zones[zone]
            if (
                tid != track_id
                and other.inside
                and other.last_in is not None
                and (lost or other.first_in >= t)
                and other.first_in - t <= RESUME_SECONDS
                and self._near(d, other.last_in)
            ):
                self._take_over(other, d)
                return
        self._departures.append(d)

    @staticmethod
    def _near(d: _Departure, at: tuple[float, float, float, float]) -> bool:
        reach = RESUME_DISTANCE * max(d.height, at[2])
        return abs(d.foot[0] - at[0]) + abs(d.foot[1] - at[1]) <= reach

    @staticmethod
    def _take_over(zs: _ZoneState, d: _Departure) -> None:
        # The earliest stay wins: a track may already have taken over an older stay here (a
        # person whose track broke, then a blob on them that flickered out).
        zs.dwell_start = min(d.dwell_start, zs.dwell_start)
        zs.loiter_done = zs.loiter_done or d.loiter_done
        zs.intrusion_done = True
        if d.open:
            # The stay's events go on with it.
            zs.open = d.open + zs.open if zs.open else d.open

    def _resume(self, zone: int, track_id: int, zs: _ZoneState) -> None:
        """On entry: take over a stay that a lost track left here just before."""
        assert zs.last_in is not None
        best: _Departure | None = None
        for d in self._departures:
            if (
                d.zone != zone
                or d.track_id == track_id
                or not 0.0 <= zs.first_in - d.t <= RESUME_SECONDS
            ):
                continue
            if self._near(d, zs.last_in) and (best is None or d.t > best.t):
                best = d
        if best is not None:
            self._departures.remove(best)
            self._take_over(zs, best)

    def _track_frame(
        self,
        t: float,
        wall: float,
        tr: Track,
        conf: float,
        st: _TrackRules,
        live: dict[int, _TrackRules],
        out: list[RawEvent],
    ) -> None:
        fx, fy = tr.foot
        size = tr.box[3] / self.height
        if self.zones:
            px = min(max(int(fx), 0), self.width - 1)
            py = min(max(int(fy) - 1, 0), self.height - 1)
            bits = int(self.zone_map[py, px])
            in_zones: list[str] = []
            for i, z in enumerate(self.zones):
                zs = st.zones[i]
                here = bool(bits >> i & 1) and size >= z.min_object_size
                was_inside = zs.inside
                if here:
                    zs.last_in = (fx, fy, tr.box[3], t)
                    zs.last_in_wall = wall
                self._zone_step(t, zs, z, here)
                if zs.inside and not was_inside:
                    self._resume(i, tr.track_id, zs)
                elif was_inside and not zs.inside:
                    self._depart(i, tr.track_id, zs, live)
                if zs.inside:
                    in_zones.append(z.id)
                    # Zone membership is reported for every object (the abandoned-object rule
                    # looks at unclassified ones); events only for the objects the zone counts.
                    if tr.confirmed and self.counts(z.objects, tr.kind):
                        self._zone_events(t, wall, tr, conf, zs, z, out)
            st.in_zones = in_zones
        for lg, ls in zip(self.lines, st.lines, strict=True):
            self._line_step(t, wall, tr, conf, fx, fy, size, lg, ls, out)

    @staticmethod
    def _zone_step(t: float, zs: _ZoneState, z: Zone, here: bool) -> None:
        if here:
            zs.streak_out = 0
            if not zs.inside:
                if zs.streak_in == 0:
                    zs.first_in = t
                zs.streak_in += 1
                if zs.streak_in >= z.inertia_frames:
                    zs.inside = True
                    zs.intrusion_done = False
                    zs.loiter_done = False
                    zs.dwell_start = zs.first_in
        elif zs.inside:
            zs.streak_out += 1
            if zs.streak_out >= z.inertia_frames:
                zs.inside = False
                zs.streak_in = 0
        else:
            zs.streak_in = 0

    def _zone_events(
        self,
        t: float,
        wall: float,
        tr: Track,
        conf: float,
        zs: _ZoneState,
        z: Zone,
        out: list[RawEvent],
    ) -> None:
        if z.intrusion and not zs.intrusion_done:
            zs.intrusion_done = True
            if self._cool(z.id, "intrusion", zs.first_in, z.cooldown_seconds):
                ev = self._event("intrusion", tr, conf, t, wall, zs.first_in, zone=z.id)
                out.append(ev)
                _add_open(zs, ev)
        # Only while actually inside: the exit inertia must not stretch a dwell.
        if z.loiter_seconds is not None and not zs.loiter_done and zs.streak_out == 0:
            dwell = t - zs.dwell_start
            if dwell >= z.loiter_seconds:
                zs.loiter_done = True
                at = zs.dwell_start + z.loiter_seconds
                if self._cool(z.id, "loitering", at, z.cooldown_seconds):
                    ev = self._event("loitering", tr, conf, t, wall, at, zone=z.id)
                    ev.dwell_seconds = dwell
                    out.append(ev)
                    _add_open(zs, ev)

    def _line_step(
        self,
        t: float,
        wall: float,
        tr: Track,
        conf: float,
        fx: float,
        fy: float,
        size: float,
        lg: _LineGeom,
        ls: _LineState,
        out: list[RawEvent],
    ) -> None:
        # Signed distance in pixels: > 0 is the right of points[0] -> points[1] (y down).
        s = (lg.dx * (fy - lg.y0) - lg.dy * (fx - lg.x0)) / lg.length
        if ls.prev_s is not None and (ls.prev_s < 0) != (s < 0):
            frac = ls.prev_s / (ls.prev_s - s)
            px, py = ls.prev_foot
            cx, cy = px + (fx - px) * frac, py + (fy - py) * frac
            along = ((cx - lg.x0) * lg.dx + (cy - lg.y0) * lg.dy) / (lg.length * lg.length)
            ls.cand_t = ls.prev_t + (t - ls.prev_t) * frac if -0.02 <= along <= 1.02 else None
        ls.prev_s, ls.prev_foot, ls.prev_t = s, (fx, fy), t
        if abs(s) < self.margin:
            return
        side = 1 if s > 0 else -1
        if ls.side != 0 and side != ls.side and ls.cand_t is not None:
            direction = "forward" if side > 0 else "backward"
            ln = lg.line
            if (
                tr.confirmed
                and direction in ln.directions
                and size >= ln.min_object_size
                and self.counts(ln.objects, tr.kind)
                and self._cool(ln.id, "line_crossing", ls.cand_t, ln.cooldown_seconds)
            ):
                ev = self._event("line_crossing", tr, conf, t, wall, ls.cand_t, line=ln.id)
                ev.direction = direction
                ev.end_media_time, ev.end_wall_time = ev.media_time, ev.wall_time
                out.append(ev)
        ls.side = side
        ls.cand_t = None

    def counts(self, objects: str, kind: str) -> bool:
        """Does an object of ``kind`` count for a zone or line with this ``objects`` filter?"""
        if not self.classified:
            return True
        if objects == "any":
            return kind in ("person", "vehicle")
        return kind == objects

    def _cool(self, key: str, kind: str, at: float, cooldown: float) -> bool:
        last = self._last_event.get((key, kind))
        # Event times are interpolated and can come out of order (two people crossing a line
        # together, the one seen later having crossed first): the cooldown is a distance in
        # time either way, and none at all when it is 0.
        if last is not None and abs(at - last) < cooldown:
            return False
        self._last_event[(key, kind)] = at if last is None else max(last, at)
        return True

    def _event(
        self,
        kind: str,
        tr: Track,
        conf: float,
        t: float,
        wall: float,
        at: float,
        *,
        zone: str | None = None,
        line: str | None = None,
    ) -> RawEvent:
        return RawEvent(
            camera_id=self.camera_id,
            type=kind,
            zone_id=zone,
            line_id=line,
            direction=None,
            track_id=tr.track_id,
            media_time=at,
            wall_time=wall - (t - at),
            box=self.norm(tr.box),
            track_boxes=[self.norm(b) for _, b in reversed(tr.history)],
            confidence=conf,
            frame_media_time=t,
        )

    def norm(self, b: Box) -> NormBox:
        return (b[0] / self.width, b[1] / self.height, b[2] / self.width, b[3] / self.height)


def _add_open(zs: _ZoneState, ev: RawEvent) -> None:
    if zs.open is None:
        zs.open = [ev]
    else:
        zs.open.append(ev)


def _ended(open_: list[RawEvent], t: float, wall: float, dwell_start: float) -> list[RawEvent]:
    """Copies of a stay's open events ending at ``t`` (the started ones may still be in use)."""
    out = []
    for ev in open_:
        # Never before the start: a loitering event starts at entry + limit, after the last
        # sighting when the object left the very frame the limit was reached.
        end = max(t, ev.media_time)
        dwell = end - dwell_start if ev.type == "loitering" else ev.dwell_seconds
        out.append(
            replace(
                ev,
                end_media_time=end,
                end_wall_time=wall + (end - t),
                dwell_seconds=dwell,
            )
        )
    return out
