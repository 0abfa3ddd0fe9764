"""Ground truth from the actors' exact bottom-centre trajectories.

Definitions match the site-file models (``hub.config.Zone`` / ``Line``):
- ``intrusion``: the first instant the bottom-centre is inside a zone with ``intrusion: true``;
  once per entry; a re-entry counts again only after the zone's cooldown since the last one.
- ``loitering``: entry time + ``loiter_seconds``, when the actor has stayed inside continuously.
- ``line_crossing``: the instant the bottom-centre crosses the line segment, in a direction the
  line lists.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from simulators.cameras.actors import Actor
from simulators.cameras.geometry import point_in_polygon, segment_crossing

TruthType = Literal[
    "intrusion", "line_crossing", "loitering", "crowd", "abandoned_object", "tampering"
]
STEP = 0.01
"""Trajectory sampling step (s); crossing times are interpolated within a step."""


@dataclass(frozen=True)
class TruthEvent:
    type: TruthType
    t: float
    actor_id: str
    actor_kind: str
    zone_id: str | None = None
    line_id: str | None = None
    direction: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _samples(actor: Actor) -> list[tuple[float, tuple[float, float]]]:
    out = []
    n = int((actor.end - actor.start) / STEP) + 1
    for i in range(n + 1):
        t = min(actor.start + i * STEP, actor.end)
        p = actor.position(t)
        if p is not None:
            out.append((t, p))
    return out


def compute_truth(
    actors: Iterable[Actor], zones: Sequence[dict[str, Any]], lines: Sequence[dict[str, Any]]
) -> list[TruthEvent]:
    events: list[TruthEvent] = []
    for actor in actors:
        samples = _samples(actor)
        for zone in zones:
            events.extend(_zone_events(actor, samples, zone))
        for line in lines:
            events.extend(_line_events(actor, samples, line))
    events.sort(key=lambda e: (e.t, e.actor_id, e.type))
    return events


def _zone_events(
    actor: Actor, samples: list[tuple[float, tuple[float, float]]], zone: dict[str, Any]
) -> list[TruthEvent]:
    out: list[TruthEvent] = []
    poly = zone["polygon"]
    intrusion = bool(zone.get("intrusion", True))
    loiter = zone.get("loiter_seconds")
    cooldown = float(zone.get("cooldown_seconds", 5.0))
    last_intrusion: float | None = None
    entered: float | None = None
    loiter_sent = False
    for t, p in samples:
        inside = point_in_polygon(p, poly)
        if inside and entered is None:
            entered, loiter_sent = t, False
            if intrusion and (last_intrusion is None or t - last_intrusion >= cooldown):
                last_intrusion = t
                out.append(TruthEvent("intrusion", round(t, 3), actor.id, actor.kind, zone["id"]))
        elif not inside:
            entered = None
        if inside and entered is not None and loiter and not loiter_sent and t - entered >= loiter:
            loiter_sent = True
            out.append(
                TruthEvent(
                    "loitering", round(entered + loiter, 3), actor.id, actor.kind, zone["id"]
                )
            )
    return out


def _line_events(
    actor: Actor, samples: list[tuple[float, tuple[float, float]]], line: dict[str, Any]
) -> list[TruthEvent]:
    out: list[TruthEvent] = []
    a, b = line["points"]
    wanted = set(line.get("directions", ["forward", "backward"]))
    cooldown = float(line.get("cooldown_seconds", 0.0))
    last: float | None = None
    for (t0, p), (t1, q) in itertools.pairwise(samples):
        hit = segment_crossing(p, q, a, b)
        if hit is None:
            continue
        f, direction = hit
        t = t0 + f * (t1 - t0)
        if direction in wanted and (last is None or t - last >= cooldown):
            last = t
            out.append(
                TruthEvent(
                    "line_crossing",
                    round(t, 3),
                    actor.id,
                    actor.kind,
                    line_id=line["id"],
                    direction=direction,
                )
            )
    return out
