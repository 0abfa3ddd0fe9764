"""Pick frames at the analysis rate from a stream at its own rate, by media time."""

from __future__ import annotations


class Sampler:
    """``take(t)`` is True for the frames to analyse: one per ``1/fps`` of media time.

    A small tolerance keeps a 25 fps stream sampled at 5 fps on every 5th frame despite float
    rounding; a gap in the stream (or a jump back, e.g. a looping file) restarts the schedule.
    """

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps
        self._next: float | None = None

    def take(self, t: float) -> bool:
        nxt = self._next
        if nxt is None or t < nxt - 2 * self.period or t > nxt + 2 * self.period:
            self._next = t + self.period
            return True
        if t >= nxt - 1e-3 * self.period - 1e-6:
            self._next = nxt + self.period
            return True
        return False
