"""Cost of the analytics core per camera-frame at 1, 16 and 64 cameras (768x576 sources).

    .venv/bin/python bench/bench_analytics.py [--rounds 60]

Frames come from the simulator's street scene (moving cars and people, noise, lighting drift),
reduced to the default 256 px analysis width. Printed per camera-frame, single thread:
- ``reduce_luma`` from an av.VideoFrame (yuv420p) and ``reduce_gray_array`` from an ndarray;
- baseline: a plain per-camera OpenCV loop (absdiff + threshold + dilate + findContours against
  the previous frame), measured in the same run;
- motion only (batched ``MotionGroup``) and the full core (motion + tracking + zones + lines +
  loitering), with their ratio to the baseline.
Targets: motion <= 0.1 ms and full core <= 0.25 ms per camera-frame, flat from 1 to 64 cameras
(the simulator's scenes have flat figures, so their cameras run motion only: ``detector: off``).

Then the real footage (../shared/footage/tud_campus.mp4, or $HUB_FOOTAGE_DIR) at the default
5 analysed frames per second: the core with the detector off and on, per camera-frame, beside
the bare decode of a frame measured in the same run (people are in view on every frame of this
clip, so the detector looks on every analysed frame: the busy case).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

from hub.config import Camera
from hub.video.analytics import AnalysisFrame, AnalyticsCore, reduce_gray_array, reduce_luma
from hub.video.analytics.motion import MotionGroup
from simulators.cameras.scenes import build_scene

W, H = 768, 576
ANALYSIS_WIDTH = 256
CAMERA_COUNTS = (1, 16, 64)


def _time(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median seconds of ``repeat`` runs of ``fn``."""
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=60, help="frames per camera per run")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    rounds = args.rounds

    scene = build_scene("street", width=W, height=H, fps=5, duration=rounds / 5 + 30, seed=3)
    # Start late enough that cars and walkers are on screen.
    rgb = [f for i, f in enumerate(scene.frames()) if i >= 150][: rounds + 64]
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in rgb]
    vframes = [
        av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p") for f in rgb[:20]
    ]
    lumas = [reduce_gray_array(g, ANALYSIS_WIDTH) for g in gray]
    ah, aw = lumas[0].shape
    print(f"source {W}x{H}, analysis {aw}x{ah}, {rounds} frames per camera, 1 thread")

    n_vf = len(vframes)
    t_luma = _time(lambda: [reduce_luma(v, ANALYSIS_WIDTH) for v in vframes]) / n_vf
    t_gray = _time(lambda: [reduce_gray_array(g, ANALYSIS_WIDTH) for g in gray[:n_vf]]) / n_vf
    print(f"reduce_luma (av.VideoFrame yuv420p -> {aw}x{ah}): {t_luma * 1e3:.3f} ms per frame")
    print(f"reduce_gray_array (ndarray):                 {t_gray * 1e3:.3f} ms per frame")

    base_cam = Camera.model_validate(
        scene.camera_entry("cam-000", name="b", url="b.mp4", grid="g", position=[0.0, 0.0])
    )
    kernel = np.ones((7, 7), np.uint8)

    print(
        f"{'cameras':>7} {'baseline ms':>12} {'motion ms':>10} {'x base':>7} "
        f"{'full ms':>8} {'x base':>7}   (per camera-frame)"
    )
    for n in CAMERA_COUNTS:
        # Camera i sees the scene shifted by i frames: different content, same statistics.
        seqs = [[lumas[(i + r) % len(lumas)] for r in range(rounds)] for i in range(n)]

        def baseline(seqs: list[list[np.ndarray]] = seqs) -> None:
            prev = [s[0] for s in seqs]
            for r in range(1, rounds):
                for i, s in enumerate(seqs):
                    d = cv2.absdiff(s[r], prev[i])
                    m = cv2.threshold(d, 13, 255, cv2.THRESH_BINARY)[1]
                    m = cv2.dilate(m, kernel)
                    cs, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
                    _ = [cv2.boundingRect(c) for c in cs]
                    prev[i] = s[r]

        def motion(seqs: list[list[np.ndarray]] = seqs, n: int = n) -> None:
            g = MotionGroup(ah, aw)
            slots = [g.add(None) for _ in range(n)]
            for r in range(rounds):
                g.process(slots, [s[r] for s in seqs])

        def full(seqs: list[list[np.ndarray]] = seqs, n: int = n) -> None:
            cams = [base_cam.model_copy(update={"id": f"cam-{i:03d}"}) for i in range(n)]
            core = AnalyticsCore(cams)
            for r in range(rounds):
                t = r / 5.0
                core.process([AnalysisFrame(c.id, t, t, seqs[i][r]) for i, c in enumerate(cams)])

        per = n * rounds
        tb = _time(baseline, 3) / (n * (rounds - 1))
        tm = _time(motion, 3) / per
        tf = _time(full, 3) / per
        print(
            f"{n:>7} {tb * 1e3:>12.3f} {tm * 1e3:>10.3f} {tm / tb:>7.2f} "
            f"{tf * 1e3:>8.3f} {tf / tb:>7.2f}"
        )
    print("targets: motion <= 0.100 ms, full <= 0.250 ms per camera-frame")
    footage()


def footage() -> None:
    root = Path(__file__).resolve().parents[1]
    d = Path(os.environ.get("HUB_FOOTAGE_DIR", root.parent / "shared" / "footage"))
    video = d / "tud_campus.mp4"
    if not video.is_file():
        print(f"real footage: none in {d} (set HUB_FOOTAGE_DIR)")
        return
    with av.open(str(video)) as c:
        decoded = [f for i, f in enumerate(c.decode(video=0)) if i % 5 == 0]
    t0 = time.perf_counter()
    with av.open(str(video)) as c:
        n = sum(1 for _ in c.decode(video=0))
    decode = (time.perf_counter() - t0) / n
    lumas = [reduce_luma(f, ANALYSIS_WIDTH) for f in decoded]
    print(f"real footage: TUD-Campus 640x480, {len(decoded)} frames at 5 fps, people in every one")
    print(f"  bare decode {decode * 1e3:.2f} ms per frame")
    for detector in ("off", "person"):
        cam = Camera(
            id="tud", name="tud", url="tud.mp4", grid="g", position=[0.0, 0.0], detector=detector
        )

        def run(cam: Camera = cam) -> None:
            core = AnalyticsCore([cam])
            for k, (f, luma) in enumerate(zip(decoded, lumas, strict=True)):
                core.process([AnalysisFrame(cam.id, k / 5.0, k / 5.0, luma, f)])

        run()  # loads the model once
        per = _time(run, 3) / len(decoded)
        print(
            f"  core, detector {detector:6s}: {per * 1e3:8.2f} ms per camera-frame "
            f"({per / decode:.1f}x decode)"
        )


if __name__ == "__main__":
    main()
