"""scripts/cluster.sh: the cluster as local processes comes up, spreads the cameras over its
video workers, survives kill -9 of one, and goes down leaving nothing running."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

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


def test_up_status_kill_one_worker_down(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "street.mp4", seconds=4.0, width=320, height=180, gop=10)
    cams = "".join(
        f"  - {{id: {c}, name: {c}, url: {clip}, grid: g1, position: [121.05, 31.05], "
        "analysis_fps: 2, detector: 'off'}\n"
        for c in CAMERAS
    )
    site = tmp_path / "site.yaml"
    site.write_text(SITE.format(cameras=cams), encoding="utf-8")
    wport = _port()
    env = {
        **os.environ,
        "HUB_CLUSTER_DIR": str(tmp_path / "cluster"),
        "HUB_SITE": str(site),
        "HUB_PORT": str(_port()),
        "HUB_CLUSTER_REDIS_PORT": str(_port()),
        "HUB_CLUSTER_WORKER_PORT": str(wport),
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
        assert len(pids) == 4  # redis, the API node, 2 video workers
        assert "Admin login: admin / " in out and "2 video workers" in out
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            served = [_cameras(wport + i) or [] for i in (1, 2)]
            if sorted(served[0] + served[1]) == CAMERAS and all(served):
                break
            time.sleep(0.5)
        assert sorted(served[0] + served[1]) == CAMERAS and all(served), served
        assert "video-1: running" in run("status")

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
