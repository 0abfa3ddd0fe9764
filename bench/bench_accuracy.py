"""Detection accuracy on long scripted scenes: recall, precision and time error per event kind.

    .venv/bin/python bench/bench_accuracy.py [--minutes 10] [--scenes gate,street] [--seeds 0,1,2]
    .venv/bin/python bench/bench_accuracy.py --detector person     # the easy scenes, detector on
    .venv/bin/python bench/bench_accuracy.py --hard [--minutes 5] [--seeds 0,1]

Each template of ``simulators.cameras.scenes`` is rendered for ``--minutes`` per seed and
analysed directly from its frames (RGB -> luma -> the same core as the pipeline). Events match
the ground truth when type, zone/line and direction agree within 1 s (one-to-one). Target:
recall and precision >= 0.95 per kind, for every seed and over all of them.

``--hard``: the hard scene (``simulators.cameras.hard``: sun shadows, cloud shadows, groups,
occlusion behind a parked van, clothes of the ground's colour, a two-minute loiterer, a crowd,
a bag left behind, a covered or turned camera), ``--minutes`` rounded up to whole 150 s
episodes, encoded to H.264 at the simulator's bit rate and decoded by PyAV before analysis,
camera ``detector: person``. Target: recall and precision >= 0.9 per kind, |dt| <= 1 s.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from hub.config import Camera
from hub.video.analytics.scoring import (
    Ev,
    KindScore,
    match_events,
    run_rgb_frames,
    run_video,
    to_ev,
)
from simulators.cameras.hard import EPISODE, build_hard_scene
from simulators.cameras.scenes import SCENE_NAMES, Scene, build_scene, write_scene_video


def camera_for(scene: Scene, analysis_fps: float, detector: str | None = None) -> Camera:
    entry = scene.camera_entry(
        "cam-bench", name="bench", url="bench.mp4", grid="g", position=[0.0, 0.0]
    )
    entry["analysis_fps"] = analysis_fps
    if detector is not None:
        entry["detector"] = detector
    return Camera.model_validate(entry)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--scenes", default=",".join(SCENE_NAMES))
    ap.add_argument("--seeds", default="0", help="comma-separated scene seeds")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--fps", type=float, default=15.0)
    ap.add_argument("--analysis-fps", type=float, default=5.0)
    ap.add_argument("--verbose", action="store_true", help="list missed and false events")
    ap.add_argument("--detector", choices=("off", "person"), help="override the scenes' camera")
    ap.add_argument("--hard", action="store_true", help="the hard scene through H.264")
    args = ap.parse_args()

    seeds = [int(s) for s in args.seeds.split(",")]
    total: dict[str, KindScore] = {}
    per_seed: dict[int, dict[str, KindScore]] = {}
    target = 0.9 if args.hard else 0.95
    episodes = max(1, math.ceil(args.minutes * 60 / EPISODE - 1e-9))
    names = ["hard"] if args.hard else args.scenes.split(",")
    minutes = episodes * EPISODE / 60 if args.hard else args.minutes
    print(
        f"scenes {args.width}x{args.height} @ {args.fps:g} fps, {minutes:g} min each, "
        f"analysed at {args.analysis_fps:g} fps, seeds {args.seeds}"
        + (", through H.264, detector person" if args.hard else "")
        + (f", detector {args.detector}" if args.detector else "")
    )
    tmp = tempfile.TemporaryDirectory(prefix="bench-acc-")
    for seed, name in ((seed, name) for seed in seeds for name in names):
        t0 = time.perf_counter()
        if args.hard:
            scene = build_hard_scene(
                width=args.width, height=args.height, fps=args.fps, episodes=episodes, seed=seed
            )
            video = write_scene_video(scene, Path(tmp.name) / f"hard-{seed}.mp4")
            cam = camera_for(scene, args.analysis_fps, args.detector)
            encoded = time.perf_counter() - t0
            t0 = time.perf_counter()
            events = run_video(cam, video)
            print(f"   rendered and encoded in {encoded:.1f} s ({video.stat().st_size} bytes)")
        else:
            scene = build_scene(
                name,
                width=args.width,
                height=args.height,
                fps=args.fps,
                duration=args.minutes * 60,
                seed=seed,
            )
            cam = camera_for(scene, args.analysis_fps, args.detector)
            events = run_rgb_frames(cam, scene.frames(), scene.fps)
        elapsed = time.perf_counter() - t0
        truth = [Ev(e.type, e.t, e.zone_id, e.line_id, e.direction) for e in scene.truth]
        res = match_events(truth, [to_ev(e) for e in events])
        print(
            f"== {name} seed {seed}: {len(truth)} truth, {len(events)} detected ({elapsed:.1f} s)"
        )
        for kind, sc in sorted(res.by_kind.items()):
            _row(kind, sc)
            total.setdefault(kind, KindScore()).add(sc)
            per_seed.setdefault(seed, {}).setdefault(kind, KindScore()).add(sc)
        if args.verbose:
            for m in res.missed:
                print(f"   missed {m}")
            for f in res.false:
                print(f"   false  {f}")
    ok = True
    for label, scores in [*((f"seed {s}", per_seed[s]) for s in seeds), ("all seeds", total)]:
        print(f"== all scenes, {label}")
        for kind, sc in sorted(scores.items()):
            _row(kind, sc)
            ok &= sc.recall >= target and sc.precision >= target and sc.max_abs_dt <= 1.0
    tmp.cleanup()
    print(f"target recall/precision >= {target:g}, |dt| <= 1 s: {'met' if ok else 'NOT met'}")


def _row(kind: str, sc: KindScore) -> None:
    print(
        f"   {kind:<14} truth {sc.truth:4d}  detected {sc.detected:4d}  matched {sc.matched:4d}"
        f"  recall {sc.recall:.3f}  precision {sc.precision:.3f}"
        f"  |dt| mean {sc.mean_abs_dt:.2f} s max {sc.max_abs_dt:.2f} s"
    )


if __name__ == "__main__":
    main()
