"""An API node's view of cameras analysed elsewhere: their health from the bus."""

from __future__ import annotations

import asyncio

import pytest
from one_grid import ONE_GRID_SITE

from hub.bus import MemoryBus
from hub.bus.contracts import CAMERA_HEALTH, CameraHealth
from hub.cluster.remote_video import RemoteVideo
from hub.config import parse_site
from hub.errors import NotFoundError

SITE = ONE_GRID_SITE.format(
    cameras="""\
  - {id: cam-a, name: A, url: rtsp://x/a, grid: g1, position: [121.05, 31.05]}
  - {id: cam-b, name: B, url: rtsp://x/b, grid: g1, position: [121.05, 31.05]}
  - {id: cam-off, name: "Off", url: rtsp://x/c, grid: g1, position: [121.05, 31.05],
     enabled: false}"""
)


async def test_health_comes_from_the_workers_and_goes_stale() -> None:
    now = [100.0]
    bus = MemoryBus()
    video = RemoteVideo(parse_site(SITE), bus, stale_after=5.0, clock=lambda: now[0])
    await video.start()
    try:
        assert [(h.camera_id, h.state) for h in video.health()] == [
            ("cam-a", "offline"),
            ("cam-b", "offline"),
            ("cam-off", "disabled"),
        ]
        await bus.publish(CAMERA_HEALTH, CameraHealth(camera_id="cam-a", state="online", fps_in=25))
        await bus.publish(CAMERA_HEALTH, CameraHealth(camera_id="zz", state="online"))
        await asyncio.sleep(0.05)
        a = video.health()[0]
        assert a.state == "online" and a.fps_in == 25
        assert [h.camera_id for h in video.health()] == [
            "cam-a",
            "cam-b",
            "cam-off",
        ]  # site order only
        now[0] += 6  # its worker died and nobody reports it yet
        a = video.health()[0]
        assert a.state == "offline" and a.last_error == "no video worker reports this camera"
        with pytest.raises(NotFoundError, match="video worker"):
            video.subscribe_live("cam-a")
        with pytest.raises(NotFoundError, match="no camera"):
            video.subscribe_live("nope")
    finally:
        await video.stop()
