"""The ingest's MQTT connection: paho-mqtt 2.x on its own network thread.

- MQTT 5 with ``clean_start=False`` and a session expiry (3.1.1 with ``clean_session=False`` for
  brokers without v5), QoS 1, a stable client id: the broker keeps this process's session and
  queues for it while the hub is down.
- Manual acks: the network callback only appends to the inbox; the worker acks a message after
  it is stored (or dead-lettered). Acks carry the connection generation: a message received on
  an earlier connection is not acked on a new one (the broker redelivers it instead).
- Telemetry and events through ``$share/hub-ingest/...`` so several ingest processes split them;
  status without ``$share`` because shared subscriptions get no retained messages.
- The hub's retained state on ``hub/v1/hub/state``: online at connect, offline as the last will.
"""

from __future__ import annotations

import contextlib
import logging
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub.devices.validate import HUB_STATE_TOPIC

log = logging.getLogger(__name__)

SHARE_GROUP = "hub-ingest"
SESSION_EXPIRY = 7 * 86_400
RECEIVE_MAXIMUM = 20_000
"""Unacked QoS 1 messages the broker may have in flight to us (MQTT 5 Receive Maximum)."""
_PUBACK = struct.Struct("!BBH")
INBOX_MAX = 50_000
"""Past this many queued messages the network thread waits: TCP backpressure to the broker."""

Inbound = tuple[int, int, int, str, bytes]
"""(connection generation, mid, qos, topic, payload)"""


READ_BURST = 256
"""Packets read per wake-up of the network thread."""


class _Client(paho.Client):
    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        # paho reads one packet per select() unless its own publishes are in flight, which costs
        # a select() per received message; read what the socket holds, up to a bound that keeps
        # keepalive and writes serviced. Same semantics as paho's loop_read otherwise.
        for _ in range(READ_BURST):
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        return MQTTErrorCode.MQTT_ERR_SUCCESS


def subscriptions(shared: bool) -> list[str]:
    base = "hub/v1/devices/+/"
    share = f"$share/{SHARE_GROUP}/" if shared else ""
    return [f"{share}{base}telemetry", f"{share}{base}events", f"{base}status"]


@dataclass(frozen=True)
class Endpoint:
    url: str
    username: str
    password: str
    client_id: str
    shared: bool = True
    mqtt5: bool = True

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 1883


def hub_state_payload(state: str) -> bytes:
    return orjson.dumps({"state": state, "ts": time.time()})


class MqttLink:
    def __init__(self, endpoint: Endpoint, on_inbound: Callable[[], None]) -> None:
        self.endpoint = endpoint
        self._on_inbound = on_inbound
        self.inbox: deque[Inbound] = deque()
        self._room = threading.Condition()
        self.gen = 0
        self.connected = threading.Event()
        self.shared = endpoint.shared
        self._stopping = False
        self._client = self._make_client()

    def _make_client(self) -> paho.Client:
        ep = self.endpoint
        c = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=ep.client_id,
            protocol=paho.MQTTv5 if ep.mqtt5 else paho.MQTTv311,
            clean_session=None if ep.mqtt5 else False,
            manual_ack=True,
        )
        c.username_pw_set(ep.username, ep.password)
        c.will_set(HUB_STATE_TOPIC, hub_state_payload("offline"), qos=1, retain=True)
        c.reconnect_delay_set(1, 5)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        return c

    # -- lifecycle (event loop thread) -------------------------------------------------------

    def start(self) -> None:
        host, port = self.endpoint.host_port
        props: Properties | None = None
        if self.endpoint.mqtt5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = SESSION_EXPIRY
            props.ReceiveMaximum = RECEIVE_MAXIMUM
            self._client.connect_async(
                host, port, keepalive=30, clean_start=False, properties=props
            )
        else:
            self._client.connect_async(host, port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect without acking what is still queued: the broker redelivers it."""
        self._stopping = True
        with self._room:
            self._room.notify_all()
        if self.connected.is_set():
            info = self._client.publish(
                HUB_STATE_TOPIC, hub_state_payload("offline"), qos=1, retain=True
            )
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(2.0)
        self._client.disconnect()
        self._client.loop_stop()

    def ack(self, gen: int, acks: list[int]) -> None:
        if gen != self.gen or not acks:
            return
        # One queued write for the whole batch: paho's per-ack path costs a wake-up byte, a queue
        # entry and a send() per message on both threads. A PUBACK without reason code or
        # properties (remaining length 2) means success in MQTT 3.1.1 and 5 alike.
        packet = b"".join([_PUBACK.pack(paho.PUBACK, 2, mid) for mid in acks])
        self._client._packet_queue(paho.PUBACK, packet, 0, 1)

    def room_freed(self) -> None:
        with self._room:
            self._room.notify_all()

    # -- paho callbacks (network thread): enqueue and return ----------------------------------

    def _on_connect(
        self, client: paho.Client, _u: Any, flags: Any, rc: ReasonCode, _p: Any = None
    ) -> None:
        if rc.is_failure:
            log.warning("MQTT connect refused: %s", rc)
            return
        self.gen += 1
        self.connected.set()
        present = bool(getattr(flags, "session_present", False))
        log.info(
            "MQTT connected",
            extra={"client_id": self.endpoint.client_id, "session_present": present},
        )
        if self.shared and not self.endpoint.mqtt5:
            log.warning("MQTT 3.1.1 broker: no shared subscriptions, subscribing plainly")
            self.shared = False
        if not self.shared and self.gen == 1:
            log.info("plain subscription: this must be the only ingest process on the broker")
        client.subscribe([(t, 1) for t in subscriptions(self.shared)])
        client.publish(HUB_STATE_TOPIC, hub_state_payload("online"), qos=1, retain=True)

    def _on_subscribe(
        self, client: paho.Client, _u: Any, _mid: int, codes: list[ReasonCode], _p: Any
    ) -> None:
        if self.shared and any(c.is_failure for c in codes):
            log.warning("broker refused $share subscriptions (%s): subscribing plainly", codes)
            self.shared = False
            client.subscribe([(t, 1) for t in subscriptions(False)])

    def _on_disconnect(
        self, _c: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any = None
    ) -> None:
        self.connected.clear()
        if not self._stopping:
            log.warning("MQTT disconnected (%s); reconnecting", rc)

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        inbox = self.inbox
        if len(inbox) >= INBOX_MAX:
            with self._room:
                while len(inbox) >= INBOX_MAX and not self._stopping:
                    self._room.wait(0.5)
        was_empty = not inbox
        inbox.append((self.gen, msg.mid, msg.qos, msg.topic, bytes(msg.payload)))
        if was_empty:
            self._on_inbound()
