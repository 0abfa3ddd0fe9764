"""`python -m hub ...`: serve, demo, analyze, users, openapi.

Heavy imports happen inside the commands so `--help` stays instant. The simulators are not part
of the product: they have their own command line, `python -m simulators ...`.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from hub.config import Settings, load_site
from hub.errors import HubError
from hub.logs import setup_logging

app = typer.Typer(help="City command-center hub.", no_args_is_help=True, add_completion=False)
users_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")

SiteOpt = Annotated[Path | None, typer.Option("--site", help="Site file (YAML).")]


def _settings(site: Path | None) -> Settings:
    s = Settings()
    if site is not None:
        s = s.model_copy(update={"site": site})
    setup_logging(s.log_level, s.log_json)
    return s


@app.command()
def serve(
    site: SiteOpt = None,
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    role: Annotated[
        str | None,
        typer.Option(
            help="all (the whole hub), api (the hub without cameras: they run on video "
            "workers), video (a video worker of a cluster) or devices (an MQTT ingest "
            "process of a cluster)."
        ),
    ] = None,
) -> None:
    """Run the hub: ingest, analytics, API and the video wall (or one role of a cluster)."""
    from hub.web.server import serve as run_server

    s = _settings(site)
    s = s.model_copy(
        update={"host": host or s.host, "port": port or s.port, "role": role or s.role}
    )
    if s.role == "video":
        from hub.cluster.video_worker import create_video_worker

        run_server(create_video_worker(s), s)
        return
    if s.role == "devices":
        from hub.cluster.ingest_process import create_ingest_process

        run_server(create_ingest_process(s), s)
        return
    if s.role not in ("all", "api"):
        raise typer.BadParameter(
            f"unknown role {s.role!r} (all, api, video, devices)", param_hint="--role"
        )
    from hub.app import create_app

    run_server(create_app(s), s)


@app.command()
def demo(
    site: SiteOpt = None,
    port: Annotated[int, typer.Option()] = 8000,
    open_browser: Annotated[bool, typer.Option("--open/--no-open")] = True,
) -> None:
    """Start the simulated city and the hub on it, create an admin, open the wall."""
    from hub.demo import run_demo

    s = _settings(site)
    run_demo(s.model_copy(update={"port": port}), open_browser=open_browser)


@app.command()
def analyze(
    video: Annotated[Path, typer.Argument(help="Video file (or rtsp:// URL) to analyse.")],
    camera: Annotated[str, typer.Option("--camera", help="Camera id in the site file.")],
    site: SiteOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines on stdout.")] = False,
    snapshots: Annotated[
        Path | None, typer.Option("--snapshots", help="Write event snapshots here.")
    ] = None,
) -> None:
    """Run the detection core over a recording: every event, and per frame the tracked objects."""
    from hub.video.analyze import analyze_file

    s = _settings(site)
    try:
        cam = load_site(s.site).camera(camera)
        n = analyze_file(video, cam, sys.stdout, as_json=as_json, snapshot_dir=snapshots)
    except HubError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not as_json:
        typer.echo(f"{n} events", err=True)


@app.command()
def openapi(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Print the API's OpenAPI document (JSON) without starting any service.

    scripts/gen-ui-types.sh turns it into the UI's types (hub/web/ui/src/api-types.ts)."""
    import json

    from hub.app import create_app

    # The document depends on the routes only: the lifespan (store, bus, video) never runs.
    doc = create_app(Settings()).openapi()
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.buffer.write(text.encode())
        sys.stdout.flush()
    else:
        output.write_text(text, encoding="utf-8")


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option()] = "operator",
    password: Annotated[str | None, typer.Option(help="Omit to generate one.")] = None,
) -> None:
    """Create a user; prints the generated password once when none is given."""
    from hub.store.users_cli import add_user

    s = _settings(None)
    pw = asyncio.run(add_user(s, username, role, password))
    if password is None:
        typer.echo(f"user {username} ({role}) created; one-time password: {pw}")


@users_app.command("list")
def users_list() -> None:
    """List users and their roles."""
    from hub.store.users_cli import list_users

    s = _settings(None)
    for name, role, active in asyncio.run(list_users(s)):
        typer.echo(f"{name}\t{role}\t{'active' if active else 'disabled'}")


@users_app.command("passwd")
def users_passwd(
    username: str,
    password: Annotated[str | None, typer.Option(help="Omit to generate one.")] = None,
) -> None:
    """Set a new password for a user (generated and printed when omitted)."""
    from hub.store.users_cli import set_password

    s = _settings(None)
    pw = asyncio.run(set_password(s, username, password))
    if password is None:
        typer.echo(f"new one-time password for {username}: {pw}")


def main() -> None:
    app()
