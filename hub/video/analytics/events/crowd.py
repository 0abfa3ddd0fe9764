"""Crowd gathering (人员聚集): many people in a zone for a while.

For each zone with ``crowd_people`` set, the number of ``person`` objects in the zone is
counted on every frame. When it has stayed at or above ``crowd_people`` for ``crowd_seconds``
(dips shorter than ``DIP_SECONDS`` do not restart the count: a person hidden behind another
for a moment, a missed detection) a crowd event starts; ``count`` is the largest number seen
since the gathering began, and the ended copy carries the largest of the whole event. The
event ends once the count has stayed below the limit for ``END_SECONDS``, at the last frame it
was still reached.

People standing close together defeat a person detector: one of two people overlapping at the
same spot is often never found, and is left as an unclassified motion blob that is not the
found person's (or two people, both unfound, make one blob). Such a blob counts when it stands
still, overlaps people counted in the zone, and has a standing person's shape and height
(``_unseparated``; a cast shadow lies flat, a bag is small, a walking group is moving): for as
many people as fit, by the median person's area, in the part of it no found person covers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hub.config import Camera, Zone
from hub.video.analytics.classify import covered_by
from hub.video.analytics.events.base import ended, scene_event, union_box
from hub.video.analytics.types import RawEvent, TrackedObject

TYPE = "crowd"
DIP_SECONDS = 2.0
END_SECONDS = 3.0
GROUP_TOUCH = 0.1
"""An unclassified blob overlapping the zone's people this much (of its area) stands among them."""
GROUP_HEIGHT = 0.75
"""...and is at least this tall against the median person around it,"""
GROUP_ASPECT = 1.4
"""...at least this much taller than wide (pixels),"""
GROUP_STILL = 0.2
"""...and moves under this many of its heights per second."""
GROUP_MAX = 4
"""The most people one such blob counts for."""


@dataclass(slots=True)
class _ZoneCrowd:
    zone: Zone
    need: int
    since: float | None = None
    """Start of the current gathering (count reached, dips shorter than DIP_SECONDS)."""
    last: float = 0.0
    last_wall: float = 0.0
    """Latest frame with the count reached."""
    peak: int = 0
    open: RawEvent | None = None


class CrowdDetector:
    def __init__(self, camera: Camera, height: int, width: int) -> None:
        self.camera_id = camera.id
        self._h, self._w = height, width
        self._zones = [
            _ZoneCrowd(z, z.crowd_people) for z in camera.zones if z.crowd_people is not None
        ]

    @property
    def empty(self) -> bool:
        return not self._zones

    def update(
        self,
        t_media: float,
        t_wall: float,
        luma: np.ndarray | None = None,
        image: object | None = None,
        objects: Sequence[TrackedObject] = (),
    ) -> tuple[list[RawEvent], list[RawEvent]]:
        started: list[RawEvent] = []
        ends: list[RawEvent] = []
        for zc in self._zones:
            zid = zc.zone.id
            people = [o for o in objects if o.kind == "person" and zid in o.zones]
            others = [o for o in objects if o.kind == "unknown" and zid in o.zones]
            people += self._unseparated(people, others)
            n = len(people)
            if n >= zc.need:
                if zc.since is None or t_media - zc.last > DIP_SECONDS or t_media < zc.last:
                    if zc.open is not None:  # the stream jumped: close the old one first
                        ends.append(self._end(zc))
                    zc.since, zc.peak = t_media, 0
                zc.last, zc.last_wall = t_media, t_wall
                zc.peak = max(zc.peak, n)
                if zc.open is None and t_media - zc.since >= zc.zone.crowd_seconds - 1e-6:
                    zc.open = scene_event(
                        self.camera_id,
                        TYPE,
                        at=zc.since + zc.zone.crowd_seconds,
                        t=t_media,
                        wall=t_wall,
                        box=union_box([o.box for o in people]),
                        confidence=float(np.mean([o.confidence for o in people])),
                        onset=zc.since,
                        zone_id=zid,
                        track_boxes=[o.box for o in people],
                        count=zc.peak,
                    )
                    started.append(zc.open)
            elif zc.since is not None:
                if zc.open is not None and t_media - zc.last >= END_SECONDS:
                    ends.append(self._end(zc))
                elif zc.open is None and t_media - zc.last > DIP_SECONDS:
                    zc.since = None
        return started, ends

    def _unseparated(
        self, people: list[TrackedObject], others: list[TrackedObject]
    ) -> list[TrackedObject]:
        """Blobs among the zone's people that are people the detector did not separate, each
        as many times as people fit in what the found people do not cover of it."""
        if not people or not others:
            return []
        boxes = [o.box for o in people]
        tall = float(np.median([b[3] for b in boxes]))
        one = float(np.median([b[2] * b[3] for b in boxes]))
        found = []
        for o in others:
            w, h = o.box[2], o.box[3]
            speed = abs(o.velocity[0]) * self._w + abs(o.velocity[1]) * self._h
            if h < GROUP_HEIGHT * tall or speed >= GROUP_STILL * h * self._h:
                continue
            covered = covered_by(o.box, boxes)
            if covered < GROUP_TOUCH:
                continue
            n = min(GROUP_MAX, round(max(0.0, 1.0 - covered) * w * h / max(one, 1e-9)))
            # Each of them a standing person's shape (side by side, they make a wider blob).
            if n and h * self._h >= GROUP_ASPECT * w * self._w / n:
                found += [o] * n
        return found

    def close_all(self) -> list[RawEvent]:
        out = [self._end(zc) for zc in self._zones if zc.open is not None]
        for zc in self._zones:
            zc.since = None
        return out

    @staticmethod
    def _end(zc: _ZoneCrowd) -> RawEvent:
        assert zc.open is not None and zc.since is not None
        ev = ended(zc.open, zc.last, zc.last_wall, zc.since, count=zc.peak)
        zc.open = None
        zc.since = None
        return ev
