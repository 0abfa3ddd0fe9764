"""The sensor fleet: every device its own MQTT connection (own credentials, last will), all
driven by one asyncio loop instead of a paho network thread per client.

    async with SensorFleet(site, host="127.0.0.1", port=1884, password=pw, speed=60) as fleet:
        await fleet.kill("dev-smoke-0001")           # socket dropped without DISCONNECT: will fires
        await fleet.send_malformed("dev-gas-0001", "bad_json")

Simulated time runs at ``speed`` x wall time from ``start`` (epoch seconds, default now); every
telemetry message carries its simulated ``ts`` and a per-device ``seq``. A device that is behind
(after a reconnect, or at high speed) sends what is due as a batch (a JSON array).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hub.aio import cancel_and_wait
from hub.config import Device, DeviceProfile, Site
from hub.ids import new_id
from simulators.sensors.anomalies import Anomaly, TruthWriter
from simulators.sensors.malformed import MalformedKind, malformed
from simulators.sensors.stream import DeviceStream

log = logging.getLogger(__name__)

PasswordSource = Callable[[str], str] | Mapping[str, str]


def topic(device_id: str, leaf: str) -> str:
    return f"hub/v1/devices/{device_id}/{leaf}"


@dataclass
class DeviceClient:
    device: Device
    profile: DeviceProfile
    stream: DeviceStream
    client: mqtt.Client
    session: str = ""
    seq: int = 0
    connected: bool = False
    killed: bool = False
    published: int = 0
    acked: int = 0
    connects: int = 0
    next_retry: float = 0.0
    backoff: float = 0.5
    sock: socket.socket | None = field(default=None, repr=False)


class SensorFleet:
    def __init__(
        self,
        site: Site,
        *,
        host: str = "127.0.0.1",
        port: int = 1884,
        password: PasswordSource,
        devices: Sequence[str] | None = None,
        speed: float = 1.0,
        start: float | None = None,
        end: float | None = None,
        anomalies: Sequence[Anomaly] = (),
        truth_path: Path | None = None,
        seed: int = 0,
        tick: float = 0.2,
        max_batch: int = 100,
        keepalive: int = 30,
        connect_concurrency: int = 32,
    ) -> None:
        self.site, self.host, self.port = site, host, port
        self.speed = speed
        self.start_sim = time.time() if start is None else start
        self.end_sim = end
        self.tick, self.max_batch, self.keepalive = tick, max_batch, keepalive
        self._password = password
        self.anomalies = sorted(anomalies, key=lambda a: a.start)
        self._pending_truth = list(self.anomalies)
        self._truth = TruthWriter(truth_path)
        self._connect_sem = asyncio.Semaphore(connect_concurrency)
        wanted = set(devices) if devices is not None else None
        self.devices: dict[str, DeviceClient] = {}
        for d in site.devices:
            if not d.enabled or (wanted is not None and d.id not in wanted):
                continue
            profile = site.profile_by_id[d.profile]
            stream = DeviceStream(
                d, profile, site, start=self.start_sim, seed=seed, anomalies=self.anomalies
            )
            self.devices[d.id] = DeviceClient(d, profile, stream, self._make_client(d.id))
        self._wall0 = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._connecting: set[asyncio.Task[None]] = set()
        self.done = asyncio.Event()

    # -- time ------------------------------------------------------------------------------

    def now(self) -> float:
        """The simulated time (epoch seconds)."""
        return self.start_sim + (time.monotonic() - self._wall0) * self.speed

    # -- clients ---------------------------------------------------------------------------

    def password_for(self, device_id: str) -> str:
        if callable(self._password):
            return self._password(device_id)
        return self._password[device_id]

    def _make_client(self, device_id: str) -> mqtt.Client:
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=device_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
            userdata=device_id,
        )
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_socket_open = self._on_socket_open
        c.on_socket_close = self._on_socket_close
        c.on_socket_register_write = self._on_register_write
        c.on_socket_unregister_write = self._on_unregister_write
        return c

    def _status(self, dc: DeviceClient, state: str) -> bytes:
        return json.dumps(
            {"state": state, "session": dc.session, "ts": round(self.now(), 3)}
        ).encode()

    async def _connect(self, dc: DeviceClient) -> None:
        dc.session = str(new_id())  # UUIDv7: a later session sorts after an earlier one
        c = dc.client
        c.username_pw_set(dc.device.id, self.password_for(dc.device.id))
        c.will_set(topic(dc.device.id, "status"), self._status(dc, "offline"), qos=1, retain=True)
        async with self._connect_sem:
            try:
                # A TCP connect to the broker: short, and paho has no non-blocking variant.
                await asyncio.to_thread(c.connect, self.host, self.port, self.keepalive)
            except OSError as exc:
                dc.next_retry = time.monotonic() + dc.backoff
                dc.backoff = min(dc.backoff * 2, 10.0)
                log.debug("device connect failed", extra={"device": dc.device.id, "err": str(exc)})

    # paho callbacks run on the loop thread, except on_socket_open from `connect` in a worker.
    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._add_reader, userdata, sock)

    def _add_reader(self, device_id: str, sock: socket.socket) -> None:
        assert self._loop is not None
        dc = self.devices[device_id]
        dc.sock = sock
        # A quick reconnect can reuse the fd of a socket whose removal has not run yet: drop any
        # registration of this fd before adding ours.
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)
        self._loop.add_reader(sock, dc.client.loop_read)
        if dc.client.want_write():
            self._loop.add_writer(sock, dc.client.loop_write)

    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)
        self.devices[userdata].sock = None

    def _on_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        # Before _add_reader ran (connect in a worker thread), it adds the writer itself.
        own = self.devices[userdata].sock
        if own is not None and own is sock:
            self._loop.add_writer(own, client.loop_write)

    def _on_unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.remove_writer(sock)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        dc = self.devices[userdata]
        if rc.is_failure:
            log.warning("device refused by broker", extra={"device": userdata, "reason": str(rc)})
            dc.next_retry = time.monotonic() + 5.0
            return
        dc.connected, dc.connects, dc.backoff = True, dc.connects + 1, 0.5
        client.publish(topic(userdata, "status"), self._status(dc, "online"), qos=1, retain=True)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        dc = self.devices[userdata]
        dc.connected = False
        dc.next_retry = time.monotonic() + dc.backoff

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, rc: Any, props: Any
    ) -> None:
        self.devices[userdata].acked += 1

    # -- running ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wall0 = time.monotonic()
        await asyncio.gather(*(self._connect(dc) for dc in self.devices.values()))
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name="sensor-fleet-publish"),
            asyncio.create_task(self._misc_loop(), name="sensor-fleet-misc"),
        ]
        log.info("sensor fleet started", extra={"devices": len(self.devices), "speed": self.speed})

    async def wait_connected(self, within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while not all(dc.connected or dc.killed for dc in self.devices.values()):
            if time.monotonic() > deadline:
                missing = [d for d, dc in self.devices.items() if not dc.connected]
                raise TimeoutError(f"{len(missing)} devices not connected, e.g. {missing[:3]}")
            await asyncio.sleep(0.02)

    async def wait_acked(self, within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while any(dc.acked < dc.published for dc in self.devices.values() if dc.connected):
            if time.monotonic() > deadline:
                raise TimeoutError("messages not acknowledged")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        for task in list(self._connecting):
            task.cancel()
        for dc in self.devices.values():
            if dc.connected:
                # A clean shutdown says goodbye: retained offline, then DISCONNECT (no will).
                dc.client.publish(
                    topic(dc.device.id, "status"), self._status(dc, "offline"), 1, True
                )
        with contextlib.suppress(TimeoutError):
            await self.wait_acked(2.0)
        for dc in self.devices.values():
            dc.killed = True
            if dc.sock is not None:
                dc.client.disconnect()
                dc.client.loop_write()
        await asyncio.sleep(0)
        assert self._loop is not None
        for dc in self.devices.values():
            sock = dc.sock
            if sock is not None:
                self._loop.remove_reader(sock)
                self._loop.remove_writer(sock)
                sock.close()
                dc.sock = None
        self._truth.close()

    async def __aenter__(self) -> SensorFleet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _publish_loop(self) -> None:
        while True:
            now = self.now()
            if self.end_sim is not None and now >= self.end_sim:
                now = self.end_sim
            while self._pending_truth and self._pending_truth[0].start <= now:
                self._truth.write(self._pending_truth.pop(0))
            for dc in self.devices.values():
                if dc.connected and not dc.killed:
                    self._publish_due(dc, now)
            if (
                self.end_sim is not None
                and now >= self.end_sim
                and all(
                    dc.stream.next_ts > self.end_sim for dc in self.devices.values() if dc.connected
                )
            ):
                self.done.set()
            await asyncio.sleep(self.tick)

    def _publish_due(self, dc: DeviceClient, now: float) -> None:
        samples = dc.stream.due(now, self.max_batch)
        if not samples:
            return
        msgs = []
        for ts, values in samples:
            dc.seq += 1
            msgs.append({"ts": round(ts, 3), "seq": dc.seq, "values": values})
        body: Any = msgs[0] if len(msgs) == 1 else msgs
        self.publish(dc.device.id, topic(dc.device.id, "telemetry"), json.dumps(body).encode())

    def publish(self, device_id: str, topic_: str, payload: bytes, qos: int = 1) -> None:
        """Publish anything on a device's own connection (tests use it for forged messages)."""
        dc = self.devices[device_id]
        info = dc.client.publish(topic_, payload, qos=qos)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            dc.published += 1 if qos > 0 else 0

    async def _misc_loop(self) -> None:
        while True:
            t = time.monotonic()
            for dc in self.devices.values():
                if dc.sock is not None:
                    dc.client.loop_misc()
                elif not dc.killed and not dc.connected and t >= dc.next_retry:
                    dc.next_retry = t + 3600  # until the attempt below reports
                    task = asyncio.create_task(self._connect(dc))
                    self._connecting.add(task)
                    task.add_done_callback(self._connecting.discard)
            await asyncio.sleep(0.5)

    # -- faults ----------------------------------------------------------------------------

    async def kill(self, device_id: str) -> None:
        """Drop the device's TCP connection without DISCONNECT: the broker publishes its will."""
        dc = self.devices[device_id]
        dc.killed = True
        sock = dc.sock
        if sock is not None:
            # No DISCONNECT packet, like a device losing power or its mobile link.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        # paho notices on its next read and runs on_socket_close / on_disconnect.
        for _ in range(100):
            if dc.sock is None and not dc.connected:
                break
            await asyncio.sleep(0.01)

    async def revive(self, device_id: str) -> None:
        """Reconnect a killed device (a new session); its backlog goes out as batches."""
        dc = self.devices[device_id]
        dc.killed = False
        await self._connect(dc)

    async def send_malformed(
        self,
        device_id: str,
        kind: MalformedKind,
        *,
        count: int = 1,
        other_device: str | None = None,
        max_payload: int = 64 * 1024,
    ) -> int:
        """Publish `count` rounds of a kind of bad input from this device; returns messages sent."""
        dc = self.devices[device_id]
        other = other_device or next(d for d in self.devices if d != device_id)
        sent = 0
        for _ in range(count):
            for topic_, payload in malformed(
                kind, dc.device, dc.profile, seq=dc.seq, ts=self.now(),
                other_device=other, max_payload=max_payload,
            ):  # fmt: skip
                self.publish(device_id, topic_, payload)
                sent += 1
            if sent % 200 == 0:
                await asyncio.sleep(0)  # let the loop drain the socket
        if kind == "flood":
            dc.seq += count * (dc.profile.max_messages_per_minute * 2)
        return sent
