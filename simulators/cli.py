"""`python -m simulators ...`: the simulated city and its sensor fleet, for tests and demos.

The hub never imports this package; it starts these commands as processes, as real devices would
be elsewhere. Heavy imports happen inside the commands so `--help` stays instant.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hub.config import Settings, Site, load_site
from hub.logs import setup_logging

if TYPE_CHECKING:
    from simulators.sensors import PlannedAnomaly

app = typer.Typer(
    help="Simulated devices for tests and demos.", no_args_is_help=True, add_completion=False
)

SiteOpt = Annotated[Path | None, typer.Option("--site", help="Site file (YAML).")]
AnomalyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--anomaly",
        metavar="KIND:DEVICE:SECONDS",
        help="Alarm drill: anomaly KIND on DEVICE, SECONDS (simulated) after the sensors start; "
        "repeatable, replaces the random scripted day. Kinds: smoke_spike, water_rise, "
        "manhole_tilt, gas_leak, silent, door_forced.",
    ),
]


def _settings(site: Path | None) -> Settings:
    s = Settings()
    if site is not None:
        s = s.model_copy(update={"site": site})
    setup_logging(s.log_level, s.log_json)
    return s


@app.command("city")
def simulate_city(
    site: SiteOpt = None,
    rtsp_port: Annotated[int, typer.Option()] = 8554,
    truth: Annotated[
        Path | None, typer.Option(help="Append ground-truth events (JSON lines) here.")
    ] = None,
    width: Annotated[int, typer.Option(help="Frame width of every simulated camera.")] = 1280,
    height: Annotated[int, typer.Option(help="Frame height.")] = 720,
    fps: Annotated[float, typer.Option(help="Frames per second.")] = 15.0,
    mqtt: Annotated[
        str | None, typer.Option("--mqtt", help="Also run the sensor fleet on this broker URL.")
    ] = None,
    mqtt_passwords: Annotated[
        Path | None, typer.Option(help="Device passwords, `device-id:password` per line.")
    ] = None,
    sensor_speed: Annotated[
        float,
        typer.Option(
            help="Simulated seconds per wall second for the sensors. Above 1 their clock runs "
            "ahead of the hub's, which refuses readings more than an hour ahead (bad_time)."
        ),
    ] = 1.0,
    sensor_truth: Annotated[
        Path | None, typer.Option(help="Append sensor anomaly ground truth (JSON lines) here.")
    ] = None,
    anomaly: AnomalyOpt = None,
    skip_sensor: Annotated[
        list[str] | None,
        typer.Option(
            metavar="DEVICE", help="Leave this device out of the sensor fleet (repeatable)."
        ),
    ] = None,
) -> None:
    """Serve every camera of the site file from simulated scenes (RTSP), and with --mqtt its
    sensor fleet (MQTT)."""
    from simulators.city import read_passwords, run_city

    s = _settings(site)
    if mqtt and mqtt_passwords is None:
        typer.echo("error: --mqtt needs --mqtt-passwords", err=True)
        raise typer.Exit(2)
    the_site = load_site(s.site)
    planned = _planned(the_site, anomaly)
    skipped = frozenset(skip_sensor or ())
    if any(p.device_id in skipped for p in planned or ()):
        raise typer.BadParameter("a drilled device cannot be skipped", param_hint="--anomaly")
    city = run_city(
        the_site,
        rtsp_port=rtsp_port,
        truth_path=truth,
        width=width,
        height=height,
        fps=fps,
        mqtt_url=mqtt,
        mqtt_passwords=read_passwords(mqtt_passwords) if mqtt_passwords else None,
        sensor_speed=sensor_speed,
        sensor_truth_path=sensor_truth,
        planned_anomalies=planned,
        skip_sensors=skipped,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(city)


@app.command("sensors")
def simulate_sensors(
    mqtt: Annotated[str, typer.Option("--mqtt", help="Broker URL, mqtt://host:port.")],
    mqtt_passwords: Annotated[
        Path, typer.Option(help="Device passwords, `device-id:password` per line.")
    ],
    site: SiteOpt = None,
    device: Annotated[
        list[str] | None,
        typer.Option(
            metavar="DEVICE",
            help="Run only this device (repeatable; default: every enabled device).",
        ),
    ] = None,
    anomaly: AnomalyOpt = None,
    speed: Annotated[
        float,
        typer.Option(
            help="Simulated seconds per wall second. Above 1 the devices' clock runs ahead of "
            "the hub's, which refuses readings more than an hour ahead (bad_time)."
        ),
    ] = 1.0,
    truth: Annotated[
        Path | None, typer.Option(help="Append anomaly ground truth (JSON lines) here.")
    ] = None,
) -> None:
    """Run the site's sensor fleet alone (no cameras), e.g. one device for an alarm drill:

    \b
    python -m simulators sensors --mqtt mqtt://127.0.0.1:1884 \\
        --mqtt-passwords var/device-credentials.txt --device dev-smoke-0007 \\
        --anomaly smoke_spike:dev-smoke-0007:30
    """
    from simulators.city import read_passwords
    from simulators.sensors.run import make_fleet

    s = _settings(site)
    the_site = load_site(s.site)
    try:
        fleet = make_fleet(
            the_site,
            mqtt,
            read_passwords(mqtt_passwords),
            devices=device,
            planned=_planned(the_site, anomaly),
            speed=speed,
            truth_path=truth,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--device/--anomaly") from exc

    async def run() -> None:
        async with fleet:
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def _planned(site: Site, specs: list[str] | None) -> list[PlannedAnomaly] | None:
    """The --anomaly options, checked against the site before anything starts."""
    from simulators.sensors import PlannedAnomaly

    if not specs:
        return None
    try:
        planned = [PlannedAnomaly.parse(spec) for spec in specs]
        for p in planned:
            p.at(site, 0.0)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--anomaly") from exc
    return planned


def main() -> None:
    app()
