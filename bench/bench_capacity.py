"""How many 720p 25 fps cameras this machine sustains at 5 fps analysis (event p99 < 1 s).

    .venv/bin/python bench/bench_capacity.py [--counts 8,16,24,32] [--seconds 8] [--source rtsp]

For each camera count the whole ``CameraService`` runs (ingest threads, batched real analytics,
evidence snapshots, bus publishing) on simulated cameras: synthetic 1280x720 25 fps scenes served
over RTSP (TCP interleaved) by the camera simulator in a separate process (``--source rtsp``,
the default), or the same scenes played from files in real time (``--source file``). A count is
*sustained* when every camera decodes >= 90 % of 25 fps, analyses >= 90 % of
5 fps, drops < 2 % of sampled frames, and the p99 latency from frame capture to the event on the
bus is under 1 s (capture -> analysed for every frame is reported too). It prints the largest
sustained count and its ratio to the target of 16.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hub.bus import MemoryBus
from hub.bus.contracts import DETECTIONS
from hub.config import (
    Camera,
    Settings,
    Site,
    Zone,
)
from hub.video.analytics import AnalysisFrame, AnalyticsCore, FrameResult
from hub.video.service import CameraService
from simulators.cameras.scenes import build_scene, write_scene_video

TARGET = 16
FPS = 25
ANALYSIS_FPS = 5


class TimedCore:
    """The real core, plus capture -> analysed latency for every frame."""

    def __init__(self, cameras: Sequence[Camera]) -> None:
        self.core = AnalyticsCore(cameras)
        self.latencies: list[float] = []
        self.batch_seconds: list[float] = []
        self.batch_sizes: list[int] = []
        self.lock = threading.Lock()

    def process(self, frames: Sequence[AnalysisFrame]) -> list[FrameResult]:
        t = time.perf_counter()
        out = self.core.process(frames)
        dt = time.perf_counter() - t
        now = time.time()
        with self.lock:
            self.latencies.extend(now - f.wall_time for f in frames)
            self.batch_seconds.append(dt)
            self.batch_sizes.append(len(frames))
        return out


def p99(values: Sequence[float]) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(0.99 * (len(s) - 1)))]


def make_site(
    n: int, clips: Sequence[tuple[Path, list[dict[str, Any]]]], rtsp_port: int | None = None
) -> Site:
    cams = [
        Camera(
            id=f"cam-{i:02d}",
            name=f"cam {i}",
            url=(
                f"rtsp://127.0.0.1:{rtsp_port}/cam-{i:02d}"
                if rtsp_port
                else str(clips[i % len(clips)][0])
            ),
            grid="g1",
            position=[121.05, 31.05],
            analysis_fps=ANALYSIS_FPS,
            zones=[Zone(**z) for z in clips[i % len(clips)][1]],
        )
        for i in range(n)
    ]
    return Site.for_cameras(cams, name="bench")


async def run_count(
    n: int,
    clips: Sequence[tuple[Path, list[dict[str, Any]]]],
    seconds: float,
    data: Path,
    rtsp_port: int | None,
) -> dict[str, Any]:
    site = make_site(n, clips, rtsp_port)
    settings = Settings(data_dir=data, stall_seconds=10)
    core = TimedCore(site.cameras)
    bus = MemoryBus()
    sub = bus.subscribe(DETECTIONS)
    svc = CameraService(settings, site, bus, core=core)  # type: ignore[arg-type]
    event_lat: list[float] = []

    async def collect() -> None:
        while True:
            msg = await sub.get()
            ev = msg.data
            # An intrusion or loitering is announced at its start and again at its end, which
            # is known only once the object has been gone for a while: time the announcements
            # of new events (a line crossing is both at once).
            if ev.end is None or ev.type == "line_crossing":
                event_lat.append(time.time() - ev.start.timestamp())

    collector = asyncio.create_task(collect())
    await svc.start()
    await asyncio.sleep(3.0)  # warm-up: connections open, first keyframes
    before = {h.camera_id: h for h in svc.health()}
    with core.lock:
        core.latencies.clear()
        core.batch_seconds.clear()
        core.batch_sizes.clear()
    event_lat.clear()
    cpu0, t0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    dt = time.monotonic() - t0
    cpu = (time.process_time() - cpu0) / dt
    after = {h.camera_id: h for h in svc.health()}
    await svc.stop()
    collector.cancel()
    fps_in = [(after[c].frames_in - before[c].frames_in) / dt for c in after]
    fps_an = [(after[c].frames_analysed - before[c].frames_analysed) / dt for c in after]
    dropped = sum(after[c].frames_dropped - before[c].frames_dropped for c in after)
    analysed = sum(after[c].frames_analysed - before[c].frames_analysed for c in after)
    with core.lock:
        frame_p99 = p99(core.latencies)
        batch_p99 = p99(core.batch_seconds)
        batch_mean = statistics.fmean(core.batch_sizes) if core.batch_sizes else 0.0
        core_busy = sum(core.batch_seconds) / dt
    ev_p99 = p99(event_lat)
    ok = (
        min(fps_in) >= 0.9 * FPS
        and min(fps_an) >= 0.9 * ANALYSIS_FPS
        and dropped <= 0.02 * max(1, analysed + dropped)
        and (ev_p99 < 1.0 if event_lat else frame_p99 < 1.0)
    )
    return {
        "n": n,
        "ok": ok,
        "fps_in_min": min(fps_in),
        "fps_in_mean": statistics.fmean(fps_in),
        "fps_an_min": min(fps_an),
        "dropped": dropped,
        "analysed": analysed,
        "frame_p99": frame_p99,
        "events": len(event_lat),
        "event_p99": ev_p99,
        "cpu_cores": cpu,
        "batch_p99": batch_p99,
        "batch_mean": batch_mean,
        "core_busy": core_busy,
    }


SCENES = ("gate", "crossing")
LOOP_SECONDS = 20.0


def _serve_simulator(port: int, n: int, cache: str, ready: Any) -> None:
    """Child process: the camera simulator serving ``n`` cameras (one port, TCP interleaved)."""
    from simulators.cameras.encode import load_or_encode
    from simulators.cameras.rtsp_server import RtspServer

    async def main() -> None:
        loops = [
            load_or_encode(
                name,
                seed=i,
                width=1280,
                height=720,
                fps=FPS,
                duration=LOOP_SECONDS,
                cache_dir=Path(cache),
            )
            for i, name in enumerate(SCENES)
        ]
        server = RtspServer(port=port)
        for i in range(n):
            server.add_camera(f"cam-{i:02d}", loops[i % len(loops)], offset=i * 0.7)
        await server.start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--counts", default="8,16,24,32")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--source", choices=("rtsp", "file"), default="rtsp")
    args = ap.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",")]
    best = 0
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        clips = []
        for i, name in enumerate(SCENES):
            scene = build_scene(
                name, width=1280, height=720, fps=FPS, duration=LOOP_SECONDS, seed=i
            )
            path = d / f"{name}.mp4"
            if args.source == "file":
                write_scene_video(scene, path)
            clips.append((path, scene.zones))
        child = None
        port: int | None = None
        if args.source == "rtsp":
            from simulators.cameras.encode import load_or_encode

            for i, name in enumerate(SCENES):  # encode once here; the child loads the cache
                load_or_encode(
                    name,
                    seed=i,
                    width=1280,
                    height=720,
                    fps=FPS,
                    duration=LOOP_SECONDS,
                    cache_dir=d,
                )
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
            ctx = multiprocessing.get_context("spawn")
            ready = ctx.Event()
            child = ctx.Process(
                target=_serve_simulator, args=(port, max(counts), str(d), ready), daemon=True
            )
            child.start()
            if not ready.wait(60):
                raise SystemExit("the camera simulator did not start")
        try:
            print(
                f"cameras: 1280x720 {FPS} fps from {args.source}, analysis {ANALYSIS_FPS} fps;"
                f" {args.seconds:.0f} s each"
            )
            for n in counts:
                r = asyncio.run(run_count(n, clips, args.seconds, d / f"data{n}", port))
                print(
                    f"{n:3d} cameras: {'OK  ' if r['ok'] else 'FAIL'}"
                    f" fps_in min {r['fps_in_min']:5.1f} mean {r['fps_in_mean']:5.1f};"
                    f" analysed min {r['fps_an_min']:4.1f} fps;"
                    f" dropped {r['dropped']}/{r['analysed'] + r['dropped']};"
                    f" capture->analysed p99 {r['frame_p99'] * 1e3:6.0f} ms;"
                    f" events {r['events']} p99 {r['event_p99'] * 1e3:6.0f} ms;"
                    f" hub CPU {r['cpu_cores']:.2f} cores"
                )
                print(
                    f"     analytics: {r['batch_mean']:.1f} frames/batch, batch p99"
                    f" {r['batch_p99'] * 1e3:.0f} ms, worker busy {r['core_busy'] * 100:.0f}%"
                )
                if not r["ok"]:
                    break
                best = n
        finally:
            if child is not None:
                child.terminate()
                child.join(10)
    print(f"sustained: {best} cameras; ratio to target {TARGET}: {best / TARGET:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
