"""Shapes the site file's parts share: strict models, image points, WGS84 positions."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

NormPoint = Annotated[list[float], Field(min_length=2, max_length=2)]
"""A point in normalised image coordinates: x and y in 0..1, origin top-left, y down."""


def _check_lonlat(p: list[float]) -> list[float]:
    lon, lat = p
    # NaN fails both comparisons; infinities fail the bounds.
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ValueError(f"({lon}, {lat}) is not a WGS84 longitude, latitude")
    return p


LonLat = Annotated[list[float], Field(min_length=2, max_length=2), AfterValidator(_check_lonlat)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_norm(points: list[list[float]]) -> list[list[float]]:
    for x, y in points:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"point ({x}, {y}) is outside the normalised range 0..1")
    return points
