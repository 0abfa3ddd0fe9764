"""The pure-Python fallback broker (amqtt), in-process, with the same accounts and ACL.

amqtt speaks MQTT 3.1.1 only and has no shared subscriptions; it keeps sessions in memory, so a
restart loses queued messages. It exists so ``make demo`` works where Mosquitto is not installed.
Its auth and topic plugins consult the live :class:`BrokerAccounts`, so a provisioned or removed
device takes effect at once, without a reload.

amqtt cannot tie client ids to usernames (Mosquitto's ``use_username_as_clientid``), so a device
must connect with its device id as client id and is refused otherwise; the hub's accounts keep
free client ids. And amqtt looks a CONNECT's client id up, deletes or adopts that session and
takes a connected one over *before* any plugin authenticates the client (and whatever the plugin
then says): :class:`_HubBroker` therefore checks credentials and client id first, so neither a
device nor a stranger can kick another client or empty its session by naming its client id.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from amqtt.adapters import ReaderAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import AMQTTError
from amqtt.mqtt.connack import ConnackPacket
from amqtt.mqtt.connect import ConnectPacket
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

from hub.devices.accounts import BrokerAccounts

log = logging.getLogger(__name__)

# amqtt builds plugins from dotted paths and plain config, so live objects are handed over by key.
_REGISTRY: dict[str, BrokerAccounts] = {}


_CONNECT = 0x10
_MQTT_311 = 4
# MQTT 3.1.1 CONNACK return codes.
IDENTIFIER_REJECTED = 0x02
BAD_USERNAME_PASSWORD = 0x04
_MAX_LENGTH_BYTES = 4


def _accounts(key: str) -> BrokerAccounts | None:
    return _REGISTRY.get(key)


def connect_refusal(
    accounts: BrokerAccounts, username: str | None, password: str | bytes | None, client_id: str
) -> int | None:
    """The MQTT 3.1.1 CONNACK code that refuses this login, or None to accept it."""
    if isinstance(password, bytes):
        password = password.decode(errors="replace")
    if not username or not accounts.check(username, password or ""):
        return BAD_USERNAME_PASSWORD
    if not accounts.is_service(username) and client_id != username:
        return IDENTIFIER_REJECTED
    return None


class HubAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    @dataclass
    class Config:
        registry_key: str = ""

    async def authenticate(self, *, session: Any) -> bool:
        # _HubBroker has refused bad logins already; this stays for any other way in.
        accounts = _accounts(self.config.registry_key)
        if accounts is None:
            return False
        return (
            connect_refusal(
                accounts,
                getattr(session, "username", None),
                getattr(session, "password", None),
                getattr(session, "client_id", None) or "",
            )
            is None
        )


class HubTopicPlugin(BaseTopicPlugin):  # type: ignore[misc]
    @dataclass
    class Config:
        registry_key: str = ""

    async def topic_filtering(
        self, *, session: Any = None, topic: str | None = None, action: Any = None
    ) -> bool:
        accounts = _accounts(self.config.registry_key)
        username = getattr(session, "username", None)
        if accounts is None or not username or not topic:
            return False
        if action == Action.PUBLISH:
            return accounts.may_publish(username, topic)
        if action == Action.SUBSCRIBE:
            return accounts.may_subscribe(username, topic)
        # RECEIVE: subscriptions were already filtered.
        return True


class _Replay(ReaderAdapter):  # type: ignore[misc]
    """Bytes already read from the connection, then the connection itself (None: nothing)."""

    def __init__(self, head: bytes, inner: ReaderAdapter | None) -> None:
        self._head = head
        self._inner = inner

    async def read(self, n: int = -1) -> bytes:
        head = self._head
        if n < 0 or n > len(head):
            self._head = b""
            rest = await self._inner.read(-1 if n < 0 else n - len(head)) if self._inner else b""
            return head + rest
        self._head = head[n:]
        return head[:n]

    def feed_eof(self) -> None:
        if self._inner is not None:
            self._inner.feed_eof()


async def _read_packet(reader: ReaderAdapter) -> bytes:
    """One whole MQTT packet's bytes (fixed header included), as sent."""
    try:
        out = bytearray(await reader.read(1))
        length, shift = 0, 0
        for _ in range(_MAX_LENGTH_BYTES):
            byte = (await reader.read(1))[0]
            out.append(byte)
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        out += await reader.read(length)
    except (asyncio.IncompleteReadError, ConnectionError, IndexError) as exc:
        raise AMQTTError(f"connection closed before its CONNECT: {exc!r}") from exc
    return bytes(out)


class _HubBroker(Broker):  # type: ignore[misc]
    def __init__(self, config: dict[str, Any], accounts: BrokerAccounts) -> None:
        super().__init__(config)
        self.hub_accounts = accounts

    async def _initialize_client_session(
        self, reader: ReaderAdapter, writer: Any, remote_address: str, remote_port: int
    ) -> Any:
        # amqtt's own version touches the session named by the client id before authenticating
        # (see the module docstring): read the CONNECT first and refuse what must not get that far.
        packet = await _read_packet(reader)
        if packet[:1] == bytes([_CONNECT]):
            try:
                connect = await ConnectPacket.from_stream(_Replay(packet, None))
            except Exception:  # malformed: amqtt's own parser below refuses it in its words
                connect = None
        else:
            connect = None
        # Another protocol level is refused by amqtt before it looks any session up, and with the
        # right code (our parse of such a CONNECT could be wrong anyway).
        refusal = (
            None
            if connect is None or connect.proto_level != _MQTT_311
            else connect_refusal(
                self.hub_accounts, connect.username, connect.password, connect.client_id or ""
            )
        )
        if refusal is not None:
            log.warning(
                "amqtt: refused %s (client id %r) from %s:%s with CONNACK code %d",
                connect.username,
                connect.client_id,
                remote_address,
                remote_port,
                refusal,
            )
            await ConnackPacket.build(0, refusal).to_stream(writer)
            await writer.close()
            raise AMQTTError(f"connection refused with code {refusal}")
        return await super()._initialize_client_session(
            _Replay(packet, reader), writer, remote_address, remote_port
        )


class AmqttBroker:
    """amqtt bound to ``host:port`` with the hub's accounts."""

    def __init__(self, accounts: BrokerAccounts, host: str, port: int) -> None:
        self.accounts = accounts
        self.host = host
        self.port = port
        self._key = f"{id(self):x}"
        self._broker: Broker | None = None

    async def start(self) -> None:
        _REGISTRY[self._key] = self.accounts
        mod = __name__
        config: dict[str, Any] = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                f"{mod}.HubAuthPlugin": {"registry_key": self._key},
                f"{mod}.HubTopicPlugin": {"registry_key": self._key},
            },
        }
        broker = _HubBroker(config, self.accounts)
        try:
            await broker.start()
        except BaseException:
            _REGISTRY.pop(self._key, None)
            raise
        self._broker = broker
        log.info("amqtt broker listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()
        _REGISTRY.pop(self._key, None)
