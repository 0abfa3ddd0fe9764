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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

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
    out: tuple[int, int] | None = None,
) -> str:
    """``out``: the size encoded, when it is not the size drawn (a sub stream)."""
    scaled = out is not None and out != (width, height)
    raw = json.dumps(
        [
            scene,
            *([detector] if detector != "off" else []),
            *([list(out)] if scaled and out is not None else []),
            seed,
            width,
            height,
            fps,
            duration,
            SCENE_VERSION,
            x264.VERSION,
            x264.options(*(out or (width, height)), fps),
        ],
        sort_keys=True,
    )
    digest = hashlib.sha256(raw.encode()).hexdigest()[:12]
    size = f"{width}x{height}" + (f"-to-{out[0]}x{out[1]}" if scaled and out is not None else "")
    return f"{scene}-s{seed}-{size}-{fps:g}fps-{duration:g}s-{digest}"


class _Encoder:
    """One libx264 encoder for one output size, collecting access units."""

    def __init__(self, scene: Scene, width: int, height: int) -> None:
        self.scene, self.width, self.height = scene, width, height
        self.ctx = av.CodecContext.create("libx264", "w")
        x264.configure(self.ctx, width, height, scene.fps)
        self.units: list[AccessUnit] = []
        self.sps = self.pps = b""

    def encode(self, rgb: npt.NDArray[np.uint8] | None, i: int) -> None:
        if rgb is not None and rgb.shape[:2] != (self.height, self.width):
            # A camera's sub stream is its main picture scaled down, as a camera makes it.
            rgb = cv2.resize(rgb, (self.width, self.height), interpolation=cv2.INTER_AREA)
        packets = self.ctx.encode(None if rgb is None else x264.to_frame(rgb, i))
        for p in packets:
            nals = split_annexb(bytes(p))
            for nal in nals:
                if nal[0] & 0x1F == NAL_SPS:
                    self.sps = nal
                elif nal[0] & 0x1F == NAL_PPS:
                    self.pps = nal
            key = bool(p.is_keyframe) or any(n[0] & 0x1F == NAL_IDR for n in nals)
            self.units.append(AccessUnit(len(self.units), key, tuple(nals)))

    def loop(self) -> EncodedLoop:
        units, sps, pps = self.units, self.sps, self.pps
        if not sps or not pps or not units or not units[0].keyframe:
            raise RuntimeError("encoder produced no SPS/PPS or did not start with a keyframe")
        # Every keyframe must carry SPS/PPS so a client can start at any of them.
        fixed = []
        for u in units:
            types = {n[0] & 0x1F for n in u.nals}
            if u.keyframe and NAL_SPS not in types:
                u = AccessUnit(u.index, True, (sps, pps, *u.nals))
            fixed.append(u)
        sc = self.scene
        return EncodedLoop(
            sc.name, sc.seed, self.width, self.height, sc.fps, sc.duration, sps, pps, tuple(fixed)
        )


def encode_scene(scene: Scene, sizes: Sequence[tuple[int, int]] = ()) -> list[EncodedLoop]:
    """The scene encoded at its own size, or at each of ``sizes`` (rendered once, scaled down)."""
    encoders = [_Encoder(scene, w, h) for w, h in (sizes or [(scene.width, scene.height)])]
    for i, rgb in enumerate(scene.frames()):
        for e in encoders:
            e.encode(rgb, i)
    for e in encoders:
        e.encode(None, 0)
    return [e.loop() for e in encoders]


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
    return load_or_encode_sizes(
        scene,
        [(width, height)],
        seed=seed,
        fps=fps,
        duration=duration,
        cache_dir=cache_dir,
        detector=detector,
    )[0]


def load_or_encode_sizes(
    scene: str,
    sizes: Sequence[tuple[int, int]],
    *,
    seed: int = 0,
    fps: float = 15,
    duration: float = 60.0,
    cache_dir: Path | None = None,
    detector: str = "off",
) -> list[EncodedLoop]:
    """The loop at each of ``sizes`` (the first is the size the scene is drawn at, the others
    are it scaled down: a camera's main and sub streams), cached like ``load_or_encode``."""
    width, height = sizes[0]
    paths = [
        (cache_dir or default_cache_dir())
        / (cache_key(scene, seed, width, height, fps, duration, detector, out=(w, h)) + ".h264sim")
        for w, h in sizes
    ]
    loops: list[EncodedLoop] = []
    for path in paths:
        if not path.exists():
            break
        try:
            loops.append(_load(path))
        except (ValueError, KeyError, json.JSONDecodeError):
            log.warning("unreadable simulator cache %s; encoding again", path)
            break
    if len(loops) == len(paths):
        return loops
    t0 = time.perf_counter()
    drawn = build_scene(
        scene, width=width, height=height, fps=fps, duration=duration, seed=seed, detector=detector
    )
    loops = encode_scene(drawn, sizes)
    for loop, path in zip(loops, paths, strict=True):
        _dump(loop, path)
    log.info(
        "encoded scene loop",
        extra={"scene": scene, "seconds": round(time.perf_counter() - t0, 2), "sizes": sizes},
    )
    return loops
