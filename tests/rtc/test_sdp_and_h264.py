"""Offer checks before aiortc parses anything, and H.264 access units made ready for WebRTC."""

from __future__ import annotations

import pytest

from hub.rtc.h264 import (
    avcc_length_size,
    avcc_to_annexb,
    nal_types,
    parameter_sets,
    split_nals,
    webrtc_unit,
)
from hub.rtc.sdp import MediaError, SdpError, check_offer

OFFER = """v=0\r
o=- 1 1 IN IP4 0.0.0.0\r
s=-\r
t=0 0\r
m=video 9 UDP/TLS/RTP/SAVPF 96 97\r
c=IN IP4 0.0.0.0\r
a=mid:0\r
a=sendonly\r
a=ice-ufrag:abcd\r
a=ice-pwd:abcdefghijklmnopqrstuvwx\r
a=fingerprint:sha-256 {FP}\r
a=setup:actpass\r
a=rtpmap:96 H264/90000\r
a=rtpmap:97 VP8/90000\r
""".replace("{FP}", ":".join(["AB"] * 32))


def test_a_good_offer_is_summarised() -> None:
    s = check_offer(OFFER, max_bytes=32 * 1024)
    assert s.kinds == ("video",) and s.video_codecs == {"h264", "vp8"}
    assert s.directions == ("sendonly",)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("hello", "v=0"),
        ("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96\r\n", "parse"),
        ("v=0\r\nx\r\n", "<type>=<value>"),
        ("v=0\r\na=x:\x01\r\n", "control"),
        ("v=0\r\n" + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n" * 9, "media sections"),
        ("v=0\r\n" + "a=x:" + "y" * 5000 + "\r\n", "longer"),
        (OFFER.replace("a=fingerprint", "a=x-fingerprint"), "fingerprint"),
    ],
)
def test_bad_offers_are_refused_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(SdpError, match=why):
        check_offer(text, max_bytes=32 * 1024)


def test_an_offer_too_large_or_of_unknown_media_is_refused() -> None:
    with pytest.raises(SdpError, match="larger"):
        check_offer(OFFER + "a=x:" + "y" * 2000 + "\r\n", max_bytes=1024)
    with pytest.raises(MediaError):
        check_offer(OFFER.replace("m=video", "m=text"), max_bytes=32 * 1024)


SPS, PPS, IDR, P = b"\x67\x64\x00\x1f", b"\x68\xee", b"\x65\x88\x84", b"\x41\x9a"


def test_avcc_units_become_annexb_with_parameter_sets_before_keyframes() -> None:
    avcc = len(IDR).to_bytes(4, "big") + IDR
    record = b"\x01\x64\x00\x1f\xff\xe1" + len(SPS).to_bytes(2, "big") + SPS + b"\x01"
    record += len(PPS).to_bytes(2, "big") + PPS
    params = parameter_sets(record)
    assert params == b"\x00\x00\x00\x01" + SPS + b"\x00\x00\x00\x01" + PPS
    assert avcc_length_size(record) == 4 and avcc_length_size(params) is None
    assert webrtc_unit(avcc, True, params, 4) == params + b"\x00\x00\x00\x01" + IDR
    p_unit = len(P).to_bytes(4, "big") + P
    assert webrtc_unit(p_unit, False, params, 4) == b"\x00\x00\x00\x01" + P
    annexb = b"\x00\x00\x00\x01" + SPS + b"\x00\x00\x00\x01" + PPS + b"\x00\x00\x00\x01" + IDR
    assert webrtc_unit(annexb, True, params, None) == annexb  # has its own: left alone
    # A 300-byte keyframe NAL, length-prefixed, begins 00 00 01 2c: not a start code.
    big = b"\x65" + bytes(range(256)) + b"\x11" * 43
    unit = webrtc_unit(len(big).to_bytes(4, "big") + big, True, params, 4)
    assert unit == params + b"\x00\x00\x00\x01" + big
    assert nal_types(unit) == {7, 8, 5} and split_nals(unit) == [SPS, PPS, big]
    assert avcc_to_annexb(b"\x00\x00\x00\x09abc") == b""  # truncated: nothing made up
