"""The baseline of bench_calls.py: a relay that decodes what it receives and encodes it again for
each receiver (what a call server without forwarding does), with aiortc's own receive and send
paths. Not part of the hub. Same shape of signalling as the hub's calls: one receive-only
connection per publisher, one send-only connection per receiver.

    python bench/reencode_relay.py PORT
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from fastapi import FastAPI, Request, Response

app = FastAPI()
relay = MediaRelay()
tracks: dict[str, dict[str, Any]] = {}
pcs: set[RTCPeerConnection] = set()


def h264_only(transceiver: Any) -> None:
    caps = RTCRtpReceiver.getCapabilities(transceiver.kind)
    if transceiver.kind == "video" and caps is not None:
        transceiver.setCodecPreferences(
            [c for c in caps.codecs if c.mimeType.lower() in ("video/h264", "video/rtx")]
        )


@app.post("/publish/{name}")
async def publish(name: str, request: Request) -> Response:
    pc = RTCPeerConnection()
    pcs.add(pc)
    h264_only(pc.addTransceiver("video", direction="recvonly"))
    pc.addTransceiver("audio", direction="recvonly")

    @pc.on("track")
    def on_track(track: Any) -> None:
        tracks.setdefault(name, {})[track.kind] = track

    await pc.setRemoteDescription(
        RTCSessionDescription(sdp=(await request.body()).decode(), type="offer")
    )
    await pc.setLocalDescription(await pc.createAnswer())
    return Response(pc.localDescription.sdp, 201, media_type="application/sdp")


@app.post("/subscribe/{name}")
async def subscribe(name: str, request: Request) -> Response:
    pc = RTCPeerConnection()
    pcs.add(pc)
    for track in tracks.get(name, {}).values():
        # Decoded by the publisher's receiver, encoded again by this sender (H.264, as the
        # hub forwards it).
        h264_only(pc.addTransceiver(relay.subscribe(track, buffered=False), direction="sendonly"))
    await pc.setRemoteDescription(
        RTCSessionDescription(sdp=(await request.body()).decode(), type="offer")
    )
    await pc.setLocalDescription(await pc.createAnswer())
    return Response(pc.localDescription.sdp, 201, media_type="application/sdp")


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
