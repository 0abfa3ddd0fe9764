"""The FastAPI app factory. The lifespan starts every service and stops them in reverse order.

Services passed in (``bus``, ``video``) belong to the caller, who starts and stops them; the ones
created here belong to the app.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from prometheus_client import Gauge
from sqlalchemy import select

import hub
from hub import redact
from hub.alarms import routes as alarm_routes
from hub.bus.base import Bus
from hub.bus.factory import open_bus
from hub.calls import routes as call_routes
from hub.calls.recording import RecordingWriter
from hub.calls.service import CallService, PacketSource
from hub.config import Settings, Site, load_site
from hub.config.calendar import COVERAGE_HORIZON_DAYS, coverage_gap, coverage_warning
from hub.datadir import private_dir
from hub.devices.broker import Broker, open_broker
from hub.devices.service import DeviceService
from hub.dispatch import open311, worker_routes
from hub.dispatch import routes as case_routes
from hub.dispatch.flows import CaseFlows
from hub.dispatch.photos import MAX_BYTES as PHOTO_MAX_BYTES
from hub.dispatch.service import CaseService
from hub.dispatch.workers import WorkerService
from hub.errors import HubError
from hub.geo.grids import GridMap
from hub.store.db import Store, open_store
from hub.store.models import CaseRow
from hub.store.recorder import EventRecorder
from hub.units import routes as unit_routes
from hub.units.service import UnitService
from hub.video import whip_routes
from hub.video.interfaces import VideoService
from hub.video.retention import EvidenceRetention
from hub.web.auth import LoginThrottle
from hub.web.fanout import EventFanout
from hub.web.limits import BodyLimitMiddleware
from hub.web.metrics import MetricsMiddleware
from hub.web.problems import install_problem_handlers
from hub.web.routes import auth, devices, events, site, system, users, wall
from hub.web.security_headers import SecurityHeadersMiddleware
from hub.web.sessions import LiveSessions
from hub.web.state import HubState
from hub.web.static import DEFAULT_UI_DIR, ui_router
from hub.web.tokens import Tokens, load_secret
from hub.web.ws import router as ws_router

if TYPE_CHECKING:
    from hub.video.whip import WhipSessions

log = logging.getLogger(__name__)

CALENDAR_UNKNOWN_YEARS = Gauge(
    "hub_calendar_unknown_years",
    f"Years within the next {COVERAGE_HORIZON_DAYS} days whose public holidays the working"
    " calendar does not list (deadlines there count weekends only); computed at scrape time",
)


def _make_video(settings: Settings, site: Site, bus: Bus) -> VideoService:
    if settings.role == "api":
        # The cameras run on video workers (hub serve --role video); their health comes here.
        from hub.cluster.remote_video import RemoteVideo

        return RemoteVideo(site, bus)
    # Imported lazily: the video stack (PyAV, OpenCV) is heavy and tests pass a stand-in.
    from hub.video.service import CameraService

    return CameraService(settings, site, bus)


async def _start_calls(
    settings: Settings,
    site: Site,
    store: Store,
    bus: Bus,
    video: VideoService,
    stack: AsyncExitStack,
) -> CallService:
    names = {w.username: w.name for w in site.workers}

    async def who(username: str) -> tuple[str, str] | None:
        user = await store.users.get(username)
        if user is None or not user.active:
            return None
        return names.get(username, username), user.role

    async def case_exists(case_id: int) -> bool:
        async with store.engine.connect() as conn:
            found = await conn.execute(select(CaseRow.id).where(CaseRow.id == case_id))
            return found.first() is not None

    packets = video if isinstance(video, PacketSource) else None
    writer = None
    if settings.call_recording:
        writer = RecordingWriter(
            settings.data_dir / "recordings", max_bytes=settings.call_recording_max_mb << 20
        )
        writer.start()
        stack.push_async_callback(writer.stop)  # after the calls have ended: LIFO
    calls = CallService(
        settings, site, bus, who, video=packets, case_exists=case_exists, recordings=writer
    )
    await calls.start()
    stack.push_async_callback(calls.stop)
    return calls


async def _start_units(site: Site, store: Store, bus: Bus) -> UnitService:
    units = UnitService(store.engine, bus, site)
    await units.start()
    return units


async def _start_whip(
    settings: Settings,
    site: Site,
    video: VideoService,
    units: UnitService,
    grids: GridMap,
    stack: AsyncExitStack,
) -> WhipSessions | None:
    """WHIP ingest, when the site has units that publish and the video service takes sources."""
    from hub.video.source_base import SourceHost
    from hub.video.whip import WhipSessions

    if not units.units or not isinstance(video, SourceHost):
        return None

    def locate(unit_id: str) -> tuple[list[float], str | None] | None:
        pos = units.position(unit_id)
        if pos is None:
            return None
        hit = grids.locate((pos.lon, pos.lat))
        return [pos.lon, pos.lat], hit.grid.id if hit is not None else None

    video.locate_units(locate)
    whip = WhipSessions(settings, site, video, on_telemetry=units.report)
    await whip.start()
    stack.push_async_callback(whip.stop)
    return whip


def _make_retention(settings: Settings, store: Store) -> EvidenceRetention:
    """Snapshots and clips kept within the disk budget and age (hub.video.retention)."""
    return EvidenceRetention(
        settings.data_dir / "evidence",
        store.events.mark_evidence_expired,
        max_bytes=settings.evidence_max_bytes,
        max_age_seconds=settings.evidence_max_age_days * 86400,
        interval=settings.evidence_sweep_seconds,
    )


async def _start_devices(
    settings: Settings, site: Site, store: Store, bus: Bus, stack: AsyncExitStack
) -> DeviceService:
    """The broker (embedded or external) when MQTT ingest is on, then the device service."""
    broker: Broker | None = None
    url = None
    if settings.mqtt_ingest:
        broker = open_broker(settings)
        try:
            url = await broker.start()
        except (HubError, OSError) as exc:
            # Video and the API stay useful without sensors; the error says what to fix.
            log.error("MQTT broker unavailable, device ingest is off: %s", exc)
            broker = None
        else:
            stack.push_async_callback(broker.stop)
    service = DeviceService(settings, site, store, bus, broker)
    await service.start(url)
    stack.push_async_callback(service.stop)
    return service


async def _start_cases(
    settings: Settings,
    site: Site,
    store: Store,
    bus: Bus,
    grids: GridMap,
    stack: AsyncExitStack,
) -> CaseService:
    service = CaseService(
        store.engine,
        bus,
        site,
        grids,
        store.users,
        timezone=_timezone(settings, site),
        photo_dir=settings.data_dir / "photos",
        recording_dir=settings.data_dir / "recordings" if settings.call_recording else None,
    )
    await service.start()
    stack.push_async_callback(service.stop)
    flows = CaseFlows(bus, service)
    await flows.start()
    stack.push_async_callback(flows.stop)
    return service


def _warn_misplaced(site: Site, grids: GridMap) -> None:
    """A camera or device whose position lies outside its declared grid is a site-file mistake
    that would send its cases to the wrong grid worker: say so at start, by id."""
    items = [(c.id, c.grid, c.position) for c in site.cameras]
    items += [(d.id, d.grid, d.position) for d in site.devices]
    misplaced = grids.misplaced(items)
    if misplaced:
        log.warning(
            "%d cameras/devices lie outside their declared grid: %s",
            len(misplaced),
            ", ".join(misplaced[:20]) + (" ..." if len(misplaced) > 20 else ""),
        )


def _check_calendar(site: Site, timezone: str) -> None:
    """Warn once at start when the working calendar does not know the holidays of a year the
    coming weeks' deadlines fall in; the gauge keeps saying it while the hub runs."""
    cal, zone = site.work_calendar(), ZoneInfo(timezone)
    CALENDAR_UNKNOWN_YEARS.set_function(lambda: len(coverage_gap(cal, datetime.now(zone).date())))
    gap = coverage_gap(cal, datetime.now(zone).date())
    if gap:
        log.warning(coverage_warning(gap), extra={"unknown_years": gap})


def _timezone(settings: Settings, site: Site) -> str:
    # The site file wins when it names a zone; otherwise HUB_TIMEZONE.
    return site.site.timezone if "timezone" in site.site.model_fields_set else settings.timezone


def create_app(
    settings: Settings,
    *,
    video: VideoService | None = None,
    bus: Bus | None = None,
    ui_dir: Path | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await asyncio.to_thread(private_dir, settings.data_dir)
            site_ = await asyncio.to_thread(load_site, settings.site)
            grids = await asyncio.to_thread(GridMap, site_)
            _warn_misplaced(site_, grids)
            store = await open_store(settings)
            stack.push_async_callback(store.close)

            bus_ = bus
            if bus_ is None:
                bus_ = open_bus(settings)
                await bus_.start()
                stack.push_async_callback(bus_.close)

            recorder = EventRecorder(store.events, bus_)
            await recorder.start()
            stack.push_async_callback(recorder.stop)

            retention = _make_retention(settings, store)
            await retention.start()
            stack.push_async_callback(retention.stop)

            video_ = video
            if video_ is None:
                video_ = _make_video(settings, site_, bus_)
                await video_.start()
                stack.push_async_callback(video_.stop)

            units_ = await _start_units(site_, store, bus_)
            whip = await _start_whip(settings, site_, video_, units_, grids, stack)

            fanout = EventFanout(bus_, site_, video_)
            await fanout.start()
            stack.push_async_callback(fanout.stop)

            devices_ = await _start_devices(settings, site_, store, bus_, stack)
            cases_ = await _start_cases(settings, site_, store, bus_, grids, stack)
            _check_calendar(site_, _timezone(settings, site_))
            workers_ = WorkerService(store.engine, bus_, site_)
            await workers_.start()
            cases_.workers = workers_
            stack.push_async_callback(workers_.stop)

            calls_ = await _start_calls(settings, site_, store, bus_, video_, stack)

            state = HubState(
                settings=settings,
                site=site_,
                timezone=_timezone(settings, site_),
                store=store,
                bus=bus_,
                video=video_,
                fanout=fanout,
                tokens=Tokens(load_secret(settings), settings.token_minutes),
                throttle=LoginThrottle(),
                sessions=LiveSessions(),
                grids=grids,
                devices=devices_,
                alarms=devices_.alarms,
                cases=cases_,
                workers=workers_,
                whip=whip,
                units=units_,
                calls=calls_,
            )
            app.state.hub = state
            state.sessions.on_end(calls_.leave_all)
            if whip is not None:
                state.sessions.on_end(whip.end_unit)
            log.info(
                "hub ready",
                extra={"site": site_.site.name, "cameras": len(site_.cameras)},
            )
            yield
            log.info("hub stopping")

    app = FastAPI(
        title="City command-center hub",
        version=hub.__version__,
        lifespan=lifespan,
        # The OpenAPI document is served behind auth at /api/openapi.json (see routes.system).
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_problem_handlers(app)
    redact.install_on_root()
    # Added innermost first: metrics see every answer, the body limit acts before routing.
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        larger=[("/api/photos", PHOTO_MAX_BYTES), ("/api/whip", settings.whip_max_offer_bytes)],
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware)
    for router in (
        system.router,
        auth.router,
        site.router,
        events.router,
        users.router,
        devices.router,
        alarm_routes.router,
        case_routes.router,
        worker_routes.router,
        open311.router,
        wall.router,
        whip_routes.router,
        unit_routes.router,
        call_routes.router,
    ):
        app.include_router(router)
    app.include_router(ws_router)
    app.include_router(ui_router(ui_dir or DEFAULT_UI_DIR))  # last: it has a catch-all
    return app
