"""`python -m hub demo`: the simulated district and the hub on embedded defaults, in one command.

The simulator (cameras over RTSP, sensors over MQTT) runs as its own process, `python -m simulators
city`, as real devices would be elsewhere: the product starts it but never imports it. The hub
serves on SQLite, the in-process bus and a Mosquitto it starts itself.
The admin gets a fresh one-time password printed on every run so a newcomer can always log in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
import threading
import time
import urllib.request
import webbrowser

from hub.config import Settings, load_site
from hub.datadir import private_dir
from hub.devices.service import DEVICE_CREDENTIALS_FILE
from hub.store.users_cli import ensure_admin, set_password
from hub.web.server import serve

log = logging.getLogger(__name__)

RTSP_PORT = 8554


def _admin_password(settings: Settings) -> str:
    created = asyncio.run(ensure_admin(settings))
    return created if created is not None else asyncio.run(set_password(settings, "admin", None))


def _wait_healthy(url: str, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _simulator_command(settings: Settings) -> list[str]:
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
    ]


def run_demo(settings: Settings, *, open_browser: bool = True) -> None:
    from hub.app import create_app

    private_dir(settings.data_dir)
    site = load_site(settings.site)  # fail early, with the line, on a bad site file
    password = _admin_password(settings)
    url = f"http://{settings.host}:{settings.port}"
    print(
        f"\n  模拟城区 Simulated district: {site.site.name}, {len(site.cameras)} cameras, "
        f"{len(site.devices)} sensors"
        f"\n  管理员 Admin login: admin / {password}   (one-time password, printed each demo run)"
        f"\n  Starting the hub on {url} ...\n",
        flush=True,
    )
    sim: list[subprocess.Popen[bytes]] = []

    def start_city() -> None:
        # After the hub is up: it creates the sensors' broker accounts the fleet logs in with.
        if not _wait_healthy(url):
            return
        sim.append(subprocess.Popen(_simulator_command(settings)))
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
