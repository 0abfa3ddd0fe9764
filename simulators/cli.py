"""`python -m simulators ...`: the simulated city, its sensor fleet and its grid workers, for tests
and demos.

The hub never imports this package; it starts these commands as processes, as real devices would
be elsewhere. Heavy imports happen inside the commands so `--help` stays instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hub.config import Settings, Site, load_site
from hub.logs import setup_logging

if TYPE_CHECKING:
    from simulators.sensors import PlannedAnomaly
    from simulators.workers import Credentials

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
HubOpt = Annotated[
    str | None,
    typer.Option("--hub", help="The hub's URL (http://host:port), for the worker bots."),
]
SpeedOpt = Annotated[
    float,
    typer.Option(
        help="Simulated seconds per wall second for the bots' walking and handling "
        "(heartbeats and polls stay in wall time)."
    ),
]
SeedOpt = Annotated[int, typer.Option(help="Seed of the bots' random choices.")]


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
    hub: HubOpt = None,
    worker_credentials: Annotated[
        Path | None,
        typer.Option(help="Worker and duty-officer passwords (JSON), for the bots; needs --hub."),
    ] = None,
    worker_speed: SpeedOpt = 10.0,
    worker_seed: SeedOpt = 0,
    exit_with_parent: Annotated[
        bool,
        typer.Option(help="Stop when the process that started this one is gone (`hub demo`)."),
    ] = False,
) -> None:
    """Serve every camera of the site file from simulated scenes (RTSP), with --mqtt its
    sensor fleet (MQTT), and with --hub its grid workers and a duty officer (HTTP)."""
    from simulators.city import read_passwords, run_city

    s = _settings(site)
    if mqtt and mqtt_passwords is None:
        typer.echo("error: --mqtt needs --mqtt-passwords", err=True)
        raise typer.Exit(2)
    if (hub is None) != (worker_credentials is None):
        typer.echo("error: --hub and --worker-credentials go together", err=True)
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
    if hub is not None and worker_credentials is not None:
        creds = _credentials(worker_credentials, "--worker-credentials")
        city = _with_workers(city, the_site, hub, creds, worker_speed, worker_seed)
    if exit_with_parent:
        city = until_orphaned(city, os.getppid())
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(city)


async def until_orphaned(city: Coroutine[Any, Any, None], parent: int) -> None:
    """Run ``city`` until it ends or the process ``parent`` is no longer this one's parent.
    A demo hub that dies without stopping its simulator (a second signal during its shutdown,
    a SIGKILL) must not leave it holding the demo's RTSP port and bots."""
    task = asyncio.ensure_future(city)
    try:
        while not task.done():
            if os.getppid() != parent:
                logging.getLogger(__name__).warning("the hub that started us is gone; stopping")
                task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        await task
    finally:
        task.cancel()


async def _with_workers(
    city: Coroutine[Any, Any, None],
    site: Site,
    hub: str,
    creds: Credentials,
    speed: float,
    seed: int,
) -> None:
    """``city`` with the worker bots alongside, started first: they need no encoding; and
    the drones, which publish their video to the hub."""
    from simulators.drones.fleet import DroneFleet
    from simulators.workers import Behaviour, WorkerCity

    _cancel_on_sigterm()
    async with (
        WorkerCity(site, hub, creds, behaviour=Behaviour(speed=speed), seed=seed),
        DroneFleet(site, hub, creds.drones),
    ):
        await city


def _cancel_on_sigterm() -> None:
    """SIGTERM (how `python -m hub demo` stops the simulator) cancels the main task like
    Ctrl-C does, so the bots end their shifts instead of vanishing on duty."""
    task = asyncio.current_task()
    if task is not None:
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


def _credentials(path: Path, option: str) -> Credentials:
    from simulators.workers import load_credentials

    try:
        return load_credentials(path)
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from exc


@app.command("workers")
def simulate_workers(
    hub: Annotated[str, typer.Option("--hub", help="The hub's URL (http://host:port).")],
    credentials: Annotated[
        Path,
        typer.Option(
            help='Passwords (JSON): {"workers": {username: password}, "duty": {...}}; '
            "`python -m hub demo` writes data_dir/worker-credentials.json."
        ),
    ],
    site: SiteOpt = None,
    speed: SpeedOpt = 10.0,
    seed: SeedOpt = 0,
) -> None:
    """Run the site's grid workers and a duty officer as bots on the hub's HTTP API: on duty
    with GPS, receive, walk, arrive, photo and feedback; check, evaluate and dispatch."""
    from simulators.workers import Behaviour, run_workers

    s = _settings(site)
    the_site = load_site(s.site)
    creds = _credentials(credentials, "--credentials")

    async def run() -> None:
        _cancel_on_sigterm()
        await run_workers(the_site, hub, creds, behaviour=Behaviour(speed=speed), seed=seed)

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(run())


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
