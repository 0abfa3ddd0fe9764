"""Settings from the environment (``HUB_...``) and the site file (YAML).

The site file describes the place the hub watches: the grid hierarchy (district -> streets ->
communities -> grids) and the cameras with their zones and lines. It is validated strictly:
unknown keys are rejected and every error names the line of the YAML it comes from.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.errors import SiteFileError

# ---------------------------------------------------------------------------------------------
# Settings (environment)
# ---------------------------------------------------------------------------------------------


class Settings(BaseSettings):
    """Endpoints, secrets and tuning. Every field can be set as ``HUB_<NAME>``."""

    # Errors must not echo a value: it may be a secret (HUB_JWT_SECRET, HUB_MQTT_URL).
    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore", hide_input_in_errors=True)

    site: Path = Path("sites/demo-district.yaml")
    data_dir: Path = Path("var")
    # Secrets and URLs that may hold passwords stay out of repr() (and so out of any log).
    database_url: str = Field(default="", repr=False)  # empty: SQLite file in data_dir
    bus: Literal["memory"] = "memory"
    host: str = "127.0.0.1"
    port: int = 8000
    jwt_secret: str = Field(default="", repr=False)
    """Signs the API tokens; at least 32 bytes. Empty: generated once into data_dir/jwt.secret."""
    token_minutes: int = Field(default=12 * 60, ge=1, le=7 * 24 * 60)
    trusted_proxies: str = ""
    """Comma-separated addresses (or CIDR networks) of reverse proxies whose X-Forwarded-For and
    X-Forwarded-Proto are believed; empty: none, the peer address is the client."""
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Largest request body on ordinary routes; larger ones get 413 before any handler runs."""
    max_header_bytes: int = Field(default=32 * 1024, ge=4096)
    """Largest request line plus headers; larger ones get 431 while they are still arriving."""
    timezone: str = "Asia/Shanghai"
    analytics_threads: int = 1
    analytics_batch_max: int = 64
    frame_queue_per_camera: int = 2
    stall_seconds: float = 10.0
    reconnect_min_seconds: float = 0.5
    reconnect_max_seconds: float = 10.0
    mqtt_url: str = Field(default="", repr=False)
    """mqtt://host:port of an external broker; empty: the hub starts its own (embedded)."""
    mqtt_embedded_port: int = 1884
    mqtt_username: str = "hub"
    mqtt_password: str = Field(default="", repr=False)
    """Empty: generated once into data_dir/mqtt.secret."""
    mqtt_max_payload: int = 64 * 1024
    mqtt_password_file: str = ""
    """External broker only: the Mosquitto password file the hub maintains (operator-mounted);
    empty: provisioning returns credentials for the operator to install."""
    mqtt_acl_file: str = ""
    """External broker only: the Mosquitto ACL file the hub writes next to the password file."""
    mqtt_client_id: str = ""
    """The ingest's MQTT client id, under which a broker that does not tie client ids to
    usernames keeps its session; empty: ``hub-ingest-`` and a tag derived from the hub's MQTT
    password, which no device can guess (and so cannot take the session over with)."""
    mqtt_ingest: bool = True
    """Run MQTT device ingest in this hub process."""
    mqtt_shared_subscriptions: bool | None = None
    """Subscribe through ``$share/<group>/...`` (the group derived from the hub's MQTT password)
    so several ingest processes split the load.
    None (default): on with the embedded Mosquitto, which keeps devices out after each start
    until the ingest has subscribed again (Mosquitto 2.0 does not persist ``$share``
    subscriptions, so what is published before that finds no subscriber); off with an external
    broker, where a broker restart would drop that window's messages (docs/mqtt.md)."""
    telemetry_raw_days: float = 7.0
    """Raw telemetry older than this is folded into 1-minute and 1-hour rollups, then deleted."""
    telemetry_minute_days: float = 90.0
    telemetry_hour_days: float = 730.0
    log_json: bool | None = None  # None: JSON when stderr is not a TTY
    log_level: str = "INFO"

    @field_validator("jwt_secret")
    @classmethod
    def _strong_secret(cls, v: str) -> str:
        if v and len(v.encode()) < 32:
            raise ValueError("HUB_JWT_SECRET must be at least 32 bytes (or empty: generated)")
        return v

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'hub.db').resolve()}"


# ---------------------------------------------------------------------------------------------
# Site file models
# ---------------------------------------------------------------------------------------------

NormPoint = Annotated[list[float], Field(min_length=2, max_length=2)]
"""A point in normalised image coordinates: x and y in 0..1, origin top-left, y down."""


def _check_lonlat(p: list[float]) -> list[float]:
    lon, lat = p
    # NaN fails both comparisons; infinities fail the bounds.
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ValueError(f"({lon}, {lat}) is not a WGS84 longitude, latitude")
    return p


LonLat = Annotated[list[float], Field(min_length=2, max_length=2), AfterValidator(_check_lonlat)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_norm(points: list[list[float]]) -> list[list[float]]:
    for x, y in points:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"point ({x}, {y}) is outside the normalised range 0..1")
    return points


class GeoPolygon(_Strict):
    """A GeoJSON Polygon geometry (lon, lat; WGS84)."""

    type: Literal["Polygon"] = "Polygon"
    coordinates: list[list[LonLat]] = Field(min_length=1)

    @field_validator("coordinates")
    @classmethod
    def _closed_rings(cls, rings: list[list[list[float]]]) -> list[list[list[float]]]:
        for ring in rings:
            if len(ring) < 4:
                raise ValueError("a polygon ring needs at least 4 positions (closed)")
            if ring[0] != ring[-1]:
                raise ValueError("a polygon ring must be closed (first position == last)")
        return rings


class Grid(_Strict):
    id: str
    name: str
    geometry: GeoPolygon
    households: int | None = None


class Community(_Strict):
    id: str
    name: str
    grids: list[Grid] = Field(default_factory=list)


class Street(_Strict):
    id: str
    name: str
    communities: list[Community] = Field(default_factory=list)


class District(_Strict):
    id: str
    name: str
    streets: list[Street] = Field(default_factory=list)


class Zone(_Strict):
    """A polygon in the image. An object is in the zone when its bottom-centre is inside."""

    id: str
    name: str = ""
    polygon: list[NormPoint] = Field(min_length=3)
    intrusion: bool = True
    """Raise an intrusion event when an object enters."""
    loiter_seconds: float | None = Field(default=None, gt=0)
    """Raise a loitering event when one object dwells longer than this. None: off."""
    min_object_size: float = Field(default=0.0, ge=0, le=1)
    """Smallest object height, as a fraction of the image height, that counts."""
    inertia_frames: int = Field(default=2, ge=1, le=50)
    """Analysed frames an object must be inside before it counts as entered."""
    cooldown_seconds: float = Field(default=5.0, ge=0)
    """After an event in this zone, further events of the same kind wait this long."""

    _v = field_validator("polygon")(classmethod(lambda cls, v: _check_norm(v)))


Direction = Literal["forward", "backward"]
_BOTH_WAYS: tuple[Direction, ...] = ("forward", "backward")


class Line(_Strict):
    """A tripwire from ``points[0]`` to ``points[1]``.

    ``forward`` is a crossing from the left of the directed line to its right, in image
    coordinates (y down): for a line drawn left-to-right, forward means moving downwards.
    """

    id: str
    name: str = ""
    points: list[NormPoint] = Field(min_length=2, max_length=2)
    directions: list[Direction] = Field(default_factory=lambda: list(_BOTH_WAYS), min_length=1)
    min_object_size: float = Field(default=0.0, ge=0, le=1)
    cooldown_seconds: float = Field(default=0.0, ge=0)

    _v = field_validator("points")(classmethod(lambda cls, v: _check_norm(v)))


class Camera(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")
    name: str
    url: str
    grid: str
    position: LonLat
    heading: float | None = Field(default=None, ge=0, lt=360)
    """Compass direction the camera faces, degrees; None: unknown/dome."""
    fov_degrees: float = Field(default=90.0, gt=0, le=360)
    """Horizontal field of view around ``heading`` (ignored for a dome: it sees all round)."""
    view_distance_m: float = Field(default=150.0, gt=0)
    """How far the camera usefully sees; linkage only offers cameras within this distance."""
    analysis_fps: float = Field(default=5.0, gt=0, le=30)
    keyframes_only: bool | None = None
    """Decode keyframes only. None: automatic, on when analysis_fps <= 1."""
    analysis_width: int = Field(default=256, ge=64, le=1280)
    masks: list[list[NormPoint]] = Field(default_factory=list)
    """Polygons whose motion is ignored (trees, clocks, roads outside the scene)."""
    zones: list[Zone] = Field(default_factory=list)
    lines: list[Line] = Field(default_factory=list)
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _url_scheme(cls, v: str) -> str:
        if not (v.startswith(("rtsp://", "rtsps://", "file://", "/")) or "://" not in v):
            raise ValueError("url must be rtsp://, rtsps://, file:// or a local path")
        return v

    @model_validator(mode="after")
    def _unique_ids(self) -> Camera:
        ids = [z.id for z in self.zones] + [ln.id for ln in self.lines]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"zone/line ids must be unique within a camera: {sorted(dup)}")
        return self

    @property
    def decode_keyframes_only(self) -> bool:
        return self.keyframes_only if self.keyframes_only is not None else self.analysis_fps <= 1


# ---------------------------------------------------------------------------------------------
# Devices (IoT sensors): profiles describe a kind of device, devices are the installed units
# ---------------------------------------------------------------------------------------------

Severity = Literal["critical", "major", "minor", "warning"]
SEVERITIES: tuple[Severity, ...] = ("critical", "major", "minor", "warning")


class TelemetryField(_Strict):
    """One value a device reports. ``min``/``max`` are the physical range: a value outside it is
    a broken sensor or a forged message, not an alarm, and is dead-lettered."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    name: str = ""
    type: Literal["number", "boolean", "string"] = "number"
    unit: str = ""
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _range(self) -> TelemetryField:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Condition(_Strict):
    op: Literal[">", ">=", "<", "<=", "==", "!="]
    value: float | bool | str


class AlarmRule(_Strict):
    """How a profile turns telemetry into alarms.

    - ``threshold``: a severity's condition holds on the latest value;
    - ``duration``: the condition has held continuously for ``for_seconds``;
    - ``rate``: the change of ``key`` per minute over ``window_seconds`` meets the condition;
    - ``missing``: no telemetry (of ``key``, or of anything when ``key`` is None) for longer than
      the condition's value in seconds (use op ``>``).
    ``create`` maps each severity to its condition, checked from the most severe down; ``clear``
    (when given) must hold before an active alarm clears, otherwise it clears when no create
    condition holds any more.
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    name: str
    kind: Literal["threshold", "duration", "rate", "missing"] = "threshold"
    key: str | None = None
    create: dict[Severity, Condition] = Field(min_length=1)
    clear: Condition | None = None
    for_seconds: float | None = Field(default=None, gt=0)
    window_seconds: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _kind_fields(self) -> AlarmRule:
        if self.kind != "missing" and self.key is None:
            raise ValueError(f"a {self.kind} rule needs the telemetry key it watches")
        if self.kind == "duration" and self.for_seconds is None:
            raise ValueError("a duration rule needs for_seconds")
        return self


class DeviceProfile(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    name: str
    kind: Literal[
        "smoke", "water_level", "manhole", "gas", "air_quality", "door", "gps", "other"
    ] = "other"
    telemetry: list[TelemetryField] = Field(default_factory=list)
    alarm_rules: list[AlarmRule] = Field(default_factory=list)
    inactivity_timeout_seconds: float | None = Field(default=None, gt=0)
    """A device that reports nothing for this long is offline, even without a last will."""
    max_messages_per_minute: int = Field(default=600, gt=0)
    """Above this a device is flooding: further messages in the minute are dead-lettered."""

    @model_validator(mode="after")
    def _rule_keys(self) -> DeviceProfile:
        keys = {f.key for f in self.telemetry}
        for rule in self.alarm_rules:
            if rule.key is not None and rule.key not in keys:
                raise ValueError(f"rule {rule.id} watches unknown telemetry key {rule.key!r}")
        return self


class Device(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")
    name: str
    profile: str
    grid: str
    position: LonLat
    enabled: bool = True


class SiteInfo(_Strict):
    name: str
    timezone: str = "Asia/Shanghai"


class Site(_Strict):
    site: SiteInfo
    district: District
    cameras: list[Camera] = Field(default_factory=list)
    device_profiles: list[DeviceProfile] = Field(default_factory=list)
    devices: list[Device] = Field(default_factory=list)

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
        for d in self.devices:
            if d.profile not in profiles:
                raise ValueError(f"device {d.id} names unknown profile {d.profile!r}")
            if d.grid not in known:
                raise ValueError(f"device {d.id} names unknown grid {d.grid!r}")
        return self

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


# ---------------------------------------------------------------------------------------------
# Loading with line numbers
# ---------------------------------------------------------------------------------------------


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
