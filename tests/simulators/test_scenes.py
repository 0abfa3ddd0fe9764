from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest

from simulators.cameras import SCENE_NAMES, build_scene, write_scene_video
from simulators.cameras.geometry import point_in_polygon, segment_crossing
from simulators.cameras.truth import STEP


def test_forward_is_left_to_right_of_directed_line() -> None:
    # Horizontal line drawn left to right: moving down (y grows) is forward.
    assert segment_crossing((0.5, 0.4), (0.5, 0.6), (0.1, 0.5), (0.9, 0.5)) == (0.5, "forward")
    assert segment_crossing((0.5, 0.6), (0.5, 0.4), (0.1, 0.5), (0.9, 0.5)) == (0.5, "backward")
    # Outside the segment's extent: no crossing.
    assert segment_crossing((0.95, 0.4), (0.95, 0.6), (0.1, 0.5), (0.9, 0.5)) is None


@pytest.mark.parametrize("name", SCENE_NAMES)
def test_short_scene_has_every_event_kind(name: str) -> None:
    scene = build_scene(name, width=320, height=180, fps=15, duration=20, seed=3)
    kinds = Counter(e.type for e in scene.truth)
    assert set(kinds) == {"intrusion", "line_crossing", "loitering"}, kinds
    assert [e.t for e in scene.truth] == sorted(e.t for e in scene.truth)
    assert all(0 < e.t < 20 for e in scene.truth)


@pytest.mark.parametrize("name", SCENE_NAMES)
def test_long_scene_scales_and_has_both_directions(name: str) -> None:
    short = build_scene(name, duration=20, seed=0)
    long = build_scene(name, duration=120, seed=0)
    assert len(long.truth) > 3 * len(short.truth)
    assert {e.direction for e in long.truth if e.type == "line_crossing"} == {
        "forward",
        "backward",
    }


def test_truth_matches_the_definitions() -> None:
    scene = build_scene("gate", width=320, height=180, fps=15, duration=60, seed=2)
    actors = {a.id: a for a in scene.actors}
    zones = {z["id"]: z for z in scene.zones}
    for e in scene.truth:
        a = actors[e.actor_id]
        if e.type == "intrusion":
            z = zones[e.zone_id or ""]
            assert z["intrusion"]
            p_now, p_before = a.position(e.t + STEP), a.position(e.t - 2 * STEP)
            assert p_now and point_in_polygon(p_now, z["polygon"])
            assert p_before is None or not point_in_polygon(p_before, z["polygon"])
        elif e.type == "loitering":
            z = zones[e.zone_id or ""]
            # Inside continuously for loiter_seconds before the event.
            for k in range(int(z["loiter_seconds"] / 0.25)):
                p = a.position(e.t - k * 0.25)
                assert p and point_in_polygon(p, z["polygon"])
    # Zones without intrusion never produce intrusion events; near-passers exist (precision).
    assert not any(e.type == "intrusion" and e.zone_id == "bench" for e in scene.truth)
    with_events = {e.actor_id for e in scene.truth}
    assert any(a.id not in with_events for a in scene.actors)


def test_person_size_suits_motion_analysis() -> None:
    from simulators.cameras.actors import person_height

    scene = build_scene("plaza", duration=60, seed=1)
    for a in scene.actors:
        if a.kind != "person":
            continue
        for t in np.arange(a.start, a.end, 0.5):
            p = a.position(float(t))
            assert p is not None
            if 0 <= p[1] <= 1:
                assert 0.1 <= person_height(p[1]) <= 0.3


def test_deterministic_for_a_seed() -> None:
    a = build_scene("crossing", width=160, height=90, fps=5, duration=20, seed=4)
    b = build_scene("crossing", width=160, height=90, fps=5, duration=20, seed=4)
    c = build_scene("crossing", width=160, height=90, fps=5, duration=20, seed=5)
    assert a.truth == b.truth
    assert a.truth != c.truth
    fa, fb = list(a.frames()), list(b.frames())
    assert len(fa) == 100 and fa[0].shape == (90, 160, 3) and fa[0].dtype == np.uint8
    assert all(np.array_equal(x, y) for x, y in zip(fa[::10], fb[::10], strict=True))


def test_frames_show_the_actors() -> None:
    scene = build_scene("street", width=320, height=180, fps=5, duration=20, seed=0)
    frames = list(scene.frames())
    car = next(a for a in scene.actors if a.kind == "vehicle")
    t = (car.start + car.end) / 2
    i = round(t * 5)
    # Where the car stands, the image differs from the same place once it has gone.
    x, y = car.position(i / 5) or (0, 0)
    later = frames[min(len(frames) - 1, round((car.end + 0.5) * 5))]
    px, py = int(x * 320), int(y * 180) - 8
    patch = (slice(py - 6, py + 6), slice(px - 10, px + 10))
    diff = np.abs(frames[i][patch].astype(int) - later[patch].astype(int)).mean()
    assert diff > 20


def test_camera_entry_validates_as_site_camera() -> None:
    from hub.config import Camera

    scene = build_scene("plaza", duration=20)
    cam = Camera.model_validate(
        scene.camera_entry(
            "cam-test-1", name="t", url="rtsp://127.0.0.1:1/x", grid="g", position=[0, 0]
        )
    )
    assert [z.id for z in cam.zones] == ["lawn", "kiosk"] and cam.lines[0].id == "path"
    assert cam.masks


def test_write_scene_video(tmp_path: Path) -> None:
    scene = build_scene("gate", width=320, height=180, fps=10, duration=8, seed=1)
    path = write_scene_video(scene, tmp_path / "gate.mp4")
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264"
        frames = sum(1 for _ in c.decode(s))
    assert frames == 80
    truth = json.loads(path.with_suffix(".truth.json").read_text())
    assert truth["scene"] == "gate" and truth["fps"] == 10 and truth["width"] == 320
    assert truth["events"] == [e.to_dict() for e in scene.truth]
    assert set(truth["events"][0]) >= {"type", "t", "actor_id", "actor_kind", "zone_id"}


@pytest.mark.parametrize("name", SCENE_NAMES)
def test_every_body_part_stands_out_from_the_ground_under_it(name: str) -> None:
    from simulators.cameras import looks

    scene = build_scene(name, width=320, height=180, fps=5, duration=90, seed=7)
    ground = looks.ground_luma(320, 180, scene._template.painter, scene.seed)
    for a in scene.actors:
        grounds = looks._part_grounds(a, ground)
        if a.kind == "person":
            parts = [(looks.LEGS * looks.luma(a.colour), grounds["legs"])]
            parts += [(looks.luma(a.accent), grounds["torso"])]
        else:
            parts = [(looks.luma(a.accent), grounds["body"])]
        for value, under in parts:
            assert looks._blend_share(value, under) <= looks.TOLERANCE, (a.id, a.colour, a.accent)
    # Still varied: many distinct shirts and clothes.
    people = [a for a in scene.actors if a.kind == "person"]
    assert len({a.accent for a in people}) >= min(6, len(people) // 2)


@pytest.mark.parametrize("name", SCENE_NAMES)
def test_stays_in_loitering_zones_are_clearly_short_or_long(name: str) -> None:
    from simulators.cameras.scenes import DWELL_MARGIN, _stays

    scene = build_scene(name, width=320, height=180, fps=5, duration=180, seed=5)
    stays = 0
    for zone in scene.zones:
        if not zone.get("loiter_seconds"):
            continue
        for a in scene.actors:
            for d in _stays(a, zone["polygon"]):
                stays += 1
                assert abs(d - zone["loiter_seconds"]) >= DWELL_MARGIN - 0.06, (a.id, d)
    assert stays >= 4


@pytest.mark.parametrize("name", ["crossing", "street"])
def test_people_keep_clear_of_vehicles_in_the_image(name: str) -> None:
    from simulators.cameras.actors import person_height, vehicle_height

    # A motion blob joins objects closer than about 0.08 of the image height vertically: a
    # walker's head must stay that far below a car's wheels (no scripted occlusions).
    scene = build_scene(name, width=640, height=360, fps=5, duration=300, seed=2)
    people = [a for a in scene.actors if a.kind == "person"]
    cars = [a for a in scene.actors if a.kind == "vehicle"]
    for t in np.arange(0.0, 300.0, 0.2).tolist():
        for c in cars:
            pc = c.position(t)
            if pc is None:
                continue
            cw = 1.2 * vehicle_height(pc[1]) * c.size / c.aspect
            for p in people:
                pp = p.position(t)
                if pp is None or pp[1] > 1.0:
                    continue
                head = pp[1] - 1.03 * person_height(pp[1]) * p.size
                overlap_x = abs(pp[0] - pc[0]) < cw + 0.05
                assert not overlap_x or head - pc[1] >= 0.085, (t, p.id, c.id)
