"""Score the core's people against MOT ground truth (footage with boxes per frame).

Used by ``bench/bench_footage.py`` and the footage test; needs ``motmetrics`` (a dev
dependency). Only analysed frames count: a frame the hub skipped is not scored as all misses.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hub.config import Camera
from hub.video.analytics.core import AnalyticsCore
from hub.video.analytics.reduce import reduce_luma
from hub.video.analytics.types import AnalysisFrame

Box = tuple[float, float, float, float]


@dataclass(slots=True)
class Scores:
    mota: float
    idf1: float
    count_within_one: float
    """Fraction of analysed frames whose person count is within one of the truth."""
    frames: int
    ms_per_frame: float
    """Core time per analysed frame (motion, detector, tracking, rules)."""
    switches: int


def read_gt(path: Path) -> dict[int, list[tuple[int, Box]]]:
    """MOT ground truth: frame (1-based) -> [(id, (x, y, w, h) pixels)]."""
    gt: dict[int, list[tuple[int, Box]]] = {}
    for line in path.read_text().splitlines():
        p = line.split(",")
        if len(p) < 6:
            continue
        box = (float(p[2]), float(p[3]), float(p[4]), float(p[5]))
        gt.setdefault(int(float(p[0])), []).append((int(float(p[1])), box))
    return gt


def _frames(video: Path) -> Iterator[tuple[int, float, Any]]:
    import av

    with av.open(str(video)) as c:
        for n, frame in enumerate(c.decode(video=0), start=1):
            yield n, float(frame.time or (n - 1) / 25.0), frame


def _iou_distances(gt: list[Box], hyp: list[Box]) -> np.ndarray:
    d = np.full((len(gt), len(hyp)), np.nan)
    for i, a in enumerate(gt):
        for j, b in enumerate(hyp):
            ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
            iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
            if ix <= 0 or iy <= 0:
                continue
            inter = ix * iy
            o = inter / (a[2] * a[3] + b[2] * b[3] - inter)
            if o >= 0.5:
                d[i, j] = 1.0 - o
    return d


def score(video: Path, gt_path: Path, camera: Camera, every: int = 1) -> Scores:
    """Run ``camera``'s core over every ``every``-th frame of ``video`` and score its people."""
    import time

    import motmetrics as mm

    gt = read_gt(gt_path)
    core = AnalyticsCore([camera])
    acc = mm.MOTAccumulator(auto_id=True)
    within = frames = 0
    spent = 0.0
    for n, t, frame in _frames(video):
        if (n - 1) % every:
            continue
        luma = reduce_luma(frame, camera.analysis_width)
        t0 = time.perf_counter()
        (res,) = core.process([AnalysisFrame(camera.id, t, t, luma, frame)])
        spent += time.perf_counter() - t0
        fw, fh = frame.width, frame.height
        people = [o for o in res.objects if o.kind == "person"]
        hyp = [(o.box[0] * fw, o.box[1] * fh, o.box[2] * fw, o.box[3] * fh) for o in people]
        truth = gt.get(n, [])
        acc.update(
            [i for i, _ in truth],
            [o.track_id for o in people],
            _iou_distances([b for _, b in truth], hyp),
        )
        frames += 1
        within += abs(len(people) - len(truth)) <= 1
    mh = mm.metrics.create()
    summary = mh.compute(acc, metrics=["mota", "idf1", "num_switches"], name="all")
    row = summary.loc["all"]
    mota, idf1 = float(row["mota"]), float(row["idf1"])
    return Scores(
        mota=mota if math.isfinite(mota) else -1.0,
        idf1=idf1 if math.isfinite(idf1) else 0.0,
        count_within_one=within / max(frames, 1),
        frames=frames,
        ms_per_frame=1000.0 * spent / max(frames, 1),
        switches=int(row["num_switches"]),
    )
