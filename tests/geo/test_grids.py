"""The grid map: point -> grid on the site's polygons, borders, holes, many points at once."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from hub.config import Site, load_site
from hub.geo.grids import GridMap

DEMO = Path(__file__).resolve().parents[2] / "sites" / "demo-district.yaml"


def _square(gid: str, x0: float, y0: float, size: float = 0.01, hole: bool = False) -> dict:
    ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
    rings = [ring]
    if hole:
        q = size / 4
        rings.append(
            [[x0 + q, y0 + q], [x0 + 3 * q, y0 + q], [x0 + 3 * q, y0 + 3 * q], [x0 + q, y0 + 3 * q],
             [x0 + q, y0 + q]]
        )  # fmt: skip
    return {"id": gid, "name": gid, "geometry": {"type": "Polygon", "coordinates": rings}}


def _site(grids: list[dict]) -> Site:
    return Site.model_validate(
        {
            "site": {"name": "t"},
            "district": {
                "id": "d",
                "name": "区",
                "streets": [
                    {"id": "s1", "name": "街道一", "communities": [
                        {"id": "c1", "name": "社区一", "grids": grids[:2]}]},
                    {"id": "s2", "name": "街道二", "communities": [
                        {"id": "c2", "name": "社区二", "grids": grids[2:]}]},
                ],
            },
        }
    )  # fmt: skip


@pytest.fixture
def gmap() -> GridMap:
    # Three squares side by side: g-b | g-a | g-c (ids not in map order), g-c with a hole.
    return GridMap(
        _site(
            [
                _square("g-b", 120.00, 31.0),
                _square("g-a", 120.01, 31.0),
                _square("g-c", 120.02, 31.0, hole=True),
            ]
        )
    )


def test_inside_each_grid_with_its_hierarchy(gmap: GridMap) -> None:
    place = gmap.locate([120.005, 31.005])
    assert place is not None and place.grid_id == "g-b"
    assert (place.street.id, place.community.id) == ("s1", "c1")
    place = gmap.locate([120.025, 31.001])
    assert place is not None and place.grid_id == "g-c" and place.street.id == "s2"


def test_outside_and_in_a_hole_is_no_grid(gmap: GridMap) -> None:
    assert gmap.locate([119.0, 31.0]) is None
    assert gmap.locate([120.025, 31.005]) is None  # the hole in g-c


def test_a_shared_border_belongs_to_the_first_id(gmap: GridMap) -> None:
    # x = 120.01 is the border of g-b and g-a: g-a sorts first.
    place = gmap.locate([120.01, 31.005])
    assert place is not None and place.grid_id == "g-a"
    # A corner on the outer edge still counts as inside.
    corner = gmap.locate([120.00, 31.0])
    assert corner is not None and corner.grid_id == "g-b"


def test_many_points_agree_with_one_by_one(gmap: GridMap) -> None:
    rng = random.Random(7)
    pts = [[rng.uniform(119.99, 120.04), rng.uniform(30.99, 31.02)] for _ in range(2000)]
    pts += [[120.01, 31.005], [120.02, 31.0], [120.025, 31.005]]  # borders and the hole
    many = gmap.locate_many(pts)
    one = [gmap.locate(p) for p in pts]
    assert [p.grid_id if p else None for p in many] == [p.grid_id if p else None for p in one]
    assert gmap.locate_many([]) == []


def test_demo_site_everything_in_its_declared_grid() -> None:
    site = load_site(DEMO)
    gmap = GridMap(site)
    assert len(gmap) == sum(len(c.grids) for s in site.district.streets for c in s.communities)
    items = [(c.id, c.grid, c.position) for c in site.cameras]
    items += [(d.id, d.grid, d.position) for d in site.devices]
    assert gmap.misplaced(items) == []
    for cam in site.cameras:
        place = gmap.locate(cam.position)
        assert place is not None and place.grid_id == cam.grid, cam.id
    assert gmap.misplaced([("x", "g-none", [0.0, 0.0])]) == ["x"]


def test_a_league_of_grids() -> None:
    """4,580 grids (one league's count, DOMAIN.md) in a 68 x 68 lattice: every point finds the
    square it lies in."""
    n = 68
    grids = [_square(f"g{i:05d}", 100 + (i % n) * 0.01, 30 + (i // n) * 0.01) for i in range(n * n)]
    big = GridMap(_site(grids))
    rng = random.Random(1)
    pts = [[100 + rng.uniform(0, n * 0.01), 30 + rng.uniform(0, n * 0.01)] for _ in range(2000)]
    for p, place in zip(pts, big.locate_many(pts), strict=True):
        col, row = int((p[0] - 100) / 0.01), int((p[1] - 30) / 0.01)
        assert place is not None and place.grid_id == f"g{row * n + col:05d}"
