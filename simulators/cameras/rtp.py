"""RTP packetization of H.264 (RFC 6184, packetization-mode=1) and the SDP that announces it."""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass

from simulators.cameras.encode import EncodedLoop

PAYLOAD_TYPE = 96
CLOCK = 90_000
MAX_PAYLOAD = 1400
"""Bytes per RTP payload: fits an Ethernet MTU with IP/UDP/RTP headers, also used over TCP."""
_FU_A = 28


def packetize_nal(nal: bytes, max_payload: int = MAX_PAYLOAD) -> list[bytes]:
    """One NAL unit as RTP payloads: single NAL unit packet, or FU-A fragments."""
    if len(nal) <= max_payload:
        return [nal]
    header = nal[0]
    indicator = (header & 0xE0) | _FU_A
    nal_type = header & 0x1F
    body = nal[1:]
    chunk = max_payload - 2
    out = []
    for i in range(0, len(body), chunk):
        start = i == 0
        end = i + chunk >= len(body)
        fu_header = (0x80 if start else 0) | (0x40 if end else 0) | nal_type
        out.append(bytes((indicator, fu_header)) + body[i : i + chunk])
    return out


@dataclass(frozen=True)
class PacketizedUnit:
    keyframe: bool
    payloads: tuple[bytes, ...]
    """RTP payloads of one access unit; the last one carries the marker bit."""


def packetize_loop(loop: EncodedLoop) -> tuple[PacketizedUnit, ...]:
    out = []
    for u in loop.units:
        payloads: list[bytes] = []
        for nal in u.nals:
            payloads.extend(packetize_nal(nal))
        out.append(PacketizedUnit(u.keyframe, tuple(payloads)))
    return tuple(out)


def rtp_header(marker: bool, seq: int, timestamp: int, ssrc: int) -> bytes:
    return struct.pack(
        "!BBHII",
        0x80,
        (0x80 if marker else 0) | PAYLOAD_TYPE,
        seq & 0xFFFF,
        timestamp & 0xFFFFFFFF,
        ssrc,
    )


def sdp(loop: EncodedLoop, name: str, session_id: int, host: str = "127.0.0.1") -> str:
    sprop = ",".join(base64.b64encode(x).decode() for x in (loop.sps, loop.pps))
    lines = [
        "v=0",
        f"o=- {session_id} 1 IN IP4 {host}",
        f"s={name}",
        "c=IN IP4 0.0.0.0",
        "t=0 0",
        "a=tool:cityhub-simulator",
        "a=range:npt=now-",
        "a=control:*",
        f"m=video 0 RTP/AVP {PAYLOAD_TYPE}",
        f"a=rtpmap:{PAYLOAD_TYPE} H264/{CLOCK}",
        f"a=fmtp:{PAYLOAD_TYPE} packetization-mode=1;profile-level-id={loop.profile_level_id};"
        f"sprop-parameter-sets={sprop}",
        f"a=framerate:{loop.fps:g}",
        f"a=x-dimensions:{loop.width},{loop.height}",
        "a=control:trackID=0",
        "a=recvonly",
    ]
    return "\r\n".join(lines) + "\r\n"
