"""Drawing: textured backgrounds, distractors (noise, lighting, shadow, swaying tree) and actors.

Everything is sized relative to the image height so a 320x180 test scene looks like a 1280x720
one. Per-frame work is a handful of whole-frame uint8 OpenCV operations (a few ms at 720p); the
expensive parts (background texture, noise bank, tree phases) are prepared once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from simulators.cameras.actors import Actor, person_height, vehicle_height
from simulators.cameras.figure import Look, Pose, draw_person

Image = npt.NDArray[np.uint8]
FloatImage = npt.NDArray[np.float32]
RGB = tuple[int, int, int]

LEGS = 0.7
"""Trousers are the clothes colour at this brightness (``looks`` keeps them off the ground)."""
NOISE_FRAMES = 6
NOISE_SIGMA = 2.0
TREE_PHASES = 12


@dataclass
class Canvas:
    """Background under construction: float RGB, with helpers in normalised coordinates."""

    img: FloatImage
    rng: np.random.Generator

    @property
    def h(self) -> int:
        return int(self.img.shape[0])

    @property
    def w(self) -> int:
        return int(self.img.shape[1])

    def px(self, x: float, y: float) -> tuple[int, int]:
        return round(x * self.w), round(y * self.h)

    def rect(self, x0: float, y0: float, x1: float, y1: float, colour: RGB) -> None:
        cv2.rectangle(self.img, self.px(x0, y0), self.px(x1, y1), colour, thickness=-1)

    def poly(self, pts: Sequence[Sequence[float]], colour: RGB) -> None:
        arr = np.array([self.px(x, y) for x, y in pts], dtype=np.int32)
        cv2.fillPoly(self.img, [arr], colour, lineType=cv2.LINE_AA)

    def line(self, a: Sequence[float], b: Sequence[float], colour: RGB, width: float) -> None:
        t = max(1, round(width * self.h))
        cv2.line(self.img, self.px(a[0], a[1]), self.px(b[0], b[1]), colour, t, cv2.LINE_AA)

    def tiles(self, x0: float, y0: float, x1: float, y1: float, step: float, colour: RGB) -> None:
        """Paving joints: a grid of thin lines, `step` in image heights."""
        n = max(1, round((y1 - y0) / step))
        for i in range(n + 1):
            y = y0 + i * (y1 - y0) / n
            self.line((x0, y), (x1, y), colour, 0.002)
        sx = step * self.h / self.w
        x = x0
        while x <= x1:
            self.line((x, y0), (x, y1), colour, 0.002)
            x += sx

    def windows(
        self, x0: float, y0: float, x1: float, y1: float, cols: int, rows: int, colour: RGB
    ) -> None:
        for r in range(rows):
            for c in range(cols):
                cx0 = x0 + (c + 0.2) * (x1 - x0) / cols
                cy0 = y0 + (r + 0.2) * (y1 - y0) / rows
                cx1 = x0 + (c + 0.8) * (x1 - x0) / cols
                cy1 = y0 + (r + 0.75) * (y1 - y0) / rows
                jitter = int(self.rng.integers(-15, 16))
                red, green, blue = (max(0, v + jitter) for v in colour)
                self.rect(cx0, cy0, cx1, cy1, (red, green, blue))

    def texture(self, strength: float = 6.0) -> None:
        """Static grain plus low-frequency blotches, so the ground is not flat colour."""
        h, w = self.h, self.w
        fine = self.rng.normal(0, strength, (h, w, 1)).astype(np.float32)
        small = self.rng.normal(0, strength * 1.5, (max(2, h // 24), max(2, w // 24), 1))
        coarse = cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        # cv2 drops a single channel on resize: put it back to broadcast over RGB.
        self.img += fine + coarse.reshape(h, w, 1)

    def finish(self) -> Image:
        return np.clip(self.img, 0, 255).astype(np.uint8)


Painter = Callable[[Canvas], None]


def background_rng(seed: int) -> np.random.Generator:
    """The generator a scene's background (then its noise and trees) is drawn from."""
    return np.random.default_rng(seed + 7919)


def paint_background(width: int, height: int, painter: Painter, rng: np.random.Generator) -> Image:
    """The static background: the template's drawing plus its texture, RGB uint8."""
    canvas = Canvas(np.zeros((height, width, 3), np.float32), rng)
    painter(canvas)
    canvas.texture()
    return canvas.finish()


@dataclass
class Tree:
    """A foliage blob in a normalised box; it sways (shears) around its base."""

    box: tuple[float, float, float, float]
    period: float = 2.7


@dataclass(frozen=True)
class Cloud:
    """A cloud's shadow: a soft dark patch drifting across the scene, wrapping round."""

    x: float
    """Centre at t = 0, image widths."""
    y: float
    speed: float
    """Image widths per second (negative: to the left)."""
    rx: float
    ry: float
    """Radii, image widths / heights."""
    depth: float = 0.3
    """Darkening at the centre."""


@dataclass(frozen=True)
class Prop:
    """A still object on the ground (a bag left behind) from ``start`` to ``end``."""

    x: float
    y: float
    """Bottom-centre, normalised."""
    width: float
    height: float
    """Image heights."""
    colour: RGB
    start: float
    end: float


@dataclass(frozen=True)
class Tamper:
    """The camera is covered (a hand or cloth on the lens) or turned away for a while."""

    start: float
    end: float
    kind: str = "covered"
    """``covered`` | ``moved``."""


@dataclass
class Renderer:
    width: int
    height: int
    painter: Painter
    trees: list[Tree]
    duration: float
    seed: int
    sun: tuple[float, float] | None = None
    """Cast shadows of people: offset of the head's shadow per unit of height (x, y)."""
    clouds: list[Cloud] = field(default_factory=list)
    props: list[Prop] = field(default_factory=list)
    tampers: list[Tamper] = field(default_factory=list)
    detailed_people: bool = False
    """Human figures a person detector finds (``figure.py``); else the flat shapes the
    motion-only regression scenes were scored on."""
    _bg: Image = field(init=False, repr=False)
    _noise: list[tuple[Image, Image]] = field(init=False, repr=False)
    _tree_phases: list[tuple[tuple[int, int, int, int], list[Image]]] = field(
        init=False, repr=False
    )
    _shadow: FloatImage = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = background_rng(self.seed)
        self._bg = paint_background(self.width, self.height, self.painter, rng)
        self._noise = []
        for _ in range(NOISE_FRAMES):
            n = rng.normal(0, NOISE_SIGMA, (self.height, self.width, 1))
            n = np.repeat(n, 3, axis=2)
            self._noise.append(
                (np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8))
            )
        self._tree_phases = [self._prepare_tree(t, rng) for t in self.trees]
        sw, sh = max(8, int(0.45 * self.width)), max(8, int(0.4 * self.height))
        yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
        d = ((xx - sw / 2) / (sw / 2)) ** 2 + ((yy - sh / 2) / (sh / 2)) ** 2
        self._shadow = (1.0 - 0.16 * np.exp(-3.0 * d)).astype(np.float32)[..., None]

    def _prepare_tree(
        self, tree: Tree, rng: np.random.Generator
    ) -> tuple[tuple[int, int, int, int], list[Image]]:
        x0, y0, x1, y1 = tree.box
        bx0, by0 = int(x0 * self.width), int(y0 * self.height)
        bx1, by1 = int(x1 * self.width), int(y1 * self.height)
        bw, bh = max(4, bx1 - bx0), max(4, by1 - by0)
        layer = np.zeros((bh, bw, 3), np.float32)
        alpha = np.zeros((bh, bw), np.float32)
        cv2.rectangle(
            layer, (bw // 2 - bw // 16, bh // 2), (bw // 2 + bw // 16, bh), (70, 50, 35), -1
        )
        cv2.rectangle(alpha, (bw // 2 - bw // 16, bh // 2), (bw // 2 + bw // 16, bh), 1.0, -1)
        for _ in range(40):
            cx = int(rng.uniform(0.15, 0.85) * bw)
            cy = int(rng.uniform(0.08, 0.6) * bh)
            r = int(rng.uniform(0.08, 0.2) * min(bw, bh * 0.8))
            g = int(rng.uniform(70, 140))
            cv2.circle(layer, (cx, cy), max(1, r), (g // 3, g, g // 4), -1, cv2.LINE_AA)
            cv2.circle(alpha, (cx, cy), max(1, r), 1.0, -1, cv2.LINE_AA)
        layer += rng.normal(0, 12, layer.shape).astype(np.float32)
        region = self._bg[by0 : by0 + bh, bx0 : bx0 + bw].astype(np.float32)
        phases: list[Image] = []
        amp = 0.05 * bw
        for k in range(TREE_PHASES):
            s = amp * math.sin(2 * math.pi * k / TREE_PHASES) / bh
            # Shear about the base: the crown moves, the trunk foot stays.
            m = np.array([[1, s, -s * bh], [0, 1, 0]], np.float32)
            lay = cv2.warpAffine(layer, m, (bw, bh), borderMode=cv2.BORDER_REPLICATE)
            al = cv2.warpAffine(alpha, m, (bw, bh))[..., None]
            out = region * (1 - al) + lay * al
            phases.append(np.clip(out, 0, 255).astype(np.uint8))
        return (bx0, by0, bw, bh), phases

    def render(self, t: float, index: int, actors: Sequence[Actor]) -> Image:
        frame = self._bg.copy()
        for tree, ((bx, by, bw, bh), phases) in zip(self.trees, self._tree_phases, strict=True):
            k = int((t / tree.period) * TREE_PHASES) % TREE_PHASES
            frame[by : by + bh, bx : bx + bw] = phases[k]
        # Slow lighting drift, periodic over the loop so the seam does not jump.
        gain = 1.0 + 0.06 * math.sin(2 * math.pi * t / self.duration)
        cv2.convertScaleAbs(frame, dst=frame, alpha=gain)
        self._apply_shadow(frame, t)
        for prop in self.props:
            if prop.start <= t < prop.end:
                self._prop(frame, prop)
        visible = [(a, p) for a in actors if (p := a.position(t)) is not None]
        for actor, (x, y) in sorted(visible, key=lambda ap: ap[1][1]):
            if actor.kind == "person":
                self._person(frame, actor, x, y, t)
            else:
                self._vehicle(frame, actor, x, y)
        for cloud in self.clouds:
            self._cloud(frame, cloud, t)
        for tamper in self.tampers:
            if tamper.start <= t < tamper.end:
                frame = self._tamper(frame, tamper, t)
        pos, neg = self._noise[index % NOISE_FRAMES]
        cv2.add(frame, pos, dst=frame)
        cv2.subtract(frame, neg, dst=frame)
        return frame

    def _apply_shadow(self, frame: Image, t: float) -> None:
        # A cloud shadow drifting back and forth; amplitude grows with the loop length so its
        # speed stays well below walking speed.
        amp = min(0.5, 0.02 * self.duration / (2 * math.pi))
        cx = 0.5 + amp * math.sin(2 * math.pi * t / self.duration + 1.0)
        cy = 0.55 + 0.5 * amp * math.cos(2 * math.pi * t / self.duration)
        sh, sw = self._shadow.shape[:2]
        x0 = int(cx * self.width - sw / 2)
        y0 = int(cy * self.height - sh / 2)
        fx0, fy0 = max(0, x0), max(0, y0)
        fx1, fy1 = min(self.width, x0 + sw), min(self.height, y0 + sh)
        if fx1 <= fx0 or fy1 <= fy0:
            return
        roi = frame[fy0:fy1, fx0:fx1]
        m = self._shadow[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
        frame[fy0:fy1, fx0:fx1] = (roi * m).astype(np.uint8)

    def _cloud(self, frame: Image, c: Cloud, t: float) -> None:
        span = 1.0 + 2 * c.rx
        cx = ((c.x + c.speed * t + c.rx) % span - c.rx) * self.width
        cy, rx, ry = c.y * self.height, c.rx * self.width, c.ry * self.height
        x0, x1 = max(0, int(cx - 2 * rx)), min(self.width, int(cx + 2 * rx) + 1)
        y0, y1 = max(0, int(cy - 2 * ry)), min(self.height, int(cy + 2 * ry) + 1)
        if x1 <= x0 or y1 <= y0:
            return
        yy, xx = np.ogrid[y0:y1, x0:x1]
        d = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
        # A flat-topped patch with a soft edge, like a cloud's shadow on the ground.
        m = (1.0 - c.depth / (1.0 + np.exp(6.0 * (d - 1.0)))).astype(np.float32)
        roi = frame[y0:y1, x0:x1]
        roi[:] = (roi * m[..., None]).astype(np.uint8)

    def _prop(self, frame: Image, p: Prop) -> None:
        h, w = p.height * self.height, p.width * self.height
        cx, cy = p.x * self.width, p.y * self.height
        under = frame[min(int(cy), self.height - 1), min(int(cx), self.width - 1)]
        shadow = tuple(int(v * 0.55) for v in under)
        axes = (max(1, round(w * 0.6)), max(1, round(h * 0.12)))
        cv2.ellipse(frame, _ip((cx, cy)), axes, 0, 0, 360, shadow, -1, cv2.LINE_AA)
        dark = _scaled(p.colour, 0.7)
        cv2.rectangle(frame, _ip((cx - w / 2, cy - h)), _ip((cx + w / 2, cy)), dark, -1)
        cv2.rectangle(
            frame, _ip((cx - w / 2, cy - h)), _ip((cx + w * 0.2, cy - h * 0.1)), p.colour, -1
        )
        handle = (max(1, round(w * 0.22)), max(1, round(h * 0.25)))
        thick = max(1, round(h * 0.06))
        cv2.ellipse(frame, _ip((cx, cy - h)), handle, 0, 180, 360, dark, thick, cv2.LINE_AA)

    def _tamper(self, frame: Image, tp: Tamper, t: float) -> Image:
        if tp.kind == "moved":
            # Turned away: the view pans and tilts to another part of the scene.
            f = min(1.0, (t - tp.start) / 0.5)
            m = np.array(
                [[1.3, 0.08, -0.38 * self.width * f], [-0.05, 1.3, -0.3 * self.height * f]],
                np.float32,
            )
            size = (self.width, self.height)
            moved = cv2.warpAffine(frame, m, size, borderMode=cv2.BORDER_REFLECT)
            return np.asarray(moved, np.uint8)
        # Covered: a dark, blurred cloth over the lens with some light leaking at one edge.
        small = cv2.resize(frame, (16, 9), interpolation=cv2.INTER_AREA)
        blur = cv2.resize(small, (self.width, self.height), interpolation=cv2.INTER_CUBIC)
        ramp = np.linspace(0.08, 0.3, self.width, dtype=np.float32)[None, :, None]
        covered: Image = np.clip(np.asarray(blur, np.float32) * ramp + 12.0, 0, 255).astype(
            np.uint8
        )
        return covered

    def _person(self, frame: Image, a: Actor, x: float, y: float, t: float) -> None:
        if not self.detailed_people:
            self._flat_person(frame, a, x, y, t)
            return
        h = person_height(y) * a.size * self.height
        dx, dy = a.heading(t)
        norm = math.hypot(dx, dy) or 1.0
        strides, amp = a.gait(t)
        pose = Pose(
            stride=strides + a.phase / (2 * math.pi),
            moving=amp,
            side=abs(dx) / norm,
            facing=1 if dx >= 0 else -1,
            towards=dy >= 0,
        )
        look = Look(
            a.accent, _scaled(a.colour, LEGS), a.skin, a.hair, (28, 26, 26), a.short_sleeves
        )
        draw_person(frame, (x * self.width, y * self.height), h, look, pose, self.sun)

    def _flat_person(self, frame: Image, a: Actor, x: float, y: float, t: float) -> None:
        """The scripted scenes' people (motion-only regression scenes): flat shapes."""
        H = self.height
        h = person_height(y) * a.size * H
        w = h / 2.5
        cx, cy = x * self.width, y * H
        moving = a.moving(t)
        walk = math.sin(2 * math.pi * 1.8 * t + a.phase) if moving else 0.0
        sway = 0.03 * h * math.sin(2 * math.pi * 0.5 * t + a.phase)
        hip = (cx + sway * 0.4, cy - 0.46 * h)
        leg_t = max(1, int(w * 0.3))
        legs = tuple(int(c * 0.7) for c in a.colour)
        for sgn in (-1, 1):
            foot = (cx + sgn * w * 0.18 + sgn * walk * 0.14 * h, cy - leg_t / 2)
            cv2.line(frame, _ip(hip), _ip(foot), legs, leg_t, cv2.LINE_AA)
        tx = cx + sway
        body = np.array(
            [
                (tx - w * 0.45, cy - 0.80 * h),
                (tx + w * 0.45, cy - 0.80 * h),
                (tx + w * 0.38, cy - 0.44 * h),
                (tx - w * 0.38, cy - 0.44 * h),
            ],
            np.int32,
        )
        cv2.fillConvexPoly(frame, body, a.accent, cv2.LINE_AA)
        r = max(1, int(0.1 * h))
        cv2.circle(frame, _ip((tx + sway * 0.3, cy - 0.9 * h)), r, (190, 150, 120), -1, cv2.LINE_AA)
        cv2.circle(frame, _ip((tx + sway * 0.3, cy - 0.93 * h)), r, a.colour, -1, cv2.LINE_AA)

    def _vehicle(self, frame: Image, a: Actor, x: float, y: float) -> None:
        H = self.height
        h = vehicle_height(y) * a.size * H
        w = 2.4 * h
        cx, cy = x * self.width, y * H
        x0, x1 = cx - w / 2, cx + w / 2
        cv2.rectangle(frame, _ip((x0, cy - 0.62 * h)), _ip((x1, cy - 0.12 * h)), a.accent, -1)
        cabin = np.array(
            [
                (x0 + 0.18 * w, cy - 0.6 * h),
                (x0 + 0.3 * w, cy - h),
                (x1 - 0.25 * w, cy - h),
                (x1 - 0.12 * w, cy - 0.6 * h),
            ],
            np.int32,
        )
        cv2.fillConvexPoly(frame, cabin, a.accent, cv2.LINE_AA)
        glass = tuple(int(c * 0.35) for c in a.accent)
        cv2.rectangle(
            frame,
            _ip((x0 + 0.3 * w, cy - 0.93 * h)),
            _ip((x1 - 0.27 * w, cy - 0.64 * h)),
            glass,
            -1,
        )
        r = max(1, int(0.17 * h))
        for wx in (x0 + 0.22 * w, x1 - 0.22 * w):
            cv2.circle(frame, _ip((wx, cy - r)), r, (20, 20, 22), -1, cv2.LINE_AA)


def _scaled(c: RGB, k: float) -> RGB:
    return (int(c[0] * k), int(c[1] * k), int(c[2] * k))


def _ip(p: tuple[float, float]) -> tuple[int, int]:
    return round(p[0]), round(p[1])
