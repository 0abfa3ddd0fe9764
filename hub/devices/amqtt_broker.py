"""The pure-Python fallback broker (amqtt), in-process, with the same accounts and ACL.

amqtt speaks MQTT 3.1.1 only and has no shared subscriptions; it keeps sessions in memory, so a
restart loses queued messages. It exists so ``make demo`` works where Mosquitto is not installed.
Its auth and topic plugins consult the live :class:`BrokerAccounts`, so a provisioned or removed
device takes effect at once, without a reload.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

from hub.devices.accounts import BrokerAccounts

log = logging.getLogger(__name__)

# amqtt builds plugins from dotted paths and plain config, so live objects are handed over by key.
_REGISTRY: dict[str, BrokerAccounts] = {}


def _accounts(key: str) -> BrokerAccounts | None:
    return _REGISTRY.get(key)


class HubAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    @dataclass
    class Config:
        registry_key: str = ""

    async def authenticate(self, *, session: Any) -> bool:
        accounts = _accounts(self.config.registry_key)
        username = getattr(session, "username", None)
        password = getattr(session, "password", None) or ""
        if accounts is None or not username:
            return False
        if isinstance(password, bytes):
            password = password.decode(errors="replace")
        return accounts.check(username, password)


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
        broker = Broker(config)
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
