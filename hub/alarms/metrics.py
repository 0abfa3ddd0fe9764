"""Prometheus metrics of alarms (module-level: one registration per process; docs/operations.md
lists them)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ALARMS_RAISED = Counter("hub_alarms_raised_total", "Alarms created, by severity", ["severity"])
ALARMS_CLEARED = Counter("hub_alarms_cleared_total", "Open alarms cleared (by rule or operator)")
ALARMS_ACTIVE = Gauge(
    "hub_alarms_active",
    "Open (active or acknowledged, not cleared) alarms, by current severity",
    ["severity"],
)
