"""A unit's flight: a closed path of waypoints flown at a steady speed and height, and the
telemetry a drone reports on it (position, heading, altitude, speed, battery)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

EARTH_M = 6_371_000.0


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lon1, lat1), (lon2, lat2) = a, b
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return math.hypot(x, y) * EARTH_M


def _bearing(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lon1, lat1), (lon2, lat2) = a, b
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return math.degrees(math.atan2(x, y)) % 360


@dataclass
class Flight:
    path: list[tuple[float, float]]
    """(lon, lat) waypoints; the unit flies them in a loop."""
    speed_mps: float = 8.0
    altitude_m: float = 60.0
    started: float = field(default_factory=time.time)
    """Epoch seconds the flight began (battery and position count from it)."""
    battery_minutes: float = 40.0

    def __post_init__(self) -> None:
        if len(self.path) < 2:
            raise ValueError("a flight needs at least two waypoints")
        self._legs = [
            (a, b, _metres(a, b))
            for a, b in zip(self.path, self.path[1:] + self.path[:1], strict=True)
        ]
        self._length = sum(d for _, _, d in self._legs) or 1.0

    def position(self, now: float) -> tuple[float, float, float]:
        """(lon, lat, heading) at ``now``."""
        along = ((now - self.started) * self.speed_mps) % self._length
        for a, b, d in self._legs:
            if along <= d or d == 0:
                k = along / d if d else 0.0
                lon = a[0] + (b[0] - a[0]) * k
                lat = a[1] + (b[1] - a[1]) * k
                return lon, lat, _bearing(a, b)
            along -= d
        a, b, _ = self._legs[-1]
        return b[0], b[1], _bearing(a, b)

    def telemetry(self, now: float) -> dict[str, Any]:
        lon, lat, heading = self.position(now)
        used = (now - self.started) / 60.0 / self.battery_minutes
        return {
            "t": round(now, 3),
            "lon": round(lon, 7),
            "lat": round(lat, 7),
            "alt_m": self.altitude_m,
            "heading": round(heading, 1),
            "speed_mps": self.speed_mps,
            "battery_pct": round(max(5.0, 100.0 * (1 - used % 1)), 1),
        }
