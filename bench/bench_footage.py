"""People on real footage: MOTA, IDF1 and per-frame count accuracy, and what they cost.

    .venv/bin/python bench/bench_footage.py

Runs the analytics core (motion + person detector + tracker) over ../shared/footage/tud_campus.mp4
(or $HUB_FOOTAGE_DIR) at several analysis and detector rates and scores the people it reports
against the ground truth with motmetrics (IoU >= 0.5). Only analysed frames are scored. Also
prints the core's time per analysed frame beside the bare decode time of a frame, measured in
the same run. Targets (issue 9): MOTA >= 0.5, IDF1 >= 0.5, count within one on >= 80 % of frames.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import av

from hub.config import Camera
from hub.video.analytics.mot_eval import score

ROOT = Path(__file__).resolve().parents[1]
FOOTAGE = Path(os.environ.get("HUB_FOOTAGE_DIR", ROOT.parent / "shared" / "footage"))
# (label, every n-th frame analysed, analysis fps, detector looks per second)
RUNS = [
    ("every frame (25 fps, detector each)", 1, 25.0, 25.0),
    ("defaults (5 fps, detector each)", 5, 5.0, 5.0),
    ("5 fps, detector 2.5/s", 5, 5.0, 2.5),
    ("5 fps, detector 1/s", 5, 5.0, 1.0),
]


def _decode_ms(video: Path) -> float:
    t0 = time.perf_counter()
    n = 0
    with av.open(str(video)) as c:
        for _ in c.decode(video=0):
            n += 1
    return 1000.0 * (time.perf_counter() - t0) / max(n, 1)


def main() -> int:
    video, gt = FOOTAGE / "tud_campus.mp4", FOOTAGE / "tud_campus.gt.txt"
    if not video.is_file():
        print(f"no footage in {FOOTAGE} (set HUB_FOOTAGE_DIR)")
        return 1
    decode = _decode_ms(video)
    print(f"TUD-Campus 640x480, bare decode {decode:.2f} ms/frame")
    print(
        f"{'run':40s} {'MOTA':>6s} {'IDF1':>6s} {'cnt±1':>6s} {'IDsw':>5s} {'frames':>6s} "
        f"{'core ms':>8s} {'x decode':>8s}"
    )
    for label, every, fps, dfps in RUNS:
        cam = Camera(
            id="tud-campus",
            name="TUD-Campus",
            url=str(video),
            grid="g1",
            position=[0.0, 0.0],
            analysis_fps=fps,
            detect_fps=dfps,
        )
        s = score(video, gt, cam, every)
        print(
            f"{label:40s} {s.mota:6.3f} {s.idf1:6.3f} {s.count_within_one:6.3f} {s.switches:5d} "
            f"{s.frames:6d} {s.ms_per_frame:8.1f} {s.ms_per_frame / decode:8.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
