"""What the request handlers reach: the services the app's lifespan started."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from hub.bus.base import Bus
from hub.config import Settings, Site
from hub.geo.grids import GridMap
from hub.store.db import Store
from hub.video.interfaces import VideoService

if TYPE_CHECKING:
    from hub.alarms.service import AlarmService
    from hub.calls.service import CallService
    from hub.devices.service import DeviceService
    from hub.dispatch.service import CaseService
    from hub.dispatch.workers import WorkerService
    from hub.units.service import UnitService
    from hub.video.whip import WhipSessions
    from hub.web.auth import LoginThrottle
    from hub.web.fanout import EventFanout
    from hub.web.sessions import LiveSessions
    from hub.web.tokens import Tokens


@dataclass
class HubState:
    settings: Settings
    site: Site
    timezone: str
    store: Store
    bus: Bus
    video: VideoService
    fanout: EventFanout
    tokens: Tokens
    throttle: LoginThrottle
    sessions: LiveSessions
    grids: GridMap
    devices: DeviceService | None = None
    alarms: AlarmService | None = None
    cases: CaseService | None = None
    workers: WorkerService | None = None
    whip: WhipSessions | None = None
    units: UnitService | None = None
    calls: CallService | None = None


def hub_state(conn: HTTPConnection) -> HubState:
    state: HubState = conn.app.state.hub
    return state
