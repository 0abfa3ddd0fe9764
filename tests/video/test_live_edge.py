"""LiveEdge: how far a live reader is behind its camera, and the catch-up it asks for."""

from __future__ import annotations

from hub.video.live_edge import SKIP_MAX_SECONDS, LiveEdge

FPS = 25
GOP = 25


def _feed(edge: LiveEdge, frames: range, read_at: object) -> list[bool]:
    """Decode decisions for frames ``frames`` read at ``read_at(n)``; a keyframe every GOP."""
    return [edge.decode(n / FPS, read_at(n), n % GOP == 0) for n in frames]  # type: ignore[operator]


def test_a_reader_in_time_decodes_everything() -> None:
    edge = LiveEdge(limit=2.0)
    # Read in time, with up to 0.3 s of network jitter.
    decided = _feed(edge, range(2000), lambda n: 100 + n / FPS + (0.3 if n % 7 == 0 else 0.0))
    assert all(decided)
    assert edge.catch_ups == 0 and edge.skipped == 0
    assert edge.lag <= 0.31


def test_a_backlog_is_skipped_to_the_first_keyframe_near_live() -> None:
    edge = LiveEdge(limit=2.0)
    _feed(edge, range(100), lambda n: 100 + n / FPS)  # 4 s in time
    # The reader stalls for 10 s; then 10 s of backlog come at once (read 1 ms apart), and
    # the camera's live frames after them.
    stalled = 100 + 100 / FPS + 10.0

    def read_at(n: int) -> float:
        return max(stalled + (n - 100) * 0.001, 100 + n / FPS)

    decided = _feed(edge, range(100, 600), read_at)
    assert edge.catch_ups == 1
    first = 100 + decided.index(True)
    assert first % GOP == 0, "decoding resumes on a keyframe"
    assert read_at(first) - (100 + first / FPS) <= 0.5, "within a quarter of the limit of live"
    assert all(decided[first - 100 :]), "and carries on once caught up"
    assert edge.skipped == first - 100, "nothing of the backlog was decoded"


def test_a_reader_too_slow_for_the_camera_stays_within_the_limit() -> None:
    edge = LiveEdge(limit=2.0)
    clock = 0.0
    lags = []
    for n in range(3000):  # 2 minutes of camera; the reader decodes at 60 % of real time
        live = n / FPS
        clock = max(clock, live)  # never before the camera sent it
        if edge.decode(live, clock, n % GOP == 0):
            lags.append(clock - live)
            clock += 1 / (0.6 * FPS)
        else:
            clock += 0.0005  # demux only
    assert edge.catch_ups >= 5
    assert max(lags) <= 2.0 + 1 / FPS
    assert len(lags) >= 0.4 * 3000, "most of what the machine can decode is still decoded"


def test_a_camera_clock_slower_than_ours_is_followed() -> None:
    edge = LiveEdge(limit=2.0)
    # The camera's clock loses 0.5 %: 10 minutes leave it 3 s behind the wall clock.
    decided = _feed(edge, range(15_000), lambda n: 100 + n / FPS * 1.005)
    assert all(decided)
    assert edge.lag < 0.5


def test_a_clock_that_jumps_back_does_not_stop_decoding() -> None:
    edge = LiveEdge(limit=2.0)
    _feed(edge, range(250), lambda n: 100 + n / FPS)
    # The camera's clock jumps 60 s back; frames keep coming in time.
    decided = [edge.decode(n / FPS - 60, 100 + n / FPS, n % GOP == 0) for n in range(250, 750)]
    stopped = decided.count(False)
    assert 0 < stopped <= (SKIP_MAX_SECONDS + GOP / FPS) * FPS + 1
    assert all(decided[-200:])


def test_packets_without_time_are_decoded() -> None:
    edge = LiveEdge(limit=2.0)
    assert all(edge.decode(None, 100 + n, False) for n in range(10))
