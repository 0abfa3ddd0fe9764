"""The simulated city: the demo district's cameras served over RTSP, with live ground truth, and
(given an MQTT broker) its sensor fleet."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Sequence
from pathlib import Path

from hub.config import Site
from simulators.city.simulator import CitySimulator
from simulators.sensors import PlannedAnomaly, SensorFleet
from simulators.sensors.fleet import PasswordSource
from simulators.sensors.run import make_fleet


def read_passwords(path: Path) -> dict[str, str]:
    """`device-id:password` lines (the plain form `mosquitto_passwd -U` hashes)."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            user, _, pw = line.partition(":")
            out[user.strip()] = pw.strip()
    return out


async def run_city(
    site: Site,
    *,
    rtsp_port: int = 8554,
    truth_path: Path | None = None,
    width: int = 1280,
    height: int = 720,
    fps: float = 15,
    mqtt_url: str | None = None,
    mqtt_passwords: PasswordSource | None = None,
    sensor_speed: float = 1.0,
    sensor_truth_path: Path | None = None,
    sensor_anomalies: bool = True,
    planned_anomalies: Sequence[PlannedAnomaly] | None = None,
    skip_sensors: Collection[str] = (),
) -> None:
    """Serve every camera of the site that points at 127.0.0.1:<rtsp_port>; with `mqtt_url`
    (mqtt://host:port) also run the site's sensor fleet, each device logging in with its id and
    the password `mqtt_passwords` gives for it, except the `skip_sensors` (driven from elsewhere).
    `planned_anomalies` replace the scripted day. Runs until cancelled."""
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(
            CitySimulator(
                site, port=rtsp_port, truth_path=truth_path, width=width, height=height, fps=fps
            )
        )
        if mqtt_url:
            if mqtt_passwords is None:
                raise ValueError("the sensor fleet needs the devices' MQTT passwords")
            await stack.enter_async_context(
                make_fleet(
                    site,
                    mqtt_url,
                    mqtt_passwords,
                    skip=skip_sensors,
                    planned=planned_anomalies,
                    scripted=sensor_anomalies,
                    speed=sensor_speed,
                    truth_path=sensor_truth_path,
                )
            )
        await asyncio.Event().wait()


__all__ = ["CitySimulator", "SensorFleet", "read_passwords", "run_city"]
