"""Point-in-polygon and line-side tests in normalised image coordinates (x right, y down).

The ground truth uses these with the same definitions as the site-file docstrings in
``hub.config``: an object is in a zone when its bottom-centre is inside the polygon; a crossing is
``forward`` when the bottom-centre moves from the left of the directed line to its right.
"""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, float]


def point_in_polygon(p: Point, polygon: Sequence[Sequence[float]]) -> bool:
    """Even-odd ray casting; points exactly on an edge count as outside or inside arbitrarily."""
    x, y = p
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i][0], polygon[i][1]
        x2, y2 = polygon[(i + 1) % n][0], polygon[(i + 1) % n][1]
        if (y1 > y) != (y2 > y):
            xc = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < xc:
                inside = not inside
    return inside


def side(p: Point, a: Sequence[float], b: Sequence[float]) -> float:
    """Cross product of a->b with a->p. Positive: p is right of the directed line (y down)."""
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def segment_crossing(
    p: Point, q: Point, a: Sequence[float], b: Sequence[float]
) -> tuple[float, str] | None:
    """Where the motion p->q crosses the segment a-b: (fraction along p->q, direction)."""
    sp, sq = side(p, a, b), side(q, a, b)
    if (sp < 0) == (sq < 0) or sp == sq:
        return None
    f = sp / (sp - sq)
    # The crossing point must lie within the segment a-b, not only on its infinite line.
    cx, cy = p[0] + f * (q[0] - p[0]), p[1] + f * (q[1] - p[1])
    dx, dy = b[0] - a[0], b[1] - a[1]
    L2 = dx * dx + dy * dy
    u = ((cx - a[0]) * dx + (cy - a[1]) * dy) / L2 if L2 else 0.0
    if not 0.0 <= u <= 1.0:
        return None
    return f, ("forward" if sp < 0 else "backward")
