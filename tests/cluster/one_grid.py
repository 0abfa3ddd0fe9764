"""A site of one grid for the cluster tests: ``ONE_GRID_SITE.format(cameras=...)`` with the
cameras' YAML list items (each line indented two spaces)."""

ONE_GRID_SITE = """
site: {{name: cluster test}}
district:
  id: d1
  name: D
  streets:
    - id: s1
      name: S
      communities:
        - id: c1
          name: C
          grids:
            - id: g1
              name: G1
              geometry:
                type: Polygon
                coordinates: [[[121.0, 31.0], [121.1, 31.0], [121.1, 31.1], [121.0, 31.0]]]
cameras:
{cameras}
"""
