from pathlib import Path

import pytest

from hub.config import Settings, Site, load_site, parse_site
from hub.errors import SiteFileError

GOOD = """
site:
  name: 测试区
district:
  id: d-test
  name: 测试区
  streets:
    - id: st-a
      name: A街道
      communities:
        - id: cm-a1
          name: A1社区
          grids:
            - id: g-a1-1
              name: 第1网格
              geometry:
                type: Polygon
                coordinates: [[[120.0, 31.8], [120.01, 31.8], [120.01, 31.81], [120.0, 31.8]]]
cameras:
  - id: cam-test-001
    name: 东门
    url: rtsp://127.0.0.1:8554/cam-test-001
    grid: g-a1-1
    position: [120.005, 31.805]
    zones:
      - id: z-gate
        polygon: [[0.1, 0.5], [0.5, 0.5], [0.5, 0.9], [0.1, 0.9]]
        loiter_seconds: 10
    lines:
      - id: l-road
        points: [[0.0, 0.6], [1.0, 0.6]]
"""


def test_good_site_parses() -> None:
    site = parse_site(GOOD)
    cam = site.camera("cam-test-001")
    assert cam.zones[0].loiter_seconds == 10
    assert cam.lines[0].directions == ["forward", "backward"]
    assert site.grid_path["g-a1-1"][0].id == "st-a"
    assert not cam.decode_keyframes_only


def test_unknown_key_names_its_line() -> None:
    extra = "        loiter_seconds: 10\n        colour: red"
    bad = GOOD.replace("        loiter_seconds: 10", extra)
    with pytest.raises(SiteFileError) as exc:
        parse_site(bad, "x.yaml")
    line = bad.splitlines().index("        colour: red") + 1
    assert f"x.yaml:{line}:" in str(exc.value)
    assert "colour" in str(exc.value)


def test_out_of_range_point_names_its_line() -> None:
    bad = GOOD.replace("[1.0, 0.6]]", "[1.4, 0.6]]")
    with pytest.raises(SiteFileError, match="outside the normalised range"):
        parse_site(bad)


def test_unknown_grid_reference_is_rejected() -> None:
    with pytest.raises(SiteFileError, match="unknown grid"):
        parse_site(GOOD.replace("grid: g-a1-1", "grid: g-nowhere"))


def test_unclosed_polygon_is_rejected() -> None:
    with pytest.raises(SiteFileError, match="closed"):
        parse_site(GOOD.replace("[120.0, 31.8]]]", "[120.0, 31.805]]]"))


def test_not_yaml_and_missing_file() -> None:
    with pytest.raises(SiteFileError, match="not valid YAML"):
        parse_site("site: [unclosed")
    with pytest.raises(SiteFileError, match="cannot read"):
        load_site(Path("/nonexistent/site.yaml"))


def test_keyframes_only_defaults_on_at_one_fps() -> None:
    site = parse_site(GOOD.replace("    grid: g-a1-1\n", "    grid: g-a1-1\n    analysis_fps: 1\n"))
    assert site.camera("cam-test-001").decode_keyframes_only


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))
    s = Settings()
    assert s.sqlalchemy_url.endswith(f"{tmp_path}/hub.db")
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql+asyncpg://x@y/z")
    assert Settings().sqlalchemy_url == "postgresql+asyncpg://x@y/z"


def test_site_for_cameras_round_trips_through_yaml() -> None:
    cam = parse_site(GOOD).camera("cam-test-001")
    other = cam.model_copy(update={"id": "cam-test-002", "grid": "g-x", "position": [121.0, 31.0]})
    site = Site.for_cameras([cam, other], name="t")
    assert [g.id for g in site.grids()] == ["g-a1-1", "g-x"]
    again = parse_site(site.to_yaml())
    assert again == site
    assert again.camera("cam-test-001").zones[0].loiter_seconds == 10


DEVICES = """
device_profiles:
  - id: smoke
    name: 烟感 Smoke detector
    kind: smoke
    inactivity_timeout_seconds: 900
    telemetry:
      - {key: smoke, unit: "%obs/m", min: 0, max: 100}
      - {key: battery, unit: "%", min: 0, max: 100}
    alarm_rules:
      - id: smoke-high
        name: 烟雾浓度超标
        key: smoke
        create: {critical: {op: ">=", value: 10}, warning: {op: ">=", value: 4}}
        clear: {op: "<", value: 2}
      - id: silent
        name: 设备失联
        kind: missing
        create: {major: {op: ">", value: 1800}}
devices:
  - id: dev-smoke-0001
    name: 1号楼烟感
    profile: smoke
    grid: g-a1-1
    position: [120.005, 31.805]
"""


def test_devices_and_profiles_parse() -> None:
    site = parse_site(GOOD + DEVICES)
    dev = site.device_by_id["dev-smoke-0001"]
    profile = site.profile_by_id[dev.profile]
    assert [r.kind for r in profile.alarm_rules] == ["threshold", "missing"]
    assert profile.alarm_rules[0].create["critical"].value == 10


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("profile: smoke\n    grid", "profile: nope\n    grid"), "unknown profile"),
        (("grid: g-a1-1\n    position: [120.005", "grid: g-zz\n    position: [120.005"), "grid"),
        (("key: smoke\n        create", "key: smokey\n        create"), "unknown telemetry key"),
        (
            ("min: 0, max: 100}\n      - {key: battery", "min: 9, max: 1}\n      - {key: battery"),
            "above max",
        ),
        (("        kind: missing\n", ""), "needs the telemetry key"),
    ],
)
def test_device_errors_are_named(change: tuple[str, str], message: str) -> None:
    text = GOOD + DEVICES
    assert change[0] in text
    with pytest.raises(SiteFileError, match=message):
        parse_site(text.replace(change[0], change[1], 1))


def test_site_for_devices_holds_them_in_one_grid_and_round_trips() -> None:
    given = parse_site(GOOD + DEVICES)
    dev = given.device_by_id["dev-smoke-0001"].model_copy(update={"grid": "g1"})
    far = dev.model_copy(update={"id": "dev-smoke-0002", "position": [120.2, 31.9]})
    cam = given.camera("cam-test-001").model_copy(update={"grid": "g1"})
    site = Site.for_devices(given.device_profiles, [dev, far], cameras=[cam], name="t")
    assert [g.id for g in site.grids()] == ["g1"]
    (ring,) = next(site.grids()).geometry.coordinates
    for lon, lat in (dev.position, far.position, cam.position):
        assert ring[0][0] < lon < ring[1][0] and ring[0][1] < lat < ring[2][1]
    assert site.profile_by_id["smoke"].alarm_rules[0].id == "smoke-high"
    assert parse_site(site.to_yaml()) == site
    with pytest.raises(ValueError, match="unknown grid"):
        Site.for_devices(given.device_profiles, [dev], grid="g2")
