"""Fire and smoke (火焰/烟雾): colour and texture **heuristics**, not a trained model.

Both work on a small colour image (at most ``MAX_WIDTH`` px wide) reduced from the full frame
a few times a second (``SAMPLE_SECONDS``); frames without a colour image are skipped. Their
events carry ``cause="heuristic"`` so that the wall and the case say so (规则判断).

**Fire**: flame-coloured pixels (bright, red >= green >= blue, clearly saturated: orange and
yellow, not the red of paint where green ~ blue) that stay at one place and flicker. Over the
last ``FIRE_WINDOW`` samples, the pixels flame-coloured in at least half of them form the
region; it must be present in most samples (a blinking indicator is off half the time), its
brightness must vary strongly from sample to sample (``FLICKER_MIN``: a parked orange car or a
lit sign is steady) and its centre must stay put (a car driving by moves its colour along).
Held for ``Camera.fire_seconds`` (dips shorter than ``DIP_SECONDS`` allowed), it is a fire.

**Smoke**: against a slowly learned reference of the scene, cut into 8x8 px cells, a smoke
cell still shows the background's pattern (correlation: smoke is translucent, a grey bus is
not) with its contrast, relative to brightness, clearly lowered, and no more colourful than
before. A connected region of at least ``SMOKE_MIN_CELLS`` such cells that persists without
shrinking away for ``Camera.smoke_seconds`` is smoke. When most of the view loses contrast at
once it is the weather (fog, rain on the lens, dusk), not smoke. Lighting changes scale the
contrast and the brightness together and leave the relative contrast alone.

Both events end once the condition has been gone for ``END_SECONDS``, at its last sighting.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from hub.config import Camera
from hub.video.analytics.events.base import Ticker, ended, scene_event
from hub.video.analytics.types import NormBox, RawEvent, TrackedObject

FIRE = "fire"
SMOKE = "smoke"
CAUSE = "heuristic"

MAX_WIDTH = 160
SAMPLE_SECONDS = 0.25
DIP_SECONDS = 1.0
END_SECONDS = 3.0

FIRE_WINDOW = 8
"""Samples (2 s) the flame region is judged on."""
FIRE_MIN_SAMPLES = 4
FLAME_MIN_RED = 150
FLAME_MIN_RED_BLUE = 60
FLAME_MIN_GREEN_BLUE = 20
FIRE_MIN_AREA = 0.0005
"""Smallest flame region, as a fraction of the image (7 px of 160x90)."""
FIRE_PRESENT = 0.75
FLICKER_MIN = 8.0
"""Mean brightness change of the region's pixels between samples (grey levels)."""
FIRE_DRIFT = 0.25
"""Largest range of the region's centre over the window, relative to its extent."""

SMOKE_EVERY = 2
"""Smoke looks at every second sample (2 per second)."""
CELL = 8
SMOKE_LEARN_SECONDS = 30.0
SMOKE_WARMUP = 3
SMOKE_MIN_CELL_STD = 4.0
SMOKE_CORR = 0.5
SMOKE_CONTRAST = 0.6
SMOKE_SAT_RISE = 10.0
SMOKE_MIN_CELLS = 4
SMOKE_WEATHER = 0.6
"""Share of the informative cells beyond which the contrast loss is the weather."""


def small_bgr(image: object, max_width: int = MAX_WIDTH) -> np.ndarray | None:
    """A BGR uint8 image at most ``max_width`` px wide from an ``av.VideoFrame`` (scaled and
    converted by the decoder's scaler) or a BGR/grey ndarray; None when there is no colour."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            return None
        h, w = image.shape[:2]
        f = -(-w // max_width)
        if f <= 1:
            return np.ascontiguousarray(image, dtype=np.uint8)
        # Integer factor on an exact-multiple crop: OpenCV's fast INTER_AREA path, after
        # skipping rows and columns down to 4x the target (averaging 16 of every pixel block
        # is plenty for colour statistics, at half the cost).
        tw, th = w // f, h // f
        step = max(f // 4, 1)
        crop = image[: th * f : step, : tw * f : step]
        out: np.ndarray = cv2.resize(crop, (tw, th), interpolation=cv2.INTER_AREA)
        return out
    reformat = getattr(image, "reformat", None)
    width = getattr(image, "width", 0)
    height = getattr(image, "height", 0)
    if reformat is None or not width or not height:
        return None
    tw = min(max_width, width)
    th = max(1, round(height * tw / width))
    arr: np.ndarray = reformat(
        width=tw, height=th, format="bgr24", interpolation="AREA"
    ).to_ndarray()
    return arr


@dataclass(slots=True)
class _Hold:
    """A condition held over time, with dips shorter than DIP_SECONDS allowed."""

    seconds: float
    since: float | None = None
    last: float = 0.0
    last_wall: float = 0.0
    open: RawEvent | None = None

    def seen(self, t: float, wall: float, onset: float) -> bool:
        """The condition holds at ``t``; True when it has held long enough to raise."""
        if self.since is None or t - self.last > DIP_SECONDS or t < self.last:
            self.since = onset
        self.last, self.last_wall = t, wall
        return self.open is None and t - self.since >= self.seconds - 1e-6

    def missed(self, t: float) -> RawEvent | None:
        """The condition does not hold at ``t``; the ended event once it has been gone for
        END_SECONDS."""
        if self.since is None:
            return None
        if self.open is not None:
            if t - self.last >= END_SECONDS:
                return self.end()
        elif t - self.last > DIP_SECONDS:
            self.since = None
        return None

    def end(self) -> RawEvent | None:
        ev = self.open
        out = None
        if ev is not None and self.since is not None:
            out = ended(ev, self.last, self.last_wall, self.since)
        self.open = None
        self.since = None
        return out


class _Flames:
    def __init__(self) -> None:
        self.masks: deque[np.ndarray] = deque(maxlen=FIRE_WINDOW)
        self.bright: deque[np.ndarray] = deque(maxlen=FIRE_WINDOW)
        self.times: deque[float] = deque(maxlen=FIRE_WINDOW)
        self.figures: dict[str, float] = {}

    def reset(self) -> None:
        self.masks.clear()
        self.bright.clear()
        self.times.clear()

    def sample(self, t: float, img: np.ndarray) -> tuple[NormBox, float, float] | None:
        """(region box, onset, confidence) when flames are seen at ``t``."""
        b, g, r = (c.astype(np.int16) for c in cv2.split(img))
        mask = (
            (r >= FLAME_MIN_RED)
            & (r >= g)
            & (g >= b)
            & (r - b >= FLAME_MIN_RED_BLUE)
            & (g - b >= FLAME_MIN_GREEN_BLUE)
        )
        if self.masks and self.masks[-1].shape != mask.shape:
            self.reset()  # the stream's size changed
        self.masks.append(mask)
        self.bright.append(((r + g) * 0.5).astype(np.float32))
        self.times.append(t)
        self.figures = {}
        if len(self.masks) < FIRE_MIN_SAMPLES or not mask.any():
            return None
        h, w = mask.shape
        min_area = max(4.0, FIRE_MIN_AREA * h * w)
        stack = np.stack(self.masks)
        region = (stack.mean(axis=0) >= 0.5).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(region, connectivity=8)
        # Brightness change between consecutive samples of pixels flame-coloured in both:
        # flames jump; a lighting ramp or a steady orange surface barely changes, and a person
        # walking in front of a sign turns its pixels into other colours rather than flicker.
        both = stack[1:] & stack[:-1]
        delta = np.abs(np.diff(np.stack(self.bright), axis=0))
        pairs = both.sum(axis=0)
        jumps = (delta * both).sum(axis=0) / np.maximum(pairs, 1)
        # Mean flicker of each region (over its pixels with pairs), all regions at once.
        valid = (pairs > 0).ravel()
        lab = labels.ravel()
        sums = np.bincount(lab[valid], weights=jumps.ravel()[valid], minlength=count)
        counts = np.bincount(lab[valid], minlength=count)
        flickers = sums / np.maximum(counts, 1)
        best: tuple[NormBox, float, float] | None = None
        for i in np.argsort(-flickers):
            i = int(i)
            x, y, bw, bh, area = (int(v) for v in stats[i])
            if i == 0 or area < min_area:
                continue
            flicker = float(flickers[i])
            if not self.figures:
                self.figures = {"area": float(area), "flicker": flicker}
            if flicker < FLICKER_MIN:
                break  # sorted: no other region flickers more
            near = cv2.dilate((labels == i).astype(np.uint8), _CROSS).astype(bool)
            present = (stack & near).sum(axis=(1, 2)) >= min_area / 2
            drift = _drift(stack, near, present, max(bw, bh))
            self.figures.update(present=float(present.mean()), drift=drift)
            if present[-1] and present.mean() >= FIRE_PRESENT and drift <= FIRE_DRIFT:
                first = int(np.argmax(present))
                best = ((x / w, y / h, bw / w, bh / h), self.times[first], flicker)
                break
        if best is None:
            return None
        return best[0], best[1], 0.4 + min(best[2] / 100.0, 0.3)


_CROSS = np.ones((3, 3), np.uint8)


def _drift(stack: np.ndarray, near: np.ndarray, present: np.ndarray, extent: int) -> float:
    """Range of the region's centre over the samples it is present in, over its extent."""
    cx: list[float] = []
    cy: list[float] = []
    for m, ok in zip(stack, present, strict=True):
        if ok:
            my, mx = np.nonzero(m & near)
            cx.append(float(mx.mean()))
            cy.append(float(my.mean()))
    if not cx:
        return 1.0
    return max(max(cx) - min(cx), max(cy) - min(cy)) / max(extent, 1)


class _Smoke:
    def __init__(self) -> None:
        self.ref: np.ndarray | None = None
        self.ref_sat: np.ndarray | None = None
        self.learned = 0
        self.figures: dict[str, float] = {}

    def reset(self) -> None:
        self.ref = None
        self.ref_sat = None
        self.learned = 0

    def sample(self, img: np.ndarray) -> tuple[NormBox, int] | None:
        """(region box, cells) when a smoke region is seen."""
        h, w = img.shape[:2]
        rows, cols = h // CELL, w // CELL
        if rows < 2 or cols < 2:
            return None
        img = img[: rows * CELL, : cols * CELL]
        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        sat = (
            (img.max(axis=2).astype(np.float32) - img.min(axis=2))
            .reshape(rows, CELL, cols, CELL)
            .mean(axis=(1, 3))
        )
        if self.ref is None or self.ref_sat is None or self.ref.shape != grey.shape:
            self.ref, self.ref_sat, self.learned = grey, sat, 1
            return None
        if self.learned < SMOKE_WARMUP:
            self._learn(grey, sat, None)
            return None
        cur_m, cur_s, cur_b = _cells(grey, rows, cols)
        ref_m, ref_s, ref_b = _cells(self.ref, rows, cols)
        n = float(CELL * CELL)
        corr = np.einsum("ijk,ijk->ij", cur_b, ref_b) / np.sqrt(
            (cur_s**2 * n + n) * (ref_s**2 * n + n)
        )
        contrast = (cur_s / (cur_m + 10.0)) / np.maximum(ref_s / (ref_m + 10.0), 1e-6)
        informative = ref_s >= SMOKE_MIN_CELL_STD
        smoky = (
            informative
            & (corr >= SMOKE_CORR)
            & (contrast <= SMOKE_CONTRAST)
            & (sat <= self.ref_sat + SMOKE_SAT_RISE)
        )
        n_inf = int(informative.sum())
        n_smoky = int(smoky.sum())
        self.figures = {"cells": n_smoky, "informative": n_inf}
        self._learn(grey, sat, smoky)
        if n_inf == 0 or n_smoky < SMOKE_MIN_CELLS or n_smoky > SMOKE_WEATHER * n_inf:
            return None
        _, _, stats, _ = cv2.connectedComponentsWithStats(smoky.astype(np.uint8), connectivity=8)
        best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        cells = int(stats[best, cv2.CC_STAT_AREA])
        self.figures["region"] = cells
        if cells < SMOKE_MIN_CELLS:
            return None
        x, y, bw, bh = (int(v) for v in stats[best, :4])
        return (x / cols, y / rows, bw / cols, bh / rows), cells

    def _learn(self, grey: np.ndarray, sat: np.ndarray, smoky: np.ndarray | None) -> None:
        assert self.ref is not None and self.ref_sat is not None
        a = max(1.0 / (self.learned + 1), SAMPLE_SECONDS * SMOKE_EVERY / SMOKE_LEARN_SECONDS)
        self.learned += 1
        if smoky is None or not smoky.any():
            cv2.addWeighted(grey, a, self.ref, 1.0 - a, 0.0, dst=self.ref)
            cv2.addWeighted(sat, a, self.ref_sat, 1.0 - a, 0.0, dst=self.ref_sat)
            return
        # Smoky cells keep their reference: smoke must not become the scene.
        keep = np.repeat(np.repeat(smoky, CELL, axis=0), CELL, axis=1)
        blend = cv2.addWeighted(grey, a, self.ref, 1.0 - a, 0.0)
        self.ref = np.where(keep, self.ref, blend).astype(np.float32)
        self.ref_sat = np.where(smoky, self.ref_sat, sat * a + self.ref_sat * (1.0 - a)).astype(
            np.float32
        )


def _cells(grey: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: mean, standard deviation and the mean-free pattern (rows, cols, CELL*CELL)."""
    b = grey.reshape(rows, CELL, cols, CELL).transpose(0, 2, 1, 3).reshape(rows, cols, -1)
    m = b.mean(axis=2)
    z = b - m[:, :, None]
    s = np.sqrt((z * z).mean(axis=2))
    return m, s, z


class FireSmokeDetector:
    """Fire and/or smoke for one camera (``Camera.fire`` / ``Camera.smoke``)."""

    def __init__(self, camera: Camera, height: int, width: int) -> None:
        self.camera_id = camera.id
        self.fire = camera.fire
        self.smoke = camera.smoke
        # Smoke alone samples at its own, slower rate.
        self._smoke_every = SMOKE_EVERY if camera.fire else 1
        self._period = SAMPLE_SECONDS * (1 if camera.fire else SMOKE_EVERY)
        self._tick = Ticker(self._period)
        self._samples = 0
        self._flames = _Flames()
        self._haze = _Smoke()
        self._fire = _Hold(camera.fire_seconds)
        self._smoke = _Hold(camera.smoke_seconds)
        self._smoke_cells = 0

    @property
    def empty(self) -> bool:
        return not (self.fire or self.smoke)

    @property
    def figures(self) -> dict[str, float]:
        """The latest sample's measures (for tuning and tests)."""
        return {**self._flames.figures, **{f"smoke_{k}": v for k, v in self._haze.figures.items()}}

    def update(
        self,
        t_media: float,
        t_wall: float,
        luma: np.ndarray | None = None,
        image: object | None = None,
        objects: Sequence[TrackedObject] = (),
    ) -> tuple[list[RawEvent], list[RawEvent]]:
        started: list[RawEvent] = []
        ends: list[RawEvent] = []
        if self.empty or image is None:
            return started, ends
        if self._tick.last is not None and t_media < self._tick.last:
            ends += self.close_all()
        if not self._tick.due(t_media):
            return started, ends
        img = small_bgr(image)
        if img is None:
            return started, ends
        self._samples += 1
        if self.fire:
            seen = self._flames.sample(t_media, img)
            if seen is None:
                ev = self._fire.missed(t_media)
                if ev is not None:
                    ends.append(ev)
            else:
                box, onset, conf = seen
                if self._fire.seen(t_media, t_wall, onset):
                    started.append(self._raise(FIRE, self._fire, box, conf, t_media, t_wall))
        if self.smoke and self._samples % self._smoke_every == 0:
            haze = self._haze.sample(img)
            if haze is not None and (
                self._smoke.since is None or t_media - self._smoke.last > DIP_SECONDS
            ):
                self._smoke_cells = haze[1]
            # A region that shrank below half its first size is fading, not growing.
            if haze is None or haze[1] * 2 < self._smoke_cells:
                ev = self._smoke.missed(t_media)
                if ev is not None:
                    ends.append(ev)
            elif self._smoke.seen(t_media, t_wall, t_media):
                started.append(self._raise(SMOKE, self._smoke, haze[0], 0.5, t_media, t_wall))
        return started, ends

    def close_all(self) -> list[RawEvent]:
        out = [ev for ev in (self._fire.end(), self._smoke.end()) if ev is not None]
        self._flames.reset()
        self._tick = Ticker(self._period)
        return out

    def _raise(
        self, kind: str, hold: _Hold, box: NormBox, conf: float, t: float, wall: float
    ) -> RawEvent:
        assert hold.since is not None
        hold.open = scene_event(
            self.camera_id,
            kind,
            at=hold.since + hold.seconds,
            t=t,
            wall=wall,
            box=box,
            confidence=conf,
            onset=hold.since,
            cause=CAUSE,
        )
        return hold.open
