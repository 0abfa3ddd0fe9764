"""Tracked objects for the zone detectors, as the core hands them over (no pixels needed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hub.video.analytics.types import RawEvent, TrackedObject

# (t) -> the objects in view at t
World = Callable[[float], list[TrackedObject]]


def obj(
    track_id: int,
    x: float,
    y: float,
    *,
    kind: str = "person",
    zones: Sequence[str] = ("z1",),
    size: tuple[float, float] = (0.05, 0.15),
    velocity: tuple[float, float] = (0.0, 0.0),
) -> TrackedObject:
    """An object whose box top-left is at (x, y)."""
    return TrackedObject(
        track_id=track_id,
        box=(x, y, size[0], size[1]),
        zones=list(zones),
        confidence=0.8,
        velocity=velocity,
        kind=kind,
    )


class Collector:
    def __init__(self) -> None:
        self.started: list[RawEvent] = []
        self.ended: list[RawEvent] = []

    def add(self, out: tuple[list[RawEvent], list[RawEvent]]) -> None:
        self.started += out[0]
        self.ended += out[1]
