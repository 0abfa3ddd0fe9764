"""Video workers as separate processes (``hub serve --role video``): cameras per worker, how the
total grows from 1 to 3 workers, and cameras per worker in keyframe-only mode at 1 fps.

    .venv/bin/python bench/bench_cluster.py [--counts 8,12,16,20] [--scale-cameras 24]
        [--workers 1,2,3] [--kf-counts 50,75,100,150,200] [--kf-sizes 1280x720,640x360]
        [--kf-workers 1,2] [--seconds 15] [--legs capacity,scale,kf]

Every run starts a private Redis (no persistence) and the video workers as real processes with
the hub's defaults (snapshots and clips on), on a site of N cameras playing 1280x720 25 fps
H.264 scenes from files in real time (the simulator's "gate" and "crossing" scenes, one
keyframe a second; ``detector: off``). What is measured comes from where the rest of a cluster
would see it: the workers' health reports on the bus (``video.health``: each camera's state and
its count of analysed frames) and their CPU time (``/proc``). After the cameras are spread and
online and a warm-up, a window of ``--seconds``: a camera's analysed fps is the growth of its
count over the window.

- capacity: one worker, N cameras analysed at 5 fps (every frame decoded). *Sustained*: every
  camera online and analysing >= 90 % of 5 fps.
- scale: ``--scale-cameras`` cameras at 5 fps over 1, 2, 3 workers: the total analysed fps and
  its ratio to one worker's. On this 2-core machine the workers share two cores, so the ratio
  shows the cost of running as several processes more than the gain of more machines.
- kf: one worker, N cameras at 1 fps, keyframes only (``analysis_fps: 1`` decodes keyframes and
  nothing else): the street cameras most of a district are watched with. Sustained as above
  (>= 0.9 fps each). Target: >= 100 cameras on 2 cores. Run on 1280x720 main streams and on
  640x360 streams (what a camera's sub stream, ``analysis_stream: sub``, typically carries):
  decoding the keyframes is most of the cost, and it grows with the pixels. With 1 and 2
  worker processes on the machine (``--kf-workers``): one process's many ingest threads contend
  for the GIL, and past about 50 cameras its event loop (health, lease renewals) falls behind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from hub.bus.contracts import CAMERA_HEALTH, CameraHealth
from hub.bus.redis_streams import RedisBus
from hub.config import Camera, Site
from simulators.cameras.scenes import Scene, build_scene, write_scene_video

FPS = 25
SCENES = ("gate", "crossing")
CLK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def machine_busy() -> tuple[float, float]:
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    vals = [int(v) for v in parts]
    idle = vals[3] + vals[4]
    return sum(vals) / CLK, (sum(vals) - idle) / CLK


@dataclass
class Result:
    leg: str
    workers: int
    cameras: int
    fps: float
    online: int
    total_fps: float
    min_fps: float
    cpu: list[float]
    machine: float
    states: dict[str, int]

    @property
    def sustained(self) -> bool:
        return self.online == self.cameras and self.min_fps >= 0.9 * self.fps


def site_file(
    d: Path, n: int, files: list[Path], scenes: list[Scene], fps: float, tag: str = ""
) -> Path:
    cams = [
        Camera(
            **scenes[i % len(scenes)].camera_entry(
                f"cam-{i:03d}",
                name=f"cam {i}",
                url=str(files[i % len(files)]),
                grid="g1",
                position=[121.05, 31.05],
                analysis_fps=fps,
                detector="off",
            )
        )
        for i in range(n)
    ]
    path = d / f"site-{n}-{fps}{tag}.yaml"
    path.write_text(Site.for_cameras(cams, name="bench").to_yaml(), encoding="utf-8")
    return path


def start_redis(d: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    rdir = Path(tempfile.mkdtemp(prefix="bench-redis-", dir=d))
    args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(rdir), "--save", ""]
    redis = subprocess.Popen(["redis-server", *args], stdout=subprocess.DEVNULL)
    return redis, f"redis://127.0.0.1:{port}/0"


def start_worker(d: Path, name: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    with open(d / f"{name}.log", "wb") as log:
        p = subprocess.Popen(
            [sys.executable, "-m", "hub", "serve", "--role", "video", "--port", str(port)],
            env={**env, "HUB_DATA_DIR": str(d / f"data-{name}")},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return p, port


async def run(
    leg: str, d: Path, site: Path, n: int, workers: int, fps: float, seconds: float
) -> Result:
    redis, url = start_redis(d)
    env = {**os.environ, "HUB_BUS": "redis", "HUB_REDIS_URL": url, "HUB_SITE": str(site)}
    env["HUB_LOG_JSON"] = "false"
    procs: list[tuple[subprocess.Popen[bytes], int]] = []
    bus: RedisBus | None = None
    try:
        await asyncio.sleep(0.3)
        bus = RedisBus(url)
        await bus.start()
        health = bus.subscribe(CAMERA_HEALTH)
        latest: dict[str, tuple[float, CameraHealth]] = {}

        async def follow() -> None:
            while True:
                h = (await health.get()).data
                latest[h.camera_id] = (time.monotonic(), h)

        follower = asyncio.create_task(follow())
        for i in range(workers):
            procs.append(start_worker(d, f"{leg}-{n}-{workers}-{i}", env))
        # Spread and online: every camera reported online recently.
        deadline = time.monotonic() + 120
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                served = 0
                for _, port in procs:
                    try:
                        r = await client.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
                        served += len(r.json()["cameras"])
                    except (httpx.HTTPError, ValueError, KeyError):
                        pass
                now = time.monotonic()
                up = sum(1 for t, h in latest.values() if h.state == "online" and now - t < 3)
                if served == n and up == n:
                    break
                await asyncio.sleep(0.5)
        await asyncio.sleep(5)  # warm-up
        start = {c: h.frames_analysed for _, h in latest.values() for c in [h.camera_id]}
        cpu0 = [cpu_seconds(p.pid) for p, _ in procs]
        m0 = machine_busy()
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        elapsed = time.monotonic() - t0
        cpu = [(cpu_seconds(p.pid) - c) / elapsed for (p, _), c in zip(procs, cpu0, strict=True)]
        m1 = machine_busy()
        now = time.monotonic()
        rates = []
        online = 0
        states: dict[str, int] = {}
        for c in [f"cam-{i:03d}" for i in range(n)]:
            seen = latest.get(c)
            if seen is None:
                rates.append(0.0)
                states["unreported"] = states.get("unreported", 0) + 1
                continue
            t, h = seen
            state = h.state if now - t < 3 else "silent"
            states[state] = states.get(state, 0) + 1
            online += state == "online"
            rates.append(max(0, h.frames_analysed - start.get(c, h.frames_analysed)) / elapsed)
        follower.cancel()
        return Result(
            leg,
            workers,
            n,
            fps,
            online,
            sum(rates),
            min(rates) if rates else 0.0,
            cpu,
            (m1[1] - m0[1]) / (m1[0] - m0[0]) * (os.cpu_count() or 1),
            states,
        )
    finally:
        if bus is not None:
            await bus.close()
        for p, _ in procs:
            p.terminate()
        for p, _ in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        redis.kill()
        redis.wait()


def report(r: Result) -> None:
    cpu = " + ".join(f"{c:.2f}" for c in r.cpu)
    print(
        f"  {r.leg:8} workers {r.workers}  cameras {r.cameras:3d} at {r.fps:g} fps: online "
        f"{r.online:3d}, analysed {r.total_fps:7.1f} fps in all (min {r.min_fps:.2f} per "
        f"camera), worker CPU {cpu} cores, machine busy {r.machine:.2f} of {os.cpu_count()}"
        f"  {'sustained' if r.sustained else 'NOT sustained'}"
        + ("" if r.online == r.cameras else f" (states: {r.states})"),
        flush=True,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--counts", default="8,12,16,20")
    ap.add_argument("--scale-cameras", type=int, default=24)
    ap.add_argument("--workers", default="1,2,3")
    ap.add_argument("--kf-counts", default="50,75,100,150,200")
    ap.add_argument("--kf-sizes", default="1280x720,640x360")
    ap.add_argument("--kf-workers", default="1,2")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--legs", default="capacity,scale,kf")
    args = ap.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed (make setup installs it)")
    legs = set(args.legs.split(","))
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        d = Path(tmp)
        scenes = [
            build_scene(name, width=1280, height=720, fps=FPS, duration=20.0, seed=i)
            for i, name in enumerate(SCENES)
        ]
        files = [write_scene_video(s, d / f"{s.name}.mp4") for s in scenes]
        print(f"cameras: 1280x720 {FPS} fps H.264 from files in real time, detector off")
        if "capacity" in legs:
            best = 0
            for n in [int(c) for c in args.counts.split(",")]:
                site = site_file(d, n, files, scenes, 5)
                r = asyncio.run(run("capacity", d, site, n, 1, 5, args.seconds))
                report(r)
                if not r.sustained:
                    break
                best = n
            print(f"cameras per video worker at 5 fps: {best}")
        if "scale" in legs:
            n = args.scale_cameras
            site = site_file(d, n, files, scenes, 5)
            base = 0.0
            for k in [int(w) for w in args.workers.split(",")]:
                r = asyncio.run(run("scale", d, site, n, k, 5, args.seconds))
                report(r)
                base = base or r.total_fps
                print(f"  total analysed fps with {k} workers / with 1: {r.total_fps / base:.2f}")
        if "kf" in legs:
            for size in args.kf_sizes.split(","):
                w, h = (int(v) for v in size.split("x"))
                kf_scenes, kf_files = scenes, files
                if (w, h) != (1280, 720):
                    kf_scenes = [
                        build_scene(name, width=w, height=h, fps=FPS, duration=20.0, seed=i)
                        for i, name in enumerate(SCENES)
                    ]
                    kf_files = [write_scene_video(s, d / f"{s.name}-{w}.mp4") for s in kf_scenes]
                print(f"keyframes only at 1 fps, {w}x{h} {FPS} fps, one keyframe a second:")
                for k in [int(v) for v in args.kf_workers.split(",")]:
                    best = 0
                    for n in [int(c) for c in args.kf_counts.split(",")]:
                        site = site_file(d, n, kf_files, kf_scenes, 1, tag=f"{w}")
                        r = asyncio.run(run("kf", d, site, n, k, 1, args.seconds))
                        report(r)
                        if not r.sustained:
                            break
                        best = n
                    print(
                        f"cameras on this machine with {k} video worker(s), keyframes only at "
                        f"1 fps, {w}x{h}: {best} (target 100)"
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
