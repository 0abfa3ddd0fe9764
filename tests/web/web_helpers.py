"""A small site, a stand-in video service and a real hub server for the web tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from hub.app import create_app
from hub.bus.contracts import DETECTIONS, CameraHealth, DetectionEvent
from hub.bus.memory import MemoryBus
from hub.config import Settings
from hub.errors import NotFoundError
from hub.video.interfaces import LiveEnded
from hub.web.server import server_config
from hub.web.state import HubState

SITE_YAML = """\
site:
  name: 测试区 Test district
  timezone: Asia/Shanghai
district:
  id: d1
  name: 新北区
  streets:
    - id: s1
      name: 三井街道
      communities:
        - id: c1
          name: 河海社区
          grids:
            - id: g1
              name: 第一网格
              households: 420
              geometry:
                type: Polygon
                coordinates: [[[119.9, 31.8], [120.0, 31.8], [120.0, 31.9], [119.9, 31.8]]]
            - id: g2
              name: 第二网格
              geometry:
                type: Polygon
                coordinates: [[[120.0, 31.8], [120.1, 31.8], [120.1, 31.9], [120.0, 31.8]]]
cameras:
  - id: cam-a
    name: 河海路口
    url: rtsp://user:secret@10.0.0.1/stream1
    grid: g1
    position: [119.95, 31.85]
    heading: 90
    zones:
      - id: z1
        name: 禁区
        polygon: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]
    lines:
      - id: l1
        name: 警戒线
        points: [[0.0, 0.5], [1.0, 0.5]]
  - id: cam-b
    name: 三井桥
    url: rtsp://10.0.0.2/stream1
    grid: g2
    position: [120.05, 31.85]
    analysis_fps: 1
"""

# One water gauge in grid g1, for the device tests (append to SITE_YAML).
DEVICES_YAML = """\
device_profiles:
  - id: gauge
    name: 水位计 Water gauge
    kind: water_level
    inactivity_timeout_seconds: 600
    telemetry:
      - {key: level, unit: m, min: 0, max: 10}
devices:
  - {id: wl-001, name: 河海桥水位, profile: gauge, grid: g1, position: [119.95, 31.85]}
"""

INIT = b"ftyp-moov-init"
SEGMENTS = [b"moof-mdat-0", b"moof-mdat-1", b"moof-mdat-2"]

# One password per role, for the users the fixtures create.
PASSWORDS = {
    "admin": "admin-pass-1",
    "operator": "operator-pass-1",
    "supervisor": "supervisor-pass-1",
    "worker": "worker-pass-1",
    "device": "device-pass-1",
}


class FakeLive:
    def __init__(self, segments: list[bytes]) -> None:
        self._segments = list(segments)
        self.closed = False

    async def init(self) -> tuple[str, bytes]:
        return 'video/mp4; codecs="avc1.42E01E"', INIT

    async def next(self) -> bytes:
        await asyncio.sleep(0)
        if not self._segments:
            raise LiveEnded()
        return self._segments.pop(0)

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeVideo:
    camera_ids: list[str]
    segments: list[bytes] = field(default_factory=lambda: list(SEGMENTS))
    started: bool = False
    subscriptions: list[FakeLive] = field(default_factory=list)

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    def health(self) -> list[CameraHealth]:
        return [
            CameraHealth(camera_id=c, state="online", fps_in=15.0, frames_in=42)
            for c in self.camera_ids
        ]

    def subscribe_live(self, camera_id: str, stream: str = "main") -> FakeLive:
        if camera_id not in self.camera_ids:
            raise NotFoundError(camera_id)
        sub = FakeLive(self.segments)
        self.subscriptions.append(sub)
        return sub


def make_settings(tmp: Path, **kw: Any) -> Settings:
    site = tmp / "site.yaml"
    site.write_text(SITE_YAML, encoding="utf-8")
    kw.setdefault("mqtt_ingest", False)  # the device tests run their own broker
    return Settings(site=site, data_dir=tmp / "data", **kw)


@dataclass
class RunningHub:
    app: FastAPI
    url: str
    settings: Settings
    bus: MemoryBus
    video: FakeVideo
    client: httpx.AsyncClient

    @property
    def state(self) -> HubState:
        state: HubState = self.app.state.hub
        return state

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    async def auth(self, role: str) -> dict[str, str]:
        """The Authorization header of the user named after ``role`` (see run_hub_with_users)."""
        return {"Authorization": f"Bearer {await self.login(role, PASSWORDS[role])}"}

    async def login(self, username: str, password: str) -> str:
        r = await self.client.post(
            "/api/auth/token", data={"username": username, "password": password}
        )
        assert r.status_code == 200, r.text
        token: str = r.json()["access_token"]
        return token


@contextlib.asynccontextmanager
async def serve(app: FastAPI, settings: Settings) -> AsyncIterator[str]:
    """``app`` under the hub's real server configuration on a free port, in this event loop;
    yields its URL."""
    config = server_config(app, settings, host="127.0.0.1", port=0, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server stopped during startup")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


@contextlib.asynccontextmanager
async def run_hub(settings: Settings, ui_dir: Path | None = None) -> AsyncIterator[RunningHub]:
    """create_app with a stand-in video service under the real server."""
    bus = MemoryBus()
    video = FakeVideo(["cam-a", "cam-b"])
    app = create_app(settings, video=video, bus=bus, ui_dir=ui_dir)
    async with serve(app, settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield RunningHub(app, url, settings, bus, video, client)


def detection(camera_id: str = "cam-a", **kw: Any) -> DetectionEvent:
    base: dict[str, Any] = {
        "camera_id": camera_id,
        "grid_id": "g1",
        "type": "intrusion",
        "zone_id": "z1",
        "track_id": 7,
        "start": datetime.now(UTC),
        "media_time": 12.5,
        "boxes": [{"x": 0.1, "y": 0.2, "w": 0.05, "h": 0.2}],
        "confidence": 0.9,
    }
    return DetectionEvent.model_validate({**base, **kw})


async def record(hub: RunningHub, *events: DetectionEvent) -> None:
    """Publish on the bus like the video service does, and wait until the store has them."""
    for ev in events:
        await hub.bus.publish(DETECTIONS, ev)
    for ev in events:
        for _ in range(500):
            if await hub.state.store.events.get(ev.id) is not None:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError(f"event {ev.id} was not recorded")


@contextlib.asynccontextmanager
async def run_hub_with_users(
    settings: Settings, ui_dir: Path | None = None
) -> AsyncIterator[RunningHub]:
    """run_hub with a user per role, named after it (PASSWORDS), and no login throttling."""
    async with run_hub(settings, ui_dir) as h:
        for role, pw in PASSWORDS.items():
            await h.state.store.users.create(role, role, pw)
        h.state.throttle.failure_delay = 0.0
        yield h
