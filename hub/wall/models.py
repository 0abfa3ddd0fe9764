"""Typed records of the wall: saved layouts (预案) and tours (轮巡), with their input bounds.

A **layout** is a named wall arrangement: the tile grid and the camera on each tile (and which of
its streams the tile plays). A **tour** cycles cameras through tiles: each group names tiles of
the wall, the cameras that take turns on them and how long each turn lasts (dwell). With ``n``
tiles and cameras ``c0, c1, ...`` a group shows ``c0..c(n-1)`` first, then the next ``n``, and
wraps around.

Bounds (checked on input, 422 beyond them): names 1..64 characters, at most 64 tiles, at most 256
cameras per tour, dwell 5..3600 s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_NAME = 64
MAX_TILES = 64
MAX_TOUR_CAMERAS = 256
MIN_DWELL_SECONDS = 5
MAX_DWELL_SECONDS = 3600
MAX_GROUPS = 16
MAX_SAVED = 500
"""Layouts, or tours, kept on one hub: a bound on what a runaway client can store."""

WallGrid = Literal["1", "4", "9", "16", "1+5"]
"""The wall's tile arrangements (as the UI's layout buttons name them)."""
StreamChoice = Literal["auto", "main", "sub"]
"""``auto``: a small tile plays the sub stream, a single enlarged one the main stream."""

Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
CameraId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")]
TileIndex = Annotated[int, Field(ge=0, lt=MAX_TILES)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TileSpec(_In):
    camera_id: CameraId | None = None
    stream: StreamChoice = "auto"


class LayoutIn(_In):
    """A layout as a client saves it."""

    name: Name
    grid: WallGrid
    tiles: list[TileSpec] = Field(default_factory=list, max_length=MAX_TILES)

    @field_validator("name")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("name must not be blank")
        return v


class TourGroup(_In):
    tiles: list[TileIndex] = Field(min_length=1, max_length=MAX_TILES)
    """Tile positions (0-based) the group's cameras take turns on."""
    cameras: list[CameraId] = Field(min_length=1, max_length=MAX_TOUR_CAMERAS)
    dwell_seconds: int = Field(ge=MIN_DWELL_SECONDS, le=MAX_DWELL_SECONDS)
    """How long each turn lasts."""

    @field_validator("tiles")
    @classmethod
    def _unique_tiles(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("a tile appears twice in the group")
        return v


class TourIn(_In):
    """A tour as a client saves it."""

    name: Name
    grid: WallGrid
    groups: list[TourGroup] = Field(min_length=1, max_length=MAX_GROUPS)

    _strip = field_validator("name")(classmethod(lambda cls, v: LayoutIn._strip(v)))

    @model_validator(mode="after")
    def _bounds(self) -> TourIn:
        if sum(len(g.cameras) for g in self.groups) > MAX_TOUR_CAMERAS:
            raise ValueError(f"a tour cycles at most {MAX_TOUR_CAMERAS} cameras")
        seen: set[int] = set()
        for g in self.groups:
            if seen & set(g.tiles):
                raise ValueError("a tile belongs to two groups")
            seen |= set(g.tiles)
        return self

    def camera_ids(self) -> set[str]:
        return {c for g in self.groups for c in g.cameras}


class _Out(BaseModel):
    model_config = ConfigDict(
        json_schema_serialization_defaults_required=True, use_attribute_docstrings=True
    )


class Layout(LayoutIn, _Out):
    """A saved layout (预案)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_serialization_defaults_required=True,
        use_attribute_docstrings=True,
    )
    id: int
    updated_by: str
    updated_at: datetime


class Tour(TourIn, _Out):
    """A saved tour (轮巡)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_serialization_defaults_required=True,
        use_attribute_docstrings=True,
    )
    id: int
    updated_by: str
    updated_at: datetime


def layout_cameras(body: LayoutIn) -> set[str]:
    return {t.camera_id for t in body.tiles if t.camera_id is not None}
