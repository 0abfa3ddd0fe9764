from __future__ import annotations

from typing import get_args

import numpy as np
import pytest
from pydantic import ValidationError

from hub.bus.contracts import DetectionType
from hub.config import CategoryCatalogue
from hub.video.analytics.events import (
    EVENT_TYPES,
    CrowdDetector,
    FireSmokeDetector,
    StationaryDetector,
    TamperingDetector,
    detectors_for,
)

from .scenes import camera

SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1]]


def test_detectors_for_builds_what_the_settings_enable() -> None:
    assert [type(d) for d in detectors_for(camera(), 144, 256)] == [TamperingDetector]
    assert detectors_for(camera(tampering=False), 144, 256) == []
    cam = camera(
        tampering=False,
        smoke=True,
        zones=[
            {"id": "a", "polygon": SQUARE, "crowd_people": 5},
            {"id": "b", "polygon": SQUARE, "parking_seconds": 60},
        ],
    )
    assert [type(d) for d in detectors_for(cam, 144, 256)] == [
        CrowdDetector,
        StationaryDetector,
        FireSmokeDetector,
    ]


def test_every_detector_starts_quiet_and_closes_clean() -> None:
    cam = camera(
        fire=True,
        smoke=True,
        zones=[{"id": "a", "polygon": SQUARE, "crowd_people": 2, "abandoned_seconds": 5}],
    )
    luma = np.zeros((144, 256), np.uint8)
    for det in detectors_for(cam, 144, 256):
        assert det.update(0.0, 0.0, luma, None, []) == ([], [])
        assert det.close_all() == []


def test_settings_are_bounded() -> None:
    for bad in ({"tampering_seconds": 0.5}, {"fire_seconds": 0}, {"smoke_seconds": 0}):
        with pytest.raises(ValidationError):
            camera(**bad)
    for zone in ({"crowd_people": 1}, {"crowd_seconds": 0}, {"abandoned_seconds": 0}):
        with pytest.raises(ValidationError):
            camera(zones=[{"id": "a", "polygon": SQUARE, **zone}])


def test_every_detection_type_opens_a_case_category() -> None:
    assert set(EVENT_TYPES) <= set(get_args(DetectionType))
    catalogue = CategoryCatalogue.default()
    assert all(catalogue.for_video(t) is not None for t in get_args(DetectionType))
