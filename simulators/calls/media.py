"""Synthetic media for call participants: a moving test card and a tone."""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import numpy as np
from aiortc import MediaStreamTrack
from av import AudioFrame, VideoFrame

AUDIO_RATE = 48_000
AUDIO_PTIME = 0.02


class CardTrack(MediaStreamTrack):
    """A test card with a bar that moves, so that frames differ (and compress like video)."""

    kind = "video"

    def __init__(self, width: int = 320, height: int = 240, fps: float = 15.0, label: int = 0):
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self._n = 0
        self._start: float | None = None
        base = np.zeros((height, width, 3), np.uint8)
        base[:, :, 0] = np.linspace(40, 200, width, dtype=np.uint8)[None, :]
        base[:, :, 1] = (label * 67) % 200 + 30
        base[:, :, 2] = np.linspace(200, 40, height, dtype=np.uint8)[:, None]
        self._base = base

    async def recv(self) -> VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._n / self.fps
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        img = self._base.copy()
        x = int((self._n * 4) % self.width)
        img[:, max(0, x - 6) : x + 6] = 255
        frame = VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = self._n * int(90_000 / self.fps)
        frame.time_base = fractions.Fraction(1, 90_000)
        self._n += 1
        return frame


class ToneTrack(MediaStreamTrack):
    """A sine tone (440 Hz by default), 20 ms frames of 48 kHz mono s16."""

    kind = "audio"

    def __init__(self, hz: float = 440.0, level: float = 0.3) -> None:
        super().__init__()
        self.hz, self.level = hz, level
        self._samples = 0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        n = int(AUDIO_RATE * AUDIO_PTIME)
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._samples / AUDIO_RATE
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        t = (np.arange(n) + self._samples) / AUDIO_RATE
        pcm = (np.sin(2 * math.pi * self.hz * t) * self.level * 32767).astype(np.int16)
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._samples += n
        return frame


def audio_level(frame: AudioFrame) -> float:
    """RMS of a decoded audio frame, 0..1."""
    pcm = frame.to_ndarray().astype(np.float64) / 32768.0
    return float(np.sqrt(np.mean(pcm * pcm))) if pcm.size else 0.0
