"""The ingest's MQTT connection, on the event loop (packets in hub.devices.mqtt_wire).

- MQTT 5 without clean start and with a session expiry (3.1.1 with clean session off for brokers
  without v5), QoS 1, a stable client id: the broker keeps this process's session and queues for
  it while the hub is down.
- Manual acks: received messages only go into the inbox; the worker acks a batch after it is
  stored (or dead-lettered), in one write. Acks carry the connection generation: a message
  received on an earlier connection is not acked on a new one (the broker redelivers it).
- Backpressure: at most ``RECEIVE_MAXIMUM`` unacked QoS 1 messages are in flight to us (MQTT 5),
  and past ``INBOX_MAX`` queued messages the socket stops being read.
- Telemetry and events through ``$share/<group>/...`` when shared subscriptions are on, so
  several ingest processes split them; status without ``$share`` because shared subscriptions get
  no retained messages. The group name and the default client id derive from the hub's password
  (:func:`derived_share_group`, :func:`derived_client_id`): a device that could name the group
  would join it and take a share of everyone's messages (which the broker then drops, since its
  ACL forbids it to read them), and one that could name the client id would take the session
  over.
- The hub's retained state on ``hub/v1/hub/state``: online at connect, offline as the last will
  and at a clean stop.

Why not paho or gmqtt: paho spent about 24 µs of CPU per received message, which capped the
ingest below its target on its own, and neither hands the packet id to a callback that may ack
later without reaching into private internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import orjson

from hub.aio import cancel_and_wait
from hub.devices import mqtt_wire as wire
from hub.devices.mqtt_wire import Inbound
from hub.devices.validate import HUB_STATE_TOPIC

__all__ = [
    "Endpoint",
    "Inbound",
    "MqttLink",
    "derived_client_id",
    "derived_share_group",
    "subscriptions",
]

log = logging.getLogger(__name__)

SESSION_EXPIRY = 7 * 86_400
RECEIVE_MAXIMUM = 20_000
"""Unacked QoS 1 messages the broker may have in flight to us (MQTT 5 Receive Maximum)."""
INBOX_MAX = 50_000
"""Past this many queued messages the socket is not read: TCP backpressure to the broker."""
KEEPALIVE = 30
CONNECT_TIMEOUT = 10.0
RECONNECT_MIN, RECONNECT_MAX = 1.0, 5.0


_TAG_CHARS = 16


def _tag(password: str, label: bytes) -> str:
    return hmac.new(password.encode(), label, hashlib.sha256).hexdigest()[:_TAG_CHARS]


def derived_share_group(password: str) -> str:
    """The ``$share`` group of every ingest process that logs in with this password: only who
    knows the password can name it (and so join it)."""
    return "hub-" + _tag(password, b"hub/v1 mqtt share group")


def derived_client_id(password: str) -> str:
    """The ingest's default client id. A separate label from the group's, so that a client id
    shown somewhere (a broker log) does not reveal the group."""
    return "hub-ingest-" + _tag(password, b"hub/v1 mqtt client id")


def subscriptions(shared: bool, group: str) -> list[str]:
    base = "hub/v1/devices/+/"
    share = f"$share/{group}/" if shared else ""
    return [f"{share}{base}telemetry", f"{share}{base}events", f"{base}status"]


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom the ingest connects. An empty ``client_id`` or ``share_group`` is
    derived from the password (:func:`derived_client_id`, :func:`derived_share_group`)."""

    url: str
    username: str
    password: str
    client_id: str = ""
    shared: bool = True
    mqtt5: bool = True
    share_group: str = ""

    def __post_init__(self) -> None:
        # Frozen: fill in the derived values once, so logs and tests see the names in use.
        if not self.client_id:
            object.__setattr__(self, "client_id", derived_client_id(self.password))
        if not self.share_group:
            object.__setattr__(self, "share_group", derived_share_group(self.password))

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 1883


def hub_state_payload(state: str) -> bytes:
    return orjson.dumps({"state": state, "ts": time.time()})


class _Protocol(asyncio.Protocol):
    def __init__(self, link: MqttLink, gen: int) -> None:
        self.link = link
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.reader = wire.Reader(link.inbox.append, self._control, v5=link.endpoint.mqtt5, gen=gen)
        self.connack: asyncio.Future[wire.Connack] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.last_rx = time.monotonic()
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        link = self.link
        was_empty = not link.inbox
        try:
            got = self.reader.feed(data)
        except Exception as exc:  # ProtocolError, or a field cut short inside a packet
            log.warning("MQTT protocol error from the broker (%r); reconnecting", exc)
            assert self.transport is not None
            self.transport.abort()
            return
        if got:
            if was_empty:
                link.on_inbound()
            if len(link.inbox) >= INBOX_MAX and self.transport is not None:
                self.paused = True
                self.transport.pause_reading()

    def _control(self, kind: int, _flags: int, body: bytes) -> None:
        v5 = self.link.endpoint.mqtt5
        if kind == wire.CONNACK:
            ack = wire.parse_connack(body, v5=v5)
            if ack.code == 0:
                # Now, not when the session coroutine next runs: the worker may ack this
                # connection's first messages before that, and acks of another generation drop.
                self.link.gen = self.gen
            if not self.connack.done():
                self.connack.set_result(ack)
        elif kind == wire.SUBACK:
            self.link.suback(*wire.parse_suback(body, v5=v5))
        elif kind == wire.PUBACK:
            self.link.puback(int.from_bytes(body[:2], "big"))
        elif kind == wire.DISCONNECT:
            reason = body[0] if body else 0
            log.warning("the MQTT broker disconnected the ingest (reason 0x%02x)", reason)
        elif kind != wire.PINGRESP:
            log.warning("unexpected MQTT packet type %d from the broker", kind)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.connack.done():
            self.connack.set_exception(ConnectionError("connection closed before CONNACK"))
            self.connack.exception()  # retrieved: the session may have stopped waiting for it


class MqttLink:
    def __init__(
        self,
        endpoint: Endpoint,
        on_inbound: Callable[[], None],
        on_subscribed: Callable[[], None] | None = None,
    ) -> None:
        """``on_inbound``: the inbox went from empty to not empty. ``on_subscribed``: the broker
        granted the telemetry and event subscriptions (after every connect)."""
        self.endpoint = endpoint
        self.on_inbound = on_inbound
        self.on_subscribed = on_subscribed
        self.inbox: deque[Inbound] = deque()
        self.gen = 0
        self.connected = threading.Event()
        """Set while connected and subscribed (a threading.Event: tests wait on it from threads)."""
        self.shared = endpoint.shared
        self._proto: _Protocol | None = None
        self._task: asyncio.Task[None] | None = None
        self._next_mid = 0
        self._puback_waiters: dict[int, asyncio.Future[None]] = {}
        self._suback_filters: dict[int, list[str]] = {}
        self._stopping = False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mqtt-link")

    async def stop(self) -> None:
        """Publish the offline state and disconnect without acking what is still queued: the
        broker redelivers it to the next session."""
        self._stopping = True
        proto = self._proto
        if proto is not None and proto.transport is not None and self.connected.is_set():
            done = self._publish(HUB_STATE_TOPIC, hub_state_payload("offline"), qos=1)
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(done, 2.0)
            if not proto.transport.is_closing():
                proto.transport.write(wire.DISCONNECT_PACKET)
                proto.transport.close()
        await cancel_and_wait([self._task])
        self._task = None
        self.connected.clear()

    async def _run(self) -> None:
        delay = RECONNECT_MIN
        while True:
            try:
                await self._session()
                delay = RECONNECT_MIN
            except asyncio.CancelledError:
                raise
            except (OSError, ConnectionError, TimeoutError, wire.ProtocolError) as exc:
                log.warning("MQTT connection to %s failed: %s", self.endpoint.url, exc)
            except Exception:
                log.exception("MQTT link failed")
            finally:
                self.connected.clear()
                self._fail_waiters()
                if self._proto is not None and self._proto.transport is not None:
                    self._proto.transport.abort()
                self._proto = None
            if self._stopping:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX)

    async def _session(self) -> None:
        """One connection: connect, subscribe, then keep it alive until it closes."""
        ep = self.endpoint
        host, port = ep.host_port
        loop = asyncio.get_running_loop()
        gen = self.gen + 1
        _, proto = await asyncio.wait_for(
            loop.create_connection(lambda: _Protocol(self, gen), host, port), CONNECT_TIMEOUT
        )
        self._proto = proto
        assert proto.transport is not None
        proto.transport.write(
            wire.connect(
                ep.client_id,
                username=ep.username,
                password=ep.password,
                keepalive=KEEPALIVE,
                will=wire.Will(HUB_STATE_TOPIC, hub_state_payload("offline")),
                v5=ep.mqtt5,
                session_expiry=SESSION_EXPIRY,
                receive_maximum=RECEIVE_MAXIMUM,
            )
        )
        ack = await asyncio.wait_for(asyncio.shield(proto.connack), CONNECT_TIMEOUT)
        if ack.code:
            raise ConnectionError(f"connect refused with code 0x{ack.code:02x}")
        keepalive = cast(int, ack.properties.get(wire.SERVER_KEEP_ALIVE, KEEPALIVE)) or KEEPALIVE
        log.info(
            "MQTT connected",
            extra={"client_id": ep.client_id, "session_present": ack.session_present},
        )
        if self.shared and not ep.mqtt5:
            log.warning("MQTT 3.1.1 broker: no shared subscriptions, subscribing plainly")
            self.shared = False
        if not self.shared and gen == 1:
            log.info("plain subscription: this must be the only ingest process on the broker")
        self._subscribe(subscriptions(self.shared, ep.share_group))
        self._publish(HUB_STATE_TOPIC, hub_state_payload("online"), qos=1)
        self.connected.set()
        await self._keepalive(proto, float(keepalive))

    async def _keepalive(self, proto: _Protocol, keepalive: float) -> None:
        while not proto.closed.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(proto.closed), keepalive / 2)
            if proto.closed.done() or proto.transport is None:
                return
            # Paused reading cannot see the broker's PINGRESP: judge silence only while reading.
            if not proto.paused and time.monotonic() - proto.last_rx > 1.5 * keepalive:
                log.warning("MQTT broker silent for %.0f s; reconnecting", 1.5 * keepalive)
                proto.transport.abort()
                return
            proto.transport.write(wire.PINGREQ_PACKET)

    # -- the worker's side -----------------------------------------------------------------

    def ack(self, gen: int, acks: list[int]) -> None:
        proto = self._proto
        if gen != self.gen or not acks or proto is None or proto.transport is None:
            return
        if not proto.transport.is_closing():
            proto.transport.write(wire.pubacks(acks))

    def room_freed(self) -> None:
        proto = self._proto
        if proto is not None and proto.paused and len(self.inbox) < INBOX_MAX // 2:
            proto.paused = False
            if proto.transport is not None:
                proto.transport.resume_reading()

    # -- packets out and their answers -----------------------------------------------------

    def _mid(self) -> int:
        self._next_mid = self._next_mid % 65_535 + 1
        return self._next_mid

    def _subscribe(self, filters: list[str]) -> None:
        assert self._proto is not None and self._proto.transport is not None
        mid = self._mid()
        self._suback_filters[mid] = filters
        self._proto.transport.write(wire.subscribe(mid, filters, 1, v5=self.endpoint.mqtt5))

    def _publish(self, topic: str, payload: bytes, *, qos: int) -> asyncio.Future[None]:
        assert self._proto is not None and self._proto.transport is not None
        mid = self._mid()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._puback_waiters[mid] = done
        self._proto.transport.write(
            wire.publish(topic, payload, mid=mid, qos=qos, retain=True, v5=self.endpoint.mqtt5)
        )
        return done

    def puback(self, mid: int) -> None:
        done = self._puback_waiters.pop(mid, None)
        if done is not None and not done.done():
            done.set_result(None)

    def suback(self, mid: int, codes: list[int]) -> None:
        filters = self._suback_filters.pop(mid, [])
        refused = [f for f, c in zip(filters, codes, strict=False) if c >= 0x80]
        if not refused:
            if self.on_subscribed is not None:
                self.on_subscribed()
            return
        if self.shared and any(f.startswith("$share/") for f in refused):
            log.warning("broker refused $share subscriptions (%s): subscribing plainly", codes)
            self.shared = False
            self._subscribe(subscriptions(False, self.endpoint.share_group))
        else:
            log.error("broker refused MQTT subscriptions %s (codes %s)", refused, codes)

    def _fail_waiters(self) -> None:
        for done in self._puback_waiters.values():
            if not done.done():
                done.set_exception(ConnectionError("MQTT connection lost"))
                done.exception()  # retrieved: most of these futures have nobody awaiting them
        self._puback_waiters.clear()
        self._suback_filters.clear()
