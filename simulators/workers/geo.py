"""Positions on the ground for the bots: walking toward a point, a random spot in a grid.

Distances use a local flat approximation: the bots move a few kilometres at most, where it is
off by well under a metre, and the hub measures with its own formula anyway.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from hub.config import Grid
from simulators.cameras.geometry import point_in_polygon

LonLat = tuple[float, float]
M_PER_DEG_LAT = 111_320.0


def _m_per_deg_lon(lat: float) -> float:
    return M_PER_DEG_LAT * math.cos(math.radians(lat))


def distance_m(a: LonLat, b: LonLat) -> float:
    dx = (b[0] - a[0]) * _m_per_deg_lon((a[1] + b[1]) / 2)
    dy = (b[1] - a[1]) * M_PER_DEG_LAT
    return math.hypot(dx, dy)


def toward(a: LonLat, b: LonLat, meters: float) -> LonLat:
    """The point ``meters`` from ``a`` on the way to ``b``; ``b`` itself when that is nearer."""
    d = distance_m(a, b)
    if d <= meters or d == 0.0:
        return b
    f = meters / d
    return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f)


def jitter(p: LonLat, rng: random.Random, meters: float) -> LonLat:
    """``p`` moved by a GPS-like error of about ``meters``."""
    return (
        p[0] + rng.gauss(0.0, meters) / _m_per_deg_lon(p[1]),
        p[1] + rng.gauss(0.0, meters) / M_PER_DEG_LAT,
    )


def _ring(grid: Grid) -> Sequence[Sequence[float]]:
    return grid.geometry.coordinates[0]


def centre(grid: Grid) -> LonLat:
    ring = _ring(grid)[:-1]
    return (sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring))


def contains(grid: Grid, p: LonLat) -> bool:
    return point_in_polygon(p, _ring(grid))


def random_point(grid: Grid, rng: random.Random, *, margin: float = 0.1) -> LonLat:
    """A point inside the grid's outer ring, kept off its edges by ``margin`` of its box."""
    ring = _ring(grid)
    x0, x1 = min(p[0] for p in ring), max(p[0] for p in ring)
    y0, y1 = min(p[1] for p in ring), max(p[1] for p in ring)
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    for _ in range(100):
        p = (rng.uniform(x0 + mx, x1 - mx), rng.uniform(y0 + my, y1 - my))
        if point_in_polygon(p, ring):
            return p
    return centre(grid)  # a sliver of a polygon: its vertex mean is good enough
