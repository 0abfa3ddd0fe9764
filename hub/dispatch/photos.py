"""Photos workers upload as evidence (处置反馈, 随手拍).

An upload is checked by its content, never by a name: the first bytes must be a JPEG or PNG
header whose stated size is within bounds (read before anything is decoded, so a small file
that claims a huge image is refused without allocating it); then it is decoded and re-encoded
as a fresh JPEG (which drops EXIF, GPS tags of the phone, and anything appended to the image),
and stored under a random id in the hub's private data directory. No request ever names a path.
"""

from __future__ import annotations

import os
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path

from hub.errors import HubError

MAX_BYTES = 10 * 1024 * 1024
MAX_SIDE = 8192
MAX_PIXELS = 40_000_000
JPEG_QUALITY = 85
PHOTO_ID = r"^[0-9a-f]{32}$"


class InvalidPhotoError(HubError):
    status = 422
    title = "Invalid photo"


@dataclass(frozen=True, slots=True)
class Sniffed:
    kind: str
    width: int
    height: int


def _png(data: bytes) -> Sniffed:
    # Signature, then the IHDR chunk first: length 13, type, width, height (big-endian).
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise InvalidPhotoError("not a complete PNG header")
    width, height = struct.unpack(">II", data[16:24])
    return Sniffed("png", width, height)


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes) -> Sniffed:
    # Walk the marker segments up to the first start-of-frame, which holds the size.
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise InvalidPhotoError("not a JPEG: bad marker")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2:
            raise InvalidPhotoError("not a JPEG: bad segment length")
        if marker in _SOF:
            if i + 9 > n:
                break
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return Sniffed("jpeg", width, height)
        if marker in (0xD9, 0xDA):  # end of image or scan before any frame header
            break
        i += 2 + length
    raise InvalidPhotoError("not a JPEG: no frame header")


def sniff(data: bytes) -> Sniffed:
    """The image kind and size its header states; InvalidPhotoError for anything else (an
    HTML page, a script, a truncated file, an image larger than the bounds)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        s = _png(data)
    elif data.startswith(b"\xff\xd8\xff"):
        s = _jpeg(data)
    else:
        raise InvalidPhotoError("only JPEG and PNG photos are accepted")
    if not (0 < s.width <= MAX_SIDE and 0 < s.height <= MAX_SIDE):
        raise InvalidPhotoError(f"image is {s.width}x{s.height}; at most {MAX_SIDE} a side")
    if s.width * s.height > MAX_PIXELS:
        raise InvalidPhotoError(f"image has more than {MAX_PIXELS} pixels")
    return s


@dataclass(frozen=True, slots=True)
class StoredPhoto:
    id: str
    width: int
    height: int
    size: int


def reencode(data: bytes) -> tuple[bytes, int, int]:
    """Decode and re-encode as JPEG (blocking: call in a thread). Returns bytes, width, height."""
    import cv2
    import numpy as np

    if len(data) > MAX_BYTES:
        raise InvalidPhotoError(f"photo is larger than {MAX_BYTES} bytes")
    sniff(data)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise InvalidPhotoError("the photo cannot be decoded")
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise InvalidPhotoError("the photo cannot be re-encoded")
    h, w = img.shape[:2]
    return buf.tobytes(), int(w), int(h)


class PhotoFiles:
    """Photos on disk: ``<dir>/<32 hex>.jpg``, 0600, written whole (temp file, then rename)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def save(self, jpeg: bytes) -> str:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        photo_id = secrets.token_hex(16)
        tmp = self.dir / f".{photo_id}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(jpeg)
        tmp.replace(self.path(photo_id))
        return photo_id

    def path(self, photo_id: str) -> Path:
        if len(photo_id) != 32 or any(c not in "0123456789abcdef" for c in photo_id):
            raise ValueError("bad photo id")
        return self.dir / f"{photo_id}.jpg"
