"""Cameras: where they are and look, and the zones and lines analysed in their image."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from hub.config.common import LonLat, NormPoint, Strict, check_norm


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

    _v = field_validator("points")(classmethod(lambda cls, v: check_norm(v)))


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
    masks: list[list[NormPoint]] = Field(default_factory=list)
    """Polygons whose motion is ignored (trees, clocks, roads outside the scene)."""
    zones: list[Zone] = Field(default_factory=list)
    lines: list[Line] = Field(default_factory=list)
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _url_scheme(cls, v: str) -> str:
        if not (v.startswith(("rtsp://", "rtsps://", "file://", "/")) or "://" not in v):
            raise ValueError("url must be rtsp://, rtsps://, file:// or a local path")
        return v

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
