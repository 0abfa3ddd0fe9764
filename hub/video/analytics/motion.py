"""Batched motion detection: one set of OpenCV calls for many cameras of the same image size.

Every camera of a group owns a slot in tall buffers: ``sep`` zero rows then its ``H`` image rows,
with ``sep`` more zero rows after the last slot. A batch of frames is written into such a tall
image so that absdiff, threshold, masking, morphology and findContours run once for the whole
batch. Because every slot is framed by the same zero rows, a camera gets bit-identical results
whether it is processed alone or in a batch of 64.

The background is a per-pixel sigma-delta estimate (moves one grey level per frame towards the
current frame): cheap in uint8, it follows slow lighting drift and ignores sensor noise and
passers-by. Pixels that are foreground update only every ``FG_UPDATE_EVERY`` frames, so a
person standing still stays visible for minutes while ghosts and parked objects still fade in.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

DIFF_THRESHOLD = 13
"""Grey levels between frame and background that count as change (after area averaging)."""
ERODE = np.ones((3, 3), np.uint8)
DILATE_X = 0.008
DILATE_Y = 0.04
"""Dilation radii as fractions of the image width / height. Taller than wide: it joins the
parts of one object stacked vertically (a car body and its wheels, a torso and legs of another
contrast) without joining people walking side by side."""
FG_UPDATE_EVERY = 8
GLOBAL_CHANGE = 0.55
"""Changed fraction above which a frame is a lighting jump or camera move: re-learn."""
_ONE = np.array([1.0])  # an OpenCV scalar
_PY_RECTS = 16
MIN_BLOB_FRACTION = 0.0004
"""Smallest blob box area kept, as a fraction of the image area."""


@dataclass(slots=True)
class MotionResult:
    motion: float
    """Changed fraction of the unmasked image."""
    boxes: list[tuple[int, int, int, int]]
    """Blob boxes (x, y, w, h) in analysis pixels."""


class _Buffers:
    """Tall uint8 work images with room for ``capacity`` slots, used through prefix views."""

    def __init__(self, capacity: int, rows: int, width: int) -> None:
        self.capacity = capacity
        self.cur = np.zeros(((capacity + 1) * rows, width), np.uint8)
        self.bg = np.zeros_like(self.cur)
        self.mask = np.zeros_like(self.cur)
        self.upd = np.zeros_like(self.cur)


class MotionGroup:
    """All cameras whose analysed images are ``height`` x ``width`` (and share a step size)."""

    def __init__(self, height: int, width: int) -> None:
        self.height = height
        self.width = width
        self.rx = max(2, round(DILATE_X * width))
        self.ry = max(2, round(DILATE_Y * height))
        self.dilate = np.ones((2 * self.ry + 1, 2 * self.rx + 1), np.uint8)
        # Zero rows above each slot; more than the dilation radius so slots never touch.
        self.sep = self.ry + 1
        self.rows = self.sep + height
        self._bg = np.zeros((0, self.rows, width), np.uint8)
        self._mask = np.zeros((0, self.rows, width), np.uint8)
        self._ready = np.zeros(0, bool)
        self._count = np.zeros(0, np.int64)
        self._free: list[int] = []
        self._work = _Buffers(1, self.rows, width)
        self._mask_key: tuple[int, ...] | None = None
        self.min_blob_area = max(6.0, MIN_BLOB_FRACTION * height * width)

    # -- slots ---------------------------------------------------------------------------

    def add(self, mask: np.ndarray | None) -> int:
        """Reserve a slot; ``mask`` is uint8 HxW, 0 where motion is ignored (None: none)."""
        if self._free:
            slot = self._free.pop()
        else:
            slot = len(self._ready)
            # One spare zero slot at the end closes the last slot's frame of zero rows.
            self._bg = _grow(self._bg, slot + 2)
            self._mask = _grow(self._mask, slot + 2)
            self._ready = np.append(self._ready, False)
            self._count = np.append(self._count, 0)
        self._bg[slot] = 0
        self._mask[slot, : self.sep] = 0
        self._mask[slot, self.sep :] = 255 if mask is None else mask
        self._ready[slot] = False
        self._count[slot] = 0
        self._mask_key = None
        return slot

    def relearn(self, slot: int) -> None:
        """Take the slot's next frame as its background (and report no blobs on it): the view
        came back after a cover or a move, and what was learned meanwhile is wrong."""
        self._ready[slot] = False

    def remove(self, slot: int) -> None:
        self._ready[slot] = False
        self._free.append(slot)

    @property
    def active(self) -> int:
        return len(self._ready) - len(self._free)

    # -- processing ----------------------------------------------------------------------

    def process(self, slots: list[int], lumas: list[np.ndarray]) -> list[MotionResult]:
        """Motion for one frame of each listed slot (distinct slots), in the given order."""
        k = len(slots)
        if k == 0:
            return []
        if self._work.capacity < k:
            self._work = _Buffers(max(k, 2 * self._work.capacity), self.rows, self.width)
        w = self._work
        rows, sep, h = self.rows, self.sep, self.height
        n_rows = k * rows + sep
        cur = w.cur[:n_rows]
        cur3 = w.cur[: k * rows].reshape(k, rows, self.width)
        for i, luma in enumerate(lumas):
            cur3[i, sep:] = luma

        idx = np.asarray(slots, np.intp)
        # Contiguous slot runs (the common case: every camera once) are used in place.
        in_place = k == 1 or bool(np.all(np.diff(idx) == 1))
        if in_place:
            a = int(idx[0]) * rows
            bg_full = self._bg.reshape(-1, self.width)[a : a + n_rows]
            mask = self._mask.reshape(-1, self.width)[a : a + n_rows]
        else:
            bg3 = w.bg[: k * rows].reshape(k, rows, self.width)
            np.take(self._bg, idx, axis=0, out=bg3)
            bg_full = w.bg[:n_rows]
            key = tuple(slots)
            if key != self._mask_key:
                np.take(self._mask, idx, axis=0, out=w.mask[: k * rows].reshape(k, rows, -1))
                self._mask_key = key
            mask = w.mask[:n_rows]

        fresh = ~self._ready[idx]
        if fresh.any():
            bg3v = bg_full[: k * rows].reshape(k, rows, self.width)
            for i in np.flatnonzero(fresh).tolist():
                bg3v[i, sep:] = cur3[i, sep:]

        diff = cv2.absdiff(cur, bg_full)
        fg = cv2.threshold(diff, DIFF_THRESHOLD, 255, cv2.THRESH_BINARY)[1]
        cv2.bitwise_and(fg, mask, dst=fg)
        cv2.erode(fg, ERODE, dst=fg)
        sums = cv2.reduce(fg[: k * rows], 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S)
        changed = sums.reshape(k, rows).sum(axis=1) / (255.0 * h * self.width)
        blob = cv2.dilate(fg, self.dilate)
        blob3 = blob[: k * rows].reshape(k, rows, self.width)
        blob3[:, :sep] = 0
        blob[k * rows :] = 0
        relearn = changed > GLOBAL_CHANGE

        # Background update where nothing moves; everywhere on every FG_UPDATE_EVERY-th frame.
        upd = cv2.bitwise_not(blob, dst=w.upd[:n_rows])
        counts = self._count[idx]
        full_update = counts % FG_UPDATE_EVERY == FG_UPDATE_EVERY - 1
        if full_update.any():
            upd3 = upd[: k * rows].reshape(k, rows, self.width)
            for i in np.flatnonzero(full_update).tolist():
                upd3[i] = 255
        up = cv2.compare(cur, bg_full, cv2.CMP_GT)
        cv2.bitwise_and(up, upd, dst=up)
        down = cv2.compare(cur, bg_full, cv2.CMP_LT)
        cv2.bitwise_and(down, upd, dst=down)
        cv2.add(bg_full, _ONE, dst=bg_full, mask=up)
        cv2.subtract(bg_full, _ONE, dst=bg_full, mask=down)
        if relearn.any():
            bg3v = bg_full[: k * rows].reshape(k, rows, self.width)
            for i in np.flatnonzero(relearn).tolist():
                bg3v[i, sep:] = cur3[i, sep:]
        if not in_place:
            self._bg[idx] = bg_full[: k * rows].reshape(k, rows, self.width)
        self._ready[idx] = True
        self._count[idx] = counts + 1

        out = [MotionResult(float(c), []) for c in changed]
        contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        skip = (fresh | relearn).tolist()
        if len(contours) <= _PY_RECTS:
            # Few blobs: plain Python beats numpy's per-call overhead.
            found: list[tuple[int, int, int, int, int]] = []
            for contour in contours:
                bx, by, bw, bh = cv2.boundingRect(contour)
                b = self._shrink_one((bx, by, bw, bh))
                if b is not None:
                    found.append(b)
            found.sort()
            for ci, y, x, bw2, bh2 in found:
                if not skip[ci]:
                    out[ci].boxes.append((x, y, bw2, bh2))
        else:
            rects = np.array([cv2.boundingRect(c) for c in contours], np.int64)
            rects = self._shrink(rects)
            rects = rects[rects[:, 2] * rects[:, 3] >= self.min_blob_area]
            # Contours come bottom-up; order by position so results never depend on batching.
            cam = rects[:, 1] // rows
            rects[:, 1] -= cam * rows + sep
            order = np.lexsort((rects[:, 3], rects[:, 2], rects[:, 0], rects[:, 1], cam))
            for c, (x, y, bw, bh) in zip(cam[order].tolist(), rects[order].tolist(), strict=True):
                if not skip[c]:
                    out[c].boxes.append((x, y, bw, bh))
        for i in np.flatnonzero(fresh).tolist():
            out[i].motion = 0.0
        return out

    def _shrink_one(self, rect: tuple[int, int, int, int]) -> tuple[int, int, int, int, int] | None:
        """``_shrink`` for one tall-image rect -> (camera index, y, x, w, h) or None if small."""
        x, y, w, hh = rect
        gx, gy = self.rx - 1, self.ry - 1
        cam, top = divmod(y, self.rows)
        top -= self.sep
        x0 = 0 if x == 0 else min(x + gx, x + w // 2)
        x1 = self.width if x + w >= self.width else max(x + w - gx, x0 + 1)
        y0 = 0 if top <= 0 else min(top + gy, top + hh // 2)
        y1 = self.height if top + hh >= self.height else max(top + hh - gy, y0 + 1)
        if (x1 - x0) * (y1 - y0) < self.min_blob_area:
            return None
        return cam, y0, x0, x1 - x0, y1 - y0

    def _shrink(self, rects: np.ndarray) -> np.ndarray:
        """Undo the net growth of erode + dilate, clamped to the camera's image."""
        gx, gy = self.rx - 1, self.ry - 1
        rows, h, width = self.rows, self.height, self.width
        x, y, w, hh = rects[:, 0], rects[:, 1], rects[:, 2], rects[:, 3]
        top = (y % rows) - self.sep
        x0 = np.minimum(x + gx, x + w // 2)
        x1 = np.maximum(x + w - gx, x0 + 1)
        y0 = np.minimum(y + gy, y + hh // 2)
        y1 = np.maximum(y + hh - gy, y0 + 1)
        # Boxes touching the image border stay anchored to it (nothing grew past it).
        x0 = np.where(x == 0, 0, x0)
        x1 = np.where(x + w >= width, width, x1)
        y0 = np.where(top <= 0, y - top, y0)
        y1 = np.where(top + hh >= h, y - top + h, y1)
        return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)


def _grow(buf: np.ndarray, n: int) -> np.ndarray:
    if buf.shape[0] >= n:
        return buf
    out = np.zeros((n, *buf.shape[1:]), buf.dtype)
    out[: buf.shape[0]] = buf
    return out


_SOBEL_K = 3
GHOST_EDGE_RATIO = 0.6
"""A blob is a ghost when the current frame has less than this share of the edges the background
has along the blob's outline: the object is in the background model, not in front of it."""


LIGHTING_SHARPNESS = 0.27
"""A blob is a change of light when the slope of log(frame / background) along its outline is
below this share of the change inside it (per analysis pixel). Measured on the hard scene's
H.264 video at 320 px: cloud-shadow blobs 0.13-0.23, a bag and still people 0.34."""
LIGHTING_SHARPNESS_LATE = 0.22
"""The same, for a blob checked again after it has stood a while: by then it may have grown
into a light change beside it (a bag under a cloud's shadow arriving measured 0.26; the ground
a cloud's shadow left 0.20)."""


def _edges(img: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(img, cv2.CV_16S, 1, 0, ksize=_SOBEL_K)
    gy = cv2.Sobel(img, cv2.CV_16S, 0, 1, ksize=_SOBEL_K)
    out: np.ndarray = cv2.add(cv2.convertScaleAbs(gx), cv2.convertScaleAbs(gy))
    return out


def _patch(box: tuple[float, float, float, float], h: int, w: int, pad: int) -> tuple[slice, slice]:
    x, y, bw, bh = box
    x0, y0 = max(int(x) - pad, 0), max(int(y) - pad, 0)
    x1, y1 = min(int(x + bw + 0.999) + pad, w), min(int(y + bh + 0.999) + pad, h)
    return slice(y0, y1), slice(x0, x1)


class GhostCheck:
    """Tells real still objects from ghosts (background-model leftovers) and erases ghosts.

    A ghost appears where something that was in the background (present on the first frame,
    or parked long enough to be learned) has left. The current frame then shows plain
    background there, so the blob's outline has edges in the background model but not in the
    frame; a real object shows the opposite.
    """

    def __init__(self, group: MotionGroup, slot: int) -> None:
        self.group = group
        self.slot = slot

    def _bg(self) -> np.ndarray:
        g = self.group
        bg: np.ndarray = g._bg[self.slot, g.sep :]
        return bg

    def _outline(
        self, box: tuple[float, float, float, float], luma: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """(frame, background, blob mask, outline band) around ``box``; None when too small to
        judge."""
        g = self.group
        sy, sx = _patch(box, g.height, g.width, 3)
        cur, bg = luma[sy, sx], self._bg()[sy, sx]
        if cur.shape[0] < 4 or cur.shape[1] < 4:
            return None
        blob = cv2.threshold(cv2.absdiff(cur, bg), DIFF_THRESHOLD, 255, cv2.THRESH_BINARY)[1]
        band = cv2.subtract(cv2.dilate(blob, ERODE), cv2.erode(blob, ERODE))
        if cv2.countNonZero(band) < 8:
            return None
        return cur, bg, blob, band

    def is_ghost(self, box: tuple[float, float, float, float], luma: np.ndarray) -> bool:
        found = self._outline(box, luma)
        if found is None:
            return False
        cur, bg, _blob, band = found
        e_cur = cv2.mean(_edges(cur), band)[0]
        e_bg = cv2.mean(_edges(bg), band)[0]
        return e_cur < GHOST_EDGE_RATIO * e_bg

    def is_lighting(
        self,
        box: tuple[float, float, float, float],
        luma: np.ndarray,
        sharpness: float = LIGHTING_SHARPNESS,
    ) -> bool:
        """A change of light, not an object: a cloud's shadow, a lamp's pool of light.

        Both darken or brighten the ground in proportion, with an outline that rises over many
        pixels; an object, even one close to the ground's colour, ends in a step. So along the
        blob's outline the gradient of log(frame / background) is small next to the change
        inside the blob."""
        found = self._outline(box, luma)
        if found is None:
            return False
        cur, bg, blob, band = found
        # The offset keeps dark pixels' ratios from exploding on sensor noise.
        ratio = np.log(cur.astype(np.float32) + 8.0) - np.log(bg.astype(np.float32) + 8.0)
        ratio = cv2.GaussianBlur(ratio, (3, 3), 0)
        slope = cv2.magnitude(
            cv2.Sobel(ratio, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(ratio, cv2.CV_32F, 0, 1, ksize=3)
        )
        outline = cv2.mean(slope, band)[0] / 8.0  # a 3x3 Sobel weighs a unit slope 8
        level = float(np.median(np.abs(ratio[blob > 0])))
        return outline < sharpness * level

    def absorb(self, box: tuple[float, float, float, float], luma: np.ndarray) -> None:
        """Copy the frame into the background under ``box`` (plus the dilation margin)."""
        g = self.group
        sy, sx = _patch(box, g.height, g.width, max(g.rx, g.ry) + 1)
        self._bg()[sy, sx] = luma[sy, sx]
