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
