"""What the event detectors share: their interface, event construction and small geometry.

Every detector belongs to one camera and one analysis size, is fed every analysed frame of
that camera in time order (also frames without any object: ends are decided on them), and
returns the events that started and those that ended on that frame. A lasting event starts
with no end and ends later as a copy with the same ``id`` and the end times, exactly like
intrusion and loitering (see ``types.RawEvent``).

Times follow loitering: an event's ``media_time`` is when its condition was met (onset plus
the required hold time), possibly earlier than the frame that raised it; ``dwell_seconds``
is the time since the onset (final on the ended copy); the end is the last time the
condition was seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from hub.video.analytics.types import NormBox, RawEvent, TrackedObject

FULL_FRAME: NormBox = (0.0, 0.0, 1.0, 1.0)
SCENE_TRACK = 0
"""``track_id`` of events about the scene rather than one object (tampering, fire, smoke,
crowd)."""


class EventDetector(Protocol):
    """One detector for one camera at one analysis size (rebuild it when the size changes)."""

    def update(
        self,
        t_media: float,
        t_wall: float,
        luma: np.ndarray,
        image: object | None,
        objects: Sequence[TrackedObject] = (),
    ) -> tuple[list[RawEvent], list[RawEvent]]:
        """Advance by one analysed frame; returns (started, ended)."""
        ...

    def close_all(self) -> list[RawEvent]:
        """End every open event at its last sighting and forget the state (the stream ended
        or is lost, the camera goes away)."""
        ...


def scene_event(
    camera_id: str,
    kind: str,
    *,
    at: float,
    t: float,
    wall: float,
    box: NormBox,
    confidence: float,
    onset: float,
    zone_id: str | None = None,
    track_id: int = SCENE_TRACK,
    track_boxes: list[NormBox] | None = None,
    object_kind: str | None = None,
    count: int | None = None,
    cause: str | None = None,
) -> RawEvent:
    """A started event whose condition was met at ``at`` (raised on the frame at ``t``)."""
    return RawEvent(
        camera_id=camera_id,
        type=kind,
        zone_id=zone_id,
        line_id=None,
        direction=None,
        track_id=track_id,
        media_time=at,
        wall_time=wall - (t - at),
        box=box,
        track_boxes=track_boxes or [],
        confidence=round(min(max(confidence, 0.0), 1.0), 3),
        dwell_seconds=max(t - onset, 0.0),
        frame_media_time=t,
        object_kind=object_kind,
        count=count,
        cause=cause,
    )


def ended(
    ev: RawEvent, end: float, end_wall: float, onset: float, *, count: int | None = None
) -> RawEvent:
    """The end of ``ev``: a copy with the end times and the final dwell (never before the
    start: the condition may stop on the very frame it was met)."""
    end_at = max(end, ev.media_time)
    return replace(
        ev,
        end_media_time=end_at,
        end_wall_time=end_wall + (end_at - end),
        dwell_seconds=end_at - onset,
        count=count if count is not None else ev.count,
    )


def union_box(boxes: Sequence[NormBox]) -> NormBox:
    if not boxes:
        return FULL_FRAME
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return (x0, y0, x1 - x0, y1 - y0)


def iou(a: NormBox, b: NormBox) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


class Ticker:
    """Decides which frames a periodic check runs on (every ``period`` seconds of media time);
    a media time going backwards (a new stream) restarts it."""

    __slots__ = ("last", "period")

    def __init__(self, period: float) -> None:
        self.period = period
        self.last: float | None = None

    def due(self, t: float) -> bool:
        # A little slack: frame times are multiples of the frame interval, not of the period.
        if self.last is None or t < self.last or t - self.last >= self.period - 0.02:
            self.last = t
            return True
        return False
