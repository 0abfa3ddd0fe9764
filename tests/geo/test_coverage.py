"""Camera coverage: distance and bearing on the earth, and a camera's field of view."""

from __future__ import annotations

import pytest

from hub.config import Camera
from hub.geo.coverage import sees
from hub.geo.distance import bearing_deg, haversine_m


def test_haversine_and_bearing() -> None:
    # One degree of latitude is ~111.2 km; due north is bearing 0, due east ~90.
    assert haversine_m([120.0, 31.0], [120.0, 32.0]) == pytest.approx(111_195, rel=1e-3)
    assert bearing_deg([120.0, 31.0], [120.0, 31.1]) == pytest.approx(0.0, abs=1e-6)
    assert bearing_deg([120.0, 31.0], [120.1, 31.0]) == pytest.approx(90.0, abs=0.1)
    assert bearing_deg([120.0, 31.0], [119.9, 31.0]) == pytest.approx(270.0, abs=0.1)


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
