"""The ingest's per-field fast checks accept and reject exactly what the full check does."""

from __future__ import annotations

import math
from typing import Any

import pytest

from hub.config import TelemetryField
from hub.devices.validate import Rejected, _check_value, field_check

FIELDS = [
    TelemetryField(key="level", min=-1.5, max=10),
    TelemetryField(key="free"),
    TelemetryField(key="low", min=0),
    TelemetryField(key="open", type="boolean"),
    TelemetryField(key="note", type="string"),
]
VALUES: list[Any] = [
    0, 1, -1, 10, 10.0, 10.000001, -1.5, -1.6, 2**53, -(2**63), 1e308, -1e308, 1.5e-300,
    math.inf, -math.inf, math.nan, True, False, "3", "", "x" * 256, "x" * 257, None, [1], {},
]  # fmt: skip


def _outcome(f: Any, value: Any) -> tuple[str, Any]:
    try:
        v = f(value)
    except Rejected as exc:
        return "rejected", exc.reason
    return type(v).__name__, v


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.key)
def test_fast_check_matches_the_full_check(field: TelemetryField) -> None:
    fast = field_check(field)
    for value in VALUES:
        assert _outcome(fast, value) == _outcome(lambda v: _check_value(field, v), value), value
