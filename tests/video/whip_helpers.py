"""A hub with publishing units (WHIP) under the real server, the real video service and users."""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from hub.app import create_app
from hub.bus.memory import MemoryBus
from hub.config import Settings
from hub.video.service import CameraService
from hub.web.state import HubState
from simulators.cameras.encode import EncodedLoop, load_or_encode
from simulators.cameras.scenes import build_scene

SCENE, SEED, W, H, FPS, SECONDS = "plaza", 0, 640, 360, 10, 30.0
PASSWORDS = {
    "drone-1": "drone-1-pass",
    "drone-2": "drone-2-pass",
    "operator": "operator-pass-1",
    "w1": "worker-pass-1",
    "w2": "worker-pass-2",
}
ROLES = {"operator": "operator", "w1": "worker", "w2": "worker"}


def site_dict(extra_cameras: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    scene = build_scene(SCENE, seed=SEED, width=W, height=H, fps=FPS, duration=SECONDS)
    geometry = {
        "type": "Polygon",
        "coordinates": [[[119.9, 31.8], [120.0, 31.8], [120.0, 31.9], [119.9, 31.8]]],
    }
    # g2: the other half of the square, north-west of g1's diagonal (where the drone flies to).
    north = {
        "type": "Polygon",
        "coordinates": [[[119.9, 31.8], [120.0, 31.9], [119.9, 31.9], [119.9, 31.8]]],
    }
    drone = scene.camera_entry(
        "drone-1",
        name="无人机一号 Drone 1",
        url="whip://",
        kind="drone",
        grid="g1",
        position=[119.95, 31.85],
        tampering=False,
    )
    return {
        "site": {"name": "WHIP test", "timezone": "Asia/Shanghai"},
        "district": {
            "id": "d1",
            "name": "区",
            "streets": [
                {
                    "id": "s1",
                    "name": "街道",
                    "communities": [
                        {
                            "id": "c1",
                            "name": "社区",
                            "grids": [
                                {"id": "g1", "name": "网格", "geometry": geometry},
                                {"id": "g2", "name": "网格二", "geometry": north},
                            ],
                        }
                    ],
                }
            ],
        },
        "cameras": [
            drone,
            {**drone, "id": "drone-2", "name": "无人机二号 Drone 2"},
            {
                "id": "cam-fixed",
                "name": "固定 Fixed",
                "url": "rtsp://127.0.0.1:9/none",
                "grid": "g1",
                "position": [119.95, 31.85],
                "enabled": False,
            },
            *(extra_cameras or []),
        ],
    }


def video_loop() -> EncodedLoop:
    return load_or_encode(SCENE, seed=SEED, width=W, height=H, fps=FPS, duration=SECONDS)


@dataclass
class WhipHub:
    url: str
    settings: Settings
    bus: MemoryBus
    state: HubState
    client: httpx.AsyncClient

    @property
    def video(self) -> CameraService:
        v = self.state.video
        assert isinstance(v, CameraService)
        return v

    async def token(self, username: str) -> str:
        r = await self.client.post(
            "/api/auth/token", data={"username": username, "password": PASSWORDS[username]}
        )
        assert r.status_code == 200, r.text
        token: str = r.json()["access_token"]
        return token

    async def auth(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(username)}"}


@contextlib.asynccontextmanager
async def run_whip_hub(
    tmp: Path, extra_cameras: list[dict[str, Any]] | None = None, **settings: Any
) -> AsyncIterator[WhipHub]:
    from web.web_helpers import serve

    site = tmp / "site.yaml"
    site.write_text(yaml.safe_dump(site_dict(extra_cameras), allow_unicode=True), encoding="utf-8")
    settings.setdefault("mqtt_ingest", False)
    settings.setdefault("clips", False)
    s = Settings(site=site, data_dir=tmp / "data", **settings)
    bus = MemoryBus()
    app = create_app(s, bus=bus)
    async with serve(app, s) as url, httpx.AsyncClient(base_url=url, timeout=20) as client:
        state: HubState = app.state.hub
        for name, pw in PASSWORDS.items():
            await state.store.users.create(name, ROLES.get(name, "device"), pw)
        state.throttle.failure_delay = 0.0
        yield WhipHub(url, s, bus, state, client)


def track_peers(monkeypatch: pytest.MonkeyPatch) -> weakref.WeakSet[Any]:
    """Every RTCPeerConnection made from now on, for as long as it is alive. (Not
    ``gc.get_objects()``: listing the heap while OpenCV's threads fill tuples makes them fail.)"""
    from aiortc import RTCPeerConnection

    alive: weakref.WeakSet[Any] = weakref.WeakSet()
    init = RTCPeerConnection.__init__

    def tracked(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        alive.add(self)

    monkeypatch.setattr(RTCPeerConnection, "__init__", tracked)
    return alive


@dataclass(frozen=True)
class Resources:
    """What abandoned WebRTC sessions could leave behind in the hub's process (the tests run
    the hub in theirs): file descriptors (UDP ports, DTLS sockets), threads, peer connections
    still alive (of those ``track_peers`` follows), resident memory."""

    fds: int
    threads: int
    peers: int
    rss_mb: float

    @staticmethod
    def now(peers: weakref.WeakSet[Any]) -> Resources:
        gc.collect()
        with open("/proc/self/status", encoding="ascii") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return Resources(
            len(os.listdir("/proc/self/fd")), threading.active_count(), len(peers), rss / 1024
        )

    def back_from(self, before: Resources, *, fds: int, threads: int) -> bool:
        """Within ``fds`` and ``threads`` of ``before``, no more peer connections alive."""
        return (
            self.fds <= before.fds + fds
            and self.threads <= before.threads + threads
            and self.peers <= before.peers
        )
