"""How far a camera's reader has fallen behind the live edge, and when to stop decoding to catch up.

Over RTSP/TCP a reader that decodes slower than real time does not lose data: the packets wait
in the camera's send buffer and in both kernels' socket buffers, tens of seconds of them, and
every event the hub raises comes that much late (a loaded 2-core machine showed 60-80 s). A
camera's own clock says how late: a packet's media time against the wall clock when it is read.

``LiveEdge`` keeps the smallest (read time - media time) of recent packets as the live edge: a
packet's lag is how much later than the most punctual one it came. Past ``limit`` the reader
skips decoding until a keyframe within a quarter of the limit of live (so the catch-up is over,
not begun again at once); demuxing goes on, the packets still reach live viewers and the clip
ring (a remux, not a decode), and the skipped frames are counted. Without the decode a backlog
drains at demux speed, many times real time.

The edge is the smallest offset of the last ``WINDOW_SECONDS``, not of all time, so that two
things besides a backlog cannot stop the decoding for good:
* a camera clock running slow against ours moves the edge along (30 s of a clock 0.5 % slow make
  0.15 s), far slower than a backlog grows on a machine that cannot keep up;
* a camera clock that jumps back: after ``SKIP_MAX_SECONDS`` of skipping without catching up
  the lag is not a backlog (one would have drained by then), and the edge moves to now.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

WINDOW_SECONDS = 30.0
"""The live edge is the most punctual packet of this much recent wall time."""
SKIP_MAX_SECONDS = 3.0
"""Wall time one catch-up may take before its lag counts as a clock jump."""


@dataclass
class LiveEdge:
    limit: float
    """Seconds behind the live edge at which decoding stops until the reader catches up."""
    edge: float | None = None
    lag: float = 0.0
    skipping: bool = False
    catch_ups: int = 0
    """Times the reader fell more than ``limit`` behind."""
    skipped: int = 0
    """Packets not decoded while catching up."""
    _skip_since: float = 0.0
    _window: deque[tuple[float, float]] = field(default_factory=deque)
    """(read time, offset) with offsets increasing: the front is the window's smallest."""

    def decode(self, media_time: float | None, read_at: float, keyframe: bool) -> bool:
        """Note one packet read at ``read_at`` (monotonic seconds) and say whether to decode it."""
        if media_time is not None:
            self._measure(read_at - media_time, read_at)
        if not self.skipping:
            if self.lag <= self.limit:
                return True
            self.skipping = True
            self.catch_ups += 1
            self._skip_since = read_at
        elif read_at - self._skip_since > SKIP_MAX_SECONDS and self.lag > self.limit / 4:
            self._window.clear()
            self.lag = 0.0
        if keyframe and self.lag <= self.limit / 4:
            self.skipping = False
            return True
        self.skipped += 1
        return False

    def _measure(self, offset: float, read_at: float) -> None:
        window = self._window
        while window and window[-1][1] >= offset:
            window.pop()
        window.append((read_at, offset))
        while window[0][0] < read_at - WINDOW_SECONDS:
            window.popleft()
        self.edge = window[0][1]
        self.lag = offset - self.edge
