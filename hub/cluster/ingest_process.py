"""An MQTT ingest process (``hub serve --role devices``), one of several sharing a broker.

Each process logs in to the broker (``HUB_MQTT_URL``) with a service account of its own and the
hub's MQTT password (from which the ``$share`` group derives, so all of them land in the same
group) and a stable client id, so that after a crash or a restart the broker hands it back the
session with the messages it held for it. It validates, stores (``HUB_DATABASE_URL``: PostgreSQL
when there is more than one process), acks and publishes on the Redis bus as the hub's own ingest
does (hub/devices/ingest.py), but keeps no presence: the process running the device service with
``HUB_INGEST_ELSEWHERE=true`` follows presence from the bus (hub/devices/presence_follower.py).

Devices provisioned through the API after this process started are picked up from the store
every :data:`REFRESH_SECONDS`; until then their messages are dead-lettered as unknown devices.

Its own HTTP server answers ``GET /api/health`` only: counts, no device ids and not the client
id (derived from the hub's password so that no device can take the session over by naming it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

import hub
from hub.aio import cancel_and_wait
from hub.bus.factory import open_bus
from hub.cluster.process_app import process_app
from hub.config import Settings, load_site
from hub.datadir import private_dir
from hub.devices.broker import hub_mqtt_password
from hub.devices.ingest import IngestWorker
from hub.devices.mqtt import Endpoint, MqttLink, derived_client_id
from hub.devices.registry import DeviceRegistry
from hub.devices.repo import DeviceRepo
from hub.store.db import open_store

log = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0


class IngestHealth(BaseModel):
    status: str
    version: str
    role: str
    connected: bool
    processed: int
    accepted: int
    rejected: int


def ingest_client_id(settings: Settings, password: str) -> str:
    """Stable per account, so a restarted process resumes its own broker session, and distinct
    between processes (one session per client id): the derived, unguessable id plus the
    account name."""
    return settings.mqtt_client_id or f"{derived_client_id(password)}-{settings.mqtt_username}"


async def refresh_devices(registry: DeviceRegistry, repo: DeviceRepo, site_ids: set[str]) -> None:
    """Make the registry's provisioned devices those in the store (added, changed, removed)."""
    stored = {d.id: d for d in await repo.list_devices() if d.id not in site_ids}
    for k in registry.all():
        if k.source == "api" and k.device.id not in stored:
            registry.remove(k.device.id)
    for d in stored.values():
        if d.profile in registry.site.profile_by_id:
            known = registry.get(d.id)
            if known is None or known.device != d:
                registry.add(d)


def create_ingest_process(settings: Settings) -> FastAPI:
    if settings.bus != "redis":
        raise ValueError("an ingest process needs the Redis bus (HUB_BUS=redis, HUB_REDIS_URL)")
    if not settings.mqtt_url:
        raise ValueError("an ingest process needs the broker's address (HUB_MQTT_URL)")
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await asyncio.to_thread(private_dir, settings.data_dir)
            site = await asyncio.to_thread(load_site, settings.site)
            store = await open_store(settings)
            stack.push_async_callback(store.close)
            bus = open_bus(settings)
            await bus.start()
            stack.push_async_callback(bus.close)
            repo = DeviceRepo(store.engine)
            stack.push_async_callback(repo.close)
            registry = DeviceRegistry(site)
            site_ids = {d.id for d in site.devices}
            await refresh_devices(registry, repo, site_ids)
            password = hub_mqtt_password(settings)
            endpoint = Endpoint(
                url=settings.mqtt_url,
                username=settings.mqtt_username,
                password=password,
                client_id=ingest_client_id(settings, password),
                shared=True,
            )
            worker: IngestWorker | None = None

            def wake() -> None:
                if worker is not None:
                    worker.wake()

            link = MqttLink(endpoint, wake, lambda: None)
            worker = IngestWorker(
                link, registry, repo, None, bus, max_payload=settings.mqtt_max_payload
            )
            worker.start()
            stack.push_async_callback(worker.stop)
            link.start()
            # Stopped before the worker (LIFO): what is left unacked goes back to the broker.
            stack.push_async_callback(link.stop)

            async def refresh_forever() -> None:
                while True:
                    await asyncio.sleep(REFRESH_SECONDS)
                    try:
                        await refresh_devices(registry, repo, site_ids)
                    except Exception:
                        log.exception("reading provisioned devices failed")

            refresher = asyncio.create_task(refresh_forever(), name="ingest-device-refresh")
            stack.push_async_callback(cancel_and_wait, [refresher])
            state.update(link=link, worker=worker)
            log.info("ingest process ready", extra={"client_id": endpoint.client_id})
            yield
            log.info("ingest process stopping")

    app = process_app("MQTT ingest", lifespan)

    @app.get("/api/health")
    async def health() -> IngestHealth:
        link: MqttLink | None = state.get("link")
        worker: IngestWorker | None = state.get("worker")
        return IngestHealth(
            status="ok" if link is not None and link.connected.is_set() else "starting",
            version=hub.__version__,
            role="devices",
            connected=link is not None and link.connected.is_set(),
            processed=worker.processed if worker is not None else 0,
            accepted=worker.accepted if worker is not None else 0,
            rejected=sum(worker.rejected.values()) if worker is not None else 0,
        )

    return app
