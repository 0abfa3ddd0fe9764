"""Every publishing unit of a site that has credentials, flying and streaming to the hub.

async with DroneFleet(site, "http://127.0.0.1:8000", {"uav-xinbei-01": "pw"}):
    ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from types import TracebackType

import httpx

from hub.config import Camera, Site
from simulators.cameras.encode import EncodedLoop, load_or_encode
from simulators.city.make_site import DRONE_SCENE
from simulators.drones.flight import Flight
from simulators.drones.publisher import WhipPublisher

log = logging.getLogger(__name__)

SCENE = DRONE_SCENE
"""What the drone's camera sees: a square with a lawn it must not be walked on (intrusions)."""
WIDTH, HEIGHT, FPS, LOOP_SECONDS = 640, 360, 15, 60.0
PATROL_RADIUS_M = 250.0


def patrol(
    centre: tuple[float, float], radius_m: float = PATROL_RADIUS_M
) -> list[tuple[float, float]]:
    """A square patrol around ``centre`` (lon, lat), corners ``radius_m`` from it."""
    lon, lat = centre
    dlat = radius_m / 111_320.0
    dlon = dlat / max(0.1, math.cos(math.radians(lat)))
    return [(lon - dlon, lat - dlat), (lon + dlon, lat - dlat), (lon + dlon, lat + dlat),
            (lon - dlon, lat + dlat)]  # fmt: skip


def video_for(camera: Camera) -> EncodedLoop:
    """The unit's pre-encoded video (encoded once, then cached like the cameras')."""
    return load_or_encode(
        SCENE, seed=0, width=WIDTH, height=HEIGHT, fps=FPS, duration=LOOP_SECONDS,
        detector=camera.detector,
    )  # fmt: skip


class DroneFleet:
    def __init__(self, site: Site, hub_url: str, passwords: dict[str, str]) -> None:
        self.units = [c for c in site.cameras if c.published and c.enabled and c.id in passwords]
        self.hub_url = hub_url
        self._passwords = passwords
        self.publishers: list[WhipPublisher] = []
        self._http: httpx.AsyncClient | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> DroneFleet:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        if not self.units:
            return
        self._http = httpx.AsyncClient(base_url=self.hub_url, timeout=20)
        for cam in self.units:
            video = await asyncio.to_thread(video_for, cam)
            pub = WhipPublisher(
                self._http,
                cam.id,
                self._passwords[cam.id],
                video,
                flight=Flight(patrol((cam.position[0], cam.position[1]))),
            )
            self.publishers.append(pub)
            self._tasks.append(asyncio.create_task(pub.run(self._stop), name=f"drone-{cam.id}"))
        log.info("%d drone(s) publishing to %s", len(self.publishers), self.hub_url)

    async def stop(self) -> None:
        self._stop.set()
        if self._tasks:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait(self._tasks, timeout=10)
        for t in self._tasks:
            t.cancel()
        if self._http is not None:
            await self._http.aclose()
