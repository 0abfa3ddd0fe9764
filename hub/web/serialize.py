"""The API's views of the site, its cameras and recorded events, as the response models of
:mod:`hub.web.schemas` (see docs/api.md). Camera URLs never leave the hub: they may hold
credentials."""

from __future__ import annotations

from typing import Any

from hub.bus.contracts import CameraHealth, RecordedEvent
from hub.config import Camera, Site
from hub.web.schemas import (
    CameraHealthOut,
    CameraOut,
    CommunityOut,
    DistrictOut,
    EventOut,
    GeometryOut,
    GridOut,
    LineOut,
    SiteOut,
    StreetOut,
    ZoneOut,
)


def site_out(site: Site, timezone: str) -> SiteOut:
    cams_by_grid: dict[str, list[str]] = {}
    for cam in site.cameras:
        cams_by_grid.setdefault(cam.grid, []).append(cam.id)
    d = site.district
    return SiteOut(
        name=site.site.name,
        timezone=timezone,
        district=DistrictOut(
            id=d.id,
            name=d.name,
            streets=[
                StreetOut(
                    id=s.id,
                    name=s.name,
                    communities=[
                        CommunityOut(
                            id=c.id,
                            name=c.name,
                            grids=[
                                GridOut(
                                    id=g.id,
                                    name=g.name,
                                    camera_ids=cams_by_grid.get(g.id, []),
                                    households=g.households,
                                    geometry=GeometryOut.model_validate(g.geometry.model_dump()),
                                )
                                for g in c.grids
                            ],
                        )
                        for c in s.communities
                    ],
                )
                for s in d.streets
            ],
        ),
    )


def camera_out(site: Site, cam: Camera, health: CameraHealth | None) -> CameraOut:
    street, community, _grid = site.grid_path[cam.grid]
    if health is None:
        health = CameraHealth(camera_id=cam.id, state="offline" if cam.enabled else "disabled")
    return CameraOut(
        id=cam.id,
        name=cam.name,
        grid_id=cam.grid,
        community_id=community.id,
        street_id=street.id,
        position=list(cam.position),
        heading=cam.heading,
        analysis_fps=cam.analysis_fps,
        enabled=cam.enabled,
        sub_stream=cam.sub_url is not None,
        analysis_stream=cam.analysis_stream,
        kind=cam.kind,
        published=cam.published,
        zones=[
            ZoneOut(
                id=z.id,
                name=z.name,
                polygon=z.polygon,
                intrusion=z.intrusion,
                loiter_seconds=z.loiter_seconds,
            )
            for z in cam.zones
        ],
        lines=[
            LineOut(id=ln.id, name=ln.name, points=ln.points, directions=ln.directions)
            for ln in cam.lines
        ],
        health=CameraHealthOut.model_validate(health.model_dump()),
    )


def event_out(event: RecordedEvent, site: Site) -> EventOut:
    """A recorded event with what the wall needs besides: its camera's name, its snapshot and
    clip URLs (none once retention removed its evidence)."""
    cam = site.camera_by_id.get(event.camera_id)
    kept = event.evidence_expired_at is None
    return EventOut(
        **dict(event),
        camera_name=cam.name if cam else event.camera_id,
        snapshot_url=f"/api/events/{event.id}/snapshot" if event.snapshot and kept else None,
        clip_url=f"/api/events/{event.id}/clip" if event.clip and kept else None,
    )


def decorate_event(data: dict[str, Any], site: Site) -> dict[str, Any]:
    """The JSON of :func:`event_out` for a recorded event's JSON (the WebSocket's ``event``)."""
    return event_out(RecordedEvent.model_validate(data), site).model_dump(mode="json")
