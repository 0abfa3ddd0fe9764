"""The hub's MQTT broker: embedded (a private Mosquitto, else amqtt) or external.

``open_broker(settings)`` picks one from the settings. Every kind answers the same questions: the
URL to connect to, the hub's own credentials, whether ``$share`` subscriptions work, and how to
provision a device (:meth:`provision_device`), which writes the password file and reloads the
broker where the hub manages one.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlsplit

from hub.aio import cancel_and_wait
from hub.config import Settings
from hub.devices.accounts import BrokerAccounts, DeviceCredentials, generate_password
from hub.devices.mosquitto import (
    BrokerError,
    MosquittoProcess,
    current_user,
    find_mosquitto,
    render_mosquitto_conf,
)
from hub.redact import redact_url
from hub.secretfile import load_or_create

log = logging.getLogger(__name__)

SECRET_FILE = "mqtt.secret"
PAYLOAD_LIMIT_FACTOR = 4
"""The broker accepts payloads up to this many times ``Settings.mqtt_max_payload``: anything
between the two reaches ingest and is dead-lettered as oversized (counted, listed); beyond it
the broker drops the message before it costs the hub anything."""

BrokerKind = Literal["mosquitto", "amqtt", "external"]

GATE_TIMEOUT = 10.0
"""Seconds after a broker start that devices wait for the hub's subscription at most: a hub
that cannot subscribe must not lock every device out."""
SUPERVISE_EVERY = 1.0
"""How often the hub looks whether its Mosquitto still runs (and restarts it if not)."""

__all__ = [
    "PAYLOAD_LIMIT_FACTOR",
    "Broker",
    "BrokerError",
    "BrokerKind",
    "EmbeddedBroker",
    "ExternalBroker",
    "broker_payload_limit",
    "hub_mqtt_password",
    "open_broker",
]


def broker_payload_limit(settings: Settings) -> int:
    return PAYLOAD_LIMIT_FACTOR * settings.mqtt_max_payload


def hub_mqtt_password(settings: Settings) -> str:
    """``Settings.mqtt_password``, else the password in ``data_dir/mqtt.secret``, made once."""
    if settings.mqtt_password:
        return settings.mqtt_password
    return load_or_create(
        Path(settings.data_dir) / SECRET_FILE,
        generate_password,
        min_length=16,
        error=BrokerError,
    )


class Broker(Protocol):
    kind: BrokerKind
    supports_shared_subscriptions: bool
    accounts: BrokerAccounts | None
    hub_username: str
    hub_password: str

    async def start(self) -> str: ...

    async def stop(self) -> None: ...

    async def provision_device(
        self, device_id: str, password: str | None = None
    ) -> DeviceCredentials: ...

    async def provision_service_accounts(self, names: Sequence[str], password: str) -> None: ...

    async def deprovision_device(self, device_id: str) -> bool: ...

    async def provision_site_devices(self, device_ids: Sequence[str], credentials: Path) -> int: ...


def _append_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(text)


class _AccountsMixin:
    accounts: BrokerAccounts | None

    async def provision_device(
        self, device_id: str, password: str | None = None
    ) -> DeviceCredentials:
        """Create or update the device's account. Where the hub manages no password file the
        credentials are only returned: the operator installs them in the broker."""
        if self.accounts is not None:
            return await self.accounts.add_device(device_id, password)
        log.warning(
            "no broker password file configured (HUB_MQTT_PASSWORD_FILE): install the "
            "credentials of device %s in the broker yourself",
            device_id,
        )
        return DeviceCredentials(device_id, device_id, password or generate_password())

    async def provision_site_devices(self, device_ids: Sequence[str], credentials: Path) -> int:
        """Create the accounts of site-file devices that have none yet and append their
        credentials (``id:password`` lines, mode 0600) to ``credentials`` for the installer. Where
        the operator manages the broker's password file nothing is created. Returns how many."""
        if self.accounts is None:
            return 0
        created = await self.accounts.add_devices(device_ids, only_missing=True)
        if created:
            lines = "".join(f"{c.device_id}:{c.password}\n" for c in created)
            await asyncio.to_thread(_append_private, credentials, lines)
            log.info(
                "broker accounts created for %d site devices; credentials in %s",
                len(created),
                credentials,
            )
        return len(created)

    async def provision_service_accounts(self, names: Sequence[str], password: str) -> None:
        """Accounts with the hub's rights and ``password`` (the hub's: the ingest processes'
        ``$share`` group derives from it), e.g. ``HUB_INGEST_ACCOUNTS``."""
        if not names:
            return
        if self.accounts is None:
            log.warning(
                "no broker password file configured (HUB_MQTT_PASSWORD_FILE): create the "
                "ingest accounts %s in the broker yourself",
                ", ".join(names),
            )
            return
        for name in names:
            await self.accounts.add_service_account(name, password)

    async def deprovision_device(self, device_id: str) -> bool:
        if self.accounts is None:
            log.warning("no broker password file configured: remove device %s yourself", device_id)
            return False
        return await self.accounts.remove_device(device_id)


class EmbeddedBroker(_AccountsMixin):
    """A broker the hub runs itself, for ``make demo`` and single-machine sites: Mosquitto in a
    child process when its binary is present, else amqtt in-process. Files live under
    ``data_dir/mosquitto/``: config, password and ACL files, persistence."""

    def __init__(
        self,
        settings: Settings,
        *,
        prefer: Literal["auto", "mosquitto", "amqtt"] = "auto",
        mosquitto_binary: str | None = None,
        host: str | None = None,
        gate_devices: bool | None = None,
    ) -> None:
        """``gate_devices``: after every start of Mosquitto, refuse devices until the hub's
        ingest has subscribed (:meth:`ingest_subscribed`). Mosquitto 2.0 does not persist
        ``$share`` subscriptions, so without the gate whatever devices publish between a broker
        start and the ingest's new SUBSCRIBE finds no subscriber and is dropped. By default on
        when this hub ingests through shared subscriptions."""
        self.settings = settings
        self.host = host or ("127.0.0.1" if settings.host in ("", "0.0.0.0") else settings.host)
        self.bind = settings.host or "127.0.0.1"
        self.port = settings.mqtt_embedded_port
        self.dir = Path(settings.data_dir).resolve() / "mosquitto"
        binary = mosquitto_binary or (find_mosquitto() if prefer != "amqtt" else None)
        if prefer == "mosquitto" and binary is None:
            raise BrokerError("the mosquitto binary was asked for but is not installed")
        self._binary = binary
        self.kind: BrokerKind = "mosquitto" if binary else "amqtt"
        self.supports_shared_subscriptions = self.kind == "mosquitto"
        self.hub_username = settings.mqtt_username
        self.hub_password = hub_mqtt_password(settings)
        self.accounts: BrokerAccounts | None = BrokerAccounts(
            self.dir / "passwd", self.dir / "acl", hub_username=self.hub_username
        )
        if self.kind == "mosquitto":
            self.accounts.active_file = self.dir / "passwd.active"
        if gate_devices is None:
            gate_devices = (
                settings.mqtt_ingest
                and not settings.ingest_elsewhere
                and settings.mqtt_shared_subscriptions is not False
            )
        self.gate_devices = gate_devices and self.kind == "mosquitto"
        self._mosquitto: MosquittoProcess | None = None
        self._amqtt: object | None = None
        self._gate_timer: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._lifecycle = asyncio.Lock()
        self.restarts = 0
        """Unexpected exits of Mosquitto that the hub restarted it from."""

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """Mosquitto's process id (None for amqtt or when stopped)."""
        return self._mosquitto.pid if self._mosquitto is not None else None

    async def start(self) -> str:
        accounts = self.accounts
        assert accounts is not None
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        self._stopping = False
        if self.gate_devices:
            await accounts.set_gate(True)
        await accounts.set_hub_account(self.hub_password, self.hub_username)
        if self._binary is not None:
            await self._start_mosquitto(accounts, self._binary)
            self._arm_gate_timer()
            self._supervisor = asyncio.create_task(self._supervise(), name="mosquitto-supervisor")
        else:
            await self._start_amqtt(accounts)
        return self.url

    async def ingest_subscribed(self) -> None:
        """The hub's ingest holds its subscriptions again: let the devices in."""
        if self.accounts is not None and self.accounts.gated:
            await self.accounts.set_gate(False)

    def _arm_gate_timer(self) -> None:
        if not self.gate_devices:
            return
        if self._gate_timer is not None:
            self._gate_timer.cancel()
        self._gate_timer = asyncio.create_task(self._open_gate_later(), name="broker-gate")

    async def _open_gate_later(self) -> None:
        await asyncio.sleep(GATE_TIMEOUT)
        if self.accounts is not None and self.accounts.gated:
            log.warning(
                "the hub's ingest did not subscribe within %.0f s of the broker start: letting "
                "devices in anyway (their messages may find no subscriber)",
                GATE_TIMEOUT,
            )
            await self.accounts.set_gate(False)

    async def _close_gate(self) -> None:
        if self.gate_devices and self.accounts is not None:
            await self.accounts.set_gate(True)

    async def _supervise(self) -> None:
        """Start Mosquitto again when it dies on its own (crash, OOM kill, kill -9)."""
        while not self._stopping:
            await asyncio.sleep(SUPERVISE_EVERY)
            async with self._lifecycle:
                proc = self._mosquitto
                if self._stopping or proc is None or not proc.crashed:
                    continue
                self.restarts += 1
                log.error("mosquitto exited with code %s; starting it again", proc.returncode)
                try:
                    await self._close_gate()
                    await proc.start()
                    self._arm_gate_timer()
                except Exception:
                    log.exception("cannot restart mosquitto; retrying")

    async def _start_mosquitto(self, accounts: BrokerAccounts, binary: str) -> None:
        persistence = self.dir / "data"
        persistence.mkdir(exist_ok=True)
        conf = self.dir / "mosquitto.conf"
        conf.write_text(
            render_mosquitto_conf(
                port=self.port,
                bind=self.bind,
                password_file=accounts.active_file or accounts.password_file,
                acl_file=accounts.acl_file,
                persistence_dir=persistence,
                payload_limit=broker_payload_limit(self.settings),
                user=current_user(),
            ),
            encoding="utf-8",
        )
        proc = MosquittoProcess(binary, conf, self.host, self.port)
        await proc.start()
        self._mosquitto = proc
        accounts.set_reloader(proc.reload)

    async def _start_amqtt(self, accounts: BrokerAccounts) -> None:
        # Imported here: amqtt is only needed when Mosquitto is not installed.
        from hub.devices.amqtt_broker import AmqttBroker

        log.warning(
            "mosquitto is not installed: using the amqtt broker (MQTT 3.1.1, no shared "
            "subscriptions, sessions kept in memory only)"
        )
        broker = AmqttBroker(accounts, self.bind, self.port)
        await broker.start()
        self._amqtt = broker

    async def restart(self) -> None:
        """Stop and start the broker process (Mosquitto keeps its persisted sessions)."""
        if self._mosquitto is None:
            raise BrokerError("only the embedded Mosquitto can be restarted")
        async with self._lifecycle:
            await self._mosquitto.stop()
            await self._close_gate()
            await self._mosquitto.start()
            self._arm_gate_timer()

    async def stop(self) -> None:
        self._stopping = True
        await cancel_and_wait([self._gate_timer, self._supervisor])
        self._gate_timer = self._supervisor = None
        if self.accounts is not None:
            self.accounts.set_reloader(None)
        proc, self._mosquitto = self._mosquitto, None
        if proc is not None:
            await proc.stop()
        amqtt, self._amqtt = self._amqtt, None
        if amqtt is not None:
            from hub.devices.amqtt_broker import AmqttBroker

            assert isinstance(amqtt, AmqttBroker)
            await amqtt.stop()


class ExternalBroker(_AccountsMixin):
    """A broker the operator runs (``HUB_MQTT_URL``). The hub writes its password and ACL files
    when they are mounted (``HUB_MQTT_PASSWORD_FILE``, ``HUB_MQTT_ACL_FILE``); the broker side
    reloads on change (deploy/mosquitto/run.sh). Mosquitto supports ``$share``."""

    kind: BrokerKind = "external"

    def __init__(self, settings: Settings, *, supports_shared_subscriptions: bool = True) -> None:
        try:
            parts = urlsplit(settings.mqtt_url)
            port = parts.port
        except ValueError:
            parts, port = None, None
        if parts is None or parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise BrokerError(
                f"HUB_MQTT_URL must be mqtt://host:port, not {redact_url(settings.mqtt_url)!r}"
            )
        # The credentials go to the broker in CONNECT, nowhere else: the URL the hub keeps,
        # logs and shows has none.
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        self.url = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
        self.supports_shared_subscriptions = supports_shared_subscriptions
        self.hub_username = parts.username or settings.mqtt_username
        self.hub_password = parts.password or hub_mqtt_password(settings)
        self.accounts: BrokerAccounts | None = None
        if settings.mqtt_password_file:
            acl = settings.mqtt_acl_file or str(Path(settings.mqtt_password_file).parent / "acl")
            self.accounts = BrokerAccounts(
                Path(settings.mqtt_password_file), Path(acl), hub_username=self.hub_username
            )

    async def start(self) -> str:
        if self.accounts is not None:
            # Keeps device accounts already in the file; (re)writes the hub's own.
            await self.accounts.set_hub_account(self.hub_password, self.hub_username)
        return self.url

    async def stop(self) -> None:
        return None


def open_broker(settings: Settings) -> EmbeddedBroker | ExternalBroker:
    """The broker the settings describe: external when ``mqtt_url`` is set, else embedded."""
    if settings.mqtt_url:
        return ExternalBroker(settings)
    return EmbeddedBroker(settings)
