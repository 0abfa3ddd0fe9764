"""Motion: finds moving objects, ignores masks, noise, lighting drift and soft shadows."""

from __future__ import annotations

import numpy as np
import pytest
from analytics_synth import H, W, background, render

from hub.video.analytics.motion import MotionGroup
from hub.video.analytics.rules import polygon_mask


def _run(frames: list[np.ndarray], mask: np.ndarray | None = None):
    g = MotionGroup(H, W)
    slot = g.add(mask)
    return [g.process([slot], [f])[0] for f in frames]


def _scene(n: int, obj=None, **kw) -> list[np.ndarray]:
    bg = background(1)
    rng = np.random.default_rng(2)
    out = []
    for i in range(n):
        objs = [obj(i)] if obj is not None and obj(i) is not None else []
        out.append(render(bg, objs, rng, **kw))
    return out


def test_moving_object_box_matches_its_pixels() -> None:
    # 0.05 x 0.25 of 256 x 144 = 13 x 36 px, bottom-centre moving right.
    res = _run(_scene(12, lambda i: (0.2 + 0.04 * i, 0.8, 0.05, 0.25) if i >= 4 else None))
    assert all(not r.boxes for r in res[:4])
    for i in range(5, 12):
        (box,) = res[i].boxes
        x, y, w, h = box
        cx = (0.2 + 0.04 * i) * W
        assert abs(x + w / 2 - cx) <= 1.5
        assert abs(y + h - 0.8 * H) <= 1.5
        assert abs(h - 0.25 * H) <= 2
        assert res[i].motion > 0.005


def test_mask_hides_motion_inside_it() -> None:
    mask = 255 - polygon_mask([[[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]], H, W)
    frames = _scene(10, lambda i: (0.1 + 0.03 * i, 0.8, 0.05, 0.25) if i >= 2 else None)
    masked = _run(frames, mask)
    assert all(not r.boxes and r.motion == 0.0 for r in masked)
    assert any(r.boxes for r in _run(frames))  # the same frames without the mask


def test_sensor_noise_gives_no_blobs() -> None:
    res = _run(_scene(30, noise=4.0))
    assert all(not r.boxes for r in res)
    assert max(r.motion for r in res) < 0.001


def test_slow_lighting_drift_gives_no_blobs() -> None:
    bg = background(3)
    rng = np.random.default_rng(0)
    # +25 % brightness over 60 frames (12 s at 5 fps): clouds, dusk, auto exposure.
    frames = [render(bg, [], rng, gain=1.0 + 0.25 * i / 60) for i in range(60)]
    assert all(not r.boxes for r in _run(frames))


def test_soft_moving_shadow_gives_no_blobs() -> None:
    bg = background(4).astype(np.float32)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    rng = np.random.default_rng(0)
    frames = []
    for i in range(40):
        cx = 60 + 1.0 * i  # a cloud shadow crossing slowly, 12 % at its centre
        shade = 1.0 - 0.12 * np.exp(-(((xx - cx) / 50) ** 2 + ((yy - 70) / 40) ** 2))
        img = bg * shade + rng.normal(0, 2, bg.shape)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    assert all(not r.boxes for r in _run(frames))


def test_sudden_global_change_relearns_instead_of_one_huge_blob() -> None:
    bg = background(5)
    rng = np.random.default_rng(0)
    frames = [render(bg, [], rng) for _ in range(5)]
    frames += [render(bg, [], rng, gain=1.6) for _ in range(5)]
    res = _run(frames)
    assert all(not r.boxes for r in res)
    assert res[5].motion > 0.5  # reported as motion, not as objects


def test_first_frame_reports_nothing() -> None:
    (r,) = _run(_scene(1, lambda i: (0.5, 0.8, 0.05, 0.25)))
    assert r.boxes == [] and r.motion == 0.0


@pytest.mark.parametrize("k", [2, 5])
def test_batched_slots_equal_separate_groups(k: int) -> None:
    seqs = [
        _scene(8, lambda i, j=j: (0.1 + 0.05 * i + 0.1 * j, 0.5 + 0.1 * j, 0.06, 0.3))
        for j in range(k)
    ]
    sep = [_run(s) for s in seqs]
    g = MotionGroup(H, W)
    slots = [g.add(None) for _ in range(k)]
    # Slots out of order in one call exercise the gather/scatter path.
    order = list(reversed(range(k)))
    for i in range(8):
        res = g.process([slots[j] for j in order], [seqs[j][i] for j in order])
        for r, j in zip(res, order, strict=True):
            assert r.boxes == sep[j][i].boxes
            assert r.motion == pytest.approx(sep[j][i].motion)


def _ghost_check(bg: np.ndarray):
    from hub.video.analytics.motion import GhostCheck

    g = MotionGroup(H, W)
    slot = g.add(None)
    g.process([slot], [bg])  # the first frame becomes the background
    return GhostCheck(g, slot)


@pytest.mark.parametrize("depth", [0.2, 0.45])
def test_a_still_cloud_shadow_is_lighting(depth: float) -> None:
    """A shadow 20-45 % deep whose edge fades over about 15 pixels, on textured ground."""
    bg = background(6)
    check = _ghost_check(bg)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    dist = np.hypot((xx - 128) / 40, (yy - 72) / 28)
    shade = 1.0 - depth * np.clip(1.6 - dist, 0.0, 1.0)
    frame = np.clip(bg * shade, 0, 255).astype(np.uint8)
    box = (80.0, 38.0, 96.0, 68.0)
    assert check.is_lighting(box, frame)
    assert not check.is_ghost(box, frame)


@pytest.mark.parametrize("value", [95, 220])
def test_a_bag_on_the_ground_is_not_lighting(value: int) -> None:
    """An object ends in a step, even one only a little darker than the ground."""
    bg = background(6)
    check = _ghost_check(bg)
    frame = render(bg, [(0.5, 0.6, 0.06, 0.1)], np.random.default_rng(0), value=value)
    box = (0.47 * W, 0.5 * H, 0.06 * W, 0.1 * H)
    assert not check.is_lighting(box, frame)


def test_relearn_takes_the_next_frame_as_background() -> None:
    """After a turned camera comes back, the background holds parts of the other view: a
    change under the global limit that would stay as blobs for a minute. ``relearn`` drops it."""
    other = background(7)
    frames = _scene(6)
    g = MotionGroup(H, W)
    slot = g.add(None)
    for _ in range(40):  # the turned view, learned into the background
        g.process([slot], [other])
    assert g.process([slot], [frames[0]])[0].boxes, "the leftovers show as blobs"
    g.relearn(slot)
    assert [g.process([slot], [f])[0].boxes for f in frames[1:]] == [[]] * 5
