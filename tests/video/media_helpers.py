"""Synthetic H.264 clips for the ingest/live tests: made here with PyAV's libx264, no downloads.

Baseline profile, no B-frames, a keyframe every ``gop`` frames: what the camera simulator and
browsers expect (see NOTES.md).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def make_clip(
    path: Path,
    *,
    seconds: float = 4.0,
    fps: int = 25,
    width: int = 320,
    height: int = 180,
    gop: int = 25,
    fmt: str | None = None,
) -> Path:
    """Write a clip of a bright square moving over a dark background."""
    n = round(seconds * fps)
    with av.open(str(path), "w", format=fmt) as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.time_base = Fraction(1, fps)
        s.codec_context.gop_size = gop
        s.codec_context.max_b_frames = 0
        s.codec_context.options = {
            "profile": "baseline",
            "preset": "ultrafast",
            "tune": "zerolatency",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",
        }
        side = max(8, height // 6)
        for i in range(n):
            img = np.full((height, width, 3), 30, np.uint8)
            x = (i * 4) % max(1, width - side)
            y = height // 2 - side // 2
            img[y : y + side, x : x + side] = (220, 200, 60)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for pkt in s.encode(frame):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    return path


def corrupt_annexb(src: Path, dst: Path, *, every: int = 7, seed: int = 1) -> Path:
    """Copy a raw .h264 stream, overwriting bytes inside every ``every``-th slice with noise."""
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(seed)
    starts = [i for i in range(len(data) - 4) if data[i : i + 4] == b"\x00\x00\x00\x01"]
    for k, s in enumerate(starts):
        nal_type = data[s + 4] & 0x1F
        end = starts[k + 1] if k + 1 < len(starts) else len(data)
        if nal_type in (1, 5) and k % every == 0 and end - s > 40:
            a = s + 12
            b = min(end - 2, a + (end - a) // 2)
            data[a:b] = (
                rng.integers(0, 255, b - a, dtype=np.uint8).tobytes().replace(b"\x00", b"\x01")
            )
    dst.write_bytes(bytes(data))
    return dst


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port}")


class VlcServer:
    """VLC serving a looping file over RTSP, as the unprivileged user VLC insists on."""

    def __init__(self, clip: Path, port: int | None = None) -> None:
        import shutil
        import tempfile

        self.port = port or free_port()
        # pytest's tmp dirs are private to root; VLC runs as nobody and must read the file.
        self._dir = Path(tempfile.mkdtemp(prefix="hub-vlc-"))
        self._dir.chmod(0o755)
        self.clip = self._dir / clip.name
        shutil.copy(clip, self.clip)
        self.clip.chmod(0o644)
        self.url = f"rtsp://127.0.0.1:{self.port}/cam"
        self.proc: object = None

    def start(self) -> VlcServer:
        import os
        import subprocess

        kwargs: dict[str, object] = {}
        if os.geteuid() == 0:
            kwargs = {"user": "nobody", "group": "nogroup", "extra_groups": []}
        self.proc = subprocess.Popen(
            [
                "cvlc",
                str(self.clip),
                "--loop",
                "--sout",
                f"#rtp{{sdp={self.url}}}",
                "--sout-keep",
                "--no-audio",
                "-q",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "HOME": str(self._dir)},
            **kwargs,  # type: ignore[arg-type]
        )
        wait_port(self.port)
        return self

    def signal(self, sig: int) -> None:
        import subprocess

        assert isinstance(self.proc, subprocess.Popen)
        self.proc.send_signal(sig)

    def stop(self) -> None:
        import shutil
        import subprocess

        if isinstance(self.proc, subprocess.Popen) and self.proc.poll() is None:
            import signal

            self.proc.send_signal(signal.SIGCONT)  # a stopped VLC cannot act on SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self._dir, ignore_errors=True)
