"""CPU cost of the RTSP camera simulator: 16 cameras at 720p 25 fps, idle vs 16 viewers.

    .venv/bin/python bench/bench_simulator.py [--seconds 10] [--cold]

Prints CPU seconds per wall second of the simulator process (the viewers are ffmpeg processes
copying the stream, not counted), idle as the baseline and with one viewer per camera, and the
time to prepare the four encoded loops (``--cold``: into an empty cache, i.e. a first run).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from hub.config import parse_site
from simulators.city import CitySimulator
from simulators.city.make_site import build_site

PORT = 18954


async def _cpu_ratio(seconds: float) -> float:
    c0, w0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    return (time.process_time() - c0) / (time.monotonic() - w0)


async def main(seconds: float, cold: bool) -> None:
    site = parse_site(yaml.safe_dump(build_site(PORT), allow_unicode=True))
    cache = Path(tempfile.mkdtemp(prefix="sim-cache-bench-")) if cold else None
    sim = CitySimulator(site, port=PORT, width=1280, height=720, fps=25, cache_dir=cache)
    async with sim:
        print(
            f"prepare 4 loops (720p 25 fps, 60 s, cache {'cold' if cold else 'warm'}): "
            f"{sim.encode_seconds:.1f} s"
        )
        idle = await _cpu_ratio(seconds)
        viewers = [
            await asyncio.create_subprocess_exec(
                "ffmpeg",
                "-v",
                "error",
                "-rtsp_transport",
                "tcp",
                "-i",
                c.url,
                "-c",
                "copy",
                "-f",
                "null",
                "-",
                stdin=subprocess.DEVNULL,
            )
            for c in site.cameras
        ]
        try:
            await asyncio.sleep(3)
            serving = await _cpu_ratio(seconds)
            stats = [sim.server.stats(c.id) for c in site.cameras]
        finally:
            for v in viewers:
                v.terminate()
            for v in viewers:
                await asyncio.wait_for(v.wait(), 10)
    mbit = sum(s["bytes_sent"] for s in stats) * 8 / 1e6
    dropped = sum(s["frames_dropped"] for s in stats)
    print(f"idle (16 timelines, no viewers): {idle:.3f} CPU s per s  (baseline)")
    print(
        f"serving 16 viewers:              {serving:.3f} CPU s per s  "
        f"({serving / max(idle, 1e-6):.1f}x baseline, {mbit:.0f} Mbit sent, "
        f"{dropped} frames dropped)"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--cold", action="store_true")
    a = ap.parse_args()
    try:
        asyncio.run(main(a.seconds, a.cold))
    finally:
        for d in Path(tempfile.gettempdir()).glob("sim-cache-bench-*"):
            shutil.rmtree(d, ignore_errors=True)
