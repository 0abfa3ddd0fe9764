"""The hub's side of one call peer connection: publishing into the call, or subscribing to a
stream of it. Each is one aiortc peer connection that only receives or only sends, so that a
participant who joins or a feed that is shared needs a new connection, never a renegotiation
(the WHIP/WHEP model)."""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCSessionDescription

from hub.calls.sfu import PublishedTrack
from hub.rtc.receiver_tap import drop_frames, request_keyframe, tap_receiver
from hub.rtc.sdp import MediaError, OfferSummary

log = logging.getLogger(__name__)

CLOCK = {"h264": 90_000, "vp8": 90_000, "opus": 48_000}


@dataclass(eq=False)
class Peer:
    """One peer connection of a participant."""

    id: str
    kind: str
    """``publish`` or ``subscribe``."""
    participant: str
    """Username."""
    stream_id: str
    pc: RTCPeerConnection
    created: float = field(default_factory=time.monotonic)
    connected_at: float | None = None
    failed_at: float | None = None
    closed: bool = False
    on_state: Callable[[Peer], None] | None = None

    def watch(self) -> None:
        @self.pc.on("connectionstatechange")
        def changed() -> None:
            state = self.pc.connectionState
            now = time.monotonic()
            if state == "connected":
                self.connected_at, self.failed_at = now, None
            elif state in ("failed", "closed") and self.failed_at is None:
                self.failed_at = now
            if self.on_state is not None:
                self.on_state(self)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await self.pc.close()
        except Exception as exc:
            log.debug("closing call peer: %s", exc)


def choose_codecs(summary: OfferSummary) -> tuple[str | None, str | None]:
    """(audio, video) codec the hub answers with: Opus; H.264 (camera feeds are H.264 and are
    forwarded without re-encoding) else VP8. None: the offer has no such media."""
    audio = "opus" if "opus" in summary.audio_codecs else None
    video = None
    if "h264" in summary.video_codecs:
        video = "H264"
    elif "vp8" in summary.video_codecs:
        video = "VP8"
    if "audio" in summary.kinds and audio is None:
        raise MediaError("audio must be Opus")
    if "video" in summary.kinds and video is None:
        raise MediaError("video must be H.264 or VP8")
    return audio, video


def _prefer(transceiver: Any, kind: str, codec: str) -> None:
    caps = RTCRtpReceiver.getCapabilities(kind)
    assert caps is not None
    wanted = codec.lower()
    transceiver.setCodecPreferences(
        [c for c in caps.codecs if c.mimeType.split("/")[1].lower() in (wanted, "rtx")]
    )


async def answer_publish(
    peer: Peer, offer: str, summary: OfferSummary, tracks: dict[str, PublishedTrack]
) -> str:
    """Receive a participant's audio and video into ``tracks`` (by kind), encoded."""
    pc = peer.pc
    audio, video = choose_codecs(summary)
    if audio is not None:
        _prefer(pc.addTransceiver("audio", direction="recvonly"), "audio", audio)
    if video is not None:
        _prefer(pc.addTransceiver("video", direction="recvonly"), "video", video)
    used: set[str] = set()

    @pc.on("track")
    def on_track(track: Any) -> None:
        receiver = next(t.receiver for t in pc.getTransceivers() if t.receiver.track is track)
        published = tracks.get(track.kind)
        if published is None or track.kind in used:
            tap_receiver(receiver, drop_frames)  # a second video, or a kind we did not expect
            return
        used.add(track.kind)
        published.new_source()
        if track.kind == "video":
            # Weakly: a publisher gone for good must not stay alive through its stream's track.
            ref = weakref.ref(receiver)

            def ask() -> None:
                r = ref()
                if r is not None:
                    request_keyframe(r)

            published.keyframe_request = ask
        tap_receiver(receiver, published.on_frame)

    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return str(pc.localDescription.sdp)


async def answer_subscribe(
    peer: Peer, offer: str, summary: OfferSummary, tracks: dict[str, PublishedTrack]
) -> str:
    """Send ``tracks`` (by kind) to a participant, forwarded as they come."""
    pc = peer.pc
    senders: list[tuple[RTCRtpSender, PublishedTrack]] = []
    for kind in ("audio", "video"):
        published = tracks.get(kind)
        if published is None or kind not in summary.kinds:
            continue
        offered = summary.audio_codecs if kind == "audio" else summary.video_codecs
        if published.codec.lower() not in offered:
            raise MediaError(f"this stream's {kind} is {published.codec}: offer it to receive it")
        forward = published.subscribe()
        transceiver = pc.addTransceiver(forward, direction="sendonly")
        _prefer(transceiver, kind, published.codec)
        senders.append((transceiver.sender, published))
    if not senders:
        raise MediaError("the offer receives none of this stream's media")
    for sender, published in senders:
        # The subscriber's keyframe requests (PLI/FIR) go up to the publisher: the sender
        # cannot make one, it only forwards.
        sender._send_keyframe = published.ask_keyframe  # type: ignore[method-assign]
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return str(pc.localDescription.sdp)
