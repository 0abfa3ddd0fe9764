"""Crowd gathering (人员聚集): many people in a zone for a while.

For each zone with ``crowd_people`` set, the number of ``person`` objects in the zone is
counted on every frame. When it has stayed at or above ``crowd_people`` for ``crowd_seconds``
(dips shorter than ``DIP_SECONDS`` do not restart the count: a person hidden behind another
for a moment, a missed detection) a crowd event starts; ``count`` is the largest number seen
since the gathering began, and the ended copy carries the largest of the whole event. The
event ends once the count has stayed below the limit for ``END_SECONDS``, at the last frame it
was still reached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hub.config import Camera, Zone
from hub.video.analytics.events.base import ended, scene_event, union_box
from hub.video.analytics.types import RawEvent, TrackedObject

TYPE = "crowd"
DIP_SECONDS = 2.0
END_SECONDS = 3.0


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
