"""The simulator's RTSP server against real clients: ffprobe, ffmpeg and PyAV (libavformat)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import av
import pytest

from simulators.cameras.encode import EncodedLoop
from simulators.cameras.rtsp_server import RtspServer
from simulators.cameras.scenes import build_scene

pytestmark = pytest.mark.integration


@pytest.fixture
async def server(
    small_loops: dict[str, EncodedLoop], free_port: int, tmp_path: Path
) -> AsyncIterator[RtspServer]:
    srv = RtspServer(port=free_port, truth_path=tmp_path / "truth.jsonl")
    srv.add_camera("cam-a", small_loops["gate"])
    truth = build_scene("plaza", width=320, height=180, fps=15, duration=10, seed=1).truth
    srv.add_camera("cam-b", small_loops["plaza"], offset=2.0, truth=truth)
    await srv.start()
    yield srv
    await srv.stop()


async def _run(*cmd: str, limit: float = 20) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), limit)
    return proc.returncode or 0, out.decode(errors="replace")


def _read(url: str, n: int, read_timeout: float = 3.0) -> list[bytes]:
    """Up to n packets from a real client over TCP; stops early when the stream fails."""
    got: list[bytes] = []
    c = av.open(url, options={"rtsp_transport": "tcp"}, timeout=(5.0, read_timeout))
    try:
        for p in c.demux(video=0):
            if p.size:
                got.append(bytes(p))
            if len(got) >= n:
                break
    except (av.error.FFmpegError, OSError):
        pass
    finally:
        c.close()
    return got


def _known(loop: EncodedLoop) -> set[bytes]:
    return {u.annexb() for u in loop.units}


async def test_ffprobe_over_tcp(server: RtspServer) -> None:
    rc, out = await _run(
        "ffprobe",
        "-v",
        "error",
        "-rtsp_transport",
        "tcp",
        "-of",
        "json",
        "-show_streams",
        server.url("cam-a"),
    )
    assert rc == 0, out
    s = json.loads(out)["streams"][0]
    assert (s["codec_name"], s["width"], s["height"]) == ("h264", 320, 180)
    assert s["has_b_frames"] == 0 and s["r_frame_rate"] == "15/1"


@pytest.mark.parametrize("transport", [["-rtsp_transport", "tcp"], []], ids=["tcp", "default"])
async def test_ffmpeg_decodes_in_real_time(server: RtspServer, transport: list[str]) -> None:
    t0 = time.monotonic()
    rc, out = await _run(
        "ffmpeg", "-v", "error", *transport, "-i", server.url("cam-b"), "-t", "2", "-f", "null", "-"
    )
    assert rc == 0, out
    # Paced by the scene fps: 2 s of media take about 2 s (plus waiting for a keyframe).
    assert 1.5 < time.monotonic() - t0 < 8
    assert server.stats("cam-b")["frames_sent"] >= 25


async def test_unknown_camera_is_404(server: RtspServer) -> None:
    rc, out = await _run(
        "ffprobe", "-v", "error", "-rtsp_transport", "tcp", server.url("nope"), limit=10
    )
    assert rc != 0 and "404" in out


async def test_cameras_in_parallel_share_one_live_timeline(
    server: RtspServer, small_loops: dict[str, EncodedLoop]
) -> None:
    a1, a2, b = await asyncio.gather(
        asyncio.to_thread(_read, server.url("cam-a"), 20),
        asyncio.to_thread(_read, server.url("cam-a"), 20),
        asyncio.to_thread(_read, server.url("cam-b"), 20),
    )
    assert len(a1) == len(a2) == len(b) == 20
    assert set(a1) <= _known(small_loops["gate"]) and set(b) <= _known(small_loops["plaza"])
    # Both viewers of cam-a start at the same keyframe of the shared timeline.
    assert a1[0] == a2[0]
    assert server.stats("cam-a")["sessions"] >= 2


@pytest.mark.slow
async def test_freeze_then_resume(server: RtspServer) -> None:
    url = server.url("cam-a")
    task = asyncio.create_task(asyncio.to_thread(_read, url, 1000, 2.0))
    await asyncio.sleep(2.5)
    server.freeze("cam-a")
    t0 = time.monotonic()
    got = await asyncio.wait_for(task, 10)
    # The reader stopped on its read timeout: connection open, no media.
    assert 10 < len(got) < 1000 and time.monotonic() - t0 >= 1.5
    server.resume("cam-a")
    assert len(await asyncio.to_thread(_read, url, 5)) == 5
    assert server.stats("cam-a")["faults"]["freeze"] == 1


async def test_drop_closes_connections(server: RtspServer) -> None:
    url = server.url("cam-b")
    task = asyncio.create_task(asyncio.to_thread(_read, url, 1000, 10.0))
    await asyncio.sleep(2.5)
    t0 = time.monotonic()
    server.drop("cam-b")
    got = await asyncio.wait_for(task, 10)
    assert 10 < len(got) < 1000 and time.monotonic() - t0 < 3  # ended at once, not on timeout
    assert len(await asyncio.to_thread(_read, url, 5)) == 5  # reconnecting works


async def test_corrupt_flips_payload_bytes(
    server: RtspServer, small_loops: dict[str, EncodedLoop]
) -> None:
    known = _known(small_loops["gate"])
    server.corrupt("cam-a", seconds=4.0)
    bad = await asyncio.to_thread(_read, server.url("cam-a"), 15)
    assert len(bad) == 15 and sum(p not in known for p in bad) >= 12
    await asyncio.sleep(2.5)
    good = await asyncio.to_thread(_read, server.url("cam-a"), 10)
    assert all(p in known for p in good)
    assert server.stats("cam-a")["corrupted_frames"] > 0


async def test_stop_ignores_requests_until_resume(server: RtspServer) -> None:
    server.stop_camera("cam-a")
    t0 = time.monotonic()
    rc, _out = await _run(
        "ffprobe",
        "-v",
        "error",
        "-rtsp_transport",
        "tcp",
        "-timeout",
        "2000000",
        server.url("cam-a"),
        limit=15,
    )
    assert rc != 0 and time.monotonic() - t0 >= 1.5
    assert len(await asyncio.to_thread(_read, server.url("cam-b"), 3)) == 3  # others unaffected
    server.resume("cam-a")
    assert len(await asyncio.to_thread(_read, server.url("cam-a"), 3)) == 3


async def test_server_stop_and_start_on_the_same_port(server: RtspServer) -> None:
    url = server.url("cam-b")
    task = asyncio.create_task(asyncio.to_thread(_read, url, 1000, 10.0))
    await asyncio.sleep(2.0)
    await server.stop()
    got = await asyncio.wait_for(task, 10)
    assert 0 < len(got) < 1000
    with pytest.raises((av.error.FFmpegError, OSError)):
        await asyncio.to_thread(av.open, url, options={"rtsp_transport": "tcp"}, timeout=2.0)
    await server.start()
    assert len(await asyncio.to_thread(_read, url, 5)) == 5


@pytest.mark.slow
async def test_live_truth_log(server: RtspServer, tmp_path: Path) -> None:
    # cam-b starts 2 s into a 10 s plaza loop; within one loop every event is logged once.
    t0 = time.time()
    await asyncio.sleep(10.5)
    lines = [json.loads(x) for x in (tmp_path / "truth.jsonl").read_text().splitlines()]
    assert lines and {r["camera_id"] for r in lines} == {"cam-b"}
    r = lines[0]
    assert set(r) >= {
        "camera_id",
        "type",
        "zone_id",
        "line_id",
        "direction",
        "wall_time",
        "media_time",
        "loop",
        "actor_id",
    }
    assert all(t0 - 1 < x["wall_time"] < time.time() + 1 for x in lines)
    truth = build_scene("plaza", width=320, height=180, fps=15, duration=10, seed=1).truth
    assert {(x["media_time"], x["actor_id"]) for x in lines} == {(e.t, e.actor_id) for e in truth}
