"""Camera tampering (遮挡/失焦/移位/冻结): the view is covered, defocused, moved or frozen.

Checked about once a second, not on every frame. Each check reduces the luma to a 96x48
structure image cut into 4x6 blocks and compares every block with the camera's own reference
picture, learned from its stable view and refreshed slowly (time constant ``LEARN_SECONDS``):

- the block's correlation with the reference (mean removed, so brightness and gain do not
  matter: night and day, clouds, headlights change no correlation);
- its contrast relative to the reference's (standard deviation ratio);
- its sharpness relative to the reference's: fine detail (high-pass energy of the analysis
  image) over coarse contrast, a ratio a lighting change leaves alone but a blur divides.

Only blocks with structure in the reference count (a blank wall or sky says nothing). The
picture is **covered** when most blocks have lost their contrast and either their pattern, their
fine detail or nearly all the contrast (a cloth lets a dim, blurred trace of the view through),
**defocused** when most keep their pattern but lost their fine detail, **moved** when most no
longer match at all (a new scene), and **frozen** when the stream keeps delivering frames that
are exactly identical (a live sensor always has some noise). A passing bus, people walking or
rain change a minority of blocks, or only for a moment: the cause must hold for
``Camera.tampering_seconds`` (a short cover raises nothing), and the reference is frozen while
something is suspected, so the event ends when the original view comes back (also after a
move: turning the camera back ends the event). A camera that starts covered learns its
reference once it shows a picture.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from hub.config import Camera
from hub.video.analytics.events.base import FULL_FRAME, Ticker, ended, scene_event
from hub.video.analytics.types import RawEvent, TrackedObject

TYPE = "tampering"
CAUSES = ("covered", "defocused", "moved", "frozen")

CHECK_SECONDS = 1.0
LEARN_SECONDS = 60.0
"""Time constant of the reference picture (exponential average of checks without suspicion)."""
WARMUP_CHECKS = 3
"""Checks that only learn: the first reference is the average of these."""
RESTORE_CHECKS = 2
"""Consecutive normal checks that end an event (or drop a suspicion)."""

ROWS, COLS = 4, 6
BLOCK_H, BLOCK_W = 12, 16
SMALL_W, SMALL_H = COLS * BLOCK_W, ROWS * BLOCK_H
MIN_BLOCK_STD = 3.0
"""Grey levels of contrast a reference block needs to say anything."""
MIN_INFORMATIVE = 0.25
"""Fraction of informative blocks needed to judge the picture at all."""
NOISE_VAR = 1.0
"""Per-pixel noise variance assumed at the structure size (keeps noise from correlating)."""

MATCH_CORR = 0.4
UNIFORM_CORR = 0.5
UNIFORM_STD = 0.3
FADED_STD = 0.25
"""A block with less than this share of its reference's contrast is covered whatever else it keeps
(a trace of the view through a cloth still correlates, and noise then passes for detail)."""
BLUR_SHARPNESS = 0.6
COVERED_SHARE = 0.6
DEFOCUSED_SHARE = 0.65
MOVED_SHARE = 0.7


class _Picture:
    """Per-block figures of one picture (or of the reference)."""

    __slots__ = ("blocks", "fine", "norm", "std")

    def __init__(self, small: np.ndarray, fine: np.ndarray) -> None:
        b: np.ndarray = small.reshape(ROWS, BLOCK_H, COLS, BLOCK_W).transpose(0, 2, 1, 3)
        b = b.reshape(ROWS * COLS, BLOCK_H * BLOCK_W)
        self.blocks = b - b.mean(axis=1, keepdims=True)
        sq = np.einsum("ij,ij->i", self.blocks, self.blocks)
        self.std = np.sqrt(sq / self.blocks.shape[1])
        self.norm = np.sqrt(sq + NOISE_VAR * self.blocks.shape[1])
        self.fine = fine.reshape(-1)

    @property
    def sharpness(self) -> np.ndarray:
        out: np.ndarray = self.fine / (self.std + 2.0)
        return out


def _measure(luma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(structure image 48x96, fine-detail energy per block 4x6), float32."""
    f = luma.astype(np.float32)
    small = cv2.resize(f, (SMALL_W, SMALL_H), interpolation=cv2.INTER_AREA)
    hp = cv2.absdiff(f, cv2.blur(f, (5, 5)))
    fine = cv2.resize(hp, (COLS, ROWS), interpolation=cv2.INTER_AREA)
    return small, fine


class TamperingDetector:
    def __init__(self, camera: Camera, height: int, width: int) -> None:
        self.camera_id = camera.id
        self.height = height
        self.width = width
        self.hold = camera.tampering_seconds
        self._tick = Ticker(CHECK_SECONDS)
        self._ref_small: np.ndarray | None = None
        self._ref_fine: np.ndarray | None = None
        self._ref: _Picture | None = None
        self._learned = 0
        self._prev_luma: np.ndarray | None = None
        self._prev_t = 0.0
        self._same_since: float | None = None
        self._suspect: str | None = None
        self._suspect_since = 0.0
        self._normal_checks = 0
        self._open: RawEvent | None = None
        self._onset = 0.0
        self._last_bad = 0.0
        self._last_bad_wall = 0.0
        self.last_figures: dict[str, float] = {}
        """Shares of the latest check (for tuning and tests): covered, blurred, mismatched."""

    def update(
        self,
        t_media: float,
        t_wall: float,
        luma: np.ndarray,
        image: object | None = None,
        objects: Sequence[TrackedObject] = (),
    ) -> tuple[list[RawEvent], list[RawEvent]]:
        if not self._tick.due(t_media):
            return [], []
        cause = self._frozen(t_media, luma) or self._classify(luma)
        started: list[RawEvent] = []
        ends: list[RawEvent] = []
        if cause is None:
            self._normal_checks += 1
            if self._normal_checks >= RESTORE_CHECKS:
                if self._open is not None:
                    ends.append(ended(self._open, self._last_bad, self._last_bad_wall, self._onset))
                    self._open = None
                self._suspect = None
            return started, ends
        self._normal_checks = 0
        self._last_bad, self._last_bad_wall = t_media, t_wall
        if self._open is not None:
            return started, ends
        if self._suspect is None:
            self._suspect = cause
            since = self._same_since if cause == "frozen" else None
            self._suspect_since = since if since is not None else t_media
        if t_media - self._suspect_since >= self.hold - 0.02:
            self._onset = self._suspect_since
            self._open = scene_event(
                self.camera_id,
                TYPE,
                at=self._onset + self.hold,
                t=t_media,
                wall=t_wall,
                box=FULL_FRAME,
                confidence=0.8 if cause == "frozen" else 0.6,
                onset=self._onset,
                cause=cause,
            )
            started.append(self._open)
        return started, ends

    def close_all(self) -> list[RawEvent]:
        out: list[RawEvent] = []
        if self._open is not None:
            out.append(ended(self._open, self._last_bad, self._last_bad_wall, self._onset))
        self._open = None
        self._suspect = None
        self._normal_checks = 0
        self._prev_luma = None
        self._same_since = None
        self._tick = Ticker(CHECK_SECONDS)
        return out

    def _frozen(self, t: float, luma: np.ndarray) -> str | None:
        prev = self._prev_luma
        same = prev is not None and t > self._prev_t and np.array_equal(prev, luma)
        if same:
            if self._same_since is None:
                self._same_since = self._prev_t
        else:
            self._same_since = None
            if prev is not None and prev.shape == luma.shape:
                np.copyto(prev, luma)
            else:
                self._prev_luma = luma.copy()
        self._prev_t = t
        return "frozen" if same else None

    def _classify(self, luma: np.ndarray) -> str | None:
        small, fine = _measure(luma)
        quiet = self._suspect is None and self._open is None
        if self._ref is None or self._learned < WARMUP_CHECKS:
            self._learn(small, fine)
            return None
        ref = self._ref
        informative = ref.std >= MIN_BLOCK_STD
        n = int(informative.sum())
        if n < MIN_INFORMATIVE * informative.size:
            # Nothing to compare with (started covered, or a featureless view): take this one
            # if it shows more.
            cur = _Picture(small, fine)
            if int((cur.std >= MIN_BLOCK_STD).sum()) > n:
                self._learned = 0
                self._learn(small, fine)
            return None
        cur = _Picture(small, fine)
        corr = np.einsum("ij,ij->i", cur.blocks, ref.blocks) / (cur.norm * ref.norm)
        std_ratio = cur.std / np.maximum(ref.std, 1e-6)
        soft = cur.sharpness < BLUR_SHARPNESS * ref.sharpness
        # Lost its contrast and its pattern or its detail, or nearly all its contrast: a cloth
        # over the lens lets a dim, blurred trace of the view through, which still correlates.
        lost = (corr < UNIFORM_CORR) | soft | (std_ratio < FADED_STD)
        uniform = (std_ratio < UNIFORM_STD) & lost & informative
        blurred = soft & ~uniform & informative
        mismatch = (corr < MATCH_CORR) & ~uniform & informative
        shares = {
            "covered": float(uniform.sum()) / n,
            "blurred": float(blurred.sum()) / n,
            "mismatched": float(mismatch.sum()) / n,
        }
        self.last_figures = shares
        cause: str | None = None
        if shares["covered"] >= COVERED_SHARE:
            cause = "covered"
        elif shares["blurred"] >= DEFOCUSED_SHARE:
            cause = "defocused"
        elif shares["mismatched"] + shares["covered"] >= MOVED_SHARE:
            cause = "moved"
        if cause is None and quiet:
            self._learn(small, fine)
        return cause

    def _learn(self, small: np.ndarray, fine: np.ndarray) -> None:
        if self._ref_small is None or self._ref_fine is None or self._learned == 0:
            self._ref_small, self._ref_fine = small, fine
        else:
            a = max(1.0 / (self._learned + 1), CHECK_SECONDS / LEARN_SECONDS)
            cv2.addWeighted(small, a, self._ref_small, 1.0 - a, 0.0, dst=self._ref_small)
            cv2.addWeighted(fine, a, self._ref_fine, 1.0 - a, 0.0, dst=self._ref_fine)
        self._learned += 1
        self._ref = _Picture(self._ref_small, self._ref_fine)
