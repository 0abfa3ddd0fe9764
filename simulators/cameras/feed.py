"""One camera's live timeline: paces a pre-packetized loop in real time for all its viewers.

Every viewer of a camera sees the same live moment: a new viewer starts at the timeline's next
keyframe. A viewer whose socket buffer is full loses frames (and then waits for a keyframe)
rather than growing memory. Faults are switched on here and observed by real clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from simulators.cameras.encode import EncodedLoop
from simulators.cameras.rtp import CLOCK, PacketizedUnit, packetize_loop, rtp_header
from simulators.cameras.truth import TruthEvent

if TYPE_CHECKING:
    from simulators.cameras.truthlog import TruthLog

log = logging.getLogger(__name__)

MAX_CLIENT_BUFFER = 1_000_000
"""Bytes queued for one viewer before its frames are dropped (about 4 s at 2 Mbit/s)."""
RESYNC_SECONDS = 1.0
"""A timeline further behind than this (event loop stalled) skips ahead instead of bursting."""

FaultKind = Literal["drop", "freeze", "corrupt", "stop"]


class Viewer(Protocol):
    """What the timeline needs from a connected RTSP client."""

    channel: int
    need_keyframe: bool

    def buffered(self) -> int: ...

    def send(self, data: bytes) -> None: ...

    def play_started(self, seq: int, rtptime: int) -> None: ...

    def close(self) -> None: ...


@dataclass
class FeedStats:
    frames_sent: int = 0
    packets_sent: int = 0
    bytes_sent: int = 0
    frames_dropped: int = 0
    """Frames not delivered to a viewer whose buffer was full."""
    frames_skipped: int = 0
    """Timeline frames skipped because the event loop was late."""
    corrupted_frames: int = 0
    viewers: int = 0
    sessions: int = 0
    faults: dict[str, int] = field(
        default_factory=lambda: {"drop": 0, "freeze": 0, "corrupt": 0, "stop": 0, "resume": 0}
    )

    def as_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.__dict__.items()}


class CameraFeed:
    def __init__(
        self,
        camera_id: str,
        loop: EncodedLoop,
        *,
        offset: float = 0.0,
        truth: list[TruthEvent] | None = None,
        truth_log: TruthLog | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.loop = loop
        self.units: tuple[PacketizedUnit, ...] = packetize_loop(loop)
        self.fps = loop.fps
        self.offset_frames = round(offset * loop.fps) % len(self.units)
        self.truth = sorted(truth or [], key=lambda e: e.t)
        self.truth_log = truth_log
        self.ssrc = random.getrandbits(32)
        self.stats = FeedStats()
        self.frozen = False
        self.stopped = False
        self.corrupt_until = 0.0
        self.playing: set[Viewer] = set()
        self.pending: set[Viewer] = set()
        self.connections: set[Viewer] = set()
        """Every connection that set up a session on this camera (for drop)."""
        self._seq = random.getrandbits(16)
        self._ts_base = random.getrandbits(32)
        self._n = 0
        self._task: asyncio.Task[None] | None = None
        self._rng = random.Random(hash(camera_id))

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"sim-feed-{self.camera_id}"
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for v in list(self.connections):
            v.close()
        self.playing.clear()
        self.pending.clear()
        self.connections.clear()

    # ---- faults ------------------------------------------------------------------------------

    def drop(self) -> None:
        """Close every connection of this camera now; new ones are accepted."""
        self.stats.faults["drop"] += 1
        for v in list(self.connections):
            v.close()

    def freeze(self) -> None:
        """Keep connections open but send no media."""
        self.stats.faults["freeze"] += 1
        self.frozen = True

    def corrupt(self, seconds: float = 5.0) -> None:
        """Flip bytes inside NAL payloads for a while."""
        self.stats.faults["corrupt"] += 1
        self.corrupt_until = time.monotonic() + seconds

    def stop_answering(self) -> None:
        """Send nothing and answer no request, like a hung camera."""
        self.stats.faults["stop"] += 1
        self.stopped = True

    def resume(self) -> None:
        self.stats.faults["resume"] += 1
        self.frozen = self.stopped = False
        self.corrupt_until = 0.0
        for v in self.playing:
            v.need_keyframe = True

    @property
    def delivering(self) -> bool:
        return not (self.frozen or self.stopped)

    # ---- viewers -----------------------------------------------------------------------------

    def attach(self, viewer: Viewer) -> None:
        self.connections.add(viewer)
        self.stats.sessions += 1

    def request_play(self, viewer: Viewer) -> None:
        """Start this viewer at the next keyframe (its PLAY reply is sent then)."""
        if not self.delivering:
            viewer.need_keyframe = True
            viewer.play_started(self._seq, self._rtptime(self._n))
            self.playing.add(viewer)
        else:
            self.pending.add(viewer)
        self.stats.viewers = len(self.playing) + len(self.pending)

    def detach(self, viewer: Viewer) -> None:
        self.playing.discard(viewer)
        self.pending.discard(viewer)
        self.connections.discard(viewer)
        self.stats.viewers = len(self.playing) + len(self.pending)

    def pause(self, viewer: Viewer) -> None:
        self.playing.discard(viewer)
        self.pending.discard(viewer)
        self.stats.viewers = len(self.playing) + len(self.pending)

    # ---- timeline ----------------------------------------------------------------------------

    def _rtptime(self, n: int) -> int:
        return (self._ts_base + round(n * CLOCK / self.fps)) & 0xFFFFFFFF

    async def _run(self) -> None:
        aio = asyncio.get_running_loop()
        anchor = aio.time()
        self._n = 0
        period = 1.0 / self.fps
        while True:
            target = anchor + self._n * period
            delay = target - aio.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay > RESYNC_SECONDS:
                skip = int(-delay / period)
                self._n += skip
                self.stats.frames_skipped += skip
                continue
            if self.delivering:
                self._tick(self._n)
            self._n += 1

    def _tick(self, n: int) -> None:
        total = len(self.units)
        pos = self.offset_frames + n
        index, loop_no = pos % total, pos // total
        unit = self.units[index]
        ts = self._rtptime(n)
        if self.truth_log is not None and self.truth:
            self._log_truth(index, loop_no)
        if unit.keyframe and self.pending:
            for v in self.pending:
                v.play_started(self._seq, ts)
                v.need_keyframe = False
                self.playing.add(v)
            self.pending.clear()
        if not self.playing:
            self._seq = (self._seq + len(unit.payloads)) & 0xFFFF
            return
        payloads = unit.payloads
        if self.corrupt_until and time.monotonic() < self.corrupt_until:
            payloads = tuple(self._corrupt(p) for p in payloads)
            self.stats.corrupted_frames += 1
        by_channel: dict[int, bytes] = {}
        last = len(payloads) - 1
        seq = self._seq
        for v in list(self.playing):
            if v.need_keyframe and not unit.keyframe:
                continue
            if v.buffered() > MAX_CLIENT_BUFFER:
                v.need_keyframe = True
                self.stats.frames_dropped += 1
                continue
            data = by_channel.get(v.channel)
            if data is None:
                parts = []
                for i, p in enumerate(payloads):
                    pkt = rtp_header(i == last, seq + i, ts, self.ssrc) + p
                    parts.append(b"$" + bytes((v.channel,)) + len(pkt).to_bytes(2, "big") + pkt)
                data = by_channel[v.channel] = b"".join(parts)
            v.need_keyframe = False
            v.send(data)
            self.stats.packets_sent += len(payloads)
            self.stats.bytes_sent += len(data)
        self._seq = (seq + len(payloads)) & 0xFFFF
        self.stats.frames_sent += 1

    def _corrupt(self, payload: bytes) -> bytes:
        if len(payload) < 40:
            return payload
        b = bytearray(payload)
        for _ in range(max(4, len(b) // 64)):
            i = self._rng.randrange(8, len(b))
            b[i] ^= 0xFF
        return bytes(b)

    def _log_truth(self, index: int, loop_no: int) -> None:
        t0 = index / self.fps
        t1 = (index + 1) / self.fps
        now = time.time()
        assert self.truth_log is not None
        for e in self.truth:
            if e.t < t0:
                continue
            if e.t >= t1:
                break
            self.truth_log.write(
                {
                    "camera_id": self.camera_id,
                    "type": e.type,
                    "zone_id": e.zone_id,
                    "line_id": e.line_id,
                    "direction": e.direction,
                    "wall_time": round(now + (e.t - t0), 3),
                    "media_time": e.t,
                    "loop": loop_no,
                    "actor_id": e.actor_id,
                    "actor_kind": e.actor_kind,
                }
            )
