"""Building the sensor fleet the command line runs: the broker URL, which devices, and which
anomalies (the random scripted day, or drills planned by hand)."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from hub.config import Site
from simulators.sensors.anomalies import Anomaly, PlannedAnomaly, scripted_day
from simulators.sensors.fleet import PasswordSource, SensorFleet


def plan_anomalies(
    site: Site, start: float, planned: Sequence[PlannedAnomaly] | None, *, scripted: bool = True
) -> list[Anomaly]:
    """The planned anomalies when any are given (a drill is the only anomaly, so the operators
    know what to expect), else the scripted day (or none)."""
    if planned:
        return [p.at(site, start) for p in planned]
    return scripted_day(site, start) if scripted else []


def make_fleet(
    site: Site,
    mqtt_url: str,
    passwords: PasswordSource,
    *,
    devices: Collection[str] | None = None,
    skip: Collection[str] = (),
    planned: Sequence[PlannedAnomaly] | None = None,
    scripted: bool = True,
    speed: float = 1.0,
    truth_path: Path | None = None,
) -> SensorFleet:
    """The fleet of the site's enabled devices (only `devices` when given, never `skip`) on the
    broker at `mqtt_url` (mqtt://host:port), starting now."""
    u = urlsplit(mqtt_url)
    known = {d.id for d in site.devices}
    unknown = sorted(set(devices or ()) - known)
    if unknown:
        raise ValueError(f"unknown devices: {', '.join(unknown)}")
    chosen = [
        d.id for d in site.devices if (devices is None or d.id in devices) and d.id not in skip
    ]
    idle = sorted({p.device_id for p in planned or ()} - set(chosen))
    if idle:
        raise ValueError(f"anomalies planned on devices this fleet does not run: {', '.join(idle)}")
    start = time.time()
    return SensorFleet(
        site,
        host=u.hostname or "127.0.0.1",
        port=u.port or 1883,
        password=passwords,
        devices=chosen,
        speed=speed,
        start=start,
        anomalies=plan_anomalies(site, start, planned, scripted=scripted),
        truth_path=truth_path,
    )
