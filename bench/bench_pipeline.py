"""Pipeline throughput vs bare PyAV decode, and the hub-side cost of one live (fMP4) tile.

    .venv/bin/python bench/bench_pipeline.py [--streams 4] [--seconds 12] [--rounds 9]

1. Bare decode: one thread per stream, PyAV decoding every frame (the floor nothing can beat).
2. Pipeline: the hub's ``CameraSource`` threads on the same files (unpaced), sampling to 5 fps,
   ``reduce_luma`` in the decode thread, bounded queues, one analytics worker running the real
   ``AnalyticsCore`` in batches. Ratio = pipeline decode fps / bare decode fps (target >= 0.9).
3. Live tile: CPU time to mux one camera's packets to fMP4 and fan them out to 1 and 8 viewers,
   as a share of one core at 25 fps and as a ratio of the same camera's decode cost.

Clips are synthetic 1280x720 25 fps scenes from ``simulators.cameras.scenes`` (made once per run
in a temp dir). Figures are medians of one short run on a shared machine: a scale, not a promise.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av

from hub.config import Camera, Settings, Zone
from hub.video.analytics import AnalysisFrame, AnalyticsCore, reduce_luma
from hub.video.live import Fmp4Muxer, LiveFeed
from hub.video.pipeline import BatchWorkers
from hub.video.source import CameraSource
from simulators.cameras.scenes import build_scene, write_scene_video


def make_clips(d: Path, n: int, seconds: float) -> list[tuple[Path, list[dict[str, Any]]]]:
    out = []
    for i, name in enumerate(["gate", "crossing"][: max(1, min(2, n))]):
        scene = build_scene(name, width=1280, height=720, fps=25, duration=seconds, seed=i)
        out.append((write_scene_video(scene, d / f"{name}.mp4"), scene.zones))
    return out


def bare_decode(paths: Sequence[Path]) -> tuple[int, float]:
    counts = [0] * len(paths)

    def run(i: int, p: Path) -> None:
        with av.open(str(p)) as c:
            s = c.streams.video[0]
            s.codec_context.thread_count = 1
            for _ in c.decode(s):
                counts[i] += 1

    threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(paths)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return sum(counts), time.perf_counter() - t


def pipeline(
    paths: Sequence[Path], zones: Sequence[Sequence[dict[str, Any]]], *, analytics: bool = True
) -> dict[str, Any]:
    settings = Settings(data_dir=Path(tempfile.mkdtemp()))
    cams = [
        Camera(
            id=f"cam-{i:02d}",
            name=str(i),
            url=str(p),
            grid="g1",
            position=[0, 0],
            analysis_fps=5,
            zones=[Zone(**z) for z in zones[i]],
        )
        for i, p in enumerate(paths)
    ]
    core = AnalyticsCore(cams)
    results = {"events": 0}

    def process(batch: Sequence[AnalysisFrame]) -> None:
        if not analytics:
            return
        for r in core.process(batch):
            results["events"] += len(r.events)

    workers: BatchWorkers[AnalysisFrame] = BatchWorkers(process, batch_max=64)
    sources = []
    for cam in cams:
        q = workers.queue(settings.frame_queue_per_camera)

        def on_frame(frame: Any, m: float, w: float, cam: Camera = cam, q: Any = q) -> None:
            q.put(AnalysisFrame(cam.id, m, w, reduce_luma(frame, cam.analysis_width), frame))

        sources.append(
            CameraSource(cam, settings, on_frame=on_frame, pace_files=False, loop_files=False)
        )
    workers.start()
    t = time.perf_counter()
    for s in sources:
        s.start()
    for s in sources:
        s.finished.wait()
    decode_done = time.perf_counter() - t
    workers.stop()
    total = time.perf_counter() - t
    return {
        "frames": sum(s.stats.frames_in for s in sources),
        "sampled": sum(s.stats.frames_sampled for s in sources),
        "analysed": workers.frames,
        "dropped": sum(q.dropped for w in workers._workers for q in w.queues),
        "batches": workers.batches,
        "decode_seconds": decode_done,
        "total_seconds": total,
        "events": results["events"],
    }


def live_cost(path: Path, viewers: int) -> float:
    """CPU seconds per packet to mux and fan out to ``viewers`` (each drains every fragment)."""

    async def run() -> float:
        loop = asyncio.get_running_loop()
        feed = LiveFeed("bench", loop)
        subs = [feed.subscribe() for _ in range(viewers)]
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            packets = [p for p in c.demux(s) if p.size]
            muxer = Fmp4Muxer(s)
            t = time.process_time()
            gen = 1
            for p in packets:
                for frag, key in muxer.mux(p):
                    if feed.init is None and muxer.init is not None:
                        feed._on_init(gen, muxer.mime or "", muxer.init)
                        for v in subs:
                            await v.init()
                    feed._on_fragment(gen, frag, key)
                    for v in subs:
                        await v.next()
            cpu = time.process_time() - t
            muxer.close()
        for v in subs:
            v.close()
        return cpu / len(packets)

    return asyncio.run(run())


def bare_per_frame(path: Path) -> float:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = 1
        t = time.process_time()
        n = sum(1 for _ in c.decode(s))
        return (time.process_time() - t) / n


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        clips = make_clips(Path(tmp), args.streams, args.seconds)
        paths = [clips[i % len(clips)][0] for i in range(args.streams)]
        zones = [clips[i % len(clips)][1] for i in range(args.streams)]
        ratios, ingest_ratios, bare_fps, pipe_fps, ingest_fps = [], [], [], [], []
        last: dict[str, Any] = {}
        for _ in range(args.rounds):
            n, dt = bare_decode(paths)
            bare_fps.append(n / dt)
            ingest = pipeline(paths, zones, analytics=False)
            ingest_fps.append(ingest["frames"] / ingest["total_seconds"])
            last = pipeline(paths, zones)
            pipe_fps.append(last["frames"] / last["total_seconds"])
            ratios.append(pipe_fps[-1] / bare_fps[-1])
            ingest_ratios.append(ingest_fps[-1] / bare_fps[-1])
        print(f"streams: {args.streams} x 1280x720 25 fps, {args.seconds:.0f} s each")
        print(f"bare PyAV decode:         {statistics.median(bare_fps):7.1f} fps")
        print(
            f"ingest only (sources, sampling, reduce_luma, queues; no core):"
            f" {statistics.median(ingest_fps):7.1f} fps,"
            f" ratio {statistics.median(ingest_ratios):.2f}"
        )
        print(
            f"pipeline (decode+5fps analytics): {statistics.median(pipe_fps):7.1f} fps"
            f"  analysed {last['analysed']}/{last['sampled']} sampled, dropped {last['dropped']},"
            f" {last['batches']} batches, {last['events']} events"
        )
        ratio = statistics.median(ratios)
        print(f"ratio pipeline/bare:      {ratio:.2f}  (target >= 0.90)")

        dec = bare_per_frame(paths[0])
        print(f"decode cost per 720p frame: {dec * 1e3:.2f} ms CPU")
        for k in (1, 8):
            cost = live_cost(paths[0], k)
            print(
                f"live tile, {k} viewer(s): {cost * 1e6:6.1f} us CPU/packet = "
                f"{cost * 25 * 100:.2f}% of a core at 25 fps; ratio to decode {cost / dec:.3f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
