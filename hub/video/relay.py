"""A camera's second stream for live viewers only: demuxed (never decoded) while someone watches.

A camera with a ``sub_url`` has two streams. The one ``analysis_stream`` names is opened by its
``CameraSource`` (decode + analytics + live); the other one only serves the wall (small tiles
play the sub stream, an enlarged tile the main one). Opening it for nothing would cost a
connection and bandwidth per camera, so a ``LiveRelay`` connects when the first viewer
subscribes and disconnects ``linger`` seconds after the last one left (a tile that switches
stream or a camera moving between tiles does not reconnect). Packets go through the same
``LiveTap`` / ``LiveFeed`` pair as the analysed stream: one muxer per stream, however many viewers.
No packet is decoded here, so the relay costs a demux and a remux, about nothing.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
import threading
import time
from typing import Any

from hub.config import Camera, Settings
from hub.redact import source_text
from hub.video.live import LiveFeed, LiveTap
from hub.video.source import backoff_delay, is_file_url, open_stream

log = logging.getLogger(__name__)

LINGER_SECONDS = 15.0
"""Keep the upstream connection this long after the last viewer left."""
IDLE_POLL_SECONDS = 0.2


class LiveRelay:
    """The thread behind one camera's non-analysed stream (``feed`` is what viewers subscribe)."""

    def __init__(
        self,
        camera: Camera,
        url: str,
        settings: Settings,
        loop: asyncio.AbstractEventLoop,
        *,
        stream: str = "sub",
        linger: float = LINGER_SECONDS,
    ) -> None:
        self.camera = camera
        self.url = url
        self.stream = stream
        self.settings = settings
        self.linger = linger
        self.feed = LiveFeed(camera.id, loop)
        self._tap = LiveTap(self.feed)
        self._file = is_file_url(url)
        self._transport = "tcp"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rng = random.Random()
        self.connects = 0
        self.connected = False
        """Whether the upstream connection is open now (read by tests and metrics)."""
        self.last_error: str | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"relay-{self.camera.id}-{self.stream}", daemon=True
            )
            self._thread.start()

    def close(self, reason: str = "camera stopped") -> None:
        """Stop the thread (it exits at its next packet or read timeout) and end the viewers."""
        self._stop.set()
        self.feed.close(reason)

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        try:
            while not self._stop.is_set():
                if not self.feed.wanted:
                    self._stop.wait(IDLE_POLL_SECONDS)
                    continue
                try:
                    got = self._session()
                except Exception as exc:
                    if self._stop.is_set():
                        break
                    if (
                        self._transport == "tcp"
                        and not self._file
                        and getattr(exc, "errno", None) == errno.EPROTONOSUPPORT
                    ):
                        self._transport = "udp"
                        continue
                    message = source_text(f"{type(exc).__name__}: {exc}", self.url)
                    level = logging.DEBUG if message == self.last_error else logging.WARNING
                    log.log(level, "camera %s %s stream: %s", self.camera.id, self.stream, message)
                    self.last_error = message
                    got = False
                if got:
                    attempt = 0
                if self._stop.is_set() or not self.feed.wanted or (got and self._file):
                    continue  # a file loops at once; an unwatched stream waits for a viewer
                delay = backoff_delay(
                    attempt,
                    self.settings.reconnect_min_seconds,
                    self.settings.reconnect_max_seconds,
                    self._rng,
                )
                attempt += 1
                self._stop.wait(delay)
        finally:
            self._tap.close()

    def _open(self) -> Any:
        return open_stream(self.url, self._transport, self.settings.stall_seconds)

    def _session(self) -> bool:
        """Relay until nobody has watched for ``linger`` s; True if any packet came through."""
        container = self._open()
        self.connects += 1
        got = False
        try:
            if not container.streams.video:
                return False
            stream = container.streams.video[0]
            self._tap.on_connect(stream)
            self.connected = True
            start = time.monotonic()
            first_ts: float | None = None
            idle_since: float | None = None
            for packet in container.demux(stream):
                if self._stop.is_set():
                    return got
                now = time.monotonic()
                if self.feed.wanted:
                    idle_since = None
                elif idle_since is None:
                    idle_since = now
                elif now - idle_since > self.linger:
                    return got
                if packet.size == 0:
                    continue
                if self._file and packet.pts is not None and stream.time_base is not None:
                    # A file plays at its own pace, as a camera would send it.
                    t = float(packet.pts * stream.time_base)
                    first_ts = t if first_ts is None else first_ts
                    ahead = start + (t - first_ts) - time.monotonic()
                    if ahead > 0 and self._stop.wait(ahead):
                        return got
                got = True
                self._tap.on_packet(packet)
            return got
        finally:
            self.connected = False
            try:
                container.close()
            except Exception as exc:
                log.debug(
                    "camera %s relay close: %s", self.camera.id, source_text(str(exc), self.url)
                )
