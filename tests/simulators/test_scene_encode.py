from __future__ import annotations

import time
from pathlib import Path

from simulators.cameras.encode import EncodedLoop, load_or_encode, split_annexb
from simulators.cameras.rtp import MAX_PAYLOAD, packetize_loop, packetize_nal, sdp


def test_loop_is_streamable(small_loops: dict[str, EncodedLoop]) -> None:
    loop = small_loops["gate"]
    assert loop.frame_count == 150
    keys = [u.index for u in loop.units if u.keyframe]
    assert keys[0] == 0 and keys == list(range(0, 150, 15))  # a keyframe every second
    for u in loop.units:
        types = [n[0] & 0x1F for n in u.nals]
        assert (5 in types) == u.keyframe
        if u.keyframe:
            assert types[:2] == [7, 8]  # SPS and PPS in front of every keyframe
    assert loop.profile_level_id.startswith("4D")  # main profile


def test_cache_is_reused(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    a = load_or_encode(
        "street", seed=2, width=160, height=90, fps=10, duration=4, cache_dir=tmp_path
    )
    first = time.perf_counter() - t0
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".h264sim"
    t0 = time.perf_counter()
    b = load_or_encode(
        "street", seed=2, width=160, height=90, fps=10, duration=4, cache_dir=tmp_path
    )
    assert time.perf_counter() - t0 < first
    assert a == b
    # Another parameter is another entry.
    load_or_encode("street", seed=3, width=160, height=90, fps=10, duration=4, cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 2
    # A damaged entry is encoded again rather than served.
    files[0].write_bytes(b"garbage")
    c = load_or_encode(
        "street", seed=2, width=160, height=90, fps=10, duration=4, cache_dir=tmp_path
    )
    assert c == a


def test_split_annexb_handles_both_start_codes() -> None:
    data = b"\x00\x00\x00\x01\x67abc\x00\x00\x01\x68de\x00\x00\x00\x01\x65fgh"
    assert split_annexb(data) == [b"\x67abc", b"\x68de", b"\x65fgh"]


def test_fu_a_fragments_reassemble() -> None:
    nal = bytes([0x65]) + bytes(range(256)) * 20
    parts = packetize_nal(nal)
    assert len(parts) > 1 and all(len(p) <= MAX_PAYLOAD for p in parts)
    assert parts[0][1] & 0x80 and parts[-1][1] & 0x40
    assert all(p[0] & 0x1F == 28 and p[1] & 0x1F == 5 for p in parts)
    assert bytes([(parts[0][0] & 0xE0) | 5]) + b"".join(p[2:] for p in parts) == nal
    assert packetize_nal(b"\x41small") == [b"\x41small"]


def test_sdp_announces_h264(small_loops: dict[str, EncodedLoop]) -> None:
    loop = small_loops["plaza"]
    text = sdp(loop, "cam", 1)
    assert "a=rtpmap:96 H264/90000" in text and "packetization-mode=1" in text
    assert f"profile-level-id={loop.profile_level_id}" in text
    assert "sprop-parameter-sets=" in text and "a=control:trackID=0" in text
    assert sum(len(u.payloads) for u in packetize_loop(loop)) > loop.frame_count
