"""The simulated city: the demo district's cameras served over RTSP, with live ground truth."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hub.config import Site
from simulators.city.simulator import CitySimulator


async def run_city(
    site: Site,
    *,
    rtsp_port: int = 8554,
    truth_path: Path | None = None,
    width: int = 1280,
    height: int = 720,
    fps: float = 15,
) -> None:
    """Serve every camera of the site that points at 127.0.0.1:<rtsp_port>; runs until cancelled."""
    async with CitySimulator(
        site, port=rtsp_port, truth_path=truth_path, width=width, height=height, fps=fps
    ):
        await asyncio.Event().wait()


__all__ = ["CitySimulator", "run_city"]
