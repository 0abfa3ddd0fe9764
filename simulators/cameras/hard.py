"""The hard scene: what real cameras make difficult, scripted with exact ground truth.

One template ("yard": a paved square with a lawn, a parking bay, a bench corner and an entrance)
and a script of ``EPISODE`` seconds, repeated with fresh looks and jitter:

- the sun casts hard shadows attached to every person, moving with them, and two cloud shadows
  drift over the ground (lighting patches);
- a pair meets, walks together over the path line (overlapping) and splits; another pair comes
  the other way;
- a person walks behind the parked car (hidden to the shoulders for a few seconds) and crosses
  the bay line once out;
- people whose clothes have the ground's colour (beige on the paving, green on the lawn);
- a person stands still in the bench corner for two minutes (loitering), a short visit does not;
- five people gather in the middle (crowd), then leave;
- a bag is left at the entrance and fetched later (abandoned object);
- the camera is covered, or turned away, for a while at the end (tampering).

The camera runs the person detector (``detector: person``). Truth for zones and lines comes from
the people's feet (``truth.compute_truth``); crowd, abandoned object and tampering truths are
computed here from the script: the instant the condition starts plus the zone's (camera's) time.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulators.cameras.actors import Actor, Waypoint, person_height
from simulators.cameras.geometry import point_in_polygon
from simulators.cameras.looks import pick_features
from simulators.cameras.render import Canvas, Cloud, Prop, Tamper
from simulators.cameras.scenes import Scene
from simulators.cameras.templates import Template
from simulators.cameras.truth import TruthEvent, compute_truth

EPISODE = 150.0
"""Seconds of one run of the script."""
LOITER_SECONDS = 60.0
CROWD_PEOPLE = 4
CROWD_SECONDS = 10.0
ABANDONED_SECONDS = 15.0
TAMPERING_SECONDS = 5.0
SUN = (0.55, -0.12)
"""The head's shadow lands this far from the feet, per unit of height: long, to the right."""
_STEP = 0.05

GROUND: tuple[int, int, int] = (168, 158, 142)
LAWN: tuple[int, int, int] = (74, 122, 62)

ZONES: list[dict[str, Any]] = [
    {
        "id": "lawn",
        "name": "草坪禁入",
        "polygon": [[0.04, 0.50], [0.30, 0.50], [0.32, 0.66], [0.02, 0.66]],
        "intrusion": True,
        "min_object_size": 0.05,
        "cooldown_seconds": 3.0,
    },
    {
        "id": "bench",
        "name": "长椅徘徊区",
        "polygon": [[0.68, 0.70], [0.96, 0.70], [0.98, 0.97], [0.66, 0.97]],
        "intrusion": False,
        "loiter_seconds": LOITER_SECONDS,
        "min_object_size": 0.05,
    },
    {
        "id": "square",
        "name": "广场聚集区",
        "polygon": [[0.36, 0.35], [0.62, 0.35], [0.64, 0.60], [0.34, 0.60]],
        "intrusion": False,
        "crowd_people": CROWD_PEOPLE,
        "crowd_seconds": CROWD_SECONDS,
    },
    {
        "id": "entrance",
        "name": "入口遗留物",
        "polygon": [[0.04, 0.74], [0.30, 0.74], [0.32, 0.98], [0.02, 0.98]],
        "intrusion": False,
        "abandoned_seconds": ABANDONED_SECONDS,
    },
]
LINES: list[dict[str, Any]] = [
    {
        "id": "path",
        "name": "通道越线",
        "points": [[0.50, 0.66], [0.50, 0.99]],
        "directions": ["forward", "backward"],
        "min_object_size": 0.05,
    },
    {
        "id": "bay",
        "name": "车位越线",
        "points": [[0.95, 0.36], [0.95, 0.56]],
        "directions": ["forward", "backward"],
        "min_object_size": 0.05,
    },
]
CAR = (0.76, 0.52)
"""The parked van's bottom-centre: there from the start, so part of the background."""
VAN_SIZE = 1.5


def _paint_yard(c: Canvas) -> None:
    c.rect(0, 0, 1, 0.3, (150, 152, 158))
    c.windows(0.04, 0.02, 0.96, 0.27, 13, 2, (72, 82, 96))
    c.rect(0.46, 0.2, 0.54, 0.3, (60, 58, 56))
    c.rect(0, 0.3, 1, 1, GROUND)
    c.tiles(0, 0.3, 1, 1, 0.08, (142, 133, 120))
    c.poly([[0.04, 0.50], [0.30, 0.50], [0.32, 0.66], [0.02, 0.66]], LAWN)
    c.rect(0.64, 0.36, 0.98, 0.55, (88, 90, 94))
    c.line((0.66, 0.37), (0.66, 0.54), (220, 220, 215), 0.004)
    c.line((0.95, 0.37), (0.95, 0.54), (220, 220, 215), 0.004)
    c.rect(0.74, 0.83, 0.92, 0.86, (96, 72, 52))


YARD = Template(name="yard", painter=_paint_yard, zones=ZONES, lines=LINES, masks=[], trees=[])

SHIRTS = [
    (180, 40, 40),
    (30, 60, 150),
    (230, 230, 225),
    (40, 40, 46),
    (200, 170, 40),
    (40, 110, 60),
]
TROUSERS = [(40, 40, 48), (60, 60, 70), (30, 40, 70), (90, 80, 66), (150, 150, 155)]
CAMOUFLAGE = {"paving": (GROUND, (176, 166, 150)), "lawn": (LAWN, (66, 112, 56))}
"""(shirt, trousers) close to the ground a person walks on."""


@dataclass
class _Script:
    """Builds one episode's actors at ``t0`` with the episode's random generator."""

    t0: float
    rng: np.random.Generator
    aspect: float
    prefix: str
    actors: list[Actor]

    def person(
        self,
        start: float,
        waypoints: list[Waypoint],
        speed: float = 0.17,
        look: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None,
    ) -> Actor:
        rng = self.rng
        a = Actor(
            id=f"{self.prefix}-{len(self.actors):02d}",
            kind="person",
            start=self.t0 + start,
            waypoints=waypoints,
            speed=speed,
            aspect=self.aspect,
            phase=float(rng.uniform(0, 6.28)),
            size=float(rng.uniform(0.95, 1.08)),
        )
        if look is None:
            a.accent = SHIRTS[int(rng.integers(len(SHIRTS)))]
            a.colour = TROUSERS[int(rng.integers(len(TROUSERS)))]
        else:
            a.accent, a.colour = look
        a.skin, a.hair, a.short_sleeves = pick_features(rng)
        self.actors.append(a)
        return a

    def j(self, v: float, d: float = 0.015) -> float:
        return float(v + self.rng.uniform(-d, d))


def _trousers_raw(c: tuple[int, int, int]) -> tuple[int, int, int]:
    # The renderer darkens the clothes colour for the trousers (render.LEGS): undo it so the
    # trousers come out as scripted.
    return (min(255, round(c[0] / 0.7)), min(255, round(c[1] / 0.7)), min(255, round(c[2] / 0.7)))


def _pair(
    s: _Script, start: float, a: list[Waypoint], b: list[Waypoint], speed: float = 0.17
) -> None:
    """Two people who meet at their second waypoints (the one with the shorter way there
    starts later) and walk on together."""

    def leg(w: list[Waypoint]) -> float:
        return math.hypot((w[1].x - w[0].x) * s.aspect, w[1].y - w[0].y) / speed

    la, lb = leg(a), leg(b)
    s.person(start + max(0.0, lb - la), a, speed)
    s.person(start + max(0.0, la - lb), b, speed)


def _episode(s: _Script, index: int, props: list[Prop], tampers: list[Tamper]) -> list[TruthEvent]:
    """Script one episode into ``s.actors``, ``props`` and ``tampers``; returns the truth of
    crowd, abandoned object and tampering (zones and lines come from the actors' feet)."""
    t0, j = s.t0, s.j
    truth: list[TruthEvent] = []
    W = Waypoint
    # The loiterer: walks to the bench corner and stands there two minutes.
    s.person(2.0, [W(1.04, j(0.82)), W(j(0.86), j(0.86), 120.0), W(1.04, j(0.92))])
    # A short visit to the bench corner (no loitering).
    s.person(30.0, [W(0.70, 1.08), W(j(0.72), j(0.78), 8.0), W(0.70, 1.08)])
    # Lawn intruders: two ordinary ones, one dressed in the lawn's green.
    green = (CAMOUFLAGE["lawn"][0], _trousers_raw(CAMOUFLAGE["lawn"][1]))
    for start, look in ((8.0, None), (68.0, green)):
        s.person(start, [W(-0.04, j(0.56)), W(j(0.17), j(0.58), 1.5), W(-0.04, j(0.62))], look=look)
    s.person(112.0, [W(-0.04, j(0.52)), W(j(0.15), j(0.56)), W(0.36, 0.70), W(0.40, 1.08)])
    # Walkers over the path line, one in the paving's beige.
    beige = (CAMOUFLAGE["paving"][0], _trousers_raw(CAMOUFLAGE["paving"][1]))
    s.person(14.0, [W(0.36, 1.08), W(j(0.62), j(0.80)), W(1.04, j(0.76))])
    s.person(
        40.0, [W(0.62, 1.08), W(j(0.56), j(0.85)), W(j(0.40), j(0.85)), W(0.36, 1.08)], look=beige
    )
    # Groups: two meet, cross the path line together (overlapping) and split; two the other way.
    ya, yb = j(0.81, 0.01), j(0.87, 0.01)
    _pair(
        s,
        22.0,
        [W(-0.04, 0.74), W(0.335, ya), W(0.64, ya), W(0.70, 0.62), W(1.04, 0.60)],
        [W(-0.04, 0.95), W(0.30, yb), W(0.60, yb), W(0.64, 1.08)],
    )
    ya, yb = j(0.81, 0.01), j(0.87, 0.01)
    _pair(
        s,
        54.0,
        [W(0.80, 1.08), W(0.665, ya), W(0.36, ya), W(0.30, 0.70), W(-0.04, 0.68)],
        [W(0.72, 1.08), W(0.63, yb), W(0.33, yb), W(0.30, 1.08)],
    )
    # Behind the parked van (hidden to the shoulders for about 5 s), then over the bay line.
    y = j(0.47, 0.005)
    s.person(46.0, [W(0.56, 0.33), W(0.60, y), W(1.04, y)], speed=0.09)
    # The crowd: five people gather in the middle of the square for about 20 s, then leave.
    spots = [(0.42, 0.44), (0.50, 0.42), (0.57, 0.46), (0.45, 0.53), (0.54, 0.55)]
    entries = [(0.36, 0.31), (0.50, 0.30), (0.62, 0.31), (0.28, 0.44), (0.66, 0.64)]
    crowd: list[Actor] = []
    for k, ((x, y), (ex, ey)) in enumerate(zip(spots, entries, strict=True)):
        stay = W(j(x, 0.01), j(y, 0.01), 26.0 - 2.0 * k)
        crowd.append(s.person(78.0 + 1.5 * k, [W(ex, ey), stay, W(ex, ey)], speed=0.12))
    truth += _crowd_truth(crowd, ZONES[2], f"{s.prefix}-crowd")
    # The bag: carried to the entrance, left there, fetched 30 s later.
    owner = s.person(60.0, [W(-0.04, 0.86), W(0.17, 0.86, 2.5), W(-0.04, 0.97)], speed=0.2)
    drop = owner.position_times[1] + 1.0
    bag = (0.205, 0.862)
    fetch = drop + 30.0 - t0
    fetcher = s.person(fetch, [W(-0.04, 0.80), W(0.19, 0.86, 2.0), W(-0.04, 0.76)])
    pick = fetcher.position_times[1] + 1.0
    props.append(Prop(bag[0], bag[1], 0.05, 0.045, (120, 40, 110), drop, pick))
    left = _separation(owner, bag, drop, s.aspect)
    truth.append(
        TruthEvent(
            "abandoned_object", round(left + ABANDONED_SECONDS, 3), f"{s.prefix}-bag", "object",
            zone_id="entrance",
        )
    )  # fmt: skip
    # Tampering: nobody around, then the lens is covered (or the camera turned) for 9 s.
    start = t0 + 137.0
    tampers.append(Tamper(start, start + 9.0, "covered" if index % 2 == 0 else "moved"))
    truth.append(
        TruthEvent("tampering", round(start + TAMPERING_SECONDS, 3), f"{s.prefix}-cam", "camera")
    )
    return truth


def _crowd_truth(people: list[Actor], zone: dict[str, Any], actor_id: str) -> list[TruthEvent]:
    """Crowd events: the count of people with their feet in the zone reaches ``crowd_people``
    and stays there ``crowd_seconds``."""
    need, hold = zone["crowd_people"], zone["crowd_seconds"]
    t0 = min(a.start for a in people)
    t1 = max(a.end for a in people)
    since: float | None = None
    out: list[TruthEvent] = []
    sent = False
    for t in np.arange(t0, t1 + _STEP, _STEP).tolist():
        n = sum(
            1
            for a in people
            if (p := a.position(t)) is not None and point_in_polygon(p, zone["polygon"])
        )
        if n >= need:
            since = t if since is None else since
            if not sent and t - since >= hold:
                out.append(
                    TruthEvent("crowd", round(since + hold, 3), actor_id, "group", zone["id"])
                )
                sent = True
        else:
            since, sent = None, False
    return out


def _separation(owner: Actor, bag: tuple[float, float], drop: float, aspect: float) -> float:
    """When the owner's box (half as wide as tall, on the feet) stops overlapping the bag."""
    t = drop
    while t < owner.end:
        p = owner.position(t)
        if p is None:
            return t
        h = person_height(p[1]) * owner.size
        half_w = 0.25 * h / aspect + 0.03 / aspect
        if abs(p[0] - bag[0]) > half_w or abs(p[1] - bag[1]) > h:
            return t
        t += _STEP
    return owner.end


def build_hard_scene(
    *,
    width: int = 640,
    height: int = 360,
    fps: float = 15,
    episodes: int = 1,
    seed: int = 0,
) -> Scene:
    """``episodes`` runs of the script (``EPISODE`` seconds each), looks and jitter by ``seed``."""
    if width % 2 or height % 2:
        raise ValueError("width and height must be even (yuv420p)")
    aspect = width / height
    actors: list[Actor] = []
    props: list[Prop] = []
    tampers: list[Tamper] = []
    extra: list[TruthEvent] = []
    for k in range(episodes):
        script = _Script(k * EPISODE, np.random.default_rng([seed, k]), aspect, f"hard-{k}", actors)
        extra += _episode(script, k + seed, props, tampers)
    people = list(actors)
    duration = episodes * EPISODE
    car = Actor(
        id="car-parked",
        kind="vehicle",
        start=0.0,
        waypoints=[Waypoint(CAR[0], CAR[1], duration + 1.0)],
        speed=0.4,
        aspect=aspect,
        colour=(200, 200, 204),
        accent=(200, 200, 204),
        size=VAN_SIZE,
    )
    zones, lines = copy.deepcopy(ZONES), copy.deepcopy(LINES)
    truth = compute_truth(people, zones, lines) + extra
    truth.sort(key=lambda e: (e.t, e.actor_id, e.type))
    rng = np.random.default_rng([seed, 99])
    clouds = [
        Cloud(float(rng.uniform(0, 1)), 0.55, 0.010, 0.22, 0.35, 0.3),
        Cloud(float(rng.uniform(0, 1)), 0.85, -0.008, 0.18, 0.25, 0.25),
    ]
    return Scene(
        name="yard",
        width=width,
        height=height,
        fps=fps,
        duration=duration,
        seed=seed,
        zones=zones,
        lines=lines,
        masks=[],
        actors=[car, *people],
        truth=truth,
        _template=YARD,
        detector="person",
        camera={"tampering_seconds": TAMPERING_SECONDS},
        sun=SUN,
        clouds=clouds,
        props=props,
        tampers=tampers,
    )


KINDS = ("intrusion", "line_crossing", "loitering", "crowd", "abandoned_object", "tampering")
"""The event kinds the hard scene's truth holds."""
