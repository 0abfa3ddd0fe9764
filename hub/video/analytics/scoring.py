"""Score detected events against ground truth: one-to-one matching per kind within a tolerance.

Used by the accuracy tests and ``bench/bench_accuracy.py``. Events are matched when type,
zone/line and direction agree and their times differ by at most ``tolerance`` seconds; the
closest pairs are taken first so a match is never stolen by a worse one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from hub.config import Camera
from hub.video.analytics.core import AnalyticsCore
from hub.video.analytics.reduce import reduce_gray_array, reduce_luma
from hub.video.analytics.sampling import Sampler
from hub.video.analytics.types import AnalysisFrame, RawEvent


@dataclass(frozen=True, slots=True)
class Ev:
    type: str
    t: float
    zone_id: str | None = None
    line_id: str | None = None
    direction: str | None = None

    @property
    def key(self) -> tuple[str, str | None, str | None, str | None]:
        return self.type, self.zone_id, self.line_id, self.direction


@dataclass(slots=True)
class KindScore:
    truth: int = 0
    detected: int = 0
    matched: int = 0
    time_errors: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 1.0

    @property
    def precision(self) -> float:
        return self.matched / self.detected if self.detected else 1.0

    @property
    def mean_abs_dt(self) -> float:
        return (
            sum(abs(d) for d in self.time_errors) / len(self.time_errors)
            if self.time_errors
            else 0.0
        )

    @property
    def max_abs_dt(self) -> float:
        return max((abs(d) for d in self.time_errors), default=0.0)

    def add(self, other: KindScore) -> None:
        self.truth += other.truth
        self.detected += other.detected
        self.matched += other.matched
        self.time_errors.extend(other.time_errors)


@dataclass(slots=True)
class MatchResult:
    by_kind: dict[str, KindScore]
    missed: list[Ev]
    false: list[Ev]


def match_events(
    truth: Iterable[Ev], detected: Iterable[Ev], tolerance: float = 1.0
) -> MatchResult:
    truth_l, det_l = list(truth), list(detected)
    by_kind: dict[str, KindScore] = {}
    for e in truth_l:
        by_kind.setdefault(e.type, KindScore()).truth += 1
    for e in det_l:
        by_kind.setdefault(e.type, KindScore()).detected += 1
    pairs = sorted(
        (abs(d.t - g.t), gi, di)
        for gi, g in enumerate(truth_l)
        for di, d in enumerate(det_l)
        if g.key == d.key and abs(d.t - g.t) <= tolerance
    )
    used_g: set[int] = set()
    used_d: set[int] = set()
    for _, gi, di in pairs:
        if gi in used_g or di in used_d:
            continue
        used_g.add(gi)
        used_d.add(di)
        sc = by_kind[truth_l[gi].type]
        sc.matched += 1
        sc.time_errors.append(det_l[di].t - truth_l[gi].t)
    missed = [g for i, g in enumerate(truth_l) if i not in used_g]
    false = [d for i, d in enumerate(det_l) if i not in used_d]
    return MatchResult(by_kind, missed, false)


def run_rgb_frames(
    camera: Camera, frames: Iterable[np.ndarray], fps: float, *, batch: int = 1
) -> list[RawEvent]:
    """Analyse RGB frames of a ``fps`` stream as the pipeline would: sample, reduce, process.
    With the camera's detector on, the detector sees the frame in colour (BGR)."""
    core = AnalyticsCore([camera])
    sampler = Sampler(camera.analysis_fps)
    events: list[RawEvent] = []
    pending: list[AnalysisFrame] = []
    colour = camera.detector == "person"
    for i, rgb in enumerate(frames):
        t = i / fps
        if not sampler.take(t):
            continue
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        image = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if colour else None
        pending.append(
            AnalysisFrame(camera.id, t, t, reduce_gray_array(gray, camera.analysis_width), image)
        )
        if len(pending) >= batch:
            for r in core.process(pending):
                events.extend(r.events)
            pending = []
    for r in core.process(pending):
        events.extend(r.events)
    return events


def run_video(camera: Camera, path: Path | str) -> list[RawEvent]:
    """Analyse a video file (decoded by PyAV, as ``hub analyze`` and the sources do): frames
    sampled to the analysis rate, luma reduced from the Y plane, the decoded frame as image."""
    core = AnalyticsCore([camera])
    sampler = Sampler(camera.analysis_fps)
    events: list[RawEvent] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.pts is None or frame.time_base is None:
                continue
            t = float(frame.pts * frame.time_base)
            if not sampler.take(t):
                continue
            luma = reduce_luma(frame, camera.analysis_width)
            for r in core.process([AnalysisFrame(camera.id, t, t, luma, frame)]):
                events.extend(r.events)
    for r in core.process([]):
        events.extend(r.events)
    return events


def to_ev(e: RawEvent) -> Ev:
    return Ev(e.type, e.media_time, e.zone_id, e.line_id, e.direction)
