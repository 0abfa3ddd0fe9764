"""Cameras: where they are and look, and the zones and lines analysed in their image."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from hub.config.common import LonLat, NormPoint, Strict, check_norm

ObjectFilter = Literal["any", "person", "vehicle"]
"""Which objects a zone or line counts when the camera's detector is on: ``any`` is people and
vehicles (unclassified motion, a swaying tree or a shadow, never counts); with the detector off
every moving object counts."""


class Zone(Strict):
    """A polygon in the image. An object is in the zone when its bottom-centre is inside."""

    id: str
    name: str = ""
    polygon: list[NormPoint] = Field(min_length=3)
    intrusion: bool = True
    """Raise an intrusion event when an object enters."""
    loiter_seconds: float | None = Field(default=None, gt=0)
    """Raise a loitering event when one object dwells longer than this. None: off."""
    min_object_size: float = Field(default=0.0, ge=0, le=1)
    """Smallest object height, as a fraction of the image height, that counts."""
    inertia_frames: int = Field(default=2, ge=1, le=50)
    """Analysed frames an object must be inside before it counts as entered."""
    cooldown_seconds: float = Field(default=5.0, ge=0)
    """After an event in this zone, further events of the same kind wait this long."""
    objects: ObjectFilter = "any"
    crowd_people: int | None = Field(default=None, ge=2, le=10_000)
    """Raise a crowd event (人员聚集) when at least this many people are in the zone for
    ``crowd_seconds``. None: off."""
    crowd_seconds: float = Field(default=30.0, gt=0, le=3600)
    abandoned_seconds: float | None = Field(default=None, gt=0, le=86_400)
    """Raise an abandoned-object event (遗留物) when an object that is neither a person nor a
    vehicle stays still in the zone this long. None: off."""
    parking_seconds: float | None = Field(default=None, gt=0, le=86_400)
    """Raise an illegal-parking event (违停) when a vehicle stays still in the zone this long.
    None: off."""

    _v = field_validator("polygon")(classmethod(lambda cls, v: check_norm(v)))


Direction = Literal["forward", "backward"]
_BOTH_WAYS: tuple[Direction, ...] = ("forward", "backward")


class Line(Strict):
    """A tripwire from ``points[0]`` to ``points[1]``.

    ``forward`` is a crossing from the left of the directed line to its right, in image
    coordinates (y down): for a line drawn left-to-right, forward means moving downwards.
    """

    id: str
    name: str = ""
    points: list[NormPoint] = Field(min_length=2, max_length=2)
    directions: list[Direction] = Field(default_factory=lambda: list(_BOTH_WAYS), min_length=1)
    min_object_size: float = Field(default=0.0, ge=0, le=1)
    cooldown_seconds: float = Field(default=0.0, ge=0)
    objects: ObjectFilter = "any"

    _v = field_validator("points")(classmethod(lambda cls, v: check_norm(v)))


WHIP_URL = "whip://"
"""The ``url`` of a camera that publishes to the hub over WHIP (``POST /api/whip/<id>``)."""


class Camera(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")
    name: str
    url: str
    grid: str
    position: LonLat
    heading: float | None = Field(default=None, ge=0, lt=360)
    """Compass direction the camera faces, degrees; None: unknown/dome."""
    fov_degrees: float = Field(default=90.0, gt=0, le=360)
    """Horizontal field of view around ``heading`` (ignored for a dome: it sees all round)."""
    view_distance_m: float = Field(default=150.0, gt=0)
    """How far the camera usefully sees; linkage only offers cameras within this distance."""
    analysis_fps: float = Field(default=5.0, gt=0, le=30)
    keyframes_only: bool | None = None
    """Decode keyframes only. None: automatic, on when analysis_fps <= 1."""
    analysis_width: int = Field(default=256, ge=64, le=1280)
    detector: Literal["person", "off"] = "person"
    """``person``: a person detector confirms and classifies what moves (people, vehicles by
    shape and motion, the rest ignored by zones and lines). ``off``: every moving blob is an
    object (cheaper; for scenes without people or machines without CPU to spare)."""
    detect_fps: float = Field(default=5.0, gt=0, le=30)
    """Most detector looks per second (never more than ``analysis_fps``); it only looks while
    something moves or a person is tracked, and once every 20 s on a still scene."""
    masks: list[list[NormPoint]] = Field(default_factory=list)
    """Polygons whose motion is ignored (trees, clocks, roads outside the scene)."""
    zones: list[Zone] = Field(default_factory=list)
    lines: list[Line] = Field(default_factory=list)
    tampering: bool = True
    """Detect camera tampering (遮挡/失焦/移位/冻结): covered, defocused, moved, frozen."""
    tampering_seconds: float = Field(default=5.0, ge=1, le=600)
    """How long the picture must stay tampered before the event is raised."""
    fire: bool = False
    """Flame heuristic (火焰, colour + flicker rules, not a trained model). Needs colour frames."""
    smoke: bool = False
    """Smoke heuristic (烟雾, growing grey haze that lowers contrast). Needs colour frames."""
    fire_seconds: float = Field(default=3.0, ge=0.5, le=600)
    """How long flames must persist before the fire event is raised."""
    smoke_seconds: float = Field(default=10.0, ge=1, le=600)
    """How long smoke must persist (without shrinking away) before the event is raised."""
    enabled: bool = True
    sub_url: str | None = None
    """The camera's sub stream (small, low bit rate): small wall tiles play it. None: none."""
    analysis_stream: Literal["main", "sub"] = "main"
    """Which stream analytics decodes (``sub`` needs ``sub_url``)."""

    kind: Literal["fixed", "drone", "vehicle"] = "fixed"
    """A drone or a camera vehicle moves: its position comes from its telemetry."""

    @field_validator("url", "sub_url")
    @classmethod
    def _url_scheme(cls, v: str | None) -> str | None:
        if v is None or v == WHIP_URL:
            return v
        if not (v.startswith(("rtsp://", "rtsps://", "file://", "/")) or "://" not in v):
            raise ValueError(f"url must be rtsp://, rtsps://, file://, a local path or {WHIP_URL}")
        return v

    @model_validator(mode="after")
    def _sub_for_analysis(self) -> Camera:
        if self.analysis_stream == "sub" and not self.sub_url:
            raise ValueError("analysis_stream: sub needs a sub_url")
        if self.sub_url == WHIP_URL or (self.published and self.sub_url):
            raise ValueError(f"a camera that publishes ({WHIP_URL}) has one stream: no sub_url")
        return self

    @property
    def published(self) -> bool:
        """The unit publishes its video to the hub (WHIP) instead of the hub pulling it."""
        return self.url == WHIP_URL

    @property
    def analysis_url(self) -> str:
        """The URL analytics opens (``analysis_stream``)."""
        return self.sub_url if self.analysis_stream == "sub" and self.sub_url else self.url

    @model_validator(mode="after")
    def _unique_ids(self) -> Camera:
        ids = [z.id for z in self.zones] + [ln.id for ln in self.lines]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"zone/line ids must be unique within a camera: {sorted(dup)}")
        return self

    @property
    def decode_keyframes_only(self) -> bool:
        return self.keyframes_only if self.keyframes_only is not None else self.analysis_fps <= 1
