"""A video worker (``hub serve --role video``): analyses the cameras it holds leases on.

It runs the camera service sharded (hub/video/service.py: a camera runs only once adopted) and
the camera shards (hub/cluster/shards.py) on the site's enabled pulled cameras; detections and
health go on the Redis bus, where the API nodes, the store and the case loop read them. Evidence
(snapshots, clips) is written under ``data_dir/evidence``: the API nodes serve it from there, so
in a cluster that directory is shared (one machine, or a network file system).

Its own HTTP server answers ``GET /api/health`` only: what it serves, for probes and people.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI
from pydantic import BaseModel

import hub
from hub.bus.factory import open_bus
from hub.cluster.leases import Lease
from hub.cluster.process_app import process_app
from hub.cluster.shards import Shards
from hub.config import Settings, load_site
from hub.datadir import private_dir
from hub.video.service import CameraService

log = logging.getLogger(__name__)


class WorkerHealth(BaseModel):
    status: str
    version: str
    role: str
    worker: str
    cameras: list[str]
    """The cameras this worker analyses now."""
    workers: list[str]
    """The video workers alive (heartbeats)."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def create_video_worker(settings: Settings) -> FastAPI:
    if settings.bus != "redis":
        raise ValueError("a video worker needs the Redis bus (HUB_BUS=redis, HUB_REDIS_URL)")
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await asyncio.to_thread(private_dir, settings.data_dir)
            site = await asyncio.to_thread(load_site, settings.site)
            bus = open_bus(settings)
            await bus.start()
            stack.push_async_callback(bus.close)
            video = CameraService(settings, site, bus, sharded=True)
            await video.start()
            stack.push_async_callback(video.stop)
            redis = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=5)
            stack.push_async_callback(redis.aclose)

            async def adopt(lease: Lease) -> None:
                await video.adopt(lease.name, lease)

            names = [c.id for c in site.cameras if c.enabled and not c.published]
            shards = Shards(
                redis,
                prefix=settings.bus_prefix,
                kind="camera",
                holder=worker_name(),
                names=names,
                on_adopt=adopt,
                on_release=video.release,
                ttl=settings.camera_lease_seconds,
                member_ttl=settings.camera_lease_seconds * 0.75,
            )
            await shards.start()
            # Stopped first (it is pushed last): cameras stop, then their leases go back.
            stack.push_async_callback(shards.stop)
            state.update(video=video, shards=shards)
            log.info("video worker ready", extra={"worker": shards.holder, "cameras": len(names)})
            yield
            log.info("video worker stopping")

    app = process_app("video worker", lifespan)

    @app.get("/api/health")
    async def health() -> WorkerHealth:
        shards: Shards | None = state.get("shards")
        return WorkerHealth(
            status="ok" if shards is not None else "starting",
            version=hub.__version__,
            role="video",
            worker=worker_name(),
            cameras=sorted(shards.owned) if shards is not None else [],
            workers=list(shards.live) if shards is not None else [],
        )

    return app
