"""Video event detectors beyond zones and lines, one module per detector, each one object per
camera: tampering (遮挡/失焦/移位/冻结), crowd gathering (人员聚集), abandoned objects and
illegal parking (遗留物/违停), fire and smoke heuristics (火焰/烟雾).

All share one interface (:class:`EventDetector`): ``update(t_media, t_wall, luma, image,
objects)`` on every analysed frame of the camera, returning ``(started, ended)`` raw events,
and ``close_all()`` when the stream stops. :func:`detectors_for` builds the ones a camera's
site-file settings switch on.
"""

from __future__ import annotations

from hub.config import Camera
from hub.video.analytics.events.base import EventDetector
from hub.video.analytics.events.crowd import CrowdDetector
from hub.video.analytics.events.fire_smoke import FireSmokeDetector, small_bgr
from hub.video.analytics.events.stationary import StationaryDetector
from hub.video.analytics.events.tampering import TamperingDetector

EVENT_TYPES = (
    "tampering",
    "crowd",
    "abandoned_object",
    "illegal_parking",
    "fire",
    "smoke",
)
"""The detection types these detectors raise (hub.bus.contracts.DetectionType)."""


def detectors_for(camera: Camera, height: int, width: int) -> list[EventDetector]:
    """The detectors the camera's settings enable, for frames of ``height`` x ``width``."""
    out: list[EventDetector] = []
    if camera.tampering:
        out.append(TamperingDetector(camera, height, width))
    if any(z.crowd_people is not None for z in camera.zones):
        out.append(CrowdDetector(camera, height, width))
    if any(z.abandoned_seconds is not None or z.parking_seconds is not None for z in camera.zones):
        out.append(StationaryDetector(camera, height, width))
    if camera.fire or camera.smoke:
        out.append(FireSmokeDetector(camera, height, width))
    return out


__all__ = [
    "EVENT_TYPES",
    "CrowdDetector",
    "EventDetector",
    "FireSmokeDetector",
    "StationaryDetector",
    "TamperingDetector",
    "detectors_for",
    "small_bgr",
]
