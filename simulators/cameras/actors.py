"""Scripted actors: a kind, a look, and a path of waypoints walked at a speed with pauses.

Positions are the actor's bottom-centre (feet, or the middle of a vehicle's lower edge) in
normalised image coordinates. Speeds are in image heights per second so that motion looks the
same horizontally and vertically whatever the aspect ratio.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Literal

ActorKind = Literal["person", "vehicle"]
STRIDE = 0.85
"""Body heights walked per stride (a step of each leg)."""
GAIT_RAMP = 0.4
"""Seconds over which the legs come to a stand (and start walking)."""


@dataclass(frozen=True)
class Waypoint:
    x: float
    y: float
    pause: float = 0.0
    """Seconds to stand still on arrival."""


@dataclass
class Actor:
    id: str
    kind: ActorKind
    start: float
    """Scene time (s) at which the actor is at its first waypoint."""
    waypoints: list[Waypoint]
    speed: float
    """Image heights per second."""
    aspect: float
    """Image width / height, to measure horizontal distances in image heights."""
    colour: tuple[int, int, int] = (40, 40, 48)
    accent: tuple[int, int, int] = (200, 60, 50)
    phase: float = 0.0
    size: float = 1.0
    """Multiplier on the perspective size."""
    skin: tuple[int, int, int] = (196, 152, 120)
    hair: tuple[int, int, int] = (34, 28, 24)
    short_sleeves: bool = False
    _times: list[float] = field(default_factory=list, repr=False)
    _points: list[tuple[float, float]] = field(default_factory=list, repr=False)
    _strides: list[float] = field(default_factory=list, repr=False)
    """Gait phase (strides walked) at each key time."""

    def __post_init__(self) -> None:
        # Key times: arrival and departure at each waypoint; motion is linear between them.
        t = self.start
        w0 = self.waypoints[0]
        self._times = [t]
        self._points = [(w0.x, w0.y)]
        if w0.pause:
            t += w0.pause
            self._times.append(t)
            self._points.append((w0.x, w0.y))
        for prev, wp in zip(self.waypoints, self.waypoints[1:], strict=False):
            d = math.hypot((wp.x - prev.x) * self.aspect, wp.y - prev.y)
            t += d / self.speed
            self._times.append(t)
            self._points.append((wp.x, wp.y))
            if wp.pause:
                t += wp.pause
                self._times.append(t)
                self._points.append((wp.x, wp.y))
        # One stride (a step of each leg) covers about STRIDE body heights, at the body height
        # the perspective gives halfway along the segment.
        self._strides = [0.0]
        for (x0, y0), (x1, y1) in zip(self._points, self._points[1:], strict=False):
            d = math.hypot((x1 - x0) * self.aspect, y1 - y0)
            body = person_height((y0 + y1) / 2) * self.size
            self._strides.append(self._strides[-1] + d / (STRIDE * body))

    @property
    def position_times(self) -> list[float]:
        """Key times: arrival at, and departure from, each waypoint (pauses double a time)."""
        return list(self._times)

    @property
    def end(self) -> float:
        return self._times[-1]

    def position(self, t: float) -> tuple[float, float] | None:
        """Bottom-centre at time t, or None when the actor is not in the scene."""
        if t < self.start or t > self.end:
            return None
        i = bisect.bisect_right(self._times, t) - 1
        if i >= len(self._times) - 1:
            return self._points[-1]
        t0, t1 = self._times[i], self._times[i + 1]
        (x0, y0), (x1, y1) = self._points[i], self._points[i + 1]
        f = 0.0 if t1 <= t0 else (t - t0) / (t1 - t0)
        return x0 + f * (x1 - x0), y0 + f * (y1 - y0)

    def moving(self, t: float) -> bool:
        i = bisect.bisect_right(self._times, t) - 1
        if i < 0 or i >= len(self._times) - 1:
            return False
        return self._points[i] != self._points[i + 1]

    def gait(self, t: float) -> tuple[float, float]:
        """(strides walked so far, swing amplitude 0..1): the legs slow to a stand over
        ``GAIT_RAMP`` seconds around each stop."""
        i = bisect.bisect_right(self._times, t) - 1
        if i < 0 or i >= len(self._times) - 1:
            return (self._strides[-1] if i >= 0 else 0.0), 0.0
        t0, t1 = self._times[i], self._times[i + 1]
        f = 0.0 if t1 <= t0 else (t - t0) / (t1 - t0)
        strides = self._strides[i] + f * (self._strides[i + 1] - self._strides[i])
        if self._points[i] == self._points[i + 1]:
            return strides, 0.0
        amp = min(1.0, (t - t0) / GAIT_RAMP + 0.3, (t1 - t) / GAIT_RAMP + 0.3)
        return strides, max(0.0, amp)

    def heading(self, t: float) -> tuple[float, float]:
        """Direction of the current (or, standing, the last) move, in image heights."""
        i = bisect.bisect_right(self._times, t) - 1
        i = min(max(i, 0), len(self._times) - 2)
        for j in [*range(i, -1, -1), *range(i + 1, len(self._points) - 1)]:
            (x0, y0), (x1, y1) = self._points[j], self._points[j + 1]
            if (x0, y0) != (x1, y1):
                return (x1 - x0) * self.aspect, y1 - y0
        return 0.0, 1.0


def person_height(y: float) -> float:
    """Perspective: apparent person height (fraction of image height) at foot row y."""
    return 0.09 + 0.17 * min(max(y, 0.0), 1.2)


def vehicle_height(y: float) -> float:
    return 0.07 + 0.10 * min(max(y, 0.0), 1.2)
