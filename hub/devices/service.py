"""DeviceService: the device side of the hub, as the app's lifespan starts it.

Registry (site file + API-provisioned devices), presence, MQTT ingest, telemetry history and its
maintenance, provisioning through the broker's accounts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from hub.aio import cancel_and_wait
from hub.alarms.service import AlarmService
from hub.bus.base import Bus
from hub.bus.contracts import DEVICE_PRESENCE
from hub.config import Device, Settings, Site
from hub.devices.broker import Broker, EmbeddedBroker
from hub.devices.history import Retention, TelemetryHistory
from hub.devices.ingest import IngestWorker, presence_of
from hub.devices.mqtt import Endpoint, MqttLink
from hub.devices.presence import Presence
from hub.devices.presence_follower import PresenceFollower
from hub.devices.registry import DeviceRegistry, Known
from hub.devices.repo import DeviceRepo, DeviceState
from hub.devices.rules import RuleEngine
from hub.errors import ConflictError, NotFoundError
from hub.geo.coverage import Linkage
from hub.store.db import Store

log = logging.getLogger(__name__)

MAINTAIN_EVERY = 600.0
DEAD_LETTER_DAYS = 30.0


DEVICE_CREDENTIALS_FILE = "device-credentials.txt"
"""New site-device credentials, ``id:password`` per line (read by `python -m simulators city`)."""


class DeviceService:
    def __init__(
        self,
        settings: Settings,
        site: Site,
        store: Store,
        bus: Bus,
        broker: Broker | None = None,
        *,
        endpoint: Endpoint | None = None,
    ) -> None:
        """``endpoint``: where ingest connects; by default derived from the started ``broker``.
        Without both, the service keeps devices and history but ingests nothing."""
        self.settings = settings
        self.site = site
        self.bus = bus
        self.broker = broker
        self.endpoint = endpoint
        self.credentials_path = Path(settings.data_dir) / DEVICE_CREDENTIALS_FILE
        self.repo = DeviceRepo(store.engine)
        self.history = TelemetryHistory(
            store.engine,
            Retention(
                settings.telemetry_raw_days,
                settings.telemetry_minute_days,
                settings.telemetry_hour_days,
            ),
        )
        self.registry = DeviceRegistry(site)
        self.presence = Presence(self.registry.timeout_of, self._expired)
        self.alarms = AlarmService(store.engine, bus)
        self.linkage = Linkage(site.cameras)
        self.rules = RuleEngine(self.registry, self.alarms, self.linkage, bus, store.engine)
        self.link: MqttLink | None = None
        self.worker: IngestWorker | None = None
        self.follower: PresenceFollower | None = None
        self._maint: asyncio.Task[None] | None = None
        self._gate_task: asyncio.Task[None] | None = None

    async def start(self, broker_url: str | None = None) -> None:
        if self.broker is not None:
            await self.broker.provision_site_devices(
                [d.id for d in self.site.devices if d.enabled], self.credentials_path
            )
            await self.broker.provision_service_accounts(
                self.settings.ingest_accounts, self.broker.hub_password
            )
        for d in await self.repo.list_devices():
            if d.profile in self.site.profile_by_id and self.registry.get(d.id) is None:
                self.registry.add(d)
        self.presence.load(await self.repo.load_states())
        self.presence.start()
        self.linkage.precompute([(k.device.id, k.device.position) for k in self.registry.all()])
        await self.alarms.load()
        # Before ingest starts: the engine must be subscribed when the first telemetry arrives.
        await self.rules.start()
        elsewhere = self.settings.ingest_elsewhere
        if elsewhere:
            # The ingest processes publish what they read; presence follows it here.
            self.follower = PresenceFollower(self.presence, self.repo, self.bus)
            await self.follower.start()
        ep = None if elsewhere else self.endpoint
        if ep is None and not elsewhere and self.broker is not None and broker_url:
            ep = Endpoint(
                url=broker_url,
                username=self.broker.hub_username,
                password=self.broker.hub_password,
                client_id=self.settings.mqtt_client_id,
                shared=self._shared(self.broker),
                mqtt5=self.broker.kind != "amqtt",
            )
        if ep is not None:
            self.link = MqttLink(ep, self._wake, self._subscribed)
            self.worker = IngestWorker(
                self.link,
                self.registry,
                self.repo,
                self.presence,
                self.bus,
                max_payload=self.settings.mqtt_max_payload,
            )
            self.worker.start()
            self.link.start()
        self._maint = asyncio.create_task(self._maintain_forever(), name="telemetry-maintenance")

    def _shared(self, broker: Broker) -> bool:
        """``$share`` where asked for, or by default where a broker restart cannot drop shared
        subscribers' messages: the embedded Mosquitto, which keeps devices out until the
        ingest has subscribed again."""
        shared = self.settings.mqtt_shared_subscriptions
        if shared is None:
            shared = isinstance(broker, EmbeddedBroker) and broker.gate_devices
        return shared and broker.supports_shared_subscriptions

    def _subscribed(self) -> None:
        if isinstance(self.broker, EmbeddedBroker) and self.broker.gate_devices:
            self._gate_task = asyncio.create_task(
                self.broker.ingest_subscribed(), name="broker-gate-open"
            )

    def _wake(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    async def stop(self) -> None:
        if self.link is not None:
            await self.link.stop()
        if self.worker is not None:
            await self.worker.stop()
        if self.follower is not None:
            await self.follower.stop()
        await self.rules.stop()
        await cancel_and_wait([self._maint, self._gate_task])
        await self.presence.stop()
        await self.repo.close()

    async def _expired(self, states: list[DeviceState]) -> None:
        await self.repo.write_batch([], [], states)
        for s in states:
            await self.bus.publish(DEVICE_PRESENCE, presence_of(s))

    async def _maintain_forever(self) -> None:
        while True:
            try:
                now = time.time()
                await self.history.maintain(now)
                await self.repo.prune_dead_letters(now - DEAD_LETTER_DAYS * 86_400)
            except Exception:
                log.exception("telemetry maintenance failed")
            await asyncio.sleep(MAINTAIN_EVERY)

    # -- the API's view ----------------------------------------------------------------------

    def describe(self, k: Known) -> dict[str, Any]:
        s = self.presence.states.get(k.device.id)
        grid = self.site.grid_path.get(k.device.grid)
        return {
            "id": k.device.id,
            "name": k.device.name,
            "profile": k.profile.id,
            "kind": k.profile.kind,
            "grid": k.device.grid,
            "grid_name": grid[2].name if grid else None,
            "position": k.device.position,
            "enabled": k.device.enabled,
            "source": k.source,
            "state": s.state if s else "unknown",
            "state_reason": s.reason if s else None,
            "state_changed_at": s.changed_at if s else None,
            "last_seen": s.last_seen if s else None,
            "last_values": dict(s.last_values) if s else {},
            "telemetry": [f.model_dump() for f in k.profile.telemetry],
        }

    def get(self, device_id: str) -> Known:
        k = self.registry.get(device_id)
        if k is None:
            raise NotFoundError(f"no device {device_id!r}")
        return k

    def devices(self, grid: str | None = None) -> list[Known]:
        """Every known device (site file and provisioned), or those of one grid."""
        return [k for k in self.registry.all() if grid is None or k.device.grid == grid]

    async def series(
        self, device_id: str, key: str, since: float, until: float, max_points: int, now: float
    ) -> dict[str, Any]:
        """One key's telemetry series between ``since`` and ``until`` (epoch seconds); see
        :meth:`TelemetryHistory.series`."""
        return await self.history.series(device_id, key, since, until, max_points, now)

    async def dead_letters(
        self,
        *,
        reason: str | None = None,
        device_id: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The kept sample of rejected messages, newest first."""
        return await self.repo.dead_letters(
            reason=reason, device_id=device_id, before_id=before_id, limit=limit
        )

    def rejected_since_start(self) -> dict[str, int]:
        """Every message the ingest rejected since it started, counted by reason."""
        return dict(self.worker.rejected) if self.worker is not None else {}

    def is_service_account(self, device_id: str) -> bool:
        """The hub's own broker account or another service account: a device with this id would
        log in as, or be refused as, that account. Without a broker the hub's name is still
        reserved for when ingest is turned on."""
        if self.broker is None:
            return device_id == self.settings.mqtt_username
        accounts = self.broker.accounts
        return device_id == self.broker.hub_username or (
            accounts is not None and accounts.is_service(device_id)
        )

    async def provision(self, device: Device) -> tuple[Known, str | None]:
        """Store a new device and create its MQTT account; returns its password (once)."""
        if self.registry.get(device.id) is not None:
            raise ConflictError(f"device {device.id!r} exists")
        if device.profile not in self.site.profile_by_id:
            raise NotFoundError(f"no device profile {device.profile!r}")
        if device.grid not in self.site.grid_path:
            raise NotFoundError(f"no grid {device.grid!r}")
        # The row first: of two racing provisions of one id only one gets past it (the other is a
        # 409), so only that one writes the broker account and hands out its password.
        await self.repo.add_device(device)
        password: str | None = None
        if self.broker is not None:
            try:
                creds = await self.broker.provision_device(device.id)
            except BaseException:
                await self.repo.delete_device(device.id)
                raise
            password = creds.password
        return self.registry.add(device), password

    async def deprovision(self, device_id: str) -> None:
        k = self.get(device_id)
        if k.source == "site":
            raise ConflictError(f"device {device_id!r} is defined in the site file")
        await self.repo.delete_device(device_id)
        self.registry.remove(device_id)
        self.presence.states.pop(device_id, None)
        if self.broker is not None:
            await self.broker.deprovision_device(device_id)
