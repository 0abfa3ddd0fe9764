"""The video part as an API node of a cluster sees it (``hub serve --role api``): the cameras are
analysed by video workers (``--role video``); their health comes over the bus.

A camera no worker has reported for ``stale_after`` seconds shows offline ("no video worker
reports it"): between a worker's death and another taking the camera over, and when no worker
runs at all. Live view, sharing a camera into a call and WHIP ingest need the video on this
process; relaying them from the owning worker is not built yet, so here a live view of a camera
answers 404 with that reason, and calls and WHIP are off (the app sees no packet source).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from hub.aio import cancel_and_wait
from hub.bus.base import Bus, Subscription
from hub.bus.contracts import CAMERA_HEALTH, CameraHealth
from hub.config import Site
from hub.errors import NotFoundError
from hub.video.interfaces import LiveSubscription


class RemoteVideo:
    """Implements ``hub.video.interfaces.VideoService`` from the workers' health reports."""

    def __init__(
        self,
        site: Site,
        bus: Bus,
        *,
        stale_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.site = site
        self.bus = bus
        self.stale_after = stale_after
        self.clock = clock
        self._latest: dict[str, tuple[CameraHealth, float]] = {}
        self._sub: Subscription[CameraHealth] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sub = self.bus.subscribe(CAMERA_HEALTH)
        self._task = asyncio.create_task(self._follow(self._sub), name="remote-video-health")

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        if self._sub is not None:
            await self._sub.close()

    async def _follow(self, sub: Subscription[CameraHealth]) -> None:
        known = {c.id for c in self.site.cameras}
        while True:
            h = (await sub.get()).data
            if h.camera_id in known:
                self._latest[h.camera_id] = (h, self.clock())

    def health(self) -> list[CameraHealth]:
        now = self.clock()
        out = []
        for cam in self.site.cameras:
            if not cam.enabled:
                out.append(CameraHealth(camera_id=cam.id, state="disabled"))
                continue
            seen = self._latest.get(cam.id)
            if seen is not None and now - seen[1] <= self.stale_after:
                out.append(seen[0])
            else:
                out.append(
                    CameraHealth(
                        camera_id=cam.id,
                        state="offline",
                        last_error="no video worker reports this camera",
                    )
                )
        return out

    def subscribe_live(self, camera_id: str, stream: str = "main") -> LiveSubscription:
        if camera_id not in {c.id for c in self.site.cameras}:
            raise NotFoundError(f"no camera {camera_id!r}")
        raise NotFoundError(
            f"camera {camera_id!r} is analysed by a video worker; this API node cannot relay "
            "its live view yet"
        )
