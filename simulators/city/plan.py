"""Which scene each simulated camera shows: derived from the camera id, so the site generator
and the city simulator always agree without a second file.

``cam-xinbei-NNN`` cycles through the four templates with one seed per template (four encoded
loops in all); cameras sharing a loop start at different offsets into it.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from simulators.cameras.scenes import SCENE_NAMES

LOOP_SECONDS = 60.0
_NUMBERED = re.compile(r"-(\d+)$")


@dataclass(frozen=True)
class CameraPlan:
    scene: str
    seed: int
    offset: float
    """Seconds into the loop at which this camera's timeline starts."""


def plan_for(camera_id: str) -> CameraPlan:
    m = _NUMBERED.search(camera_id)
    if m:
        k = int(m.group(1)) - 1
        idx, round_ = k % len(SCENE_NAMES), k // len(SCENE_NAMES)
        return CameraPlan(SCENE_NAMES[idx], idx, (round_ * 17.0) % LOOP_SECONDS)
    h = zlib.crc32(camera_id.encode())
    idx = h % len(SCENE_NAMES)
    return CameraPlan(SCENE_NAMES[idx], idx, float((h >> 8) % int(LOOP_SECONDS)))
