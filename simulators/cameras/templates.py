"""The four scene templates: background, zones, lines, masks, and lanes of scripted actors.

A lane is a region of the image where actors come one after another (never two at once), so
actors in a scene rarely occlude each other. Each lane cycles through route makers; the first
one in each lane is the event the template must always show, so even a 20 s scene has every
event kind. Routes start and end off-screen, so nobody is visible at the loop seam.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulators.cameras.actors import ActorKind, Waypoint
from simulators.cameras.render import Canvas, Painter, Tree

Rng = np.random.Generator
Route = tuple[ActorKind, list[Waypoint]]
RouteMaker = Callable[[Rng], Route]


@dataclass
class Lane:
    routes: list[RouteMaker]
    gap: tuple[float, float] = (3.5, 6.0)
    """Pause between one actor leaving and the next appearing; above zone cooldowns."""


@dataclass
class Template:
    name: str
    painter: Painter
    zones: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    masks: list[list[list[float]]]
    trees: list[Tree]
    lanes: list[Lane] = field(default_factory=list)


def _j(rng: Rng, v: float, d: float = 0.02) -> float:
    return float(v + rng.uniform(-d, d))


def _pace(rng: Rng, box: tuple[float, float, float, float], seconds: float) -> list[Waypoint]:
    """Standing and pacing inside a box for about `seconds` (walking at slow speed)."""
    x0, y0, x1, y1 = box
    out: list[Waypoint] = []
    spent = 0.0
    while spent < seconds:
        pause = float(rng.uniform(1.0, 2.5))
        out.append(Waypoint(float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1)), pause))
        spent += pause + 0.6
    return out


def _loiter_route(
    rng: Rng,
    n: list[int],
    enter: tuple[float, float],
    leave: tuple[float, float],
    box: tuple[float, float, float, float],
    loiter: float,
) -> Route:
    # Alternate: a real loiterer (dwell well past the limit), then a short visit (below it).
    long = n[0] % 2 == 0
    n[0] += 1
    dwell = loiter + float(rng.uniform(2.5, 4.0)) if long else 1.2
    wps = [Waypoint(enter[0], _j(rng, enter[1])), *_pace(rng, box, dwell)]
    wps.append(Waypoint(leave[0], _j(rng, leave[1])))
    return "person", wps


# --------------------------------------------------------------------------------------------
# gate: a residential compound entrance (小区门口)
# --------------------------------------------------------------------------------------------


def _paint_gate(c: Canvas) -> None:
    c.rect(0, 0, 1, 0.3, (150, 146, 140))
    c.windows(0.05, 0.02, 0.95, 0.26, 12, 2, (60, 70, 85))
    c.rect(0, 0.28, 1, 0.42, (175, 165, 150))
    c.rect(0.42, 0.22, 0.58, 0.42, (55, 52, 50))
    c.rect(0.40, 0.2, 0.60, 0.24, (150, 40, 35))
    c.rect(0, 0.42, 1, 1, (120, 118, 112))
    c.tiles(0, 0.42, 1, 1, 0.07, (95, 93, 90))
    c.rect(0.64, 0.63, 0.98, 0.66, (90, 70, 50))


GATE = Template(
    name="gate",
    painter=_paint_gate,
    zones=[
        {
            "id": "gate",
            "name": "门岗禁区",
            "polygon": [[0.40, 0.40], [0.60, 0.40], [0.63, 0.58], [0.37, 0.58]],
            "intrusion": True,
            "min_object_size": 0.05,
            "inertia_frames": 2,
            "cooldown_seconds": 3.0,
        },
        {
            "id": "bench",
            "name": "长椅徘徊区",
            "polygon": [[0.68, 0.68], [0.94, 0.68], [0.97, 0.97], [0.66, 0.97]],
            "intrusion": False,
            "loiter_seconds": 6.0,
            "min_object_size": 0.05,
            "inertia_frames": 2,
            "cooldown_seconds": 3.0,
        },
    ],
    lines=[
        {
            "id": "sidewalk",
            "name": "人行道越线",
            "points": [[0.28, 0.55], [0.28, 0.98]],
            "directions": ["forward", "backward"],
            "min_object_size": 0.05,
        }
    ],
    masks=[[[0.0, 0.0], [0.22, 0.0], [0.22, 0.5], [0.0, 0.5]]],
    trees=[Tree((0.01, 0.02, 0.21, 0.48))],
)


def _gate_lanes() -> list[Lane]:
    loiters = [0]
    cross = [0]

    def intruder(rng: Rng) -> Route:
        x = _j(rng, 0.5)
        return "person", [Waypoint(x, 1.08), Waypoint(x, _j(rng, 0.48), 1.0), Waypoint(x, 1.08)]

    def pass_near(rng: Rng) -> Route:
        return "person", [
            Waypoint(1.06, _j(rng, 0.5)),
            Waypoint(_j(rng, 0.68, 0.01), 0.5, 0.5),
            Waypoint(1.06, _j(rng, 0.45)),
        ]

    def crosser(rng: Rng) -> Route:
        y = _j(rng, 0.78, 0.04)
        pts = [Waypoint(-0.04, y), Waypoint(0.40, _j(rng, y))]
        cross[0] += 1
        return "person", pts if cross[0] % 2 else pts[::-1]

    def loiterer(rng: Rng) -> Route:
        return _loiter_route(rng, loiters, (1.06, 0.86), (1.06, 0.80), (0.72, 0.74, 0.9, 0.92), 6.0)

    return [
        Lane([intruder, pass_near]),
        Lane([crosser], gap=(0.8, 2.5)),
        Lane([loiterer]),
    ]


# --------------------------------------------------------------------------------------------
# crossing: a zebra crossing over a two-way street (人行横道)
# --------------------------------------------------------------------------------------------


def _paint_road(c: Canvas, y0: float, y1: float) -> None:
    c.rect(0, y0, 1, y1, (70, 72, 76))
    mid = (y0 + y1) / 2
    x = 0.0
    while x < 1.0:
        c.line((x, mid), (x + 0.05, mid), (210, 200, 120), 0.006)
        x += 0.1
    c.line((0, y0 + 0.005), (1, y0 + 0.005), (200, 200, 200), 0.004)
    c.line((0, y1 - 0.005), (1, y1 - 0.005), (200, 200, 200), 0.004)


def _paint_crossing(c: Canvas) -> None:
    c.rect(0, 0, 1, 0.28, (135, 130, 125))
    c.windows(0.0, 0.0, 0.78, 0.25, 10, 3, (70, 80, 95))
    c.rect(0, 0.28, 1, 0.36, (150, 146, 138))
    c.tiles(0, 0.28, 1, 0.36, 0.05, (120, 118, 112))
    _paint_road(c, 0.36, 0.56)
    for i in range(7):
        x = 0.45 + i * 0.022
        c.rect(x, 0.37, x + 0.012, 0.55, (215, 215, 210))
    c.rect(0, 0.56, 1, 1, (140, 136, 128))
    c.tiles(0, 0.56, 1, 1, 0.08, (112, 110, 104))
    c.rect(0.06, 0.80, 0.28, 0.82, (60, 90, 140))
    c.rect(0.72, 0.80, 0.86, 0.97, (150, 125, 90))


CROSSING = Template(
    name="crossing",
    painter=_paint_crossing,
    zones=[
        {
            "id": "worksite",
            "name": "施工区域",
            "polygon": [[0.72, 0.80], [0.86, 0.80], [0.88, 0.98], [0.70, 0.98]],
            "intrusion": True,
            "min_object_size": 0.05,
            "inertia_frames": 2,
            "cooldown_seconds": 3.0,
        },
        {
            "id": "bus-stop",
            "name": "公交站徘徊区",
            "polygon": [[0.05, 0.84], [0.30, 0.84], [0.31, 0.98], [0.03, 0.98]],
            "intrusion": False,
            "loiter_seconds": 6.0,
            "min_object_size": 0.05,
            "inertia_frames": 2,
            "cooldown_seconds": 3.0,
        },
    ],
    lines=[
        {
            "id": "crosswalk",
            "name": "斑马线",
            "points": [[0.42, 0.46], [0.63, 0.46]],
            "directions": ["forward", "backward"],
            "min_object_size": 0.05,
        }
    ],
    masks=[[[0.80, 0.0], [1.0, 0.0], [1.0, 0.28], [0.80, 0.28]]],
    trees=[Tree((0.81, 0.0, 0.99, 0.27))],
)


def _crossing_lanes() -> list[Lane]:
    # People on the near sidewalk stay low enough in the image (y >= 0.88) that their heads keep
    # a clear gap above the cars of the near lane (bottom at y <= 0.53).
    loiters = [0]
    road = [0]

    def road_user(rng: Rng) -> Route:
        k = road[0] % 4
        road[0] += 1
        if k in (1, 3):  # vehicles, one per direction
            y = _j(rng, 0.52 if k == 1 else 0.44, 0.01)
            pts = [Waypoint(-0.2, y), Waypoint(1.2, y)]
            return "vehicle", pts if k == 1 else pts[::-1]
        x = _j(rng, 0.52, 0.015)
        down = [Waypoint(-0.04, _j(rng, 0.33)), Waypoint(x, 0.33), Waypoint(x + 0.01, 1.08)]
        if k == 0:
            return "person", down
        return "person", [Waypoint(x, 1.08), Waypoint(x - 0.01, 0.33), Waypoint(1.04, 0.33)]

    def intruder(rng: Rng) -> Route:
        return "person", [
            Waypoint(1.06, _j(rng, 0.91)),
            Waypoint(_j(rng, 0.79), 0.91, 1.5),
            Waypoint(1.06, _j(rng, 0.93)),
        ]

    def worksite(rng: Rng) -> Route:
        if rng.random() < 0.6:
            return intruder(rng)
        # Comes up beside the worksite, stops short of its edge and goes back.
        x = _j(rng, 0.94, 0.01)
        return "person", [Waypoint(x, 1.08), Waypoint(x, 0.9, 0.5), Waypoint(x + 0.01, 1.08)]

    def loiterer(rng: Rng) -> Route:
        return _loiter_route(
            rng, loiters, (-0.04, 0.92), (-0.04, 0.91), (0.09, 0.89, 0.26, 0.95), 6.0
        )

    return [
        Lane([road_user], gap=(0.8, 2.0)),
        Lane([intruder, worksite, worksite]),
        Lane([loiterer]),
    ]


# --------------------------------------------------------------------------------------------
# plaza: a public square with a lawn, a kiosk and a diagonal path (广场)
# --------------------------------------------------------------------------------------------


def _paint_plaza(c: Canvas) -> None:
    c.rect(0, 0, 1, 0.3, (160, 165, 170))
    c.windows(0.1, 0.02, 0.9, 0.28, 14, 2, (80, 90, 100))
    c.rect(0, 0.3, 1, 1, (165, 155, 140))
    c.tiles(0, 0.3, 1, 1, 0.1, (140, 130, 118))
    c.poly([[0.15, 0.50], [0.42, 0.50], [0.45, 0.70], [0.12, 0.70]], (70, 120, 60))
    c.rect(0.64, 0.30, 0.78, 0.42, (90, 100, 120))
    c.line((0.50, 0.72), (0.62, 0.98), (190, 170, 90), 0.01)


PLAZA = Template(
    name="plaza",
    painter=_paint_plaza,
    zones=[
        {
            "id": "lawn",
            "name": "草坪禁入",
            "polygon": [[0.15, 0.50], [0.42, 0.50], [0.45, 0.70], [0.12, 0.70]],
            "intrusion": True,
            "min_object_size": 0.05,
            "inertia_frames": 2,
            "cooldown_seconds": 3.0,
        },
        {
            "id": "kiosk",
            "name": "自助终端徘徊区",
            "polygon": [[0.62, 0.42], [0.80, 0.42], [0.82, 0.60], [0.60, 0.60]],
            "intrusion": False,
            "loiter_seconds": 6.0,
            "min_object_size": 0.05,
            "inertia_frames": 2,
            "cooldown_seconds": 3.0,
        },
    ],
    lines=[
        {
            "id": "path",
            "name": "通道越线",
            "points": [[0.50, 0.72], [0.62, 0.98]],
            "directions": ["forward", "backward"],
            "min_object_size": 0.05,
        }
    ],
    masks=[[[0.0, 0.0], [0.14, 0.0], [0.14, 0.42], [0.0, 0.42]]],
    trees=[Tree((0.0, 0.0, 0.14, 0.41))],
)


def _plaza_lanes() -> list[Lane]:
    loiters = [0]
    cross = [0]

    def lawn(rng: Rng) -> Route:
        return "person", [
            Waypoint(-0.04, _j(rng, 0.62)),
            Waypoint(_j(rng, 0.28), 0.60, 1.0),
            Waypoint(-0.04, _j(rng, 0.66)),
        ]

    def lawn_near(rng: Rng) -> Route:
        return "person", [
            Waypoint(-0.04, _j(rng, 0.77, 0.01)),
            Waypoint(0.36, 0.76, 0.3),
            Waypoint(-0.04, _j(rng, 0.79, 0.01)),
        ]

    def crosser(rng: Rng) -> Route:
        pts = [
            Waypoint(_j(rng, 0.38), 1.08),
            Waypoint(_j(rng, 0.72), 0.84),
            Waypoint(1.06, _j(rng, 0.86)),
        ]
        cross[0] += 1
        return "person", pts if cross[0] % 2 else pts[::-1]

    def loiterer(rng: Rng) -> Route:
        return _loiter_route(
            rng, loiters, (1.06, 0.50), (1.06, 0.55), (0.65, 0.46, 0.77, 0.57), 6.0
        )

    return [
        Lane([lawn, lawn_near]),
        Lane([crosser], gap=(0.8, 2.5)),
        Lane([loiterer]),
    ]


# --------------------------------------------------------------------------------------------
# street: a road with a fire lane where stopping is forbidden (消防通道)
# --------------------------------------------------------------------------------------------


def _paint_street(c: Canvas) -> None:
    c.rect(0, 0, 1, 0.3, (125, 120, 118))
    c.windows(0.02, 0.02, 0.84, 0.27, 11, 3, (60, 65, 80))
    _paint_road(c, 0.30, 0.58)
    c.rect(0.62, 0.45, 0.98, 0.56, (120, 60, 55))
    c.rect(0, 0.58, 1, 1, (135, 132, 126))
    c.tiles(0, 0.58, 1, 1, 0.06, (110, 108, 104))
    c.line((0.35, 0.33), (0.35, 0.56), (225, 225, 225), 0.008)


STREET = Template(
    name="street",
    painter=_paint_street,
    zones=[
        {
            "id": "fire-lane",
            "name": "消防通道禁停",
            "polygon": [[0.62, 0.45], [0.98, 0.45], [0.98, 0.57], [0.62, 0.57]],
            "intrusion": True,
            "loiter_seconds": 8.0,
            "min_object_size": 0.05,
            "inertia_frames": 2,
            "cooldown_seconds": 3.0,
        }
    ],
    lines=[
        {
            "id": "stop-line",
            "name": "停止线",
            "points": [[0.35, 0.34], [0.35, 0.58]],
            "directions": ["forward", "backward"],
            "min_object_size": 0.05,
        }
    ],
    masks=[[[0.86, 0.0], [1.0, 0.0], [1.0, 0.30], [0.86, 0.30]]],
    trees=[Tree((0.87, 0.0, 0.99, 0.29))],
)


def _street_lanes() -> list[Lane]:
    # Walkers keep to the lower sidewalk (y >= 0.9) so their heads stay clear of the cars in the
    # fire lane (bottom at y <= 0.54): a walker passing a parked car is not an occlusion.
    cars = [0]
    walkers = [0]

    def car(rng: Rng) -> Route:
        k = cars[0] % 3
        cars[0] += 1
        if k == 0:  # stops in the fire lane past the loitering limit
            y = _j(rng, 0.53, 0.01)
            return "vehicle", [
                Waypoint(-0.2, y),
                Waypoint(_j(rng, 0.8), y, 8.0 + rng.uniform(2, 4)),
                Waypoint(1.2, y),
            ]
        if k == 1:  # passes through the fire lane
            y = _j(rng, 0.53, 0.01)
            return "vehicle", [Waypoint(-0.2, y), Waypoint(1.2, y)]
        y = _j(rng, 0.40, 0.01)  # other direction, just above the fire lane
        return "vehicle", [Waypoint(1.2, y), Waypoint(-0.2, y)]

    def walker(rng: Rng) -> Route:
        y = _j(rng, 0.93, 0.03)
        pts = [Waypoint(-0.04, y), Waypoint(1.04, _j(rng, y, 0.01))]
        walkers[0] += 1
        return "person", pts if walkers[0] % 2 else pts[::-1]

    return [Lane([car], gap=(3.5, 5.0)), Lane([walker], gap=(2.0, 6.0))]


_LANES: dict[str, Callable[[], list[Lane]]] = {
    "gate": _gate_lanes,
    "crossing": _crossing_lanes,
    "plaza": _plaza_lanes,
    "street": _street_lanes,
}
TEMPLATES: dict[str, Template] = {t.name: t for t in (GATE, CROSSING, PLAZA, STREET)}


def lanes_for(name: str) -> list[Lane]:
    """Fresh lanes (route makers keep per-scene counters)."""
    return _LANES[name]()
