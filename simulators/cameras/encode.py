"""Pre-encode a scene loop once to H.264 access units, cached on disk for every later run.

Serving never re-encodes: the RTSP server packetizes these access units. The cache lives under
``var/sim-cache/`` (or ``$HUB_SIM_CACHE``), keyed by every parameter that changes the bytes, and
is written to a temporary file then renamed, so concurrent processes can share it safely.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av

from simulators.cameras import x264
from simulators.cameras.scenes import SCENE_VERSION, Scene, build_scene

log = logging.getLogger(__name__)

_MAGIC = b"SIMH264\x01"
NAL_SPS, NAL_PPS, NAL_IDR = 7, 8, 5


@dataclass(frozen=True)
class AccessUnit:
    index: int
    """Frame number in the loop (pts in 1/fps units)."""
    keyframe: bool
    nals: tuple[bytes, ...]
    """NAL units without start codes."""

    def annexb(self) -> bytes:
        return b"".join(b"\x00\x00\x00\x01" + n for n in self.nals)


@dataclass(frozen=True)
class EncodedLoop:
    scene: str
    seed: int
    width: int
    height: int
    fps: float
    duration: float
    sps: bytes
    pps: bytes
    units: tuple[AccessUnit, ...]

    @property
    def profile_level_id(self) -> str:
        return self.sps[1:4].hex().upper()

    @property
    def frame_count(self) -> int:
        return len(self.units)


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex B byte stream (3- or 4-byte start codes)."""
    out: list[bytes] = []
    i, n = 0, len(data)
    starts: list[int] = []
    while True:
        j = data.find(b"\x00\x00\x01", i)
        if j < 0:
            break
        starts.append(j + 3)
        i = j + 3
    for k, s in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else n
        nal = data[s:end]
        # A 4-byte start code leaves its leading zero at the end of the previous NAL.
        if k + 1 < len(starts) and nal.endswith(b"\x00"):
            nal = nal.rstrip(b"\x00")
        if nal:
            out.append(nal)
    return out


def default_cache_dir() -> Path:
    return Path(os.environ.get("HUB_SIM_CACHE", "var/sim-cache"))


def cache_key(
    scene: str,
    seed: int,
    width: int,
    height: int,
    fps: float,
    duration: float,
    detector: str = "off",
) -> str:
    raw = json.dumps(
        [
            scene,
            *([detector] if detector != "off" else []),
            seed,
            width,
            height,
            fps,
            duration,
            SCENE_VERSION,
            x264.VERSION,
            x264.options(width, height, fps),
        ],
        sort_keys=True,
    )
    digest = hashlib.sha256(raw.encode()).hexdigest()[:12]
    return f"{scene}-s{seed}-{width}x{height}-{fps:g}fps-{duration:g}s-{digest}"


def encode_scene(scene: Scene) -> EncodedLoop:
    ctx = av.CodecContext.create("libx264", "w")
    x264.configure(ctx, scene.width, scene.height, scene.fps)
    units: list[AccessUnit] = []
    sps = pps = b""

    def take(packets: list[av.Packet]) -> None:  # type: ignore[type-arg]
        nonlocal sps, pps
        for p in packets:
            nals = split_annexb(bytes(p))
            for nal in nals:
                if nal[0] & 0x1F == NAL_SPS:
                    sps = nal
                elif nal[0] & 0x1F == NAL_PPS:
                    pps = nal
            key = bool(p.is_keyframe) or any(n[0] & 0x1F == NAL_IDR for n in nals)
            units.append(AccessUnit(len(units), key, tuple(nals)))

    for i, rgb in enumerate(scene.frames()):
        take(ctx.encode(x264.to_frame(rgb, i)))
    take(ctx.encode(None))
    if not sps or not pps or not units or not units[0].keyframe:
        raise RuntimeError("encoder produced no SPS/PPS or did not start with a keyframe")
    # Every keyframe must carry SPS/PPS so a client can start at any of them.
    fixed = []
    for u in units:
        types = {n[0] & 0x1F for n in u.nals}
        if u.keyframe and NAL_SPS not in types:
            u = AccessUnit(u.index, True, (sps, pps, *u.nals))
        fixed.append(u)
    return EncodedLoop(
        scene.name,
        scene.seed,
        scene.width,
        scene.height,
        scene.fps,
        scene.duration,
        sps,
        pps,
        tuple(fixed),
    )


def _dump(loop: EncodedLoop, path: Path) -> None:
    header = {
        "scene": loop.scene,
        "seed": loop.seed,
        "width": loop.width,
        "height": loop.height,
        "fps": loop.fps,
        "duration": loop.duration,
        "sps": loop.sps.hex(),
        "pps": loop.pps.hex(),
        "units": [[u.keyframe, [len(n) for n in u.nals]] for u in loop.units],
    }
    hb = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + struct.pack("!I", len(hb)) + hb)
            for u in loop.units:
                for n in u.nals:
                    f.write(n)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(path: Path) -> EncodedLoop:
    data = path.read_bytes()
    if not data.startswith(_MAGIC):
        raise ValueError(f"{path}: not a simulator cache file")
    (hl,) = struct.unpack_from("!I", data, len(_MAGIC))
    off = len(_MAGIC) + 4
    h = json.loads(data[off : off + hl])
    pos = off + hl
    units = []
    for i, (key, lens) in enumerate(h["units"]):
        nals = []
        for ln in lens:
            nals.append(data[pos : pos + ln])
            pos += ln
        units.append(AccessUnit(i, bool(key), tuple(nals)))
    return EncodedLoop(
        h["scene"],
        h["seed"],
        h["width"],
        h["height"],
        h["fps"],
        h["duration"],
        bytes.fromhex(h["sps"]),
        bytes.fromhex(h["pps"]),
        tuple(units),
    )


def load_or_encode(
    scene: str,
    *,
    seed: int = 0,
    width: int = 1280,
    height: int = 720,
    fps: float = 15,
    duration: float = 60.0,
    cache_dir: Path | None = None,
    detector: str = "off",
) -> EncodedLoop:
    """The encoded loop for these parameters, from the cache or encoded now (then cached);
    ``detector: person`` draws people a person detector finds (``build_scene``)."""
    path = (cache_dir or default_cache_dir()) / (
        cache_key(scene, seed, width, height, fps, duration, detector) + ".h264sim"
    )
    if path.exists():
        try:
            return _load(path)
        except (ValueError, KeyError, json.JSONDecodeError):
            log.warning("unreadable simulator cache %s; encoding again", path)
    t0 = time.perf_counter()
    loop = encode_scene(
        build_scene(
            scene,
            width=width,
            height=height,
            fps=fps,
            duration=duration,
            seed=seed,
            detector=detector,
        )
    )
    _dump(loop, path)
    log.info(
        "encoded scene loop",
        extra={"scene": scene, "seconds": round(time.perf_counter() - t0, 2), "path": str(path)},
    )
    return loop
