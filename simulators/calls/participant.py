"""One participant of a dispatch call, speaking the hub's call API as the field app does:
join (call token, ICE servers), publish camera and microphone on one connection, receive every
other stream on one connection each, republish and resubscribe after a network loss, leave."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from simulators.calls.media import audio_level

log = logging.getLogger(__name__)


class CallError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"{status}: {text[:200]}")
        self.status = status


@dataclass
class Received:
    """What arrived of one stream."""

    video_frames: int = 0
    audio_frames: int = 0
    audio_peak: float = 0.0
    last_size: tuple[int, int] | None = None


@dataclass
class _Sub:
    pc: RTCPeerConnection
    location: str
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class Participant:
    def __init__(self, http: httpx.AsyncClient, token: str, username: str) -> None:
        self.http = http
        self.username = username
        self._user_token = token
        self.call_id: str | None = None
        self._call_token: str | None = None
        self.ice: list[RTCIceServer] = []
        self.call: dict[str, Any] = {}
        self.publisher: RTCPeerConnection | None = None
        self.publish_location: str | None = None
        self.subs: dict[str, _Sub] = {}
        self.received: dict[str, Received] = {}
        self._sending: list[MediaStreamTrack] = []

    def __repr__(self) -> str:
        return f"Participant({self.username!r})"

    @property
    def _user(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._user_token}"}

    @property
    def _call(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._call_token}"}

    async def _check(self, r: httpx.Response, *ok: int) -> httpx.Response:
        if r.status_code not in ok:
            raise CallError(r.status_code, r.text)
        return r

    # -- the call ----------------------------------------------------------------------------

    async def join(self, call_id: str) -> dict[str, Any]:
        r = await self._check(
            await self.http.post(f"/api/calls/{call_id}/join", headers=self._user), 200
        )
        body: dict[str, Any] = r.json()
        self.joined(call_id, body)
        return body

    def joined(self, call_id: str, body: dict[str, Any]) -> None:
        """Take the hub's answer to a join (made by the caller's own client)."""
        self.call_id = call_id
        self._call_token = body["call_token"]
        self.call = body["call"]
        self.ice = [
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in body["ice_servers"]
        ]

    async def refresh(self) -> dict[str, Any]:
        r = await self._check(
            await self.http.get(f"/api/calls/{self.call_id}", headers=self._user), 200
        )
        self.call = r.json()
        return self.call

    async def leave(self) -> None:
        await self.close_media()
        if self.call_id is not None:
            with contextlib.suppress(httpx.HTTPError):
                await self.http.post(f"/api/calls/{self.call_id}/leave", headers=self._user)

    async def close_media(self) -> None:
        for sub in self.subs.values():
            for t in sub.tasks:
                t.cancel()
            await sub.pc.close()
        self.subs.clear()
        if self.publisher is not None:
            await self.publisher.close()
            self.publisher = None

    # -- media -------------------------------------------------------------------------------

    async def _answer(self, pc: RTCPeerConnection, path: str) -> str:
        await pc.setLocalDescription(await pc.createOffer())
        r = await self.http.post(
            path,
            content=pc.localDescription.sdp,
            headers={**self._call, "Content-Type": "application/sdp"},
        )
        if r.status_code != 201:
            await pc.close()
            raise CallError(r.status_code, r.text)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=r.text, type="answer"))
        return r.headers["location"]

    async def publish(self, *tracks: MediaStreamTrack) -> None:
        """Send these tracks (a camera, a microphone); again after a loss, with the same ones."""
        if tracks:
            self._sending = list(tracks)
        old = self.publisher
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self.ice))
        for t in self._sending:
            pc.addTransceiver(t, direction="sendonly")
        self.publish_location = await self._answer(pc, f"/api/calls/{self.call_id}/publish")
        self.publisher = pc
        if old is not None:
            await old.close()

    async def subscribe(self, stream: dict[str, Any]) -> Received:
        """Receive one stream of the call (decoded here, to measure it)."""
        sid = stream["id"]
        old = self.subs.pop(sid, None)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self.ice))
        if stream.get("audio"):
            pc.addTransceiver("audio", direction="recvonly")
        if stream.get("video"):
            pc.addTransceiver("video", direction="recvonly")
        got = self.received.setdefault(sid, Received())
        sub = _Sub(pc, "")

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            sub.tasks.append(asyncio.ensure_future(_drain(track, got)))

        sub.location = await self._answer(pc, f"/api/calls/{self.call_id}/streams/{sid}/subscribe")
        self.subs[sid] = sub
        if old is not None:
            for t in old.tasks:
                t.cancel()
            await old.pc.close()
        return got

    async def subscribe_all(self, call: dict[str, Any] | None = None) -> None:
        """Receive every stream of the call that is not ours and not yet received; stop
        receiving streams that left the call."""
        if call is None:
            call = await self.refresh()
        else:
            self.call = call
        live = {s["id"] for s in call["streams"]}
        for sid in [sid for sid in self.subs if sid not in live]:
            sub = self.subs.pop(sid)
            for t in sub.tasks:
                t.cancel()
            await sub.pc.close()
        for s in call["streams"]:
            if s["owner"] != self.username and s["id"] not in self.subs:
                await self.subscribe(s)

    def connected(self) -> bool:
        pcs = [self.publisher] if self.publisher else []
        pcs += [s.pc for s in self.subs.values()]
        return bool(pcs) and all(pc.connectionState == "connected" for pc in pcs)

    async def recover(self) -> None:
        """After a network loss: connections that failed are made again (publish and each
        subscription); the hub keeps the streams, so the others see ours resume."""
        if self.publisher is not None and self.publisher.connectionState in ("failed", "closed"):
            await self.publish()
        for sid, sub in list(self.subs.items()):
            if sub.pc.connectionState in ("failed", "closed"):
                stream = next((s for s in self.call.get("streams", []) if s["id"] == sid), None)
                if stream is not None:
                    await self.subscribe(stream)


async def _drain(track: MediaStreamTrack, got: Received) -> None:
    with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
        while True:
            frame = await track.recv()
            if track.kind == "video":
                got.video_frames += 1
                got.last_size = (frame.width, frame.height)
            else:
                got.audio_frames += 1
                got.audio_peak = max(got.audio_peak, audio_level(frame))
