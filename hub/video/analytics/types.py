"""Plain data passed into and out of the analytics core.

Boxes leaving the core are normalised ``(x, y, w, h)`` of the analysed image (top-left origin,
y down), so they apply unchanged to the full-resolution source image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

import numpy as np

from hub.ids import new_id

NormBox = tuple[float, float, float, float]


@dataclass(slots=True)
class AnalysisFrame:
    camera_id: str
    media_time: float
    """Seconds since stream start."""
    wall_time: float
    """Epoch seconds at capture."""
    luma: np.ndarray
    """uint8 HxW, already reduced to the camera's analysis size (see ``reduce_luma``)."""
    image: object | None = None
    """Full-resolution source (av.VideoFrame or ndarray) kept for evidence snapshots."""


@dataclass(slots=True)
class TrackedObject:
    track_id: int
    box: NormBox
    zones: list[str]
    """Zones the object's bottom-centre is in (after the zone's inertia), in site-file order."""
    confidence: float
    age_seconds: float = 0.0
    """Media time since the track was born."""
    velocity: tuple[float, float] = (0.0, 0.0)
    """Bottom-centre speed in normalised image units per second (x, y)."""
    kind: str = "unknown"
    """``person`` | ``vehicle`` | ``unknown`` (moving blob not classified)."""


@dataclass(slots=True)
class RawEvent:
    """One detection. Intrusion and loitering last: they are reported when they start (no end
    yet) and again, as a copy with the same ``id``, in ``FrameResult.ended`` when the stay is
    over. A line crossing is an instant: its end equals its start from the beginning."""

    camera_id: str
    type: str
    """``intrusion`` | ``line_crossing`` | ``loitering`` | ``crowd`` | ``tampering`` |
    ``abandoned_object`` | ``illegal_parking`` | ``fire`` | ``smoke``
    (hub.bus.contracts.DetectionType)."""
    zone_id: str | None
    line_id: str | None
    direction: str | None
    track_id: int
    media_time: float
    """When it happened: first frame inside (intrusion), the crossing (line), entry + loiter
    time (loitering). Can be earlier than the frame that raised it."""
    wall_time: float
    box: NormBox
    """The object's box on the frame that raised the event."""
    track_boxes: list[NormBox]
    """Earlier boxes of the track, newest first (the event box is not repeated). Crowd: the
    boxes of the people counted (``box`` is their union)."""
    confidence: float
    dwell_seconds: float | None = None
    frame_media_time: float = 0.0
    """Media time of the frame that raised the event (the one a snapshot shows)."""
    id: UUID = field(default_factory=new_id)
    """Assigned at creation; the end of the event carries the same id."""
    end_media_time: float | None = None
    """Last time the object was seen inside (intrusion, loitering); None while it lasts."""
    end_wall_time: float | None = None
    object_kind: str | None = None
    """Kind of the object an object event is about (``TrackedObject.kind``): abandoned
    objects and illegal parking."""
    count: int | None = None
    """Crowd: the most people counted in the zone during the event (so far)."""
    cause: str | None = None
    """Tampering: ``covered`` | ``defocused`` | ``moved`` | ``frozen``; fire and smoke:
    ``heuristic`` (colour and texture rules, no trained model)."""


@dataclass(slots=True)
class FrameResult:
    camera_id: str
    media_time: float
    wall_time: float
    motion: float
    """Fraction of the unmasked image that changed (0..1)."""
    objects: list[TrackedObject] = field(default_factory=list)
    events: list[RawEvent] = field(default_factory=list)
    """Events that started at this frame."""
    ended: list[RawEvent] = field(default_factory=list)
    """Events that closed at this frame: copies of started ones (same ``id``) with the end times
    and the final ``dwell_seconds``. An end may be reported a little after the end time (a new
    track at the same place may still continue the stay, see ``rules.RESUME_SECONDS``)."""
