"""Scripted synthetic camera scenes with ground truth.

A scene is a template (background, zones, lines, masks, lanes of actors) rendered for a given
size, frame rate, duration and seed. ``truth`` lists the events a perfect analytics core would
raise, computed from the actors' exact bottom-centre trajectories (see ``truth.py``).

    scene = build_scene("gate", width=640, height=360, fps=15, duration=20, seed=1)
    for rgb in scene.frames(): ...
    write_scene_video(scene, Path("gate.mp4"))   # + gate.truth.json
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from simulators.cameras import x264
from simulators.cameras.actors import Actor
from simulators.cameras.geometry import point_in_polygon
from simulators.cameras.looks import ground_luma, pick_features, pick_look
from simulators.cameras.render import Cloud, Prop, Renderer, Tamper
from simulators.cameras.templates import TEMPLATES, Template, lanes_for
from simulators.cameras.truth import TruthEvent, compute_truth

SCENE_NAMES: tuple[str, ...] = ("gate", "crossing", "plaza", "street")
SCENE_VERSION = 3
"""Bump whenever templates, actors or drawing change the frames: it keys the encoded-loop cache
(2: contrasting actor colours, people clear of vehicles, unambiguous loitering stays; 3: all the
building windows drawn (a loop bug drew a few); scenes for the detector draw human figures,
``figure.py``)."""

_PERSON_SPEED = (0.15, 0.22)
_VEHICLE_SPEED = (0.35, 0.55)
_END_MARGIN = 0.3
DWELL_MARGIN = 2.0
"""Seconds every stay in a loitering zone keeps from the zone's limit, on either side."""
_DWELL_STEP = 0.05


@dataclass
class Scene:
    name: str
    width: int
    height: int
    fps: float
    duration: float
    seed: int
    zones: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    masks: list[list[list[float]]]
    actors: list[Actor]
    truth: list[TruthEvent]
    _template: Template = field(repr=False)
    detector: str = "off"
    """The camera's ``detector`` (``camera_entry``): the scripted scenes' cameras run motion only,
    the hard scenes' (``hard.py``) the person detector."""
    camera: dict[str, Any] = field(default_factory=dict)
    """More site-file camera settings the scene is made for (``tampering_seconds``...)."""
    sun: tuple[float, float] | None = None
    clouds: list[Cloud] = field(default_factory=list)
    props: list[Prop] = field(default_factory=list)
    tampers: list[Tamper] = field(default_factory=list)

    @property
    def frame_count(self) -> int:
        return round(self.fps * self.duration)

    def frames(self) -> Iterator[npt.NDArray[np.uint8]]:
        """RGB uint8 frames (H x W x 3), ``fps * duration`` of them."""
        renderer = Renderer(
            self.width,
            self.height,
            self._template.painter,
            self._template.trees,
            self.duration,
            self.seed,
            sun=self.sun,
            clouds=self.clouds,
            props=self.props,
            tampers=self.tampers,
            detailed_people=self.detector == "person",
        )
        for i in range(self.frame_count):
            t = i / self.fps
            live = [a for a in self.actors if a.start <= t <= a.end]
            yield renderer.render(t, i, live)

    def camera_entry(self, camera_id: str, **overrides: Any) -> dict[str, Any]:
        """The zones/lines/masks of this scene as a site-file camera entry."""
        entry: dict[str, Any] = {
            "id": camera_id,
            "detector": self.detector,
            **copy.deepcopy(self.camera),
            **overrides,
        }
        for key, value in (("masks", self.masks), ("zones", self.zones), ("lines", self.lines)):
            entry[key] = overrides.get(key, copy.deepcopy(value))
        return entry

    def truth_dict(self) -> dict[str, Any]:
        return {
            "scene": self.name,
            "seed": self.seed,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "duration": self.duration,
            "zones": self.zones,
            "lines": self.lines,
            "masks": self.masks,
            "events": [e.to_dict() for e in self.truth],
        }


def build_scene(
    name: str,
    *,
    width: int = 1280,
    height: int = 720,
    fps: float = 25,
    duration: float = 60.0,
    seed: int = 0,
    detector: str = "off",
) -> Scene:
    """``detector``: the camera's setting for this scene; ``person`` also draws the people as
    human figures the detector finds (the scripts and the truth are the same either way)."""
    if name not in TEMPLATES:
        raise ValueError(f"unknown scene {name!r}; known: {', '.join(SCENE_NAMES)}")
    if width % 2 or height % 2:
        raise ValueError("width and height must be even (yuv420p)")
    template = TEMPLATES[name]
    aspect = width / height
    actors: list[Actor] = []
    ground = ground_luma(width, height, template.painter, seed)
    for li, lane in enumerate(lanes_for(name)):
        rng = np.random.default_rng([seed, li])
        t = float(rng.uniform(0.3, 1.5))
        n = 0
        while True:
            kind, wps = lane.routes[n % len(lane.routes)](rng)
            lo, hi = _PERSON_SPEED if kind == "person" else _VEHICLE_SPEED
            actor = Actor(
                id=f"{name}-{li}-{n:03d}",
                kind=kind,
                start=t,
                waypoints=wps,
                speed=float(rng.uniform(lo, hi)),
                aspect=aspect,
                phase=float(rng.uniform(0, 6.28)),
                size=float(rng.uniform(0.9, 1.1)),
            )
            actor = _clear_dwell(actor, template.zones)
            if actor.end > duration - _END_MARGIN:
                break
            actor.colour, actor.accent = pick_look(rng, actor, ground)
            if kind == "person":
                # From a generator of its own: the lane's scripts stay those of SCENE_VERSION 2.
                features = np.random.default_rng([seed, li, n, 1])
                actor.skin, actor.hair, actor.short_sleeves = pick_features(features)
            actors.append(actor)
            t = actor.end + float(rng.uniform(*lane.gap))
            n += 1
    zones = copy.deepcopy(template.zones)
    lines = copy.deepcopy(template.lines)
    return Scene(
        name=name,
        width=width,
        height=height,
        fps=fps,
        duration=duration,
        seed=seed,
        zones=zones,
        lines=lines,
        masks=copy.deepcopy(template.masks),
        actors=actors,
        truth=compute_truth(actors, zones, lines),
        _template=template,
        detector=detector,
    )


def _stays(actor: Actor, polygon: list[list[float]]) -> list[float]:
    """Seconds of each continuous stay of the actor's bottom-centre in ``polygon``."""
    out: list[float] = []
    entered: float | None = None
    for t in np.arange(actor.start, actor.end + _DWELL_STEP, _DWELL_STEP).tolist():
        p = actor.position(min(t, actor.end))
        inside = p is not None and point_in_polygon(p, polygon)
        if inside and entered is None:
            entered = t
        elif not inside and entered is not None:
            out.append(t - entered)
            entered = None
    if entered is not None:
        out.append(actor.end - entered)
    return out


def _clear_dwell(actor: Actor, zones: list[dict[str, Any]]) -> Actor:
    """Stretch or shorten pauses so every stay in a loitering zone is clearly short or long.

    Walking in and out adds to the scripted pause, so a "short visit" could end a fraction of a
    second under the limit: the truth would hinge on the walking speed. Stays end up at least
    ``DWELL_MARGIN`` seconds away from the limit on their side of it.
    """
    for zone in zones:
        limit = zone.get("loiter_seconds")
        if not limit:
            continue
        for _ in range(4):
            bad = [d for d in _stays(actor, zone["polygon"]) if abs(d - limit) < DWELL_MARGIN]
            if not bad:
                break
            wps = list(actor.waypoints)
            for d in bad:
                inside = [
                    j
                    for j, w in enumerate(wps)
                    if w.pause and point_in_polygon((w.x, w.y), zone["polygon"])
                ]
                if not inside:
                    continue
                if d >= limit:  # meant to loiter: stay longer
                    j = max(inside, key=lambda j: wps[j].pause)
                    wps[j] = replace(wps[j], pause=wps[j].pause + limit + DWELL_MARGIN - d + 0.1)
                else:  # a short visit: cut pauses, longest first
                    cut = d - (limit - DWELL_MARGIN) + 0.1
                    for j in sorted(inside, key=lambda j: -wps[j].pause):
                        take = min(cut, wps[j].pause)
                        wps[j] = replace(wps[j], pause=wps[j].pause - take)
                        cut -= take
            actor = replace(actor, waypoints=wps, _times=[], _points=[])
    return actor


def write_scene_video(scene: Scene, path: Path) -> Path:
    """Encode the scene to an H.264 MP4 and write its truth next to it (``.truth.json``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(scene.fps).limit_denominator(1001)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        x264.configure(stream.codec_context, scene.width, scene.height, scene.fps)
        for i, rgb in enumerate(scene.frames()):
            for packet in stream.encode(x264.to_frame(rgb, i)):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    truth_path = path.with_suffix(".truth.json")
    truth_path.write_text(json.dumps(scene.truth_dict(), ensure_ascii=False, indent=1))
    return path
