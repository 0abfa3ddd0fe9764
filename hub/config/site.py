"""The site file (YAML): the place the hub watches, validated strictly. Unknown keys are rejected
and every error names the line of the YAML it comes from."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from hub.config.calendar import WorkCalendar, default_calendar
from hub.config.cameras import Camera
from hub.config.categories import Category, CategoryCatalogue, Department, default_data
from hub.config.common import Strict
from hub.config.devices import Device, DeviceProfile
from hub.config.grids import Community, District, GeoPolygon, Grid, Street
from hub.config.workers import Supervisor, Worker
from hub.errors import SiteFileError


class SiteInfo(Strict):
    name: str
    timezone: str = "Asia/Shanghai"


class Site(Strict):
    """The site file.

    ``calendar``: the working calendar case time limits count on; None: the shipped one
    (standard hours and China's public holidays for the years it lists, see
    :func:`~hub.config.calendar.default_calendar`). A site's calendar replaces the shipped one
    entirely, so a site that adds a year lists the shipped years' dates too.

    ``departments`` and ``categories``: the case catalogue. When the site lists none, the shipped
    defaults apply (:meth:`CategoryCatalogue.default`); when it lists some, they replace the
    defaults (each list on its own: a site may list its departments and keep the shipped
    categories, which must then find every department they name among the site's).
    """

    site: SiteInfo
    district: District
    cameras: list[Camera] = Field(default_factory=list)
    device_profiles: list[DeviceProfile] = Field(default_factory=list)
    devices: list[Device] = Field(default_factory=list)
    calendar: WorkCalendar | None = None
    departments: list[Department] = Field(default_factory=list)
    categories: list[Category] = Field(default_factory=list)
    workers: list[Worker] = Field(default_factory=list)
    supervisors: list[Supervisor] = Field(default_factory=list)
    """Who is notified when a case in their scope goes red (督办 escalation, see
    :mod:`hub.dispatch.escalation`); none: escalations are logged and shown, nobody rings."""

    @field_validator("departments")
    @classmethod
    def _department_ids(cls, departments: list[Department]) -> list[Department]:
        ids = [d.id for d in departments]
        if len(set(ids)) != len(ids):
            raise ValueError("department ids must be unique")
        return departments

    @field_validator("categories")
    @classmethod
    def _catalogue_consistent(
        cls, categories: list[Category], info: ValidationInfo
    ) -> list[Category]:
        # Here rather than in _references so that the error names the categories' line.
        # `departments` is validated first (declared first); absent from info.data when invalid.
        if "departments" not in info.data:
            return categories
        departments: list[Department] = info.data["departments"]
        _build_catalogue(departments, categories)
        return categories

    @model_validator(mode="after")
    def _references(self) -> Site:
        grid_ids = [g.id for g in self.grids()]
        if len(set(grid_ids)) != len(grid_ids):
            raise ValueError("grid ids must be unique")
        known = set(grid_ids)
        cam_ids = [c.id for c in self.cameras]
        if len(set(cam_ids)) != len(cam_ids):
            raise ValueError("camera ids must be unique")
        for c in self.cameras:
            if c.grid not in known:
                raise ValueError(f"camera {c.id} names unknown grid {c.grid!r}")
        profiles = {p.id for p in self.device_profiles}
        if len(profiles) != len(self.device_profiles):
            raise ValueError("device profile ids must be unique")
        dev_ids = [d.id for d in self.devices]
        if len(set(dev_ids)) != len(dev_ids):
            raise ValueError("device ids must be unique")
        usernames = [w.username for w in self.workers]
        if len(set(usernames)) != len(usernames):
            raise ValueError("worker usernames must be unique")
        for w in self.workers:
            for g in w.grids:
                if g not in known:
                    raise ValueError(f"worker {w.username} names unknown grid {g!r}")
        self._check_supervisors(known)
        for d in self.devices:
            if d.profile not in profiles:
                raise ValueError(f"device {d.id} names unknown profile {d.profile!r}")
            if d.grid not in known:
                raise ValueError(f"device {d.id} names unknown grid {d.grid!r}")
        if self.departments and not self.categories:
            # The shipped categories against the site's departments (the categories check
            # above ran only when the site lists categories).
            _build_catalogue(self.departments, self.categories)
        return self

    def _check_supervisors(self, grid_ids: set[str]) -> None:
        usernames = [s.username for s in self.supervisors]
        if len(set(usernames)) != len(usernames):
            raise ValueError("supervisor usernames must be unique")
        scopes: dict[str, set[str]] = {
            "grid": grid_ids,
            "community": {c.id for s in self.district.streets for c in s.communities},
            "street": {s.id for s in self.district.streets},
            "district": {self.district.id},
        }
        for sup in self.supervisors:
            ident = sup.scope_id if sup.level != "district" else sup.scope.partition(":")[2]
            if ident and ident not in scopes[sup.level]:
                raise ValueError(
                    f"supervisor {sup.username} names unknown {sup.level} {ident!r} in its scope"
                )

    @classmethod
    def for_cameras(cls, cameras: list[Camera], *, name: str = "site") -> Site:
        """A minimal site around some cameras: one street and community, one small square grid
        (about 1 km) around each grid id the cameras name. For tools and tests that analyse a
        few cameras without a real grid map."""
        grids: dict[str, Grid] = {}
        for cam in cameras:
            if cam.grid not in grids:
                lon, lat = cam.position
                d = 0.005
                ring = [
                    [lon - d, lat - d],
                    [lon + d, lat - d],
                    [lon + d, lat + d],
                    [lon - d, lat - d],
                ]
                grids[cam.grid] = Grid(
                    id=cam.grid, name=cam.grid, geometry=GeoPolygon(coordinates=[ring])
                )
        community = Community(id="c", name=name, grids=list(grids.values()))
        street = Street(id="s", name=name, communities=[community])
        return cls(
            site=SiteInfo(name=name),
            district=District(id="d", name=name, streets=[street]),
            cameras=cameras,
        )

    @classmethod
    def for_devices(
        cls,
        profiles: Sequence[DeviceProfile],
        devices: Sequence[Device],
        *,
        cameras: Sequence[Camera] = (),
        grid: str = "g1",
        name: str = "site",
    ) -> Site:
        """A minimal site around some devices (and cameras, for linkage): one street, community
        and grid `grid`, a box about 1 km wider than their positions on every side; the devices
        and cameras name `grid`. For tests and benchmarks that need device profiles without a
        real grid map."""
        points = [d.position for d in devices] + [c.position for c in cameras]
        if not points:
            raise ValueError("a site for devices needs at least one device or camera")
        pad = 0.01
        w, e = min(p[0] for p in points) - pad, max(p[0] for p in points) + pad
        s, n = min(p[1] for p in points) - pad, max(p[1] for p in points) + pad
        box = GeoPolygon(coordinates=[[[w, s], [e, s], [e, n], [w, n], [w, s]]])
        community = Community(id="c", name=name, grids=[Grid(id=grid, name=grid, geometry=box)])
        return cls(
            site=SiteInfo(name=name),
            district=District(
                id="d", name=name, streets=[Street(id="s", name=name, communities=[community])]
            ),
            cameras=list(cameras),
            device_profiles=list(profiles),
            devices=list(devices),
        )

    def to_yaml(self) -> str:
        """The site as a site file (defaults left out), e.g. for `hub analyze --site`."""
        return yaml.safe_dump(
            self.model_dump(mode="json", exclude_defaults=True), allow_unicode=True, sort_keys=False
        )

    def grids(self) -> Iterator[Grid]:
        for street in self.district.streets:
            for community in street.communities:
                yield from community.grids

    @cached_property
    def camera_by_id(self) -> dict[str, Camera]:
        return {c.id: c for c in self.cameras}

    @cached_property
    def profile_by_id(self) -> dict[str, DeviceProfile]:
        return {p.id: p for p in self.device_profiles}

    @cached_property
    def device_by_id(self) -> dict[str, Device]:
        return {d.id: d for d in self.devices}

    def work_calendar(self) -> WorkCalendar:
        """The site's working calendar, or the shipped one when the site has none."""
        return self.calendar if self.calendar is not None else default_calendar()

    def catalogue(self) -> CategoryCatalogue:
        """The case catalogue: the site's departments and categories, each list replaced by the
        shipped one when the site lists none. Built once per site."""
        return self._catalogue

    @cached_property
    def _catalogue(self) -> CategoryCatalogue:
        return _build_catalogue(self.departments, self.categories)

    def camera(self, camera_id: str) -> Camera:
        try:
            return self.camera_by_id[camera_id]
        except KeyError:
            raise SiteFileError(f"no camera {camera_id!r} in site {self.site.name!r}") from None

    @cached_property
    def grid_path(self) -> dict[str, tuple[Street, Community, Grid]]:
        """grid id -> (street, community, grid), for locating cameras in the hierarchy."""
        out: dict[str, tuple[Street, Community, Grid]] = {}
        for s in self.district.streets:
            for c in s.communities:
                for g in c.grids:
                    out[g.id] = (s, c, g)
        return out


def _build_catalogue(
    departments: Sequence[Department], categories: Sequence[Category]
) -> CategoryCatalogue:
    """The catalogue of a site's lists, the shipped list standing in for an empty one."""
    if not departments and not categories:
        return CategoryCatalogue.default()
    shipped = default_data()
    try:
        return CategoryCatalogue(
            departments or shipped.departments, categories or shipped.categories
        )
    except ValueError as exc:
        if categories:
            raise
        raise ValueError(
            f"{exc}: the site lists departments but no categories, so the shipped categories"
            " apply and need their departments (list categories too, or keep those ids)"
        ) from None


def _construct(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, (*path, i), lines) for i, v in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def _line_for(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    # The deepest prefix of the error location that exists in the document.
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def parse_site(text: str, source: str = "<site>") -> Site:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise SiteFileError(f"{source}: not valid YAML: {exc}") from exc
    if node is None:
        raise SiteFileError(f"{source}: the site file is empty")
    lines: dict[tuple[Any, ...], int] = {}
    data = _construct(node, (), lines)
    try:
        return Site.model_validate(data)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = _line_for(loc, lines)
            where = ".".join(str(p) for p in loc) or "(top)"
            msgs.append(f"{source}:{line}: {where}: {err['msg']}")
        raise SiteFileError("invalid site file:\n  " + "\n  ".join(msgs)) from exc


def load_site(path: Path | str) -> Site:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SiteFileError(f"cannot read site file {p}: {exc}") from exc
    return parse_site(text, str(p))
