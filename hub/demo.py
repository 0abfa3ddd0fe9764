"""`python -m hub demo`: the simulated district and the hub on embedded defaults, in one command.

The simulator (cameras over RTSP, sensors over MQTT, grid workers and a duty officer over the
HTTP API) runs as its own process, `python -m simulators city`, as real devices and people would be
elsewhere: the product starts it but never imports it. The hub serves on SQLite, the in-process
bus and a Mosquitto it starts itself.
The admin gets a fresh one-time password printed on every run so a newcomer can always log in. The
bots' accounts get fresh passwords too, written only to a private file the simulator reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import webbrowser
from pathlib import Path

from hub.config import Settings, Site, load_site
from hub.datadir import private_dir
from hub.devices.service import DEVICE_CREDENTIALS_FILE
from hub.store.users_cli import ensure_accounts, ensure_admin, set_password
from hub.web.server import serve

log = logging.getLogger(__name__)

RTSP_PORT = 8554
WORKER_CREDENTIALS_FILE = "worker-credentials.json"
"""The bots' passwords, ``{"workers": {name: pw}, "duty": {name: pw}}`` (read by `python -m
simulators city --worker-credentials`)."""
DUTY_ACCOUNTS = {"duty-bot": "operator", "duty-lead": "supervisor"}
"""The duty officer's accounts: the workflow lets only the center accept (受理) and only a
supervisor answer return and extension requests, so the bot needs one of each."""


def _admin_password(settings: Settings) -> str:
    created = asyncio.run(ensure_admin(settings))
    return created if created is not None else asyncio.run(set_password(settings, "admin", None))


def worker_credentials(settings: Settings, site: Site) -> tuple[Path, int]:
    """Every site worker an active ``worker`` account and the duty officer its accounts, all
    with fresh passwords in a private file; returns the file and how many workers it holds."""
    workers = [w.username for w in site.workers]
    # A drone or camera vehicle logs in as itself (a ``device`` account named after the unit)
    # to publish its video (WHIP): one unit cannot publish as another.
    units = [c.id for c in site.cameras if c.published and c.enabled]
    wanted = (
        dict.fromkeys(workers, "worker")
        | {name: role for name, role in DUTY_ACCOUNTS.items() if name not in workers}
        | dict.fromkeys(units, "device")
    )
    passwords = asyncio.run(ensure_accounts(settings, wanted))
    data = {
        "workers": {u: passwords[u] for u in workers if u in passwords},
        "duty": {u: passwords[u] for u in DUTY_ACCOUNTS if u in passwords and u not in workers},
        "drones": {u: passwords[u] for u in units if u in passwords},
    }
    path = settings.data_dir / WORKER_CREDENTIALS_FILE
    _write_private(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    return path, len(data["workers"])


def _write_private(path: Path, text: str) -> None:
    # Whole or not at all, and 0600 from the first byte: the file holds live passwords.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _wait_healthy(url: str, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _simulator_command(settings: Settings, url: str, worker_credentials: Path) -> list[str]:
    mqtt = settings.mqtt_url or f"mqtt://127.0.0.1:{settings.mqtt_embedded_port}"
    return [
        sys.executable,
        "-m",
        "simulators",
        "city",
        "--site",
        str(settings.site),
        "--rtsp-port",
        str(RTSP_PORT),
        "--truth",
        str(settings.data_dir / "ground-truth.jsonl"),
        "--mqtt",
        mqtt,
        "--mqtt-passwords",
        str(settings.data_dir / DEVICE_CREDENTIALS_FILE),
        "--sensor-truth",
        str(settings.data_dir / "sensor-truth.jsonl"),
        "--hub",
        url,
        "--worker-credentials",
        str(worker_credentials),
        "--exit-with-parent",
    ]


def run_demo(settings: Settings, *, open_browser: bool = True) -> None:
    from hub.app import create_app

    private_dir(settings.data_dir)
    site = load_site(settings.site)  # fail early, with the line, on a bad site file
    password = _admin_password(settings)
    credentials, n_workers = worker_credentials(settings, site)
    url = f"http://{settings.host}:{settings.port}"
    print(
        f"\n  模拟城区 Simulated district: {site.site.name}, {len(site.cameras)} cameras, "
        f"{len(site.devices)} sensors, {n_workers} field workers and a duty officer (bots)"
        f"\n  管理员 Admin login: admin / {password}   (one-time password, printed each demo run)"
        f"\n  Starting the hub on {url} ...\n",
        flush=True,
    )
    sim: list[subprocess.Popen[bytes]] = []

    def start_city() -> None:
        # After the hub is up: it creates the sensors' broker accounts the fleet logs in with.
        if not _wait_healthy(url):
            return
        sim.append(subprocess.Popen(_simulator_command(settings, url, credentials)))
        print(f"\n  视频墙 Video wall: {url}\n", flush=True)
        if open_browser:
            with contextlib.suppress(Exception):
                webbrowser.open(url)

    threading.Thread(target=start_city, daemon=True).start()
    try:
        serve(create_app(settings), settings)
    finally:
        for p in sim:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
