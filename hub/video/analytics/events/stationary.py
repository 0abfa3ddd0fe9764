"""Objects that stay: abandoned objects (遗留物) and illegal parking (违停).

For each zone with ``abandoned_seconds`` (objects of kind ``unknown``: neither a person nor a
vehicle) or ``parking_seconds`` (kind ``vehicle``), an object that stands still in the zone
starts a *stay* anchored at its box. The stay belongs to the place as much as to the track: a
track lost and reborn at the same place (the tracker lost a still object for a moment, an
identity switch) continues it. An object counts as still while its box centre stays within
``STILL_DRIFT`` of the anchor (a fraction of the box size, plus a small absolute margin) and
its speed is low, or while its box still covers the anchor, grown by at most ``GROWN_AREA``
(a shadow or a passer-by joined its blob). After the zone's time the event starts
(``object_kind`` = the object's kind); it ends when the object moves away, leaves the zone,
or is not seen at its place for ``GONE_SECONDS``, at the last time it was seen there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hub.config import Camera
from hub.video.analytics.events.base import ended, iou, scene_event
from hub.video.analytics.types import NormBox, RawEvent, TrackedObject

ABANDONED = "abandoned_object"
PARKING = "illegal_parking"
KINDS = {ABANDONED: "unknown", PARKING: "vehicle"}
"""Event type -> the object kind it is about."""

STILL_DRIFT = 0.3
"""Largest centre drift from the anchor, as a fraction of the box's larger side."""
STILL_MARGIN = 0.01
"""Plus this much of the image (jitter of small boxes)."""
STILL_SPEED = 0.05
"""Largest speed of a still object, normalised units per second (besides the drift)."""
GONE_SECONDS = 2.0
"""A stay whose object is not seen at its place this long is over."""
COVERED_SHARE = 0.6
GROWN_AREA = 4.0
"""An object whose box covers this share of the anchor, at no more than this many times its
area, is still at its place however its blob's outline moves."""
SAME_PLACE_IOU = 0.4
"""A new track continues a stay when its box overlaps the anchor this much."""


@dataclass(slots=True)
class _Stay:
    type: str
    zone_id: str
    seconds: float
    track_id: int
    anchor: NormBox
    since: float
    last: float
    last_wall: float
    box: NormBox
    kind: str
    open: RawEvent | None = None


def _centre(b: NormBox) -> tuple[float, float]:
    return b[0] + b[2] / 2, b[1] + b[3] / 2


def _still_at(obj: TrackedObject, anchor: NormBox) -> bool:
    (ax, ay), (cx, cy) = _centre(anchor), _centre(obj.box)
    reach = STILL_DRIFT * max(anchor[2], anchor[3]) + STILL_MARGIN
    return (
        abs(cx - ax) <= reach
        and abs(cy - ay) <= reach
        and float(np.hypot(*obj.velocity)) <= STILL_SPEED
    ) or _covers(obj.box, anchor)


def _covers(box: NormBox, anchor: NormBox) -> bool:
    """The box still holds the anchor, grown by something next to it (a shadow or a passer-by
    whose blob joined the object's): growth moves the centre and looks like speed, but the
    object has not left."""
    ix = min(box[0] + box[2], anchor[0] + anchor[2]) - max(box[0], anchor[0])
    iy = min(box[1] + box[3], anchor[1] + anchor[3]) - max(box[1], anchor[1])
    area = anchor[2] * anchor[3]
    return (
        ix > 0
        and iy > 0
        and ix * iy >= COVERED_SHARE * area
        and box[2] * box[3] <= GROWN_AREA * area
    )


class StationaryDetector:
    """Abandoned objects and illegal parking of one camera (both rules, all its zones)."""

    def __init__(self, camera: Camera, height: int, width: int) -> None:
        self.camera_id = camera.id
        self._rules: list[tuple[str, str, float]] = []
        """(zone id, event type, seconds)."""
        for z in camera.zones:
            if z.abandoned_seconds is not None:
                self._rules.append((z.id, ABANDONED, z.abandoned_seconds))
            if z.parking_seconds is not None:
                self._rules.append((z.id, PARKING, z.parking_seconds))
        self._stays: list[_Stay] = []

    @property
    def empty(self) -> bool:
        return not self._rules

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
        if not self._rules:
            return started, ends
        if any(t_media < s.last for s in self._stays):  # a new stream: start over
            ends += self.close_all()
        claimed: set[tuple[int, str, str]] = set()
        keep: list[_Stay] = []
        for stay in self._stays:
            obj = self._follow(stay, objects)
            if obj is not None:
                claimed.add((obj.track_id, stay.zone_id, stay.type))
                stay.track_id, stay.box = obj.track_id, obj.box
                stay.last, stay.last_wall = t_media, t_wall
                if stay.open is None and t_media - stay.since >= stay.seconds - 1e-6:
                    stay.open = self._event(stay, obj, t_media, t_wall)
                    started.append(stay.open)
                keep.append(stay)
            elif t_media - stay.last < GONE_SECONDS and not self._moved_away(stay, objects):
                keep.append(stay)
            elif stay.open is not None:
                ends.append(ended(stay.open, stay.last, stay.last_wall, stay.since))
        for obj in objects:
            for zone_id, kind, seconds in self._rules:
                if (
                    obj.kind != KINDS[kind]
                    or zone_id not in obj.zones
                    or (obj.track_id, zone_id, kind) in claimed
                    or float(np.hypot(*obj.velocity)) > STILL_SPEED
                ):
                    continue
                keep.append(
                    _Stay(
                        kind, zone_id, seconds, obj.track_id, obj.box, t_media, t_media, t_wall,
                        obj.box, obj.kind,
                    )
                )  # fmt: skip
        self._stays = keep
        return started, ends

    def close_all(self) -> list[RawEvent]:
        out = [
            ended(s.open, s.last, s.last_wall, s.since) for s in self._stays if s.open is not None
        ]
        self._stays = []
        return out

    @staticmethod
    def _follow(stay: _Stay, objects: Sequence[TrackedObject]) -> TrackedObject | None:
        """The object still holding the stay: its track if still at the anchor, else another
        still object of the same kind on the anchor (a new track of the same object)."""
        best: TrackedObject | None = None
        best_iou = SAME_PLACE_IOU
        for o in objects:
            if o.kind != stay.kind or stay.zone_id not in o.zones or not _still_at(o, stay.anchor):
                continue
            if o.track_id == stay.track_id:
                return o
            overlap = iou(o.box, stay.anchor)
            if overlap >= best_iou:
                best, best_iou = o, overlap
        return best

    @staticmethod
    def _moved_away(stay: _Stay, objects: Sequence[TrackedObject]) -> bool:
        """Its own track is still seen, but not still at the anchor (or out of the zone)."""
        return any(o.track_id == stay.track_id for o in objects)

    def _event(self, stay: _Stay, obj: TrackedObject, t: float, wall: float) -> RawEvent:
        return scene_event(
            self.camera_id,
            stay.type,
            at=stay.since + stay.seconds,
            t=t,
            wall=wall,
            box=obj.box,
            confidence=obj.confidence,
            onset=stay.since,
            zone_id=stay.zone_id,
            track_id=obj.track_id,
            object_kind=obj.kind,
        )
