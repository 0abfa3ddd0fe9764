"""One unit's WHIP client: log in, publish (POST offer, 201 + answer), send telemetry, end
(DELETE), and publish again after losing the hub, as OBS or a drone's WHIP client does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from simulators.cameras.encode import EncodedLoop
from simulators.drones.flight import Flight
from simulators.drones.track import LoopTrack

log = logging.getLogger(__name__)


class WhipError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"{status}: {text[:200]}")
        self.status = status


@dataclass
class PublisherStats:
    sessions: int = 0
    telemetry_sent: int = 0
    failures: int = 0


class WhipPublisher:
    def __init__(
        self,
        http: httpx.AsyncClient,
        unit_id: str,
        password: str,
        video: EncodedLoop,
        *,
        flight: Flight | None = None,
        telemetry_interval: float = 1.0,
    ) -> None:
        self.http = http
        self.unit_id = unit_id
        self._password = password
        self.video = video
        self.flight = flight
        self.telemetry_interval = telemetry_interval
        self.stats = PublisherStats()
        self.pc: RTCPeerConnection | None = None
        self.track: LoopTrack | None = None
        self.location: str | None = None
        self._token: str | None = None
        self._channel: Any = None

    def __repr__(self) -> str:  # never the password
        return f"WhipPublisher({self.unit_id!r})"

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    async def login(self) -> None:
        r = await self.http.post(
            "/api/auth/token", data={"username": self.unit_id, "password": self._password}
        )
        if r.status_code != 200:
            raise WhipError(r.status_code, r.text)
        self._token = r.json()["access_token"]

    async def publish(self) -> None:
        """One session: offer, answer, wait until connected."""
        if self._token is None:
            await self.login()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc = pc
        self.track = LoopTrack(self.video)
        pc.addTransceiver(self.track, direction="sendonly")
        self._channel = pc.createDataChannel("telemetry")
        await pc.setLocalDescription(await pc.createOffer())
        r = await self.http.post(
            f"/api/whip/{self.unit_id}",
            content=pc.localDescription.sdp,
            headers={**self._auth, "Content-Type": "application/sdp"},
        )
        if r.status_code == 401:  # the token expired: once more with a new one
            await self.login()
            r = await self.http.post(
                f"/api/whip/{self.unit_id}",
                content=pc.localDescription.sdp,
                headers={**self._auth, "Content-Type": "application/sdp"},
            )
        if r.status_code != 201:
            await pc.close()
            raise WhipError(r.status_code, r.text)
        self.location = r.headers["location"]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=r.text, type="answer"))
        self.stats.sessions += 1
        for _ in range(200):
            if pc.connectionState == "connected":
                return
            if pc.connectionState in ("failed", "closed"):
                break
            await asyncio.sleep(0.05)
        raise WhipError(0, f"connection {pc.connectionState}")

    def send_telemetry(self, now: float | None = None) -> bool:
        ch = self._channel
        if self.flight is None or ch is None or ch.readyState != "open":
            return False
        ch.send(json.dumps(self.flight.telemetry(now if now is not None else time.time())))
        self.stats.telemetry_sent += 1
        return True

    async def unpublish(self) -> None:
        pc, location = self.pc, self.location
        self.pc = self.location = None
        if location is not None:
            with contextlib.suppress(httpx.HTTPError):
                await self.http.delete(location, headers=self._auth)
        if pc is not None:
            await pc.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop``; after a lost connection or a refused offer, publish again."""
        delay = 1.0
        while not stop.is_set():
            try:
                await self.publish()
                delay = 1.0
                while not stop.is_set() and self.pc is not None:
                    if self.pc.connectionState in ("failed", "closed"):
                        raise WhipError(0, "connection lost")
                    self.send_telemetry()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.telemetry_interval)
            except (WhipError, httpx.HTTPError, OSError) as exc:
                self.stats.failures += 1
                log.warning("drone %s: %s; publishing again in %.0f s", self.unit_id, exc, delay)
                with contextlib.suppress(Exception):
                    await self.unpublish()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 30.0)
        await self.unpublish()
