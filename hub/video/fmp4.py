"""Fragmented MP4 for MSE: split muxer output into init and media segments; avc1 codec strings.

PyAV's mp4 muxer writes into a file-like object in arbitrary chunks. MSE wants the init segment
(ftyp+moov) once and then whole moof+mdat fragments, so the chunks are re-assembled here by
parsing top-level boxes (32-bit size + type, or size 1 + 64-bit size).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

_INIT_TYPES = (b"ftyp", b"moov")


def iter_boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """Complete top-level boxes of ``data`` as (type, whole box bytes); a torn tail is ignored."""
    out: list[tuple[bytes, bytes]] = []
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > len(data):
                break
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = len(data) - pos
        if size < header or pos + size > len(data):
            break
        out.append((kind, data[pos : pos + size]))
        pos += size
    return out


@dataclass
class BoxSplitter:
    """Feed it muxer writes; it hands back the init segment and each moof+mdat fragment whole."""

    init: bytes | None = None
    _buf: bytearray = field(default_factory=bytearray)
    _init_parts: list[bytes] = field(default_factory=list)
    _moof: bytes | None = None

    def feed(self, chunk: bytes) -> list[bytes]:
        """Return the fragments completed by this chunk (the init segment is kept in ``init``)."""
        self._buf += chunk
        fragments: list[bytes] = []
        while True:
            box = self._next_box()
            if box is None:
                return fragments
            kind, data = box
            if kind in _INIT_TYPES and self.init is None:
                self._init_parts.append(data)
                if kind == b"moov":
                    self.init = b"".join(self._init_parts)
            elif kind == b"moof":
                self._moof = data
            elif kind == b"mdat" and self._moof is not None:
                fragments.append(self._moof + data)
                self._moof = None
            # styp/sidx/mfra and the like carry nothing MSE needs here.

    def _next_box(self) -> tuple[bytes, bytes] | None:
        buf = self._buf
        if len(buf) < 8:
            return None
        size, kind = struct.unpack_from(">I4s", buf, 0)
        header = 8
        if size == 1:
            if len(buf) < 16:
                return None
            (size,) = struct.unpack_from(">Q", buf, 8)
            header = 16
        if size == 0 or size < header:
            # "To end of file" never ends in a live stream: treat as corrupt and resync.
            raise ValueError(f"unsupported box size {size} for {kind!r}")
        if len(buf) < size:
            return None
        data = bytes(buf[:size])
        del buf[:size]
        return kind, data


# ---------------------------------------------------------------------------------------------
# avc1 codec string
# ---------------------------------------------------------------------------------------------


def _annexb_nals(data: bytes) -> list[bytes]:
    nals: list[bytes] = []
    i = data.find(b"\x00\x00\x01")
    while i != -1:
        start = i + 3
        j = data.find(b"\x00\x00\x01", start)
        end = len(data) if j == -1 else j
        nal = data[start:end].rstrip(b"\x00") if j != -1 else data[start:end]
        if nal:
            nals.append(nal)
        i = j
    return nals


def _length_prefixed_nals(data: bytes) -> list[bytes]:
    nals: list[bytes] = []
    pos = 0
    while pos + 4 <= len(data):
        (n,) = struct.unpack_from(">I", data, pos)
        if n == 0 or pos + 4 + n > len(data):
            return []
        nals.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return nals


def h264_nals(data: bytes) -> list[bytes]:
    """NAL units of an Annex B or 4-byte length-prefixed (AVCC) H.264 buffer."""
    if data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")):
        return _annexb_nals(data)
    return _length_prefixed_nals(data)


def avc1_codec(extradata: bytes | None, first_packet: bytes | None = None) -> str:
    """``avc1.PPCCLL`` from the SPS (avcC extradata, Annex B extradata, or in-band SPS).

    Falls back to Constrained Baseline 3.1, which every MSE implementation accepts, when no SPS
    can be found.
    """
    if extradata and extradata[0] == 1 and len(extradata) >= 4:
        return "avc1." + extradata[1:4].hex().upper()
    for buf in (extradata, first_packet):
        if not buf:
            continue
        for nal in h264_nals(buf):
            if nal and nal[0] & 0x1F == 7 and len(nal) >= 4:
                return "avc1." + nal[1:4].hex().upper()
    return "avc1.42E01F"


def mse_mime(extradata: bytes | None, first_packet: bytes | None = None) -> str:
    return f'video/mp4; codecs="{avc1_codec(extradata, first_packet)}"'


def fragment_is_keyframe(fragment: bytes) -> bool | None:
    """Whether the first sample of a moof+mdat fragment is a sync sample (None: not told).

    Reads trun's first_sample_flags or per-sample flags, else tfhd's default_sample_flags; the
    sample_is_non_sync_sample bit is 0x00010000.
    """
    boxes = iter_boxes(fragment)
    if not boxes or boxes[0][0] != b"moof":
        return None
    default_flags: int | None = None
    for kind, traf in iter_boxes(boxes[0][1][8:]):
        if kind != b"traf":
            continue
        for sub, body in iter_boxes(traf[8:]):
            if sub == b"tfhd":
                (vf,) = struct.unpack_from(">I", body, 8)
                flags = vf & 0xFFFFFF
                pos = 16  # header, version/flags, track_ID
                for bit, width in ((0x1, 8), (0x2, 4), (0x8, 4), (0x10, 4)):
                    if flags & bit:
                        pos += width
                if flags & 0x20:
                    (default_flags,) = struct.unpack_from(">I", body, pos)
            elif sub == b"trun":
                (vf, _count) = struct.unpack_from(">II", body, 8)
                flags = vf & 0xFFFFFF
                pos = 16
                if flags & 0x1:
                    pos += 4
                if flags & 0x4:
                    (first,) = struct.unpack_from(">I", body, pos)
                    return not first & 0x10000
                if flags & 0x100:
                    pos += 4
                if flags & 0x200:
                    pos += 4
                if flags & 0x400:
                    (first,) = struct.unpack_from(">I", body, pos)
                    return not first & 0x10000
        if default_flags is not None:
            return not default_flags & 0x10000
    return None
