"""WHIP ingest (RFC 9725): drones and camera vehicles publish their video to the hub.

A unit ``POST``s an SDP offer to ``/api/whip/<camera id>``; the hub answers with ``201 Created``,
its SDP answer and a ``Location`` naming the session, which the unit ``DELETE``s when it stops.
Each session is one aiortc peer connection that only receives: its H.264 is taken encoded
(``hub.rtc.receiver_tap``) and handed to a ``WhipSource`` the camera service attaches to the
camera, so the unit is a camera like any other (health, live view, analytics, clips). Audio a
unit sends is dropped undecoded. Telemetry (position, heading, altitude, speed, battery) may
come over a data channel; each message goes to ``on_telemetry``.

Resources are bounded: one session per unit (a new offer from the same unit replaces its
session: a drone that rebooted must not wait for the old one to time out), at most
``whip_max_sessions`` in all, and a reaper closes sessions whose peer never connected within
``whip_connect_seconds``, whose connection failed, or that sent no video for
``whip_idle_seconds``. Closing a session closes its peer connection (ports, threads) and
detaches its source.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from prometheus_client import Counter, Gauge

from hub.aio import cancel_and_wait
from hub.config import Settings, Site
from hub.errors import BusyError, NotFoundError
from hub.ratelimit import RateLimitedError, RateLimiter
from hub.rtc.receiver_tap import drop_frames, request_keyframe, tap_receiver
from hub.rtc.sdp import MediaError, check_offer
from hub.video.whip_source import WhipSource

if TYPE_CHECKING:
    from hub.video.source_base import SourceHost, SourceParts

log = logging.getLogger(__name__)

SESSIONS = Gauge("hub_whip_sessions", "WHIP sessions open (connecting or connected)")
OFFERS = Counter("hub_whip_offers_total", "WHIP offers, by result", ["result"])
ENDED = Counter("hub_whip_sessions_ended_total", "WHIP sessions ended, by reason", ["reason"])
TELEMETRY_REJECTED = Counter(
    "hub_whip_telemetry_rejected_total", "Data-channel telemetry messages refused"
)

REAP_INTERVAL = 1.0
MAX_TELEMETRY_BYTES = 4096

TelemetryHandler = Callable[[str, bytes], Awaitable[object]]
"""(camera id, raw message) for each data-channel message of a publishing unit."""


@dataclass
class WhipSession:
    id: str
    camera_id: str
    pc: RTCPeerConnection
    created: float = field(default_factory=time.monotonic)
    source: WhipSource | None = None
    connected_at: float | None = None
    closed: bool = False
    reporting: bool = False
    """A telemetry report of this session is being handled: more are dropped meanwhile."""


class WhipSessions:
    """Every open WHIP session of the hub."""

    def __init__(
        self,
        settings: Settings,
        site: Site,
        video: SourceHost,
        *,
        on_telemetry: TelemetryHandler | None = None,
    ) -> None:
        self.settings = settings
        self.site = site
        self.video = video
        self.on_telemetry = on_telemetry
        self._sessions: dict[str, WhipSession] = {}
        self._by_camera: dict[str, WhipSession] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._offers = RateLimiter(settings.offers_per_minute)

    async def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_loop(), name="whip-reaper")

    async def stop(self) -> None:
        await cancel_and_wait([self._reaper])
        for s in list(self._sessions.values()):
            await self.end(s, "hub stopping")

    def __len__(self) -> int:
        return len(self._sessions)

    def session(self, camera_id: str, session_id: str) -> WhipSession:
        s = self._sessions.get(session_id)
        if s is None or s.camera_id != camera_id:
            raise NotFoundError("no such WHIP session")
        return s

    # -- publish -----------------------------------------------------------------------------

    async def publish(self, camera_id: str, offer: str) -> tuple[WhipSession, str]:
        """Answer a unit's offer; returns the new session and the SDP answer."""
        cam = self.site.camera_by_id.get(camera_id)
        if cam is None or not cam.published or not cam.enabled:
            OFFERS.labels("unknown_unit").inc()
            raise NotFoundError(f"no publishing unit {camera_id!r}")
        try:
            self._offers.check(camera_id, "offers from this unit")
        except RateLimitedError:
            OFFERS.labels("too_many").inc()
            raise
        try:
            summary = check_offer(offer, max_bytes=self.settings.whip_max_offer_bytes)
        except Exception:
            OFFERS.labels("bad_sdp").inc()
            raise
        if "video" not in summary.kinds:
            OFFERS.labels("no_video").inc()
            raise MediaError("offer has no video")
        if "h264" not in summary.video_codecs:
            OFFERS.labels("no_h264").inc()
            raise MediaError(
                f"video must be H.264 (offered: {', '.join(sorted(summary.video_codecs))})"
            )
        old = self._by_camera.get(camera_id)
        if old is not None:
            await self.end(old, "replaced by a new offer")
        if len(self._sessions) >= self.settings.whip_max_sessions:
            OFFERS.labels("busy").inc()
            raise BusyError("too many WHIP sessions", retry_after=5)
        session = WhipSession(secrets.token_urlsafe(16), camera_id, RTCPeerConnection())
        self._sessions[session.id] = session
        self._by_camera[camera_id] = session
        SESSIONS.set(len(self._sessions))
        try:
            answer = await self._negotiate(session, offer)
        except Exception as exc:
            await self.end(session, "negotiation failed")
            OFFERS.labels("failed").inc()
            if isinstance(exc, MediaError):
                raise
            raise MediaError(f"cannot answer this offer: {type(exc).__name__}: {exc}") from exc
        OFFERS.labels("answered").inc()
        log.info("camera %s: WHIP session %s…", camera_id, session.id[:6])
        return session, answer

    async def _negotiate(self, session: WhipSession, offer: str) -> str:
        pc = session.pc
        video_receivers: list[Any] = []
        # Made before the offer is applied so that the answer offers H.264 only (aiortc filters
        # the common codecs by the preferences of the transceiver the offer's section takes).
        caps = RTCRtpReceiver.getCapabilities("video")
        assert caps is not None
        video = pc.addTransceiver("video", direction="recvonly")
        video.setCodecPreferences(
            [c for c in caps.codecs if c.mimeType.lower() in ("video/h264", "video/rtx")]
        )

        @pc.on("track")
        def on_track(track: Any) -> None:
            receiver = next(t.receiver for t in pc.getTransceivers() if t.receiver.track is track)
            if track.kind == "video" and not video_receivers:
                video_receivers.append(receiver)
            else:
                tap_receiver(receiver, drop_frames)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            state = pc.connectionState
            if state == "connected" and session.connected_at is None:
                session.connected_at = time.monotonic()
            elif state in ("failed", "closed") and not session.closed:
                self._spawn(self.end(session, f"connection {state}"))

        @pc.on("datachannel")
        def on_channel(channel: Any) -> None:
            channel.on("message", lambda message: self._telemetry(session, message))

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        if not video_receivers:
            raise MediaError("offer has no video track the hub can receive")
        receiver = video_receivers[0]
        loop = asyncio.get_running_loop()

        def ask_keyframe() -> None:  # from the ingest thread
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(request_keyframe, receiver)

        def make(parts: SourceParts) -> WhipSource:
            cam = self.site.camera(session.camera_id)
            return WhipSource(
                cam,
                self.settings,
                on_frame=parts.on_frame,
                live=parts.live,
                ring=parts.ring,
                request_keyframe=ask_keyframe,
            )

        source = await self.video.attach_source(session.camera_id, make)
        assert isinstance(source, WhipSource)
        session.source = source

        def on_frame(codec: str, data: bytes, timestamp: int) -> None:
            if codec.lower() == "h264" and not session.closed:
                source.push(data, timestamp)

        tap_receiver(receiver, on_frame)
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        return str(pc.localDescription.sdp)

    def _telemetry(self, session: WhipSession, message: Any) -> None:
        raw = message.encode() if isinstance(message, str) else bytes(message)
        handler = self.on_telemetry
        if len(raw) > MAX_TELEMETRY_BYTES or handler is None or session.reporting:
            TELEMETRY_REJECTED.inc()
            return
        session.reporting = True

        async def report() -> None:
            try:
                await handler(session.camera_id, raw)
            except Exception:
                log.exception("telemetry of %s could not be handled", session.camera_id)
            finally:
                session.reporting = False

        self._spawn(report())

    # -- end ---------------------------------------------------------------------------------

    async def end(self, session: WhipSession, reason: str) -> None:
        if session.closed:
            return
        session.closed = True
        self._sessions.pop(session.id, None)
        if self._by_camera.get(session.camera_id) is session:
            del self._by_camera[session.camera_id]
        SESSIONS.set(len(self._sessions))
        ENDED.labels(_reason_label(reason)).inc()
        try:
            await session.pc.close()
        except Exception as exc:
            log.debug("closing WHIP peer: %s", exc)
        if session.source is not None:
            await self.video.detach_source(session.camera_id, session.source)
        log.info(
            "camera %s: WHIP session %s… ended (%s)", session.camera_id, session.id[:6], reason
        )

    async def end_unit(self, username: str) -> None:
        """The unit's account sessions ended (disabled, new password): its publishing ends."""
        session = self._by_camera.get(username)
        if session is not None:
            await self.end(session, "account sessions ended")

    async def _reap_loop(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL)
            await self._reap(time.monotonic())

    async def _reap(self, now: float) -> None:
        # A method of its own: its locals (the last session looked at) die when it returns,
        # instead of keeping an ended session's peer connection alive in the idle loop.
        for s in list(self._sessions.values()):
            reason = self._stale(s, now)
            if reason is not None:
                try:
                    await self.end(s, reason)
                except Exception:
                    log.exception("ending WHIP session of %s failed", s.camera_id)

    def _stale(self, s: WhipSession, now: float) -> str | None:
        if s.connected_at is None:
            if now - s.created > self.settings.whip_connect_seconds:
                return "never connected"
            return None
        src = s.source
        age = src.frame_age(now) if src is not None else None
        idle = now - s.connected_at if age is None else age
        if idle > self.settings.whip_idle_seconds:
            return "no video"
        return None

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _reason_label(reason: str) -> str:
    for label in ("replaced", "never connected", "no video", "connection", "hub stopping"):
        if reason.startswith(label):
            return label.replace(" ", "_")
    return "deleted" if reason == "deleted" else "other"
