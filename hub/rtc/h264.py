"""H.264 access units as WebRTC wants them: Annex B, SPS/PPS before each keyframe."""

from __future__ import annotations

NAL_IDR, NAL_SPS, NAL_PPS = 5, 7, 8
START = b"\x00\x00\x00\x01"


def is_annexb(data: bytes) -> bool:
    return data.startswith(b"\x00\x00\x01") or data.startswith(START)


def avcc_to_annexb(data: bytes, length_size: int = 4) -> bytes:
    """Length-prefixed NAL units (MP4, avcC) as Annex B; a truncated unit ends the conversion."""
    out = bytearray()
    i = 0
    while i + length_size <= len(data):
        n = int.from_bytes(data[i : i + length_size], "big")
        i += length_size
        if n == 0 or i + n > len(data):
            break
        out += START + data[i : i + n]
        i += n
    return bytes(out)


def parameter_sets(extradata: bytes | None) -> bytes:
    """SPS and PPS from a stream's extradata (Annex B already, or an avcC record) as Annex B."""
    if not extradata:
        return b""
    if is_annexb(extradata):
        return extradata
    if len(extradata) < 7 or extradata[0] != 1:
        return b""
    out = bytearray()
    i = 6
    count = extradata[5] & 0x1F
    for kind in ("sps", "pps"):
        for _ in range(count):
            if i + 2 > len(extradata):
                return bytes(out)
            n = int.from_bytes(extradata[i : i + 2], "big")
            out += START + extradata[i + 2 : i + 2 + n]
            i += 2 + n
        if kind == "sps":
            if i >= len(extradata):
                return bytes(out)
            count = extradata[i]
            i += 1
    return bytes(out)


def has_parameter_sets(annexb: bytes) -> bool:
    i = annexb.find(b"\x00\x00\x01")
    while i >= 0 and i + 3 < len(annexb):
        if annexb[i + 3] & 0x1F == NAL_SPS:
            return True
        i = annexb.find(b"\x00\x00\x01", i + 3)
    return False


def webrtc_unit(data: bytes, key: bool, params: bytes) -> bytes:
    """One access unit from a demuxer, ready for aiortc's H.264 packetizer."""
    unit = data if is_annexb(data) else avcc_to_annexb(data)
    if key and params and not has_parameter_sets(unit):
        unit = params + unit
    return unit
