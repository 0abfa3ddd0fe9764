"""Take the encoded frames an aiortc receiver assembles, instead of letting it decode them.

aiortc's ``RTCRtpReceiver`` depayloads RTP, reassembles frames in its jitter buffer and puts
each ``(codec, JitterFrame)`` on a queue that its decoder thread drains. The hub wants the
encoded frames themselves: to pass them to live viewers and other call participants without
re-encoding, and to decode them where it decides (only what analysis needs). ``tap_receiver``
replaces that queue before the receiver starts with one whose ``put`` hands each frame to a
callback on the event loop; the decoder thread then waits idle until the receiver stops.

This reaches into one private attribute of aiortc (pinned below 2 in pyproject.toml);
``tests/rtc/test_receiver_tap.py`` fails loudly if an upgrade moves it.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Callable
from typing import Any

FrameSink = Callable[[str, bytes, int], None]
"""(codec name such as ``H264``, encoded frame (Annex B for H.264), RTP timestamp)."""

_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_THREAD_ATTR = "_RTCRtpReceiver__decoder_thread"


class _TapQueue(queue.Queue[Any]):
    def __init__(self, sink: FrameSink) -> None:
        super().__init__()
        self._sink = sink

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # the receiver is stopping: let its decoder thread end
            super().put(None, block, timeout)
            return
        codec, frame = item
        self._sink(codec.name, frame.data, frame.timestamp)


def tap_receiver(receiver: Any, sink: FrameSink) -> None:
    """Route a not yet started receiver's encoded frames to ``sink`` (never decoded)."""
    if not hasattr(receiver, _QUEUE_ATTR):
        raise RuntimeError("this aiortc version keeps no decoder queue where the hub expects it")
    if getattr(receiver, _THREAD_ATTR, None) is not None:
        raise RuntimeError("receiver already started: tap it from the 'track' event")
    setattr(receiver, _QUEUE_ATTR, _TapQueue(sink))


def drop_frames(codec: str, data: bytes, timestamp: int) -> None:
    """A sink for media the hub receives but does not use (a drone's microphone)."""


_PENDING: set[asyncio.Task[None]] = set()


def request_keyframe(receiver: Any) -> None:
    """Ask the publisher behind ``receiver`` for a keyframe (RTCP PLI). Event loop only."""
    for src in receiver.getSynchronizationSources():
        task = asyncio.ensure_future(receiver._send_rtcp_pli(src.source))
        _PENDING.add(task)
        task.add_done_callback(_PENDING.discard)
