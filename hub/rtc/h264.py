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


def nal_types(annexb: bytes) -> set[int]:
    """The NAL unit types in an Annex B access unit (a scan, nothing copied)."""
    types = set()
    i = annexb.find(b"\x00\x00\x01")
    while i >= 0 and i + 3 < len(annexb):
        types.add(annexb[i + 3] & 0x1F)
        i = annexb.find(b"\x00\x00\x01", i + 3)
    return types


def split_nals(annexb: bytes) -> list[bytes]:
    """The NAL units of an Annex B access unit, without start codes."""
    starts = []
    i = annexb.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = annexb.find(b"\x00\x00\x01", i + 3)
    nals = []
    for n, start in enumerate(starts):
        last = n + 1 == len(starts)
        end = len(annexb) if last else starts[n + 1] - 3
        # A 4-byte start code leaves its leading zero on the unit before it.
        nal = annexb[start:end] if last else annexb[start:end].rstrip(b"\x00")
        if nal:
            nals.append(nal)
    return nals


def has_parameter_sets(annexb: bytes) -> bool:
    return NAL_SPS in nal_types(annexb)


def avcc_length_size(extradata: bytes | None) -> int | None:
    """The NAL length size of a stream whose extradata is an avcC record (MP4: packets are
    length-prefixed), None when its packets are Annex B. Packets cannot tell by themselves: a
    4-byte length of 256-511 begins with the bytes of a start code."""
    if not extradata or is_annexb(extradata) or len(extradata) < 5 or extradata[0] != 1:
        return None
    return (extradata[4] & 0x03) + 1


def webrtc_unit(data: bytes, key: bool, params: bytes, length_size: int | None) -> bytes:
    """One access unit from a demuxer, ready for aiortc's H.264 packetizer: Annex B (converted
    from length-prefixed when ``length_size`` says so), SPS/PPS before a keyframe."""
    unit = data if length_size is None else avcc_to_annexb(data, length_size)
    if key and params and not has_parameter_sets(unit):
        unit = params + unit
    return unit
