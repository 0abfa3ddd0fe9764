"""`python -m hub demo`: the simulated district and the hub on embedded defaults, in one command.

The simulator runs as its own process (as real cameras would be elsewhere); the hub serves on
SQLite and the in-process bus. The admin gets a fresh one-time password printed on every run so
a newcomer can always log in.
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

import uvicorn

from hub.config import Settings, load_site
from hub.store.users_cli import ensure_admin, set_password

log = logging.getLogger(__name__)

RTSP_PORT = 8554


def _admin_password(settings: Settings) -> str:
    created = asyncio.run(ensure_admin(settings))
    return created if created is not None else asyncio.run(set_password(settings, "admin", None))


def _open_when_ready(url: str, open_browser: bool) -> None:
    for _ in range(600):
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    else:
        return
    print(f"\n  视频墙 Video wall: {url}\n", flush=True)
    if open_browser:
        with contextlib.suppress(Exception):
            webbrowser.open(url)


def run_demo(settings: Settings, *, open_browser: bool = True) -> None:
    from hub.app import create_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    site = load_site(settings.site)  # fail early, with the line, on a bad site file
    password = _admin_password(settings)
    truth = settings.data_dir / "ground-truth.jsonl"
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub",
            "simulate",
            "city",
            "--site",
            str(settings.site),
            "--rtsp-port",
            str(RTSP_PORT),
            "--truth",
            str(truth),
        ]
    )
    url = f"http://{settings.host}:{settings.port}"
    print(
        f"\n  模拟城区 Simulated district: {site.site.name}, {len(site.cameras)} cameras"
        f"\n  管理员 Admin login: admin / {password}   (one-time password, printed each demo run)"
        f"\n  Starting the hub on {url} ...\n",
        flush=True,
    )
    threading.Thread(target=_open_when_ready, args=(url, open_browser), daemon=True).start()
    try:
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_config=None,
            ws="websockets-sansio",
        )
    finally:
        sim.terminate()
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            sim.kill()
