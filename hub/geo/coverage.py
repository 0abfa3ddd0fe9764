"""Camera coverage, for linkage (联动): the site's cameras that can see a position, nearest first.

A camera sees a point within ``view_distance_m`` (great-circle distance) whose bearing from the
camera lies inside ``heading ± fov_degrees / 2``; a camera without a heading is a dome and sees
all round.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.config import Camera
from hub.geo.distance import bearing_deg, haversine_m


def sees(camera: Camera, position: Sequence[float]) -> float | None:
    """The distance in metres when the camera can see the position, else None."""
    d = haversine_m(camera.position, position)
    if d > camera.view_distance_m:
        return None
    if camera.heading is None or camera.fov_degrees >= 360 or d < 0.5:
        return d
    off = abs((bearing_deg(camera.position, position) - camera.heading + 180.0) % 360.0 - 180.0)
    return d if off <= camera.fov_degrees / 2 else None


def cameras_for(position: Sequence[float], cameras: Sequence[Camera]) -> list[dict[str, Any]]:
    """``[{"camera_id", "camera_name", "distance_m"}]`` of the cameras that see the position."""
    seen: list[tuple[float, Camera]] = []
    for cam in cameras:
        if not cam.enabled:
            continue
        d = sees(cam, position)
        if d is not None:
            seen.append((d, cam))
    seen.sort(key=lambda x: (x[0], x[1].id))
    return [{"camera_id": c.id, "camera_name": c.name, "distance_m": round(d, 1)} for d, c in seen]


class Linkage:
    """Cameras per device, computed once per device (site devices at start, others on demand)."""

    def __init__(self, cameras: Sequence[Camera]) -> None:
        self._cameras = list(cameras)
        self._cache: dict[tuple[str, float, float], list[dict[str, Any]]] = {}

    def precompute(self, devices: Sequence[tuple[str, Sequence[float]]]) -> None:
        for device_id, pos in devices:
            self.for_device(device_id, pos)

    def for_device(self, device_id: str, position: Sequence[float]) -> list[dict[str, Any]]:
        key = (device_id, float(position[0]), float(position[1]))
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = cameras_for(position, self._cameras)
        return [dict(c) for c in got]
