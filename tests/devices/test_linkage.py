"""Linkage: cameras that see a position, by distance and field of view, nearest first."""

from __future__ import annotations

import pytest
from alarm_helpers import rules_site

from hub.config import Camera
from hub.devices.linkage import Linkage, bearing_deg, cameras_for, haversine_m, sees


def test_haversine_and_bearing() -> None:
    # One degree of latitude is ~111.2 km; due north is bearing 0, due east ~90.
    assert haversine_m([120.0, 31.0], [120.0, 32.0]) == pytest.approx(111_195, rel=1e-3)
    assert bearing_deg([120.0, 31.0], [120.0, 31.1]) == pytest.approx(0.0, abs=1e-6)
    assert bearing_deg([120.0, 31.0], [120.1, 31.0]) == pytest.approx(90.0, abs=0.1)
    assert bearing_deg([120.0, 31.0], [119.9, 31.0]) == pytest.approx(270.0, abs=0.1)


def test_site_cameras_for_a_device_nearest_first() -> None:
    site = rules_site()
    cams = cameras_for([120.05, 31.05], site.cameras)
    assert [c["camera_id"] for c in cams] == ["cam-dome", "cam-east"]
    assert cams[0]["camera_name"] == "球机"
    assert 45 < cams[0]["distance_m"] < 55 < 95 < cams[1]["distance_m"] < 105


def _cam(heading: float | None, fov: float = 90.0, dist: float = 150.0) -> Camera:
    return Camera(
        id="cam-x",
        name="x",
        url="rtsp://x/1",
        grid="g1",
        position=[120.0, 31.0],
        heading=heading,
        fov_degrees=fov,
        view_distance_m=dist,
    )


@pytest.mark.parametrize(
    ("heading", "fov", "target", "visible"),
    [
        (None, 90.0, [120.0, 30.9995], True),  # dome: behind is fine
        (0.0, 90.0, [120.0, 31.0005], True),  # straight ahead
        (0.0, 90.0, [120.0, 30.9995], False),  # behind
        (350.0, 40.0, [120.0001, 31.0008], True),  # wraps across north
        (0.0, 10.0, [120.0005, 31.0005], False),  # 45 degrees off a narrow view
        (0.0, 360.0, [120.0, 30.9995], True),  # full circle
        (0.0, 90.0, [120.0, 31.002], False),  # ~222 m: too far
    ],
)
def test_field_of_view(
    heading: float | None, fov: float, target: list[float], visible: bool
) -> None:
    assert (sees(_cam(heading, fov), target) is not None) is visible


def test_linkage_caches_per_device_and_copies() -> None:
    site = rules_site()
    link = Linkage(site.cameras)
    link.precompute([("dev-1", [120.05, 31.05])])
    a = link.for_device("dev-1", [120.05, 31.05])
    a[0]["camera_id"] = "changed"
    assert link.for_device("dev-1", [120.05, 31.05])[0]["camera_id"] == "cam-dome"
    assert link.for_device("dev-1", [120.0, 31.0]) == []  # moved: recomputed
