"""The demo district's device profiles and devices, as site-file data (plain dicts).

Thresholds follow what the devices and Chinese standards use: photoelectric smoke detectors alarm
at a few %/m obscuration, heat detectors at 57 °C fixed or ~8 °C/min rate of rise (GB 4716),
combustible-gas detectors at 20 % LEL low / 50 % LEL high (GB 15322), AQI bands per HJ 633
(201-300 重度污染, >300 严重污染), flood gauges by 警戒水位 / 保证水位. Normal signals of the
simulator stay well inside every create condition so that a normal day raises nothing.
"""

from __future__ import annotations

import hashlib
from typing import Any

Cell = tuple[str, str, float, float, float, float]
"""grid id, community name, lon0, lat0, lon1, lat1."""


def _rule(
    rid: str,
    name: str,
    kind: str,
    key: str | None,
    create: dict[str, tuple[str, float | bool]],
    clear: tuple[str, float | bool] | None = None,
    **extra: float,
) -> dict[str, Any]:
    out: dict[str, Any] = {"id": rid, "name": name, "kind": kind}
    if key is not None:
        out["key"] = key
    out["create"] = {sev: {"op": op, "value": v} for sev, (op, v) in create.items()}
    if clear is not None:
        out["clear"] = {"op": clear[0], "value": clear[1]}
    out.update(extra)
    return out


def _field(key: str, name: str, unit: str = "", lo: float | None = None, hi: float | None = None,
           type_: str = "number") -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"key": key, "name": name}
    if type_ != "number":
        out["type"] = type_
    if unit:
        out["unit"] = unit
    if lo is not None:
        out["min"] = lo
    if hi is not None:
        out["max"] = hi
    return out


_BATTERY = _field("battery", "电量 Battery", "%", 0, 100)


def _battery_rule(prefix: str) -> dict[str, Any]:
    return _rule(f"{prefix}-battery-low", "电量低 Low battery", "threshold", "battery",
                 {"warning": ("<=", 20)}, clear=(">", 25))  # fmt: skip


def _offline_rule(prefix: str, seconds: float) -> dict[str, Any]:
    return _rule(f"{prefix}-offline", "设备离线 No data", "missing", None,
                 {"major": (">", seconds)})  # fmt: skip


def device_profiles() -> list[dict[str, Any]]:
    """The seven demo profiles, all kinds the issue names."""
    return [
        {
            "id": "smoke-detector",
            "name": "独立式光电感烟火灾探测报警器 Smoke/fire detector",
            "kind": "smoke",
            "telemetry": [
                _field("smoke", "烟雾浓度 Smoke obscuration", "%/m", 0, 30),
                _field("temperature", "温度 Temperature", "°C", -20, 85),
                _BATTERY,
            ],
            "alarm_rules": [
                _rule(
                    "smoke-high",
                    "烟雾报警 Smoke alarm",
                    "threshold",
                    "smoke",
                    {"critical": (">=", 8.0), "major": (">=", 4.0)},
                    clear=("<", 1.5),
                ),
                _rule(
                    "heat-high",
                    "高温报警 Heat alarm (fixed 57 °C)",
                    "threshold",
                    "temperature",
                    {"critical": (">=", 57.0), "major": (">=", 50.0)},
                    clear=("<", 45.0),
                ),
                _rule(
                    "heat-rise",
                    "温升报警 Rate-of-rise heat",
                    "rate",
                    "temperature",
                    {"critical": (">=", 8.0)},
                    window_seconds=120,
                ),
                _battery_rule("smoke"),
                _offline_rule("smoke", 600),
            ],
            "inactivity_timeout_seconds": 600,
            "max_messages_per_minute": 60,
        },
        {
            "id": "water-level-gauge",
            "name": "防汛水位计 Flood water-level gauge",
            "kind": "water_level",
            "telemetry": [
                _field("level", "水位 Water level", "m", 0, 10),
                _field("rain", "雨量 Rainfall", "mm/h", 0, 200),
                _BATTERY,
            ],
            "alarm_rules": [
                _rule(
                    "water-level",
                    "超警戒水位 Above warning level",
                    "threshold",
                    "level",
                    {"critical": (">=", 4.5), "major": (">=", 4.0), "minor": (">=", 3.6)},
                    clear=("<", 3.4),
                ),
                _rule(
                    "water-rise",
                    "水位陡涨 Water rising fast",
                    "rate",
                    "level",
                    {"major": (">=", 0.04)},
                    window_seconds=600,
                ),
                _battery_rule("water"),
                _offline_rule("water", 600),
            ],
            "inactivity_timeout_seconds": 600,
            "max_messages_per_minute": 60,
        },
        {
            "id": "manhole-tilt",
            "name": "井盖倾斜传感器 Manhole-cover tilt sensor",
            "kind": "manhole",
            "telemetry": [
                _field("tilt", "倾斜角 Tilt angle", "°", 0, 90),
                _field("water", "井内积水 Water in well", "", type_="boolean"),
                _BATTERY,
            ],
            "alarm_rules": [
                _rule(
                    "manhole-tilt",
                    "井盖倾斜/移位 Cover tilted or displaced",
                    "threshold",
                    "tilt",
                    {"critical": (">=", 25.0), "major": (">=", 12.0)},
                    clear=("<", 5.0),
                ),
                _rule(
                    "manhole-water",
                    "井内满水 Well flooded",
                    "duration",
                    "water",
                    {"minor": ("==", True)},
                    clear=("==", False),
                    for_seconds=300,
                ),
                _battery_rule("manhole"),
                _offline_rule("manhole", 1800),
            ],
            "inactivity_timeout_seconds": 1800,
            "max_messages_per_minute": 30,
        },
        {
            "id": "gas-detector",
            "name": "可燃气体探测器 Combustible-gas detector",
            "kind": "gas",
            "telemetry": [
                _field("lel", "甲烷浓度 Methane", "%LEL", 0, 100),
                _field("co", "一氧化碳 Carbon monoxide", "ppm", 0, 1000),
                _BATTERY,
            ],
            "alarm_rules": [
                _rule(
                    "gas-lel",
                    "燃气泄漏 Gas leak",
                    "threshold",
                    "lel",
                    {"critical": (">=", 50.0), "major": (">=", 20.0)},
                    clear=("<", 5.0),
                ),
                _rule(
                    "gas-sustained",
                    "燃气持续超标 Gas above 10 %LEL for 5 min",
                    "duration",
                    "lel",
                    {"minor": (">=", 10.0)},
                    clear=("<", 5.0),
                    for_seconds=300,
                ),
                _rule(
                    "co-high",
                    "一氧化碳超标 CO high",
                    "threshold",
                    "co",
                    {"critical": (">=", 200.0), "major": (">=", 50.0)},
                    clear=("<", 25.0),
                ),
                _battery_rule("gas"),
                _offline_rule("gas", 600),
            ],
            "inactivity_timeout_seconds": 600,
            "max_messages_per_minute": 120,
        },
        {
            "id": "air-quality",
            "name": "空气质量监测站 Air-quality station",
            "kind": "air_quality",
            "telemetry": [
                _field("pm25", "PM2.5", "µg/m³", 0, 1000),
                _field("pm10", "PM10", "µg/m³", 0, 2000),
                _field("aqi", "空气质量指数 AQI", "", 0, 500),
                _field("temperature", "温度 Temperature", "°C", -40, 60),
                _field("humidity", "湿度 Humidity", "%RH", 0, 100),
            ],
            "alarm_rules": [
                _rule(
                    "aqi-high",
                    "空气重度污染 Heavy pollution",
                    "threshold",
                    "aqi",
                    {"major": (">", 300.0), "minor": (">", 200.0)},
                    clear=("<=", 150.0),
                ),
                _rule(
                    "pm25-sustained",
                    "PM2.5 持续超标 PM2.5 above 115 for 1 h",
                    "duration",
                    "pm25",
                    {"warning": (">", 115.0)},
                    clear=("<=", 75.0),
                    for_seconds=3600,
                ),
                _offline_rule("air", 900),
            ],
            "inactivity_timeout_seconds": 900,
            "max_messages_per_minute": 30,
        },
        {
            "id": "door-sensor",
            "name": "门磁/门禁传感器 Door/access sensor",
            "kind": "door",
            "telemetry": [
                _field("open", "门开 Door open", type_="boolean"),
                _field("forced", "非法开门 Forced open", type_="boolean"),
                _BATTERY,
            ],
            "alarm_rules": [
                _rule(
                    "door-forced",
                    "非法闯入 Door forced",
                    "threshold",
                    "forced",
                    {"critical": ("==", True)},
                    clear=("==", False),
                ),
                _rule(
                    "door-held",
                    "门长时间未关 Door held open 10 min",
                    "duration",
                    "open",
                    {"minor": ("==", True)},
                    clear=("==", False),
                    for_seconds=600,
                ),
                _battery_rule("door"),
                _offline_rule("door", 600),
            ],
            "inactivity_timeout_seconds": 600,
            "max_messages_per_minute": 120,
        },
        {
            "id": "gps-tracker",
            "name": "定位器（巡逻车/执法记录） GPS tracker",
            "kind": "gps",
            "telemetry": [
                _field("lon", "经度 Longitude", "°", -180, 180),
                _field("lat", "纬度 Latitude", "°", -90, 90),
                _field("speed", "速度 Speed", "km/h", 0, 250),
                _field("heading", "方向 Heading", "°", 0, 360),
                _BATTERY,
            ],
            "alarm_rules": [
                _rule(
                    "gps-overspeed",
                    "超速 Overspeed",
                    "duration",
                    "speed",
                    {"minor": (">", 80.0)},
                    clear=("<=", 60.0),
                    for_seconds=30,
                ),
                _battery_rule("gps"),
                _offline_rule("gps", 300),
            ],
            "inactivity_timeout_seconds": 300,
            "max_messages_per_minute": 120,
        },
    ]


# profile id -> (id prefix, count, Chinese name, English name, places)
_FLEET: list[tuple[str, str, int, str, str, tuple[str, ...]]] = [
    (
        "smoke-detector",
        "smoke",
        144,
        "烟感",
        "Smoke",
        ("栋楼道", "号商铺", "栋地下车库", "幢配电间"),
    ),
    ("water-level-gauge", "water", 24, "水位计", "Water level", ("号下穿通道", "号河道断面")),
    ("manhole-tilt", "manhole", 96, "井盖", "Manhole", ("号雨水井", "号污水井")),
    ("gas-detector", "gas", 72, "燃气探测", "Gas", ("号餐饮店后厨", "栋燃气调压箱")),
    ("air-quality", "air", 24, "空气站", "Air quality", ("号路口", "号街头公园")),
    ("door-sensor", "door", 48, "门磁", "Door", ("号配电房", "号消防控制室", "号物资仓库")),
    ("gps-tracker", "gps", 24, "定位器", "GPS", ("号巡逻车",)),
]


def _unit(device_id: str, salt: str) -> float:
    h = hashlib.blake2b(f"{device_id}/{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def build_devices(cells: list[Cell]) -> list[dict[str, Any]]:
    """Devices spread over the grid cells (round robin), each inside its cell. 432 in all."""
    out: list[dict[str, Any]] = []
    k = 0
    for profile, prefix, count, zh, en, places in _FLEET:
        for n in range(1, count + 1):
            dev_id = f"dev-{prefix}-{n:04d}"
            gid, cname, x0, y0, x1, y1 = cells[(k * 7) % len(cells)]
            k += 1
            # Keep 5 % clear of the cell edges: rounding must never push a device out.
            fx = 0.05 + 0.9 * _unit(dev_id, "x")
            fy = 0.05 + 0.9 * _unit(dev_id, "y")
            place = places[n % len(places)]
            no = 1 + int(_unit(dev_id, "no") * 30)
            out.append(
                {
                    "id": dev_id,
                    "name": f"{cname}{no}{place}{zh} {en} {n:04d}",
                    "profile": profile,
                    "grid": gid,
                    "position": [round(x0 + fx * (x1 - x0), 6), round(y0 + fy * (y1 - y0), 6)],
                }
            )
    return out
