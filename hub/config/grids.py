"""The grid hierarchy (网格化管理): district -> streets -> communities -> grids, each grid a
GeoJSON polygon."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from hub.config.common import LonLat, Strict


class GeoPolygon(Strict):
    """A GeoJSON Polygon geometry (lon, lat; WGS84)."""

    type: Literal["Polygon"] = "Polygon"
    coordinates: list[list[LonLat]] = Field(min_length=1)

    @field_validator("coordinates")
    @classmethod
    def _closed_rings(cls, rings: list[list[list[float]]]) -> list[list[list[float]]]:
        for ring in rings:
            if len(ring) < 4:
                raise ValueError("a polygon ring needs at least 4 positions (closed)")
            if ring[0] != ring[-1]:
                raise ValueError("a polygon ring must be closed (first position == last)")
        return rings


class Grid(Strict):
    id: str
    name: str
    geometry: GeoPolygon
    households: int | None = None


class Community(Strict):
    id: str
    name: str
    grids: list[Grid] = Field(default_factory=list)


class Street(Strict):
    id: str
    name: str
    communities: list[Community] = Field(default_factory=list)


class District(Strict):
    id: str
    name: str
    streets: list[Street] = Field(default_factory=list)
