"""JSON shapes of the API (see docs/api.md). Camera URLs never leave the hub: they may hold
credentials."""

from __future__ import annotations

from typing import Any

from hub.bus.contracts import CameraHealth
from hub.config import Camera, Site
from hub.store.events import StoredEvent


def site_json(site: Site, timezone: str) -> dict[str, Any]:
    cams_by_grid: dict[str, list[str]] = {}
    for cam in site.cameras:
        cams_by_grid.setdefault(cam.grid, []).append(cam.id)
    d = site.district
    return {
        "name": site.site.name,
        "timezone": timezone,
        "district": {
            "id": d.id,
            "name": d.name,
            "streets": [
                {
                    "id": s.id,
                    "name": s.name,
                    "communities": [
                        {
                            "id": c.id,
                            "name": c.name,
                            "grids": [
                                {
                                    "id": g.id,
                                    "name": g.name,
                                    "camera_ids": cams_by_grid.get(g.id, []),
                                    "households": g.households,
                                    "geometry": g.geometry.model_dump(),
                                }
                                for g in c.grids
                            ],
                        }
                        for c in s.communities
                    ],
                }
                for s in d.streets
            ],
        },
    }


def camera_json(site: Site, cam: Camera, health: CameraHealth | None) -> dict[str, Any]:
    street, community, _grid = site.grid_path[cam.grid]
    if health is None:
        health = CameraHealth(camera_id=cam.id, state="offline" if cam.enabled else "disabled")
    return {
        "id": cam.id,
        "name": cam.name,
        "grid_id": cam.grid,
        "community_id": community.id,
        "street_id": street.id,
        "position": list(cam.position),
        "heading": cam.heading,
        "analysis_fps": cam.analysis_fps,
        "enabled": cam.enabled,
        "zones": [
            {
                "id": z.id,
                "name": z.name,
                "polygon": z.polygon,
                "intrusion": z.intrusion,
                "loiter_seconds": z.loiter_seconds,
            }
            for z in cam.zones
        ],
        "lines": [
            {"id": ln.id, "name": ln.name, "points": ln.points, "directions": ln.directions}
            for ln in cam.lines
        ],
        "health": health.model_dump(mode="json"),
    }


def decorate_event(data: dict[str, Any], site: Site) -> dict[str, Any]:
    """Add what the wall needs to a stored event's JSON: its snapshot URL and camera name."""
    cam = site.camera_by_id.get(str(data.get("camera_id")))
    out = dict(data)
    out["camera_name"] = cam.name if cam else data.get("camera_id")
    out["snapshot_url"] = f"/api/events/{data['id']}/snapshot" if data.get("snapshot") else None
    return out


def event_json(stored: StoredEvent, site: Site) -> dict[str, Any]:
    return decorate_event(stored.to_json(), site)
