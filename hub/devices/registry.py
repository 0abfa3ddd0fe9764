"""Known devices: the site file's plus those provisioned through the API (stored)."""

from __future__ import annotations

from dataclasses import dataclass

from hub.config import Device, DeviceProfile, Site, TelemetryField
from hub.devices.validate import FieldCheck, field_checks, field_index


@dataclass(frozen=True, slots=True)
class Known:
    device: Device
    profile: DeviceProfile
    fields: dict[str, TelemetryField]
    checks: dict[str, FieldCheck]
    """The fields' value checks, for the ingest."""
    source: str
    """``site`` or ``api``."""


class DeviceRegistry:
    def __init__(self, site: Site) -> None:
        self.site = site
        self._fields = {p.id: field_index(p) for p in site.device_profiles}
        self._checks = {p.id: field_checks(p) for p in site.device_profiles}
        self._known: dict[str, Known] = {}
        for d in site.devices:
            self._put(d, "site")

    def _put(self, device: Device, source: str) -> Known:
        profile = self.site.profile_by_id[device.profile]
        k = Known(device, profile, self._fields[profile.id], self._checks[profile.id], source)
        self._known[device.id] = k
        return k

    def add(self, device: Device) -> Known:
        return self._put(device, "api")

    def remove(self, device_id: str) -> None:
        self._known.pop(device_id, None)

    def get(self, device_id: str) -> Known | None:
        return self._known.get(device_id)

    def active(self, device_id: str) -> Known | None:
        k = self._known.get(device_id)
        return k if k is not None and k.device.enabled else None

    def all(self) -> list[Known]:
        return sorted(self._known.values(), key=lambda k: k.device.id)

    def timeout_of(self, device_id: str) -> float | None:
        k = self._known.get(device_id)
        return k.profile.inactivity_timeout_seconds if k is not None else None
