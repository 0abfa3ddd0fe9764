"""Accuracy on the simulator's scripted scenes, directly from frames and through `hub analyze`.

Events match the ground truth when type, zone/line and direction agree within 1 s, one-to-one.
The acceptance target, recall and precision >= 0.95 per kind, is asserted here over every
template and two seeds (at least 20 events of each kind, so the floor tolerates a single miss),
and measured on long scenes by ``bench/bench_accuracy.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hub.config import Camera, Site
from hub.video.analytics.scoring import Ev, KindScore, match_events, run_rgb_frames, to_ev
from simulators.cameras.scenes import SCENE_NAMES, build_scene, write_scene_video

FLOOR = 0.95
SECONDS = 90.0
SEEDS = (0, 1)
MIN_EVENTS = 20
"""Truth events per kind at least, so that 0.95 allows a miss rather than demanding none."""
TOLERANCE = 1.0
SIZE = {"width": 640, "height": 360, "fps": 15.0}


def _camera(scene, camera_id: str = "cam-acc") -> Camera:
    entry = scene.camera_entry(camera_id, name="acc", url="acc.mp4", grid="g1", position=[0, 0])
    return Camera.model_validate(entry)


def _truth(scene) -> list[Ev]:
    return [Ev(e.type, e.t, e.zone_id, e.line_id, e.direction) for e in scene.truth]


@pytest.mark.slow
def test_all_templates_from_frames() -> None:
    total: dict[str, KindScore] = {}
    report = []
    for seed in SEEDS:
        for name in SCENE_NAMES:
            scene = build_scene(name, duration=SECONDS, seed=seed, **SIZE)
            events = run_rgb_frames(_camera(scene), scene.frames(), scene.fps)
            res = match_events(_truth(scene), [to_ev(e) for e in events], TOLERANCE)
            for kind, sc in res.by_kind.items():
                total.setdefault(kind, KindScore()).add(sc)
            report += [f"{name}/{seed}: missed {m}" for m in res.missed]
            report += [f"{name}/{seed}: false {f}" for f in res.false]
    assert set(total) == {"intrusion", "line_crossing", "loitering"}
    for kind, sc in total.items():
        assert sc.truth >= MIN_EVENTS, (kind, sc.truth)
        assert sc.recall >= FLOOR and sc.precision >= FLOOR, (kind, sc, report)
        assert sc.max_abs_dt <= TOLERANCE


def _site(tmp_path: Path, cam: Camera) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(Site.for_cameras([cam], name="acc").to_yaml(), encoding="utf-8")
    return path


@pytest.mark.slow
def test_cli_on_an_encoded_scene(tmp_path: Path) -> None:
    scene = build_scene("gate", duration=24.0, seed=2, **SIZE)
    video = write_scene_video(scene, tmp_path / "gate.mp4")
    site = _site(tmp_path, _camera(scene))
    args = ["analyze", str(video), "--site", str(site), "--camera", "cam-acc", "--json"]
    proc = subprocess.run(
        [sys.executable, "-m", "hub", *args, "--snapshots", str(tmp_path / "ev")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    events = [r for r in rows if r["kind"] == "event"]
    detected = [
        Ev(r["type"], r["media_time"], r["zone_id"], r["line_id"], r["direction"]) for r in events
    ]
    truth = json.loads(video.with_suffix(".truth.json").read_text())["events"]
    res = match_events(
        [Ev(e["type"], e["t"], e["zone_id"], e["line_id"], e["direction"]) for e in truth],
        detected,
        TOLERANCE,
    )
    assert {e.type for e in detected} == {"intrusion", "line_crossing", "loitering"}
    assert not res.missed and not res.false, (res.missed, res.false)
    assert all((tmp_path / "ev" / r["snapshot"]).is_file() for r in events)
    assert sum(r["kind"] == "frame" for r in rows) == pytest.approx(24.0 * 5, abs=2)
