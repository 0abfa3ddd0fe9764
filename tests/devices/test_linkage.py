"""Linkage for devices: the site's cameras that see a device, nearest first, cached per device."""

from __future__ import annotations

from alarm_helpers import rules_site

from hub.geo.coverage import Linkage, cameras_for


def test_site_cameras_for_a_device_nearest_first() -> None:
    site = rules_site()
    cams = cameras_for([120.05, 31.05], site.cameras)
    assert [c["camera_id"] for c in cams] == ["cam-dome", "cam-east"]
    assert cams[0]["camera_name"] == "球机"
    assert 45 < cams[0]["distance_m"] < 55 < 95 < cams[1]["distance_m"] < 105


def test_linkage_caches_per_device_and_copies() -> None:
    site = rules_site()
    link = Linkage(site.cameras)
    link.precompute([("dev-1", [120.05, 31.05])])
    a = link.for_device("dev-1", [120.05, 31.05])
    a[0]["camera_id"] = "changed"
    assert link.for_device("dev-1", [120.05, 31.05])[0]["camera_id"] == "cam-dome"
    assert link.for_device("dev-1", [120.0, 31.0]) == []  # moved: recomputed
