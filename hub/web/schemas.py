"""Response models shared by the API routes and the WebSocket stream: the site, cameras and
detection events (built in :mod:`hub.web.serialize`).

They are what ``/api/openapi.json`` describes, and so what the UI's types are generated from
(``scripts/gen-ui-types.sh`` -> ``hub/web/ui/src/api-types.ts``). Models of one router live
next to it (``hub/web/routes/*.py``); they derive from :class:`Out` too.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from hub.bus.contracts import CameraHealth, RecordedEvent
from hub.config import Direction, GeoPolygon, LonLat, NormPoint


class Out(BaseModel):
    """A response body. Every field is always in the JSON (``null`` where it has no value), so
    the OpenAPI document marks every field required, defaults or not; a field's docstring is
    its description there (and in the UI's generated types)."""

    model_config = ConfigDict(
        json_schema_serialization_defaults_required=True, use_attribute_docstrings=True
    )


# -- the site --------------------------------------------------------------------------------


class GeometryOut(GeoPolygon, Out):
    """A GeoJSON Polygon (lon, lat; WGS84)."""


class GridOut(Out):
    id: str
    name: str
    camera_ids: list[str]
    households: int | None
    geometry: GeometryOut


class CommunityOut(Out):
    id: str
    name: str
    grids: list[GridOut]


class StreetOut(Out):
    id: str
    name: str
    communities: list[CommunityOut]


class DistrictOut(Out):
    id: str
    name: str
    streets: list[StreetOut]


class SiteOut(Out):
    name: str
    timezone: str
    """The IANA zone the site's local times are shown in."""
    district: DistrictOut


# -- cameras ---------------------------------------------------------------------------------


class CameraHealthOut(CameraHealth, Out):
    """A camera's health figures (the bus contract ``CameraHealth``)."""


class ZoneOut(Out):
    id: str
    name: str
    polygon: list[NormPoint]
    intrusion: bool
    loiter_seconds: float | None


class LineOut(Out):
    id: str
    name: str
    points: list[NormPoint]
    directions: list[Direction]


class CameraOut(Out):
    """A camera without its URL: that may hold credentials and never leaves the hub."""

    id: str
    name: str
    grid_id: str
    community_id: str
    street_id: str
    position: LonLat
    heading: float | None
    analysis_fps: float
    enabled: bool
    sub_stream: bool = False
    """Whether the camera has a sub stream (``/api/live/{id}?stream=sub``; small tiles play it)."""
    analysis_stream: Literal["main", "sub"] = "main"
    kind: Literal["fixed", "drone", "vehicle"] = "fixed"
    """A drone or a camera vehicle moves: ``/api/units`` and the ``unit`` messages say where."""
    published: bool = False
    """The unit publishes its video to the hub (WHIP) rather than the hub pulling it."""
    zones: list[ZoneOut]
    lines: list[LineOut]
    health: CameraHealthOut


# -- detection events ------------------------------------------------------------------------


class EventOut(RecordedEvent, Out):
    """A recorded detection event as the wall shows it (REST and the WebSocket ``event``)."""

    camera_name: str
    """The camera's name, or its id when the site file no longer has it."""
    snapshot_url: str | None
    clip_url: str | None
    """The MP4 evidence clip (HTTP Range supported); null until it is written, and once
    retention removed it."""


class EventPage(Out):
    items: list[EventOut]
    """Newest first."""
    next_before_seq: int | None
    """Pass as ``before_seq`` for the next page; null on the last page."""
