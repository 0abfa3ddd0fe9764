"""Configuration: settings from the environment (``HUB_...``, :mod:`hub.config.settings`) and the
site file (YAML, :mod:`hub.config.site`) with its parts: the grid hierarchy, cameras, devices, the
working calendar and the case category catalogue (with shipped defaults for both).

Everything is re-exported here: ``from hub.config import Settings, Site, Camera``.
"""

from hub.config.calendar import TimeLimit, Unit, WorkCalendar, default_calendar
from hub.config.cameras import Camera, Direction, Line, Zone
from hub.config.categories import (
    Category,
    CategoryCatalogue,
    CategoryKind,
    Department,
    Fusion,
    Sources,
    StageLimits,
    VideoType,
)
from hub.config.common import LonLat, NormPoint
from hub.config.devices import (
    SEVERITIES,
    AlarmRule,
    Condition,
    Device,
    DeviceProfile,
    Severity,
    TelemetryField,
)
from hub.config.grids import Community, District, GeoPolygon, Grid, Street
from hub.config.settings import Settings
from hub.config.site import Site, SiteInfo, load_site, parse_site
from hub.config.workers import Worker

__all__ = [
    "SEVERITIES",
    "AlarmRule",
    "Camera",
    "Category",
    "CategoryCatalogue",
    "CategoryKind",
    "Community",
    "Condition",
    "Department",
    "Device",
    "DeviceProfile",
    "Direction",
    "District",
    "Fusion",
    "GeoPolygon",
    "Grid",
    "Line",
    "LonLat",
    "NormPoint",
    "Settings",
    "Severity",
    "Site",
    "SiteInfo",
    "Sources",
    "StageLimits",
    "Street",
    "TelemetryField",
    "TimeLimit",
    "Unit",
    "VideoType",
    "WorkCalendar",
    "Worker",
    "Zone",
    "default_calendar",
    "load_site",
    "parse_site",
]
