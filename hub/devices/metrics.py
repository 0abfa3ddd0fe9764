"""Prometheus metrics of the MQTT ingest, presence and rule engine (module-level: one
registration per process; docs/operations.md lists them). The alarms' own are in
hub.alarms.metrics."""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

REJECTED = Counter(
    "hub_mqtt_rejected_total", "MQTT messages (or batch readings) rejected, by reason", ["reason"]
)
ACCEPTED = Counter("hub_mqtt_accepted_total", "MQTT messages accepted, by kind", ["kind"])
DEAD_LETTERS_SKIPPED = Counter(
    "hub_mqtt_dead_letters_unsampled_total",
    "Rejections counted but not written to the dead-letter table (sampling)",
)
BATCH_SECONDS = Histogram(
    "hub_mqtt_ingest_batch_seconds",
    "Time to validate, store and ack one ingest batch",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
STORE_RETRIES = Counter("hub_mqtt_store_retries_total", "Ingest batches whose write was retried")
STORE_REFUSED = Counter(
    "hub_mqtt_store_refused_total",
    "Single items the store refused in an otherwise storable ingest batch",
    ["kind"],
)

# -- rule engine -----------------------------------------------------------------------------

RULE_EVALUATIONS = Counter(
    "hub_rules_evaluations_total", "Telemetry readings evaluated against a device's alarm rules"
)
RULE_STATE_FLUSH_SECONDS = Histogram(
    "hub_rule_state_flush_seconds",
    "Time to write one batch of changed rule state to the store",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
RULE_STATE_FLUSH_FAILURES = Counter(
    "hub_rule_state_flush_failures_total", "Rule-state writes that failed (retried next flush)"
)
RULE_EXPIRE_SECONDS = Histogram(
    "hub_rules_expire_seconds",
    "Time to service the missing-data deadlines due at one wake-up",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
MISSING_FIRED = Counter(
    "hub_rules_missing_fired_total", "Missing-data deadlines that raised or escalated an alarm"
)


# -- presence --------------------------------------------------------------------------------


class _HasStates(Protocol):
    @property
    def states(self) -> Mapping[str, Any]: ...


class _PresenceCollector:
    """Counts online/offline devices at scrape time: nothing to keep in step on the hot path."""

    def __init__(self) -> None:
        self._sources: weakref.WeakSet[Any] = weakref.WeakSet()

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        counts = {"online": 0, "offline": 0}
        for src in list(self._sources):
            for s in list(src.states.values()):
                counts[s.state] = counts.get(s.state, 0) + 1
        fam = GaugeMetricFamily(
            "hub_device_presence", "Devices by presence state", labels=["state"]
        )
        for state, n in counts.items():
            fam.add_metric([state], float(n))
        yield fam


_presence = _PresenceCollector()
REGISTRY.register(_presence)


def watch_presence(source: _HasStates) -> None:
    """Count this tracker's devices in ``hub_device_presence`` for as long as it lives."""
    _presence._sources.add(source)
