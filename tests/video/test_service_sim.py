"""The video service against the camera simulator's RTSP server, with its fault injection.

Acceptance: stop the simulator mid-stream and start it again: every camera is back online
within 15 s with no hub restart. And one camera's fault (freeze, corrupt, hang, drop) never
stalls the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from hub.bus import MemoryBus
from hub.bus.contracts import CameraHealth
from hub.config import (
    Camera,
    Settings,
    Site,
)
from hub.video.service import CameraService
from simulators.cameras.encode import EncodedLoop, load_or_encode
from simulators.cameras.rtsp_server import RtspServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CAMS = ("cam-0", "cam-1", "cam-2", "cam-3")


@pytest.fixture(scope="module")
def loops(tmp_path_factory: pytest.TempPathFactory) -> dict[str, EncodedLoop]:
    cache = tmp_path_factory.mktemp("sim-cache")
    return {
        name: load_or_encode(
            name, seed=1, width=320, height=180, fps=15, duration=10, cache_dir=cache
        )
        for name in ("gate", "plaza")
    }


def _site(server: RtspServer) -> Site:
    return Site.for_cameras(
        [
            Camera(
                id=c, name=c, url=server.url(c), grid="g1", position=[121.05, 31.05], detector="off"
            )
            for c in CAMS
        ]
    )


class Rig:
    def __init__(self, server: RtspServer, svc: CameraService) -> None:
        self.server = server
        self.svc = svc

    def health(self) -> dict[str, CameraHealth]:
        return {h.camera_id: h for h in self.svc.health()}

    async def until(self, cond: Callable[[dict[str, CameraHealth]], bool], within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if cond(self.health()):
                return True
            await asyncio.sleep(0.1)
        return cond(self.health())

    async def all_online(self, within: float = 15, cams: tuple[str, ...] = CAMS) -> bool:
        return await self.until(
            lambda hs: all(
                hs[c].state == "online" and (hs[c].last_frame_age or 9) < 0.5 for c in cams
            ),
            within,
        )


@pytest.fixture
async def rig(
    loops: dict[str, EncodedLoop], tmp_path: Path, unused_tcp_port: int
) -> AsyncIterator[Rig]:
    server = RtspServer(port=unused_tcp_port)
    for i, cam in enumerate(CAMS):
        server.add_camera(cam, loops["gate" if i % 2 else "plaza"], offset=i * 1.5)
    await server.start()
    settings = Settings(
        data_dir=tmp_path, stall_seconds=2, reconnect_min_seconds=0.3, reconnect_max_seconds=3
    )
    svc = CameraService(settings, _site(server), MemoryBus())
    await svc.start()
    r = Rig(server, svc)
    assert await r.all_online(15), r.health()
    yield r
    await svc.stop()
    await server.stop()


async def test_simulator_restart_every_camera_back_within_15s(rig: Rig) -> None:
    hs = rig.health()
    assert all(hs[c].codec == "h264" and hs[c].width == 320 for c in CAMS)
    await rig.server.stop()
    assert await rig.until(lambda hs: all(h.state != "online" for h in hs.values()), 6)
    await asyncio.sleep(2)  # down for a while: cameras back off
    await rig.server.start()
    t = time.monotonic()
    assert await rig.all_online(15), rig.health()
    assert time.monotonic() - t < 15
    assert all(h.reconnects >= 1 for h in rig.health().values())


async def test_freeze_stalls_one_camera_only_then_recovers(rig: Rig) -> None:
    rig.server.freeze("cam-1")
    assert await rig.until(lambda hs: hs["cam-1"].stalls >= 1, 6), rig.health()
    others = ("cam-0", "cam-2", "cam-3")
    assert await rig.all_online(1, others)
    rig.server.resume("cam-1")
    assert await rig.all_online(15), rig.health()


async def test_corrupt_counts_decode_errors_on_that_camera_only(rig: Rig) -> None:
    rig.server.corrupt("cam-2", seconds=2.0)
    assert await rig.until(lambda hs: hs["cam-2"].decode_errors > 0, 6), rig.health()
    hs = rig.health()
    assert all(hs[c].decode_errors == 0 for c in ("cam-0", "cam-1", "cam-3"))
    assert await rig.all_online(10), rig.health()


async def test_hung_camera_and_dropped_camera_recover(rig: Rig) -> None:
    rig.server.stop_camera("cam-3")  # answers nothing, like a hung camera
    rig.server.drop("cam-0")  # closes the connection; a reconnect is accepted
    assert await rig.until(lambda hs: hs["cam-3"].state in ("stalled", "offline"), 6)
    assert await rig.until(lambda hs: hs["cam-0"].reconnects >= 1, 6)
    assert await rig.all_online(5, ("cam-0", "cam-1", "cam-2"))
    rig.server.resume("cam-3")
    assert await rig.all_online(15), rig.health()
