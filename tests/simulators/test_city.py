from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
import yaml

from hub.config import Site, load_site, parse_site
from simulators.cameras.geometry import point_in_polygon
from simulators.cameras.scenes import build_scene
from simulators.city import CitySimulator
from simulators.city.make_site import build_site, write_site
from simulators.city.plan import plan_for

REPO = Path(__file__).resolve().parents[2]


def test_demo_site_validates_with_required_counts() -> None:
    site = load_site(REPO / "sites" / "demo-district.yaml")
    assert site.district.name == "新北区"
    assert len(site.district.streets) == 4
    assert sum(len(s.communities) for s in site.district.streets) == 12
    grids = list(site.grids())
    assert len(grids) == 48
    fixed = [c for c in site.cameras if not c.published]
    assert [c.id for c in fixed] == [f"cam-xinbei-{n:03d}" for n in range(1, 17)]
    # One patrol drone publishes over WHIP; it must not be mistaken for a tampered camera.
    drones = [c for c in site.cameras if c.published]
    assert [(c.id, c.kind, c.tampering) for c in drones] == [("uav-xinbei-01", "drone", False)]
    assert any(z.intrusion for z in drones[0].zones)
    for g in grids:
        street, community, _ = site.grid_path[g.id]
        assert g.name.startswith(f"{street.name}-{community.name}-第") and g.name.endswith("网格")
    for cam in fixed:
        assert cam.url == f"rtsp://127.0.0.1:8554/{cam.id}" and cam.analysis_fps == 5
        ring = site.grid_path[cam.grid][2].geometry.coordinates[0]
        assert point_in_polygon((cam.position[0], cam.position[1]), ring)
        assert 119.9 <= cam.position[0] <= 120.0 and 31.8 <= cam.position[1] <= 31.9
        scene = build_scene(plan_for(cam.id).scene, duration=20)
        assert [(z.id, z.polygon, z.loiter_seconds) for z in cam.zones] == [
            (z["id"], z["polygon"], z.get("loiter_seconds")) for z in scene.zones
        ]
        assert [(ln.id, ln.points) for ln in cam.lines] == [
            (ln["id"], ln["points"]) for ln in scene.lines
        ]
        assert cam.masks == scene.masks
    assert len({plan_for(c.id).scene for c in site.cameras}) == 4


def test_committed_site_is_up_to_date(tmp_path: Path) -> None:
    out = write_site(tmp_path / "site.yaml")
    assert out.read_text(encoding="utf-8") == (REPO / "sites" / "demo-district.yaml").read_text(
        encoding="utf-8"
    )


def _small_site(port: int, n: int = 4) -> Site:
    data = build_site(port)
    data["cameras"] = data["cameras"][:n]
    return parse_site(yaml.safe_dump(data, allow_unicode=True))


def _first_packets(url: str, n: int) -> int:
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(5.0, 5.0)) as c:
        count = 0
        for _ in c.demux(video=0):
            count += 1
            if count >= n:
                break
        return count


def _first_frame(url: str) -> Any:
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(5.0, 5.0)) as c:
        for frame in c.decode(video=0):
            return frame.to_ndarray(format="gray")
    raise AssertionError(f"no frame from {url}")


@pytest.mark.integration
async def test_city_simulator_serves_site_cameras(
    free_port: int, tmp_path: Path, sim_cache: Path
) -> None:
    site = _small_site(free_port)
    truth = tmp_path / "truth.jsonl"
    async with CitySimulator(
        site,
        port=free_port,
        truth_path=truth,
        width=320,
        height=180,
        fps=10,
        loop_seconds=20,
        cache_dir=sim_cache,
    ) as sim:
        ids = [c.id for c in site.cameras]
        assert sorted(sim.server.feeds) == sorted([*ids, *(f"{i}/sub" for i in ids)])
        urls = [u for c in site.cameras for u in (c.url, c.sub_url)]
        counts = await asyncio.gather(*(asyncio.to_thread(_first_packets, u, 10) for u in urls))
        assert counts == [10] * 8
        # The sub stream is the main picture at half size, at the same moment.
        cam = site.cameras[0]
        assert cam.sub_url == cam.url + "/sub" and cam.analysis_stream == "sub"
        main, sub = await asyncio.gather(
            asyncio.to_thread(_first_frame, cam.url), asyncio.to_thread(_first_frame, cam.sub_url)
        )
        assert main.shape == (180, 320) and sub.shape == (90, 160)
        small = cv2.resize(main, (160, 90), interpolation=cv2.INTER_AREA)
        assert float(np.abs(small.astype(float) - sub).mean()) < 12
        # A camera's fault takes both its streams.
        sim.server.freeze(cam.id)
        assert sim.server.stats(cam.id)["faults"]["freeze"] == 1
        assert sim.server.stats(f"{cam.id}/sub")["faults"]["freeze"] == 1
        await asyncio.sleep(3)
    records = [json.loads(x) for x in truth.read_text().splitlines()]
    assert records and {r["camera_id"] for r in records} <= {c.id for c in site.cameras}


@pytest.mark.slow
@pytest.mark.integration
def test_cli_simulate_city_subprocess(free_port: int, tmp_path: Path) -> None:
    # One camera at the CLI's default 720p: the first run encodes one 60 s loop (~10 s) into
    # var/sim-cache, later runs reuse it.
    site = tmp_path / "site.yaml"
    data = build_site(free_port)
    data["cameras"] = data["cameras"][:1]
    site.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    truth = tmp_path / "truth.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulators",
            "city",
            "--site",
            str(site),
            "--rtsp-port",
            str(free_port),
            "--truth",
            str(truth),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "HUB_LOG_LEVEL": "WARNING"},
    )
    try:
        url = data["cameras"][0]["url"]
        deadline = time.monotonic() + 90
        while True:
            try:
                assert _first_packets(url, 5) == 5
                break
            except (av.error.FFmpegError, OSError):
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_the_city_stops_when_the_process_that_started_it_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`hub demo` passes --exit-with-parent: if the hub dies without stopping the simulator,
    the simulator sees its parent change and stops (it would hold the demo's ports)."""
    from simulators import cli

    ran = asyncio.Event()
    cancelled = asyncio.Event()

    async def city() -> None:
        ran.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    parent = [4242]
    monkeypatch.setattr(cli.os, "getppid", lambda: parent[0])
    run = asyncio.ensure_future(cli.until_orphaned(city(), 4242))
    await asyncio.wait_for(ran.wait(), 2)
    await asyncio.sleep(1.2)
    assert not run.done()  # the parent is still there
    parent[0] = 1  # re-parented to init: the hub is gone
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(run, 3)
    assert cancelled.is_set()
