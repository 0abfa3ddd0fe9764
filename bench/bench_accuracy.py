"""Detection accuracy on long scripted scenes: recall, precision and time error per event kind.

    .venv/bin/python bench/bench_accuracy.py [--minutes 10] [--scenes gate,street] [--seeds 0,1,2]

Each template of ``simulators.cameras.scenes`` is rendered for ``--minutes`` per seed and
analysed directly from its frames (RGB -> luma -> the same core as the pipeline). Events match
the ground truth when type, zone/line and direction agree within 1 s (one-to-one). Target:
recall and precision >= 0.95 per kind, for every seed and over all of them.
"""

from __future__ import annotations

import argparse
import time

from hub.config import Camera
from hub.video.analytics.scoring import Ev, KindScore, match_events, run_rgb_frames, to_ev
from simulators.cameras.scenes import SCENE_NAMES, build_scene


def camera_for(scene: object, analysis_fps: float) -> Camera:
    entry = scene.camera_entry(  # type: ignore[attr-defined]
        "cam-bench", name="bench", url="bench.mp4", grid="g", position=[0.0, 0.0]
    )
    entry["analysis_fps"] = analysis_fps
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
    args = ap.parse_args()

    seeds = [int(s) for s in args.seeds.split(",")]
    total: dict[str, KindScore] = {}
    per_seed: dict[int, dict[str, KindScore]] = {}
    print(
        f"scenes {args.width}x{args.height} @ {args.fps:g} fps, {args.minutes:g} min each, "
        f"analysed at {args.analysis_fps:g} fps, seeds {args.seeds}"
    )
    for seed, name in ((seed, name) for seed in seeds for name in args.scenes.split(",")):
        scene = build_scene(
            name,
            width=args.width,
            height=args.height,
            fps=args.fps,
            duration=args.minutes * 60,
            seed=seed,
        )
        cam = camera_for(scene, args.analysis_fps)
        t0 = time.perf_counter()
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
            ok &= sc.recall >= 0.95 and sc.precision >= 0.95 and sc.max_abs_dt <= 1.0
    print(f"target recall/precision >= 0.95, |dt| <= 1 s: {'met' if ok else 'NOT met'}")


def _row(kind: str, sc: KindScore) -> None:
    print(
        f"   {kind:<14} truth {sc.truth:4d}  detected {sc.detected:4d}  matched {sc.matched:4d}"
        f"  recall {sc.recall:.3f}  precision {sc.precision:.3f}"
        f"  |dt| mean {sc.mean_abs_dt:.2f} s max {sc.max_abs_dt:.2f} s"
    )


if __name__ == "__main__":
    main()
