"""What a motion blob is, when a person detector runs beside the motion stage.

No permissively licensed vehicle model ships in a package, so vehicles are told by the scene:
a blob that is not on a detected person, wider than tall, large enough, and seen moving at a
vehicle's pace is a vehicle (and stays one when it parks). Everything else is ``unknown``: a
shadow, a swaying tree, a lighting patch, or an object left behind; zones and lines ignore it,
the abandoned-object rule looks at it. This is a rule, not a model: the UI labels it so.
"""

from __future__ import annotations

from hub.video.analytics.tracker import Box, Track

ON_PERSON = 0.4
"""A blob this much covered by people's boxes (summed) is (part of) those people."""
VEHICLE_ASPECT = 1.15
VEHICLE_MIN_HEIGHT = 0.05
"""Of the image height."""
VEHICLE_SPEED = 0.3
"""Widths per second, at some point in the track's life."""


def covered_by(blob: Box, boxes: list[Box]) -> float:
    """Fraction of ``blob``'s area under ``boxes`` (overlaps between them counted twice)."""
    area = max(blob[2] * blob[3], 1e-9)
    total = 0.0
    for b in boxes:
        ix = min(blob[0] + blob[2], b[0] + b[2]) - max(blob[0], b[0])
        iy = min(blob[1] + blob[3], b[1] + b[3]) - max(blob[1], b[1])
        if ix > 0 and iy > 0:
            total += ix * iy
    return total / area


def not_on_people(
    blobs: list[tuple[int, int, int, int]], people: list[Box]
) -> list[tuple[int, int, int, int]]:
    if not people:
        return blobs
    return [
        b
        for b in blobs
        if covered_by((float(b[0]), float(b[1]), float(b[2]), float(b[3])), people) < ON_PERSON
    ]


NEAR_PEOPLE = 0.1
"""A blob touching people this much is what is left of a group around them, not a vehicle."""


def classify(tr: Track, image_height: int, people: list[Box]) -> None:
    """Mark ``tr`` a vehicle once it looks like one; the label then sticks (a parked car)."""
    if tr.kind != "unknown" or not tr.updated or tr.coasting:
        return
    if covered_by(tr.box, people) > NEAR_PEOPLE:
        return
    _, _, w, h = tr.box
    if w < VEHICLE_ASPECT * h or h < VEHICLE_MIN_HEIGHT * image_height or tr.hits < 3:
        return
    if abs(tr.vx) >= VEHICLE_SPEED * w or abs(tr.vy) >= VEHICLE_SPEED * w:
        tr.kind = "vehicle"
