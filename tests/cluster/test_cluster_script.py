"""scripts/cluster.sh: the cluster as local processes (on PostgreSQL, with two ingest
processes) comes up, spreads the cameras over its video workers, ingests the simulated sensors
through the ingest processes with presence kept on the API node, survives kill -9 of a video
worker, and goes down leaving nothing running."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pg_cluster import private_postgres
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from test_video_workers import CAMERAS, SITE
from video.media_helpers import make_clip

REPO = Path(__file__).resolve().parents[2]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cameras(port: int) -> list[str] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
            return list(json.load(r)["cameras"])
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


DEVICES = """
device_profiles:
  - {id: gauge, name: gauge, telemetry: [{key: level, min: 0, max: 10}]}
devices:
  - {id: gauge-1, name: gauge 1, profile: gauge, grid: g1, position: [121.05, 31.01]}
  - {id: gauge-2, name: gauge 2, profile: gauge, grid: g1, position: [121.06, 31.02]}
"""


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with private_postgres() as url:
        yield url


def _ingest(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
            return dict(json.load(r))
    except OSError:
        return None


def _online(pg_url: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_async_engine(pg_url)
        try:
            async with engine.connect() as conn:
                sql = "SELECT device_id FROM device_state WHERE state = 'online'"
                return {r[0] for r in await conn.execute(text(sql))}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_up_status_kill_one_worker_down(tmp_path: Path, pg_url: str) -> None:
    clip = make_clip(tmp_path / "street.mp4", seconds=4.0, width=320, height=180, gop=10)
    cams = "".join(
        f"  - {{id: {c}, name: {c}, url: {clip}, grid: g1, position: [121.05, 31.05], "
        "analysis_fps: 2, detector: 'off'}\n"
        for c in CAMERAS
    )
    site = tmp_path / "site.yaml"
    site.write_text(SITE.format(cameras=cams) + DEVICES, encoding="utf-8")
    wport, iport = _port(), _port()
    env = {
        **os.environ,
        "HUB_CLUSTER_DIR": str(tmp_path / "cluster"),
        "HUB_SITE": str(site),
        "HUB_PORT": str(_port()),
        "HUB_CLUSTER_REDIS_PORT": str(_port()),
        "HUB_CLUSTER_WORKER_PORT": str(wport),
        "HUB_CLUSTER_INGEST_PORT": str(iport),
        "HUB_DATABASE_URL": pg_url,
        "HUB_MQTT_EMBEDDED_PORT": str(_port()),
        "PY": str(REPO / ".venv" / "bin" / "python"),
    }
    script = str(REPO / "scripts" / "cluster.sh")

    def run(*args: str) -> str:
        done = subprocess.run(
            [script, *args], env=env, capture_output=True, text=True, timeout=240, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    pids: list[int] = []
    try:
        out = run("up", "2")
        pids = [int(f.read_text()) for f in (tmp_path / "cluster").glob("*.pid")]
        assert len(pids) == 6  # redis, the API node, 2 video workers, 2 ingest processes
        assert "Admin login: admin / " in out and "2 video workers, 2 ingest" in out
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            served = [_cameras(wport + i) or [] for i in (1, 2)]
            if sorted(served[0] + served[1]) == CAMERAS and all(served):
                break
            time.sleep(0.5)
        assert sorted(served[0] + served[1]) == CAMERAS and all(served), served
        status = run("status")
        assert "video-1: running" in status and "ingest-2: running" in status
        # The sensors' messages (their status at connect; readings come every minute) come in
        # through the ingest processes, and presence follows them on the API node, which reads
        # no MQTT itself: the devices are stored online.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _online(pg_url) != {"gauge-1", "gauge-2"}:
            time.sleep(0.5)
        assert _online(pg_url) == {"gauge-1", "gauge-2"}
        processed = [int(str((_ingest(iport + i) or {}).get("processed", 0))) for i in (1, 2)]
        assert sum(processed) >= 2, processed

        pid = int((tmp_path / "cluster" / "video-1.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        while time.monotonic() - killed < 20:
            if sorted(_cameras(wport + 2) or []) == CAMERAS:
                break
            time.sleep(0.25)
        assert sorted(_cameras(wport + 2) or []) == CAMERAS
        assert time.monotonic() - killed < 15
        assert "video-1: stopped" in run("status")
    finally:
        run("down")
    assert not list((tmp_path / "cluster").glob("*.pid"))
    assert [p for p in pids if _alive(p)] == [], "processes of the cluster still running"
    sim = subprocess.run(["pgrep", "-f", str(site)], capture_output=True, text=True, check=False)
    assert sim.stdout.split() == []  # the simulator went with the API node
