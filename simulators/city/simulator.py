"""The simulated city: every camera of a site file served by one RTSP server.

async with CitySimulator(site, port=18554, truth_path=p, width=320, height=180) as sim:
    sim.server.freeze("cam-xinbei-001")
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from urllib.parse import urlsplit

from hub.config import Site
from simulators.cameras.encode import EncodedLoop, load_or_encode_sizes
from simulators.cameras.rtsp_server import SUB, RtspServer
from simulators.cameras.scenes import build_scene
from simulators.cameras.truth import TruthEvent
from simulators.city.plan import LOOP_SECONDS, plan_for

log = logging.getLogger(__name__)
_LOCAL = {"127.0.0.1", "localhost", "0.0.0.0"}


def sub_size(width: int, height: int) -> tuple[int, int]:
    """A camera's sub stream: half its main picture each way (640x360 for 720p), even sizes."""
    return max(2, width // 4 * 2), max(2, height // 4 * 2)


def served_cameras(site: Site, port: int) -> list[str]:
    """Cameras whose URL points at this simulator (a local host on `port`)."""
    out = []
    for cam in site.cameras:
        u = urlsplit(cam.url)
        if u.scheme == "rtsp" and u.hostname in _LOCAL and (u.port or 554) == port:
            out.append(cam.id)
    return out


class CitySimulator:
    def __init__(
        self,
        site: Site,
        *,
        port: int = 8554,
        host: str = "127.0.0.1",
        truth_path: Path | None = None,
        width: int = 1280,
        height: int = 720,
        fps: float = 15,
        loop_seconds: float = LOOP_SECONDS,
        cache_dir: Path | None = None,
    ) -> None:
        self.site = site
        self.width, self.height, self.fps = width, height, fps
        self.loop_seconds = loop_seconds
        self.cache_dir = cache_dir
        self.server = RtspServer(host, port, truth_path=truth_path)
        self.camera_ids = served_cameras(site, port)
        self.encode_seconds = 0.0
        if not self.camera_ids:
            log.warning(
                "no camera of the site points at this simulator",
                extra={"port": port, "hint": "camera urls must be rtsp://127.0.0.1:<port>/<id>"},
            )

    async def start(self) -> None:
        plans = {cid: plan_for(cid) for cid in self.camera_ids}
        keys = sorted({(p.scene, p.seed) for p in plans.values()})
        t0 = time.perf_counter()
        # Two at a time: libx264 and the renderer release the GIL, and the machine has 2 cores.
        sem = asyncio.Semaphore(2)

        async def one(scene: str, seed: int) -> tuple[list[EncodedLoop], list[TruthEvent]]:
            async with sem:
                loops = await asyncio.to_thread(
                    load_or_encode_sizes,
                    scene,
                    [(self.width, self.height), sub_size(self.width, self.height)],
                    seed=seed,
                    fps=self.fps,
                    duration=self.loop_seconds,
                    cache_dir=self.cache_dir,
                )
            truth = build_scene(
                scene,
                width=self.width,
                height=self.height,
                fps=self.fps,
                duration=self.loop_seconds,
                seed=seed,
            ).truth
            return loops, truth

        results = await asyncio.gather(*(one(s, seed) for s, seed in keys))
        loops = dict(zip(keys, results, strict=True))
        self.encode_seconds = time.perf_counter() - t0
        for cid, p in plans.items():
            (main, sub), truth = loops[(p.scene, p.seed)]
            self.server.add_camera(cid, main, offset=p.offset, truth=truth)
            # Same timeline, no truth of its own: the two streams show the same moment.
            self.server.add_camera(f"{cid}/{SUB}", sub, offset=p.offset)
        await self.server.start()
        log.info(
            "city simulator ready",
            extra={
                "cameras": len(plans),
                "loops": len(keys),
                "prepare_seconds": round(self.encode_seconds, 1),
                "port": self.server.port,
            },
        )

    async def stop(self) -> None:
        await self.server.stop()

    async def __aenter__(self) -> CitySimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
