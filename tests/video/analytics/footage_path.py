"""Where the real footage is: ``$HUB_FOOTAGE_DIR`` or ``../shared/footage`` beside the checkout.

The clips are licensed for research, not redistribution, so they are not in the repository;
tests that need them skip, saying so, where the folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def footage_dir() -> Path:
    env = os.environ.get("HUB_FOOTAGE_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "footage"


def tud_campus() -> tuple[Path, Path]:
    d = footage_dir()
    video, gt = d / "tud_campus.mp4", d / "tud_campus.gt.txt"
    if not video.is_file() or not gt.is_file():
        pytest.skip(f"real footage not found in {d} (set HUB_FOOTAGE_DIR)")
    return video, gt
