"""A walking person drawn so that a person detector takes it for one.

The figure is drawn in body units (height 1, feet at the origin) into a small sprite: head with
hair, neck, rounded shoulders, a torso narrowing to the hips, two arms (upper arm, forearm, hand)
swinging against the legs, two legs (thigh, shin, shoe) walking with bent knees. Seen from the
side when the person walks across the image, from the front or back when towards or away from
the camera, in between otherwise. Parts are shaded (a darker rim, light from the upper left) and
the far limbs are darker than the near ones. Small figures are drawn supersampled then reduced,
so their edges are soft like a camera's.

The sprite's alpha also casts the shadows: a soft contact shadow under the feet always, and a
hard sun shadow (the silhouette sheared onto the ground) when the scene has a sun.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
FloatImage = npt.NDArray[np.float32]
RGB = tuple[int, int, int]

SUPERSAMPLE_PX = 160
"""Figures are drawn at least this tall, then reduced."""
HIP_SWING = 0.42
"""Radians, thigh swing either side of vertical at full stride."""
ARM_SWING = 0.38
KNEE_BEND = 0.65
CONTACT_SHADOW = 0.32
"""Darkening at the centre of the soft shadow under the feet."""

# Body proportions (fractions of the height, about 7.5 heads).
HEAD_RY, HEAD_RX = 0.07, 0.056
HEAD_Y = 0.925
NECK_Y0, NECK_Y1 = 0.83, 0.875
SHOULDER_Y = 0.815
HIP_Y = 0.52
THIGH, SHIN = 0.255, 0.245
UPPER_ARM, FOREARM = 0.175, 0.16


@dataclass(frozen=True)
class Look:
    top: RGB
    """Shirt or jacket."""
    bottom: RGB
    """Trousers."""
    skin: RGB
    hair: RGB
    shoes: RGB = (30, 28, 28)
    short_sleeves: bool = False


@dataclass(frozen=True)
class Pose:
    stride: float
    """Gait phase in strides (one stride: both legs step once)."""
    moving: float
    """0 standing .. 1 walking (swing amplitude)."""
    side: float
    """0 seen from the front or back .. 1 seen from the side."""
    facing: int
    """+1 walks to the right of the image, -1 to the left."""
    towards: bool = True
    """Seen from the front (face) rather than the back (hair)."""


def _shade(c: RGB, k: float) -> tuple[float, float, float]:
    return (min(255.0, c[0] * k), min(255.0, c[1] * k), min(255.0, c[2] * k))


class _Sprite:
    """A float RGB canvas + alpha in body units: x right, y up from the feet."""

    def __init__(self, height_px: float) -> None:
        self.scale = max(height_px, SUPERSAMPLE_PX)
        s = self.scale
        self.w = math.ceil(0.9 * s) | 1
        self.h = math.ceil(1.06 * s)
        self.ox = self.w / 2.0
        self.oy = self.h - 0.02 * s
        self.rgb = np.zeros((self.h, self.w, 3), np.float32)
        self.alpha = np.zeros((self.h, self.w), np.float32)

    def p(self, x: float, y: float) -> tuple[int, int]:
        return round(self.ox + x * self.scale), round(self.oy - y * self.scale)

    def limb(
        self, a: tuple[float, float], b: tuple[float, float], width: float, colour: RGB
    ) -> None:
        """A rounded limb, darker at its rim."""
        t = max(1, round(width * self.scale))
        pa, pb = self.p(*a), self.p(*b)
        cv2.line(self.rgb, pa, pb, _shade(colour, 0.72), t, cv2.LINE_AA)
        cv2.line(self.alpha, pa, pb, 1.0, t, cv2.LINE_AA)
        inner = max(1, round(t * 0.55))
        off = max(0, round(t * 0.12))
        cv2.line(self.rgb, (pa[0] - off, pa[1]), (pb[0] - off, pb[1]), _shade(colour, 1.0), inner)

    def poly(self, pts: list[tuple[float, float]], colour: RGB, rim: float = 0.75) -> None:
        arr = np.array([self.p(x, y) for x, y in pts], np.int32)
        cv2.fillPoly(self.rgb, [arr], _shade(colour, rim), cv2.LINE_AA)
        cv2.fillPoly(self.alpha, [arr], 1.0, cv2.LINE_AA)
        # The lit middle: the same outline shrunk towards its centre, a little to the left.
        c = arr.astype(np.float32).mean(axis=0)
        span = float(arr[:, 0].max() - arr[:, 0].min())
        inner = (arr - c) * 0.72 + c - np.array([0.08 * span, 0.0], np.float32)
        cv2.fillPoly(self.rgb, [inner.round().astype(np.int32)], _shade(colour, 1.0), cv2.LINE_AA)

    def ellipse(
        self,
        centre: tuple[float, float],
        rx: float,
        ry: float,
        colour: RGB,
        start: float = 0.0,
        end: float = 360.0,
    ) -> None:
        cp = self.p(*centre)
        axes = (max(1, round(rx * self.scale)), max(1, round(ry * self.scale)))
        cv2.ellipse(self.rgb, cp, axes, 0, start, end, _shade(colour, 1.0), -1, cv2.LINE_AA)
        cv2.ellipse(self.alpha, cp, axes, 0, start, end, 1.0, -1, cv2.LINE_AA)


def _leg(
    hip: tuple[float, float], swing: float, bend: float, side: float, facing: int
) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
    """Knee, ankle and toe of a leg whose thigh swings ``swing`` radians forward."""
    fx = side * facing
    kx = hip[0] + fx * THIGH * math.sin(swing)
    ky = hip[1] - THIGH * math.cos(swing)
    shin = swing - bend
    ax = kx + fx * SHIN * math.sin(shin)
    ay = ky - SHIN * math.cos(shin)
    toe = (ax + facing * (0.02 + 0.055 * side), ay - 0.012)
    return (kx, ky), (ax, ay), toe


def _arm(
    shoulder: tuple[float, float], swing: float, side: float, facing: int, out: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    fx = side * facing
    ex = shoulder[0] + fx * UPPER_ARM * math.sin(swing) + out * 0.055
    ey = shoulder[1] - UPPER_ARM * math.cos(swing)
    fore = swing + 0.25 + 0.35 * max(0.0, swing)
    hx = ex + fx * FOREARM * math.sin(fore) + out * 0.055
    hy = ey - FOREARM * math.cos(fore)
    return (ex, ey), (hx, hy)


def draw_sprite(height_px: float, look: Look, pose: Pose) -> tuple[_Sprite, float]:
    """The figure in a sprite; returns it and the factor to reduce it by (<= 1)."""
    sp = _Sprite(height_px)
    facing, amp = pose.facing, pose.moving
    # Someone standing turns half towards the camera (waiting, looking around).
    side = pose.side * (0.45 + 0.55 * amp)
    front = 1.0 - side
    phi = 2 * math.pi * pose.stride
    half_hip = 0.052 * front + 0.014 * side
    half_sh = 0.122 * front + 0.062 * side
    bob = 0.008 * amp * abs(math.cos(phi))
    legs = []
    for k in (0, 1):
        ph = phi + k * math.pi
        swing = amp * HIP_SWING * math.sin(ph)
        # The knee bends most while the leg swings through (moving forward, off the ground).
        bend = amp * KNEE_BEND * max(0.0, math.cos(ph)) ** 2 * (0.4 + 0.6 * side)
        hx = (k * 2 - 1) * half_hip
        hip = (hx, HIP_Y + bob)
        knee, ankle, toe = _leg(hip, swing, bend, side, facing)
        # Feet a little apart: standing, and seen from the front while walking.
        spread = (k * 2 - 1) * 0.022 * (1.0 - 0.7 * side)
        knee, ankle, toe = (
            (knee[0] + spread * 0.5, knee[1]),
            (ankle[0] + spread, ankle[1]),
            (toe[0] + spread, toe[1]),
        )
        # Seen from the front a swinging foot lifts and moves a little outwards.
        if front > 0:
            lift = front * amp * 0.03 * max(0.0, math.cos(ph))
            knee = (knee[0], knee[1] + lift)
            ankle = (ankle[0], ankle[1] + lift * 1.4)
            toe = (toe[0], toe[1] + lift * 1.4)
        legs.append((hip, knee, ankle, toe, k))
    arms = []
    for k in (0, 1):
        ph = phi + k * math.pi
        swing = -amp * ARM_SWING * math.sin(ph)
        sx = (k * 2 - 1) * half_sh
        shoulder = (sx, SHOULDER_Y - 0.02 + bob)
        elbow, hand = _arm(shoulder, swing, side, facing, (k * 2 - 1) * front)
        arms.append((shoulder, elbow, hand, k))
    # Which limbs are behind the body: seen from the side, those on the far side.
    far = 0 if facing > 0 else 1

    def draw_leg(hip, knee, ankle, toe, k: int, dim: float) -> None:  # type: ignore[no-untyped-def]
        trousers = tuple(int(c * dim) for c in look.bottom)
        shoes = tuple(int(c * dim) for c in look.shoes)
        sp.limb(hip, knee, 0.088, trousers)  # type: ignore[arg-type]
        sp.limb(knee, ankle, 0.068, trousers)  # type: ignore[arg-type]
        sp.limb(ankle, toe, 0.042, shoes)  # type: ignore[arg-type]

    def draw_arm(shoulder, elbow, hand, k: int, dim: float) -> None:  # type: ignore[no-untyped-def]
        top = tuple(int(c * dim) for c in look.top)
        skin = tuple(int(c * dim) for c in look.skin)
        sleeve = skin if look.short_sleeves else top
        mid = ((shoulder[0] + elbow[0]) / 2, (shoulder[1] + elbow[1]) / 2)
        sp.limb(shoulder, elbow, 0.064, top)  # type: ignore[arg-type]
        if look.short_sleeves:
            sp.limb(mid, elbow, 0.046, skin)  # type: ignore[arg-type]
        sp.limb(elbow, hand, 0.052, sleeve)  # type: ignore[arg-type]
        sp.ellipse(hand, 0.024, 0.028, skin)  # type: ignore[arg-type]

    far_dim = 1.0 - 0.28 * side
    if side > 0.35:
        draw_arm(*arms[far][:3], far, far_dim)
        draw_leg(*legs[far][:4], far, far_dim)
        draw_leg(*legs[1 - far][:4], 1 - far, 1.0)
    else:
        for leg in legs:
            draw_leg(*leg[:4], leg[4], 1.0)
    # Hips and torso: shoulders rounded, narrowing to the waist.
    hw = 0.085 * front + 0.06 * side
    sp.poly(
        [
            (-hw, HIP_Y + 0.03 + bob),
            (hw, HIP_Y + 0.03 + bob),
            (hw * 0.9, HIP_Y - 0.06 + bob),
            (-hw * 0.9, HIP_Y - 0.06 + bob),
        ],
        look.bottom,
    )
    ww = 0.09 * front + 0.062 * side
    sy = SHOULDER_Y + bob
    lean = 0.012 * side * facing * amp
    torso = [
        (-half_sh + lean, sy - 0.025),
        (-half_sh * 0.8 + lean, sy + 0.008),
        (-0.03 + lean, sy + 0.018),
        (0.03 + lean, sy + 0.018),
        (half_sh * 0.8 + lean, sy + 0.008),
        (half_sh + lean, sy - 0.025),
        (ww + 0.005, HIP_Y + 0.14 + bob),
        (hw + 0.004, HIP_Y + 0.02 + bob),
        (-hw - 0.004, HIP_Y + 0.02 + bob),
        (-ww - 0.005, HIP_Y + 0.14 + bob),
    ]
    sp.poly(torso, look.top)
    # Neck and head.
    hx = lean * 1.5
    sp.limb((hx, NECK_Y0 + bob), (hx, NECK_Y1 + bob), 0.05, look.skin)
    hc = (hx + 0.008 * side * facing, HEAD_Y + bob)
    sp.ellipse(hc, HEAD_RX * (0.92 + 0.12 * side), HEAD_RY, _dim(look.skin, 0.85))
    sp.ellipse(
        (hc[0] - 0.006, hc[1] + 0.004),
        HEAD_RX * 0.8 * (0.92 + 0.12 * side),
        HEAD_RY * 0.85,
        look.skin,
    )
    if pose.towards and side < 0.6:
        # Hair on top, the face below.
        sp.ellipse((hc[0], hc[1] + 0.02), HEAD_RX * 1.02, HEAD_RY * 0.78, look.hair, 180, 360)
    elif side >= 0.6:
        back = (hc[0] - facing * 0.012, hc[1] + 0.012)
        sp.ellipse(back, HEAD_RX * 0.95, HEAD_RY * 0.82, look.hair, 180, 360)
        sp.ellipse((back[0] - facing * 0.01, back[1]), HEAD_RX * 0.7, HEAD_RY * 0.9, look.hair)
    else:
        sp.ellipse((hc[0], hc[1] + 0.006), HEAD_RX * 1.02, HEAD_RY * 0.98, look.hair)
    if side > 0.35:
        draw_arm(*arms[1 - far][:3], 1 - far, 1.0)
    else:
        for arm in arms:
            draw_arm(*arm[:3], arm[3], 1.0)
    # Light from above: the figure darkens a little towards the feet.
    grad = np.linspace(0.92, 1.06, sp.h, dtype=np.float32)[::-1, None, None]
    sp.rgb *= grad
    return sp, min(1.0, height_px / sp.scale)


def _dim(c: RGB, k: float) -> RGB:
    return (int(c[0] * k), int(c[1] * k), int(c[2] * k))


def draw_person(
    frame: Image,
    feet: tuple[float, float],
    height_px: float,
    look: Look,
    pose: Pose,
    sun: tuple[float, float] | None = None,
    sun_strength: float = 0.45,
) -> None:
    """Draw the figure on ``frame`` (RGB uint8, in place) standing at ``feet`` (pixels).

    ``sun``: the cast shadow's offset per unit of height, (dx, dy) in pixels per pixel of
    height (the top of the head's shadow lands at feet + height * sun); None: no sun shadow.
    """
    sp, k = draw_sprite(height_px, look, pose)
    rgb, alpha = sp.rgb, sp.alpha
    if k < 1.0:
        size = (max(1, round(sp.w * k)), max(1, round(sp.h * k)))
        rgb = np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), np.float32)
        alpha = np.asarray(cv2.resize(alpha, size, interpolation=cv2.INTER_AREA), np.float32)
    ox, oy = sp.ox * k, sp.oy * k
    x0, y0 = round(feet[0] - ox), round(feet[1] - oy)
    _contact_shadow(frame, feet, height_px)
    if sun is not None:
        _sun_shadow(frame, alpha, (x0, y0), feet, height_px, sun, sun_strength)
    _blend(frame, rgb, alpha, x0, y0)


def _contact_shadow(frame: Image, feet: tuple[float, float], height_px: float) -> None:
    rx, ry = max(2.0, 0.2 * height_px), max(1.0, 0.035 * height_px)
    x0, x1 = int(feet[0] - rx * 1.5), int(feet[0] + rx * 1.5) + 1
    y0, y1 = int(feet[1] - ry * 2), int(feet[1] + ry * 2) + 1
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(frame.shape[1], x1), min(frame.shape[0], y1)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    yy, xx = np.mgrid[fy0:fy1, fx0:fx1].astype(np.float32)
    d = ((xx - feet[0]) / rx) ** 2 + ((yy - feet[1]) / ry) ** 2
    m = 1.0 - CONTACT_SHADOW * np.exp(-1.6 * d)
    roi = frame[fy0:fy1, fx0:fx1]
    roi[:] = (roi * m[..., None]).astype(np.uint8)


def _sun_shadow(
    frame: Image,
    alpha: FloatImage,
    origin: tuple[int, int],
    feet: tuple[float, float],
    height_px: float,
    sun: tuple[float, float],
    strength: float,
) -> None:
    """The silhouette sheared onto the ground from the feet (a hard sun shadow)."""
    h, w = alpha.shape
    fy = feet[1] - origin[1]
    dx, dy = sun
    # A sprite pixel at height up = fy - y above the feet lands at (x + dx * up, fy + dy * up).
    # As an affine map of (x, y): x' = x - dx * y + dx * fy, y' = -dy * y + fy * (1 + dy).
    m = np.array([[1.0, -dx, dx * fy], [0.0, -dy, fy * (1.0 + dy)]], np.float32)
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float32) @ m.T
    bx0 = math.floor(corners[:, 0].min())
    by0 = math.floor(corners[:, 1].min())
    bx1 = math.ceil(corners[:, 0].max())
    by1 = math.ceil(corners[:, 1].max())
    m[0, 2] -= bx0
    m[1, 2] -= by0
    sw, sh = bx1 - bx0 + 1, by1 - by0 + 1
    if sw <= 1 or sh <= 1:
        return
    shadow = cv2.warpAffine(alpha, m, (sw, sh), flags=cv2.INTER_LINEAR)
    blur = max(1, int(0.01 * height_px)) | 1
    if blur > 1:
        shadow = cv2.GaussianBlur(shadow, (blur, blur), 0)
    gx0, gy0 = origin[0] + bx0, origin[1] + by0
    _darken(frame, shadow * strength, gx0, gy0)


def _darken(frame: Image, amount: FloatImage, x0: int, y0: int) -> None:
    h, w = amount.shape
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(frame.shape[1], x0 + w), min(frame.shape[0], y0 + h)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    a = amount[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0, None]
    roi = frame[fy0:fy1, fx0:fx1]
    roi[:] = (roi * (1.0 - a)).astype(np.uint8)


def _blend(frame: Image, rgb: FloatImage, alpha: FloatImage, x0: int, y0: int) -> None:
    h, w = alpha.shape
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(frame.shape[1], x0 + w), min(frame.shape[0], y0 + h)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    a = alpha[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0, None]
    src = rgb[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    roi = frame[fy0:fy1, fx0:fx1]
    roi[:] = np.clip(roi * (1.0 - a) + src * a, 0, 255).astype(np.uint8)
