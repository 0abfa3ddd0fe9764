"""The core with a person detector: what it counts, classes, batching and the look budget.

The detector here is a stand-in that finds the synthetic scenes' bright shapes and calls the
tall ones people (the real model is tested on real footage: test_detector, test_footage), so
these tests pin the core's wiring, not the model.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import pytest
from analytics_synth import camera, events, frames, run, walk

from hub.video.analytics import AnalyticsCore
from hub.video.analytics.detector import Detection

ZONE = {"id": "z", "polygon": [[0.4, 0.3], [0.9, 0.3], [0.9, 0.95], [0.4, 0.95]]}


class ShapeDetector:
    """Bright tall shapes are people; blind to everything when ``blind``."""

    def __init__(self, blind: bool = False) -> None:
        self.blind = blind
        self.calls: list[int] = []

    def detect(self, crops: Sequence[np.ndarray], min_score: float = 0.2) -> list[list[Detection]]:
        self.calls.append(len(crops))
        out = []
        for c in crops:
            found = []
            if not self.blind:
                grey = cv2.cvtColor(np.ascontiguousarray(c), cv2.COLOR_BGR2GRAY)
                n, _, stats, _ = cv2.connectedComponentsWithStats((grey > 200).astype(np.uint8))
                for x, y, w, h, area in stats[1:n]:
                    if area >= 12 and h > 1.3 * w:
                        found.append(Detection((float(x), float(y), float(w), float(h)), 0.9))
            out.append(found)
        return out


def _person_cam(**kw: Any):
    return camera(detector="person", **kw)


def _run(cam: Any, fs: list[Any], det: ShapeDetector) -> list[Any]:
    core = AnalyticsCore([cam], detector=lambda: det)  # type: ignore[arg-type,return-value]
    return [r for f in fs for r in core.process([f])]


def test_a_detected_person_entering_a_zone_is_one_intrusion() -> None:
    fs = frames("cam-test", [walk(0.0, 6.0, (0.1, 0.8), (0.8, 0.8))], 7.0)
    results = _run(_person_cam(zones=[ZONE]), fs, ShapeDetector())
    evs = events(results)
    assert [e.type for e in evs] == ["intrusion"]
    # Enters at x = 0.4: t = 6 * 0.3 / 0.7 = 2.57 s.
    assert abs(evs[0].media_time - 2.57) <= 0.5
    people = {o.track_id for r in results for o in r.objects if o.kind == "person"}
    assert len(people) == 1
    # The only other object: the ghost the person leaves where the stream started, unknown.
    assert {o.kind for r in results for o in r.objects} <= {"person", "unknown"}


@pytest.mark.parametrize(("objects", "raised"), [("person", 0), ("vehicle", 1), ("any", 1)])
def test_zones_count_the_classes_they_ask_for(objects: str, raised: int) -> None:
    car = walk(0.0, 4.0, (0.05, 0.8), (0.95, 0.8), size=(0.18, 0.12))
    fs = frames("cam-test", [car], 5.0)
    zone = {**ZONE, "objects": objects}
    results = _run(_person_cam(zones=[zone]), fs, ShapeDetector())
    assert len(events(results)) == raised
    assert "vehicle" in {o.kind for r in results for o in r.objects}


def test_what_the_detector_does_not_confirm_raises_nothing() -> None:
    # A tall moving shape the detector does not take for a person: a shadow, a swaying sign.
    fs = frames("cam-test", [walk(0.0, 6.0, (0.1, 0.8), (0.8, 0.8))], 7.0)
    assert events(_run(_person_cam(zones=[ZONE]), fs, ShapeDetector(blind=True))) == []


def test_a_model_that_cannot_load_falls_back_to_motion() -> None:
    def broken() -> Any:
        raise RuntimeError("no model")

    fs = frames("cam-test", [walk(0.0, 6.0, (0.1, 0.8), (0.8, 0.8))], 7.0)
    core = AnalyticsCore([_person_cam(zones=[ZONE])], detector=broken)
    evs = [e for f in fs for r in core.process([f]) for e in r.events]
    assert [e.type for e in evs] == ["intrusion"]
    assert evs == events(run(camera(zones=[ZONE]), fs)) or len(evs) == 1


def test_crops_of_all_cameras_go_through_the_model_together() -> None:
    cams = [_person_cam(id=f"cam-{i}", zones=[ZONE]) for i in range(3)]
    seqs = [
        frames(c.id, [walk(0.0, 6.0, (0.1 + 0.1 * i, 0.8), (0.8, 0.8))], 7.0, seed=i)
        for i, c in enumerate(cams)
    ]
    det = ShapeDetector()
    core = AnalyticsCore(cams, detector=lambda: det)  # type: ignore[arg-type,return-value]
    for k in range(len(seqs[0])):
        core.process([s[k] for s in seqs])
    assert len(det.calls) <= len(seqs[0]), "one forward pass per round, not one per camera"
    assert max(det.calls) >= 3


def test_looks_keep_to_the_budget_and_idle_cameras_are_checked_rarely() -> None:
    fs = frames("cam-test", [walk(0.0, 6.0, (0.1, 0.8), (0.8, 0.8))], 7.0)
    det = ShapeDetector()
    _run(_person_cam(zones=[ZONE], detect_fps=1.0), fs, det)
    assert 6 <= len(det.calls) <= 8, det.calls  # about once a second over 7 s
    idle = ShapeDetector()
    _run(_person_cam(), frames("cam-test", [], 30.0), idle)
    assert len(idle.calls) == 2, "at the start, then every 20 s while nothing moves"


class SlowDetector(ShapeDetector):
    def __init__(self, seconds_per_crop: float) -> None:
        super().__init__()
        self.seconds = seconds_per_crop

    def detect(self, crops: Sequence[np.ndarray], min_score: float = 0.2) -> list[list[Detection]]:
        time.sleep(self.seconds * len(crops))
        return super().detect(crops, min_score)


def test_under_load_looks_are_shared_fairly_and_rounds_stay_short() -> None:
    cams = [_person_cam(id=f"cam-{i}", zones=[ZONE]) for i in range(6)]
    seqs = [
        frames(c.id, [walk(0.0, 8.0, (0.1, 0.8), (0.9, 0.8))], 8.0, seed=i)
        for i, c in enumerate(cams)
    ]
    det = SlowDetector(0.02)
    core = AnalyticsCore(cams, detector=lambda: det, detector_share=0.3)  # type: ignore[arg-type,return-value]
    looked: dict[str, int] = {c.id: 0 for c in cams}
    longest = 0.0
    for k in range(len(seqs[0])):
        t0 = time.perf_counter()
        before = {cid: core._cams[cid].last_look for cid in looked}
        core.process([s[k] for s in seqs])
        longest = max(longest, time.perf_counter() - t0)
        for cid in looked:
            looked[cid] += core._cams[cid].last_look != before[cid]
        time.sleep(0.01)
    assert core.stats.deferred > 0, "6 busy cameras want more than 30 % of the time"
    assert min(looked.values()) >= 0.5 * max(looked.values()), looked
    # A round takes at most the burst plus one look's crops (the estimate lags the real cost).
    assert longest < 0.25 + 0.2, longest


def test_without_a_share_every_due_look_happens() -> None:
    cams = [_person_cam(id=f"cam-{i}", zones=[ZONE]) for i in range(3)]
    seqs = [
        frames(c.id, [walk(0.0, 4.0, (0.1, 0.8), (0.9, 0.8))], 4.0, seed=i)
        for i, c in enumerate(cams)
    ]
    core = AnalyticsCore(cams, detector=ShapeDetector)  # type: ignore[arg-type]
    for k in range(len(seqs[0])):
        core.process([s[k] for s in seqs])
    assert core.stats.deferred == 0
    assert core.stats.looks >= 3 * (len(seqs[0]) - 2)
