"""Where the person detector looks: a colour view of the frame and square crops in it.

The detector takes 300x300 squares. Cutting squares around what moves or is already tracked
(with context around it, and never smaller than ``MIN_SIDE``) lets a person 40 pixels tall in a
1080p picture reach the model at a size it finds, and costs one inference per busy area instead of
tiling the whole frame. When the proposals are too many or too spread, a couple of squares cover
the whole view instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from hub.video.analytics.detector import Detection
from hub.video.analytics.tracker import Box

VIEW_WIDTH = 640
"""The colour view the crops are cut from is at most this wide."""
CONTEXT = 2.0
"""A square's side is this many times the proposal's larger side."""
MIN_SIDE = 96
MAX_CROPS = 4
ZOOM_OUT = 3.5
"""A merged square's side is at most this many times its smallest proposal's larger side: a
person then still reaches the 300 px model about 85 px tall (in the whole 640x360 view, 60 px
people come out at 50 px, and the model misses most of them)."""
NEAR_WHOLE = 1.15
LEAN_CROPS = 1
MAX_AREAS = 16
"""More separate areas than this go straight to the whole view: merging them down pair by pair
grows with the cube of their count, on the per-frame path, and ends at the whole view anyway."""
"""Squares of a plan without detail: one around everything, or the whole view."""
EDGE = 3.0
"""A box this close (pixels) to a crop edge inside the view is cut by the crop."""
CUT_PENALTY = 0.7


@dataclass(slots=True, frozen=True)
class Square:
    x: int
    y: int
    side: int


def detector_view(image: object | None, luma: np.ndarray) -> np.ndarray:
    """The frame as BGR, at most ``VIEW_WIDTH`` wide (from the full image when there is one:
    the analysis luma is too small and has no colour)."""
    to_ndarray = getattr(image, "to_ndarray", None)
    if to_ndarray is not None:
        w, h = int(getattr(image, "width", 0)), int(getattr(image, "height", 0))
        if w > VIEW_WIDTH:
            h, w = max(2, round(h * VIEW_WIDTH / w)) & ~1, VIEW_WIDTH
            small: Any = getattr(image, "reformat")(width=w, height=h, format="bgr24")  # noqa: B009
            out: np.ndarray = small.to_ndarray()
            return out
        arr: np.ndarray = to_ndarray(format="bgr24")
        return arr
    src = image if isinstance(image, np.ndarray) else luma
    if src.ndim == 2:
        src = cv2.cvtColor(src, cv2.COLOR_GRAY2BGR)
    if src.shape[1] > VIEW_WIDTH:
        h = round(src.shape[0] * VIEW_WIDTH / src.shape[1])
        src = cv2.resize(src, (VIEW_WIDTH, h), interpolation=cv2.INTER_AREA)
    return src


def view_size(image: object | None, luma: np.ndarray) -> tuple[int, int]:
    """(width, height) of ``detector_view(image, luma)`` without making it."""
    if isinstance(image, np.ndarray):
        h, w = image.shape[:2]
    elif image is not None and hasattr(image, "to_ndarray"):
        w, h = int(getattr(image, "width", 0)), int(getattr(image, "height", 0))
        if w > VIEW_WIDTH:
            return VIEW_WIDTH, max(2, round(h * VIEW_WIDTH / w)) & ~1
        return w, h
    else:
        h, w = luma.shape[:2]
    if w > VIEW_WIDTH:
        return VIEW_WIDTH, round(h * VIEW_WIDTH / w)
    return w, h


def full_frame(width: int, height: int) -> list[Square]:
    """Squares covering the view: one when it is about square, else evenly spaced along the
    long side (two for 16:9 and 4:3)."""
    side = min(width, height)
    long = max(width, height)
    n = max(1, -(-long // side))
    if n > 1 and long - side < 0.15 * side:
        n = 1
    n = max(n, 2) if long > 1.15 * side else n
    step = 0 if n == 1 else (long - side) / (n - 1)
    if width >= height:
        return [Square(round(i * step), 0, side) for i in range(n)]
    return [Square(0, round(i * step), side) for i in range(n)]


def _square_around(b: Box, width: int, height: int) -> Square:
    side = int(min(max(CONTEXT * max(b[2], b[3]), MIN_SIDE), width, height))
    cx, cy = b[0] + b[2] / 2.0, b[1] + b[3] / 2.0
    x = int(min(max(cx - side / 2.0, 0), width - side))
    y = int(min(max(cy - side / 2.0, 0), height - side))
    return Square(x, y, side)


def _union(a: Square, b: Square) -> Box:
    x0, y0 = min(a.x, b.x), min(a.y, b.y)
    x1, y1 = max(a.x + a.side, b.x + b.side), max(a.y + a.side, b.y + b.side)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def _overlap(a: Square, b: Square) -> bool:
    return a.x < b.x + b.side and b.x < a.x + a.side and a.y < b.y + b.side and b.y < a.y + a.side


@dataclass(slots=True)
class _Area:
    square: Square
    smallest: float
    """The larger side of the smallest proposal it holds."""


def _merged(a: _Area, b: _Area, width: int, height: int) -> _Area:
    u = _union(a.square, b.square)
    side = int(min(max(u[2], u[3]), width, height))
    return _Area(_fit(u, side, width, height), min(a.smallest, b.smallest))


def _keeps_detail(a: _Area, b: _Area, m: _Area) -> bool:
    """Merging costs no detail: the smallest proposal still reaches the model large enough,
    or one square held the other almost whole already."""
    side = m.square.side
    return side <= ZOOM_OUT * m.smallest or side <= NEAR_WHOLE * max(a.square.side, b.square.side)


def plan(proposals: list[Box], width: int, height: int, *, detail: bool = True) -> list[Square]:
    """Squares to run the detector on, for proposals in view pixels.

    Overlapping squares are merged while the merge keeps detail (a crowd's people share one
    square, a person far from it keeps their own); beyond ``MAX_CROPS`` the nearest squares are
    merged anyway; when that leaves a square about as large as the view, or squares holding as
    many pixels as the view's own, the view is covered whole. ``detail=False`` (the detector is
    short of time): overlapping squares always merge, and at most ``LEAN_CROPS`` are left."""
    areas = [
        _Area(_square_around(b, width, height), max(b[2], b[3]))
        for b in proposals
        if b[2] > 0 and b[3] > 0
    ]
    merged = True
    while merged:
        merged = False
        for i in range(len(areas)):
            for j in range(i + 1, len(areas)):
                if not _overlap(areas[i].square, areas[j].square):
                    continue
                m = _merged(areas[i], areas[j], width, height)
                if not detail or _keeps_detail(areas[i], areas[j], m):
                    areas[i] = m
                    del areas[j]
                    merged = True
                    break
            if merged:
                break
    whole = full_frame(width, height)
    if len(areas) > MAX_AREAS:
        return whole  # merging that many down would cost more than it could gain
    while len(areas) > (MAX_CROPS if detail else LEAN_CROPS):
        pairs = [
            (_merged(areas[i], areas[j], width, height), i, j)
            for i in range(len(areas))
            for j in range(i + 1, len(areas))
        ]
        m, i, j = min(pairs, key=lambda p: p[0].square.side)
        areas[i] = m
        del areas[j]
    squares = [a.square for a in areas]
    if any(s.side >= 0.9 * min(width, height) for s in squares) or sum(
        s.side**2 for s in squares
    ) >= sum(s.side**2 for s in whole):
        return whole  # no more detail than the whole view gives
    return squares


def _fit(u: Box, side: int, width: int, height: int) -> Square:
    cx, cy = u[0] + u[2] / 2.0, u[1] + u[3] / 2.0
    x = int(min(max(cx - side / 2.0, 0), width - side))
    y = int(min(max(cy - side / 2.0, 0), height - side))
    return Square(x, y, side)


def cut(view: np.ndarray, s: Square) -> np.ndarray:
    return view[s.y : s.y + s.side, s.x : s.x + s.side]


def to_view(dets: list[Detection], s: Square, width: int, height: int) -> list[Detection]:
    """Boxes in crop pixels -> view pixels; a box cut by a crop edge that lies inside the view
    (the person goes on beyond it) loses some score, so the whole box from a neighbouring crop
    wins the dedupe."""
    out = []
    for d in dets:
        x, y, w, h = d.box
        score = d.score
        cut_by = (
            (x <= EDGE and s.x > 0)
            or (y <= EDGE and s.y > 0)
            or (x + w >= s.side - EDGE and s.x + s.side < width)
            or (y + h >= s.side - EDGE and s.y + s.side < height)
        )
        if cut_by:
            score *= CUT_PENALTY
        out.append(Detection((x + s.x, y + s.y, w, h), score))
    return out


def dedupe(
    dets: list[tuple[int, Detection]], iou_limit: float = 0.5, inside: float = 0.8
) -> list[Detection]:
    """One box per person across overlapping crops (``(crop index, box)`` pairs): best score
    first, dropping boxes that overlap a kept one, or that lie mostly inside one from another
    crop (the part of a person a crop edge cut off; in one crop, a person half hidden behind
    another is a person)."""
    kept: list[tuple[int, Detection]] = []
    for c, d in sorted(dets, key=lambda cd: -cd[1].score):
        x, y, w, h = d.box
        dup = False
        for kc, k in kept:
            kx, ky, kw, kh = k.box
            ix = min(x + w, kx + kw) - max(x, kx)
            iy = min(y + h, ky + kh) - max(y, ky)
            if ix <= 0 or iy <= 0:
                continue
            inter = ix * iy
            small = min(w * h, kw * kh)
            if inter / (w * h + kw * kh - inter) > iou_limit or (
                kc != c and inter / small > inside
            ):
                dup = True
                break
        if not dup:
            kept.append((c, d))
    return [d for _, d in kept]
