"""Evidence snapshots: the full-resolution frame with the object's box, zone/line and a label.

Plain synchronous functions (JPEG encoding takes milliseconds): callers run them in a thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from uuid import UUID

import cv2
import numpy as np

log = logging.getLogger(__name__)

NormBox = tuple[float, float, float, float]
ChannelOrder = Literal["bgr", "rgb"]

_BOX = (0, 0, 255)  # BGR red
_ZONE = (0, 220, 255)  # amber
_LINE = (255, 200, 0)  # cyan-blue


def to_bgr(image: object, order: ChannelOrder = "bgr") -> np.ndarray:
    """An ``av.VideoFrame`` or a grey/RGB/BGR uint8 ndarray -> a BGR ndarray (a copy)."""
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            out: np.ndarray = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            return out
        if image.ndim == 3 and image.shape[2] == 3:
            if order == "rgb":
                return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            return np.ascontiguousarray(image).copy()
        raise ValueError(f"unsupported image shape {image.shape}")
    to_ndarray = getattr(image, "to_ndarray", None)
    if to_ndarray is None:
        raise TypeError(f"cannot render a snapshot from {type(image).__name__}")
    arr: np.ndarray = to_ndarray(format="bgr24")
    return arr


def render_snapshot(
    image: object,
    box: NormBox | None,
    *,
    label: str = "",
    zone: Sequence[Sequence[float]] | None = None,
    line: Sequence[Sequence[float]] | None = None,
    order: ChannelOrder = "bgr",
    quality: int = 85,
) -> bytes:
    """JPEG bytes of ``image`` (full resolution) with the annotations drawn on it.

    ``box`` is normalised (x, y, w, h); ``zone`` a normalised polygon, ``line`` two normalised
    points; ``order`` says how a 3-channel ndarray is laid out.
    """
    img = to_bgr(image, order)
    h, w = img.shape[:2]
    thick = max(2, round(h / 240))
    if zone:
        pts = np.array([[round(x * w), round(y * h)] for x, y in zone], np.int32)
        cv2.polylines(img, [pts], True, _ZONE, thick, cv2.LINE_AA)
    if line:
        (ax, ay), (bx, by) = line[0], line[1]
        a, b = (round(ax * w), round(ay * h)), (round(bx * w), round(by * h))
        cv2.arrowedLine(img, a, b, _LINE, thick, cv2.LINE_AA, tipLength=0.04)
    if box is not None:
        bx0, by0 = round(box[0] * w), round(box[1] * h)
        bx1, by1 = round((box[0] + box[2]) * w), round((box[1] + box[3]) * h)
        cv2.rectangle(img, (bx0, by0), (bx1, by1), _BOX, thick, cv2.LINE_AA)
        if label:
            _label(img, label, bx0, by0, thick)
    elif label:
        _label(img, label, 0, 0, thick)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buf)


def _label(img: np.ndarray, text: str, x: int, y: int, thick: int) -> None:
    # OpenCV's Hershey fonts are ASCII only: labels are ids and kinds, not Chinese names.
    text = text.encode("ascii", "replace").decode()
    scale = max(0.5, img.shape[0] / 720)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, thick // 2))
    top = y - th - base - 4 if y - th - base - 4 >= 0 else y
    cv2.rectangle(img, (x, top), (x + tw + 6, top + th + base + 4), _BOX, -1)
    cv2.putText(
        img,
        text,
        (x + 3, top + th + 2),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        max(1, thick // 2),
        cv2.LINE_AA,
    )


class EvidenceStore:
    """Snapshots under ``root/snapshots/YYYY/MM/DD/<event_id>.jpg`` (UTC date), the event's clip
    beside its snapshot (``<event_id>.mp4``, :mod:`hub.video.clips`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def relative_path(self, event_id: UUID | str, when: datetime) -> str:
        day = when.astimezone(UTC) if when.tzinfo else when
        return f"snapshots/{day:%Y/%m/%d}/{event_id}.jpg"

    def clip_relative_path(self, event_id: UUID | str, when: datetime) -> str:
        return self.relative_path(event_id, when).removesuffix(".jpg") + ".mp4"

    def save(self, event_id: UUID | str, jpeg: bytes, when: datetime | None = None) -> str:
        """Write the JPEG (atomically) and return its path relative to ``root``."""
        rel = self.relative_path(event_id, when or datetime.now(UTC))
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".jpg.tmp")
        tmp.write_bytes(jpeg)
        os.replace(tmp, path)
        log.debug("snapshot saved", extra={"path": str(path)})
        return rel

    def save_snapshot(
        self,
        event_id: UUID | str,
        image: object,
        box: NormBox | None,
        *,
        when: datetime | None = None,
        label: str = "",
        zone: Sequence[Sequence[float]] | None = None,
        line: Sequence[Sequence[float]] | None = None,
        order: ChannelOrder = "bgr",
    ) -> str:
        """Render and save in one call; returns the relative path."""
        jpeg = render_snapshot(image, box, label=label, zone=zone, line=line, order=order)
        return self.save(event_id, jpeg, when)

    def path(self, relative: str) -> Path:
        """Absolute path of a stored snapshot; refuses paths that leave the store."""
        p = (self.root / relative).resolve()
        if not p.is_relative_to(self.root.resolve()):
            raise ValueError(f"snapshot path {relative!r} is outside the evidence store")
        return p
