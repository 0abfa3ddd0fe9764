"""Shared fixtures: small encoded loops (encoded once per test session) and free ports."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from simulators.cameras.encode import EncodedLoop, load_or_encode

W, H, FPS, DUR = 320, 180, 15.0, 10.0


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def sim_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sim-cache")


@pytest.fixture(scope="session")
def small_loops(sim_cache: Path) -> dict[str, EncodedLoop]:
    return {
        name: load_or_encode(
            name, seed=1, width=W, height=H, fps=FPS, duration=DUR, cache_dir=sim_cache
        )
        for name in ("gate", "plaza")
    }
