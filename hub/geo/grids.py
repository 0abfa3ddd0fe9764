"""The grid map: which grid (网格) holds a point, and the grid's place in the hierarchy.

Grids are the site file's GeoJSON polygons (lon, lat). They are indexed once in an STRtree, so a
lookup costs a tree query and one or two point-in-polygon tests whatever the number of grids (a
real district has hundreds, a league thousands). A point on the border of two grids belongs to
the grid whose id sorts first: every process answers the same. A point in no grid has none; the
caller decides what that means (a case outside the district, a worker off duty).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import STRtree
from shapely.geometry import shape

from hub.config import Community, Grid, Site, Street


@dataclass(frozen=True, slots=True)
class GridPlace:
    """A grid and where it sits: district -> street -> community -> grid."""

    street: Street
    community: Community
    grid: Grid

    @property
    def grid_id(self) -> str:
        return self.grid.id


class GridMap:
    def __init__(self, site: Site) -> None:
        places: list[GridPlace] = []
        for street in site.district.streets:
            for community in street.communities:
                for grid in community.grids:
                    places.append(GridPlace(street, community, grid))
        # Sorted by id: the first covering polygon of a query is the border rule's winner.
        places.sort(key=lambda p: p.grid.id)
        self._places = places
        self._by_id = {p.grid.id: p for p in places}
        self._index = {p.grid.id: i for i, p in enumerate(places)}
        self._polygons = [shape(p.grid.geometry.model_dump()) for p in places]
        for poly in self._polygons:
            shapely.prepare(poly)
        self._tree = STRtree(self._polygons)

    def __len__(self) -> int:
        return len(self._places)

    def place(self, grid_id: str) -> GridPlace | None:
        return self._by_id.get(grid_id)

    def locate(self, position: Sequence[float]) -> GridPlace | None:
        """The grid that holds the [lon, lat] point (its border included), or None."""
        hits = self._tree.query(shapely.points(position[0], position[1]), predicate="covered_by")
        if len(hits) == 0:
            return None
        return self._places[int(hits.min())]

    def locate_many(self, positions: Sequence[Sequence[float]]) -> list[GridPlace | None]:
        """``locate`` for many points in one vectorised query (a fleet of workers, a backlog)."""
        if len(positions) == 0:
            return []
        pts = shapely.points(np.asarray(positions, dtype=float))
        point_idx, grid_idx = self._tree.query(pts, predicate="covered_by")
        out: list[GridPlace | None] = [None] * len(positions)
        # Visited from the highest grid index down, so the lowest (the border rule's winner)
        # is written last.
        for k in np.argsort(-grid_idx, kind="stable"):
            out[int(point_idx[k])] = self._places[int(grid_idx[k])]
        return out

    def misplaced(self, items: Sequence[tuple[str, str, Sequence[float]]]) -> list[str]:
        """Of ``(id, declared grid, position)`` items (cameras, devices, workers), the ids whose
        position lies outside their declared grid: a site-file mistake worth a warning."""
        out = []
        for item_id, grid_id, position in items:
            i = self._index.get(grid_id)
            if i is None or not self._polygons[i].covers(shapely.points(*position[:2])):
                out.append(item_id)
        return out
