"""The device site both MQTT benches use: gauges with one rule of each kind, around one spot."""

from __future__ import annotations

from hub.config import Camera, Device, DeviceProfile, Site

SPOT = [120.05, 31.05]


def gauge(*, critical: float, warning: float, rise: float) -> DeviceProfile:
    """Level and battery telemetry; threshold (``critical``/``warning`` on the level), rate (a
    level rise above ``rise`` per minute), duration (battery low for 10 min) and missing rules."""
    return DeviceProfile.model_validate(
        {
            "id": "gauge",
            "name": "gauge",
            "max_messages_per_minute": 10_000_000,
            "telemetry": [
                {"key": "level", "min": 0, "max": 10},
                {"key": "battery", "min": 0, "max": 100},
            ],
            "alarm_rules": [
                {"id": "level-high", "name": "level high", "key": "level",
                 "create": {"critical": {"op": ">=", "value": critical},
                            "warning": {"op": ">=", "value": warning}}},
                {"id": "level-rise", "name": "level rise", "kind": "rate", "key": "level",
                 "create": {"major": {"op": ">", "value": rise}}},
                {"id": "battery-low", "name": "battery low", "kind": "duration", "key": "battery",
                 "for_seconds": 600, "create": {"minor": {"op": "<", "value": 10}}},
                {"id": "offline", "name": "offline", "kind": "missing",
                 "create": {"major": {"op": ">", "value": 3600}}},
            ],
        }
    )  # fmt: skip


def gauge_site(profile: DeviceProfile, device_ids: list[str], cameras: list[Camera]) -> Site:
    devices = [Device(id=d, name=d, profile="gauge", grid="g1", position=SPOT) for d in device_ids]
    return Site.for_devices([profile], devices, cameras=cameras, name="bench")
