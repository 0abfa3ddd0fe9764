"""A video track that sends a pre-encoded H.264 loop as it is: aiortc only packetizes it.

A real drone encodes on board; the hub must not depend on the simulator's encoder either. The
track returns ``av.Packet``s, which aiortc's H.264 sender packs into RTP without re-encoding
(it cannot honour keyframe requests then: the loop's keyframes come every GOP anyway).
"""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction

import av
from aiortc import MediaStreamTrack

from simulators.cameras.encode import EncodedLoop

CLOCK = 90_000


class LoopTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, loop: EncodedLoop) -> None:
        super().__init__()
        self.loop = loop
        self.sent = 0
        self._start: float | None = None
        self._step = CLOCK / loop.fps

    async def recv(self) -> av.Packet:  # type: ignore[override]
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self.sent / self.loop.fps
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        unit = self.loop.units[self.sent % len(self.loop.units)]
        packet = av.Packet(unit.annexb())
        packet.pts = packet.dts = round(self.sent * self._step)
        packet.time_base = Fraction(1, CLOCK)
        packet.is_keyframe = unit.keyframe
        self.sent += 1
        return packet
