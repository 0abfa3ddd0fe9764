"""The core: batching across cameras changes nothing, cameras come and go, sizes may differ;
light that changes slowly is learned, a bag that stays is not."""

from __future__ import annotations

import random

import numpy as np
import pytest
from analytics_synth import FPS, H, W, background, camera, events, frames, run, walk

from hub.video.analytics import AnalysisFrame, AnalyticsCore, FrameResult

ZONE = {"id": "z", "polygon": [[0.4, 0.4], [0.8, 0.4], [0.8, 0.9], [0.4, 0.9]]}
LINE = {"id": "l", "points": [[0.2, 0.55], [0.8, 0.55]]}


def _cameras_and_frames() -> tuple[list, list[list[AnalysisFrame]]]:
    cams = [camera(id=f"cam-{i}", zones=[ZONE], lines=[LINE]) for i in range(4)]
    seqs = [
        frames("cam-0", [walk(0.0, 6.0, (0.2, 0.7), (0.8, 0.7))], 7.0, seed=1),
        frames("cam-1", [walk(0.5, 5.5, (0.5, 0.3), (0.5, 0.8))], 7.0, seed=2),
        frames(
            "cam-2",
            [walk(0.0, 6.0, (0.1, 0.6), (0.9, 0.6)), walk(1.0, 6.0, (0.9, 0.9), (0.3, 0.5))],
            7.0,
            seed=3,
        ),
        frames("cam-3", [], 7.0, seed=4),
    ]
    return cams, seqs


def _key(r: FrameResult) -> tuple:
    return (
        r.camera_id,
        r.media_time,
        round(r.motion, 9),
        [(o.track_id, o.box, o.zones, o.confidence) for o in r.objects],
        [
            (e.type, e.zone_id, e.line_id, e.direction, e.track_id, e.media_time, e.box)
            for e in r.events
        ],
    )


def _separately() -> dict[str, list[tuple]]:
    cams, seqs = _cameras_and_frames()
    out = {}
    for cam, seq in zip(cams, seqs, strict=True):
        core = AnalyticsCore([cam])
        out[cam.id] = [_key(r) for f in seq for r in core.process([f])]
    return out


def test_results_identical_when_batched_across_cameras() -> None:
    expected = _separately()
    assert sum(len(k[4]) for keys in expected.values() for k in keys) >= 3  # events happen
    cams, seqs = _cameras_and_frames()
    core = AnalyticsCore(cams)
    got: dict[str, list[tuple]] = {c.id: [] for c in cams}
    rng = random.Random(0)
    i = 0
    n = len(seqs[0])
    while i < n:
        # Batches of 1-3 frames per camera, cameras shuffled, frames of a camera out of order.
        step = rng.randint(1, 3)
        batch = [f for seq in seqs for f in seq[i : i + step]]
        rng.shuffle(batch)
        results = core.process(batch)
        assert [(r.camera_id, r.media_time) for r in results] == [
            (f.camera_id, f.media_time) for f in batch
        ]
        for r in sorted(results, key=lambda r: r.media_time):
            got[r.camera_id].append(_key(r))
        i += step
    assert got == expected


def test_unknown_camera_gets_an_empty_result() -> None:
    core = AnalyticsCore([camera()])
    (f,) = frames("cam-other", [], 0.2)
    (r,) = core.process([f])
    assert r.camera_id == "cam-other" and r.objects == [] and r.events == []


def test_remove_and_readd_camera_resets_its_state() -> None:
    cam = camera(zones=[ZONE])
    seq = frames(cam.id, [walk(0.0, 6.0, (0.2, 0.7), (0.8, 0.7))], 7.0)
    core = AnalyticsCore([cam])
    first = [e for f in seq for r in core.process([f]) for e in r.events]
    core.remove_camera(cam.id)
    assert core.camera_ids == []
    core.add_camera(cam)
    again = [e for f in seq for r in core.process([f]) for e in r.events]
    assert [(e.type, e.media_time) for e in first] == [(e.type, e.media_time) for e in again]


def test_cameras_of_different_sizes_in_one_batch() -> None:
    import cv2

    cams, seqs = _cameras_and_frames()
    small = [
        AnalysisFrame(f.camera_id, f.media_time, f.wall_time, cv2.resize(f.luma, (128, 72)))
        for f in seqs[0]
    ]
    core = AnalyticsCore([cams[0].model_copy(update={"analysis_width": 128}), cams[1]])
    evs = []
    for a, b in zip(small, seqs[1], strict=True):
        for r in core.process([a, b]):
            evs.extend((r.camera_id, e.type) for e in r.events)
    assert ("cam-0", "intrusion") in evs and ("cam-1", "line_crossing") in evs


def test_confidence_is_bounded() -> None:
    cams, seqs = _cameras_and_frames()
    core = AnalyticsCore(cams[:1])
    confs = [o.confidence for f in seqs[0] for r in core.process([f]) for o in r.objects]
    assert confs and all(0.0 <= c <= 1.0 for c in confs)
    assert max(confs) == pytest.approx(1.0, abs=0.2)


STAY = {"id": "s", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]], "intrusion": False,
        "abandoned_seconds": 10}  # fmt: skip


def _spreading_shade(grow: float, duration: float = 40.0) -> list[AnalysisFrame]:
    """A cloud's soft shadow spreading over the ground for ``grow`` s from 2 s, then staying."""
    bg = background(6)
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    out = []
    for i in range(round(duration * FPS)):
        t = i / FPS
        k = min(1.0, max(0.0, (t - 2.0) / grow))
        dist = np.hypot((xx - 128) / 40, (yy - 60) / 28) / max(k, 1e-3)
        shade = 1.0 - 0.45 * np.clip(1.6 - dist, 0.0, 1.0) if k > 0 else 1.0
        img = np.clip(bg * shade + rng.normal(0, 2.0, bg.shape), 0, 255).astype(np.uint8)
        out.append(AnalysisFrame("cam-test", t, 1000.0 + t, img))
    return out


@pytest.mark.parametrize("grow", [2.0, 4.0])
def test_a_light_change_that_spreads_is_no_abandoned_object(grow: float) -> None:
    # Growing, it is not still when a new blob is first checked for light; it is later.
    results = run(camera(zones=[STAY]), _spreading_shade(grow))
    assert not [e for e in events(results) if e.type == "abandoned_object"]


def test_a_bag_left_still_is_an_abandoned_object_however_long_it_stays() -> None:
    bag = walk(2.0, 40.0, (0.5, 0.7), (0.5, 0.7), size=(0.05, 0.08))
    results = run(camera(zones=[STAY]), frames("cam-test", [bag], 40.0, seed=6))
    found = [e for e in events(results) if e.type == "abandoned_object"]
    assert len(found) == 1 and abs(found[0].media_time - 12.0) <= 1.0
    assert any(o.kind == "unknown" for o in results[-1].objects), "still there at the end"
