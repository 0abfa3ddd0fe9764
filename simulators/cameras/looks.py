"""Actor colours that stay visible against the ground each actor walks or drives over.

The scenes test rules and tracking, not camouflage: a person whose trousers have the luma of the
paving shows no motion at the legs, so its feet (the point every rule uses) are lost. Each body
part therefore keeps its luma at least ``MARGIN`` grey levels away from the background under it
along the whole path, over the scene's lighting range (drift and cloud shadow). Variety comes
from the palettes and a random brightness; a colour is only nudged when it would blend in.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from simulators.cameras.actors import Actor, person_height, vehicle_height
from simulators.cameras.render import Painter, background_rng, paint_background

RGB = tuple[int, int, int]
Luma = npt.NDArray[np.float32]

MARGIN = 20.0
"""Smallest luma gap between a body part and the ground under it."""
LIGHT_RANGE = (0.84, 1.07)
"""Ground luma scale between the darkest (cloud shadow + drift) and brightest lighting."""
TOLERANCE = 0.02
"""Share of ground samples a part may still blend with (tile joints, a zone's painted edge)."""
LEGS = 0.7
"""Trousers are drawn at this fraction of the clothes colour (``render.Renderer._person``)."""
GLASS = 0.35
_GROUND_H = 144
_SAMPLE_STEP = 0.4

CLOTHES: list[RGB] = [(35, 35, 40), (200, 200, 195), (60, 50, 40), (30, 40, 70), (150, 150, 155)]
SHIRTS: list[RGB] = [
    (180, 40, 40),
    (30, 60, 150),
    (230, 230, 225),
    (25, 25, 30),
    (200, 170, 40),
    (40, 120, 60),
    (110, 60, 130),
]
CARS: list[RGB] = [
    (235, 235, 235),
    (30, 30, 35),
    (170, 172, 178),
    (160, 30, 30),
    (30, 60, 140),
    (220, 200, 60),
]
SKINS: list[RGB] = [
    (238, 200, 172),
    (222, 176, 140),
    (200, 150, 112),
    (170, 120, 86),
    (128, 88, 62),
    (96, 66, 48),
]
HAIRS: list[RGB] = [(22, 20, 20), (38, 30, 26), (30, 26, 24), (64, 44, 30), (104, 74, 46)]
_GAINS = np.round(np.arange(0.55, 1.56, 0.05), 2)


def luma(c: Sequence[float]) -> float:
    """BT.601 luma, as ``cv2.COLOR_RGB2GRAY`` and the encoder's Y plane compute it."""
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def ground_luma(width: int, height: int, painter: Painter, seed: int) -> Luma:
    """The scene's background luma (with its texture), averaged down to a small image."""
    rgb = paint_background(width, height, painter, background_rng(seed))
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h = min(_GROUND_H, height)
    w = max(1, round(width * h / height))
    out: Luma = cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    return out


def _region(ground: Luma, x0: float, y0: float, x1: float, y1: float, out: list[Luma]) -> None:
    h, w = ground.shape
    c0, c1 = max(int(x0 * w), 0), min(int(np.ceil(x1 * w)), w)
    r0, r1 = max(int(y0 * h), 0), min(int(np.ceil(y1 * h)), h)
    if c1 > c0 and r1 > r0:
        out.append(ground[r0:r1, c0:c1].ravel())


def _part_grounds(actor: Actor, ground: Luma) -> dict[str, Luma]:
    """Ground luma samples behind each body part along the actor's path (visible part only)."""
    parts: dict[str, list[Luma]] = {}
    ts = [*np.arange(actor.start, actor.end, _SAMPLE_STEP).tolist(), actor.end]
    aspect = actor.aspect
    for t in ts:
        p = actor.position(t)
        if p is None:
            continue
        x, y = p
        if actor.kind == "person":
            h = person_height(y) * actor.size
            hw = h / 2.5 / aspect  # body width in image widths
            boxes = {
                "legs": (x - 0.3 * hw, y - 0.46 * h, x + 0.3 * hw, y),
                "torso": (x - 0.45 * hw, y - 0.8 * h, x + 0.45 * hw, y - 0.44 * h),
                "hair": (x - 0.1 * h / aspect, y - 1.03 * h, x + 0.1 * h / aspect, y - 0.83 * h),
            }
        else:
            h = vehicle_height(y) * actor.size
            hw = 1.2 * h / aspect
            boxes = {"body": (x - hw, y - h, x + hw, y - 0.12 * h)}
        for name, (x0, y0, x1, y1) in boxes.items():
            _region(ground, x0, y0, x1, y1, parts.setdefault(name, []))
    return {k: np.concatenate(v) if v else np.zeros(0, np.float32) for k, v in parts.items()}


def _blend_share(part_luma: float, grounds: Luma) -> float:
    """Share of ``grounds`` a part of this luma would blend with under some lighting."""
    if grounds.size == 0:
        return 0.0
    lo = grounds * LIGHT_RANGE[0] - MARGIN
    hi = grounds * LIGHT_RANGE[1] + MARGIN
    return float(np.mean((part_luma > lo) & (part_luma < hi)))


def _scaled(c: RGB, k: float) -> RGB:
    return (min(255, int(c[0] * k)), min(255, int(c[1] * k)), min(255, int(c[2] * k)))


def _choose(
    rng: np.random.Generator,
    palette: list[RGB],
    checks: list[tuple[float, Luma]],
) -> RGB:
    """A palette colour times a gain, visible for every (luma factor, ground samples) check.

    Palette entries are tried in a random order, each at the gain closest to a random one that
    passes; if nothing passes, the least blending candidate wins.
    """
    order = rng.permutation(len(palette)).tolist()
    k0 = float(rng.uniform(0.85, 1.15))
    gains = sorted(_GAINS.tolist(), key=lambda g: abs(g - k0))
    best: tuple[float, RGB] | None = None
    for i in order:
        for g in gains:
            c = _scaled(palette[i], g)
            worst = max((_blend_share(f * luma(c), gr) for f, gr in checks), default=0.0)
            if worst <= TOLERANCE:
                return c
            if best is None or worst < best[0]:
                best = (worst, c)
    assert best is not None
    return best[1]


def pick_look(rng: np.random.Generator, actor: Actor, ground: Luma) -> tuple[RGB, RGB]:
    """(colour, accent) for ``actor``: clothes and shirt for a person, paint for a vehicle.

    ``ground`` is the scene's ``ground_luma``.
    """
    grounds = _part_grounds(actor, ground)
    if actor.kind == "person":
        # The clothes colour draws the legs (darkened) and the hair.
        colour = _choose(rng, CLOTHES, [(LEGS, grounds["legs"]), (1.0, grounds["hair"])])
        accent = _choose(rng, SHIRTS, [(1.0, grounds["torso"])])
        return colour, accent
    paint = _choose(rng, CARS, [(1.0, grounds["body"])])
    return paint, paint


def pick_features(rng: np.random.Generator) -> tuple[RGB, RGB, bool]:
    """(skin, hair, short sleeves) of a person: what the detector sees beyond the clothes."""
    skin = SKINS[int(rng.integers(len(SKINS)))]
    hair = HAIRS[int(rng.integers(len(HAIRS)))]
    return skin, hair, bool(rng.random() < 0.3)
