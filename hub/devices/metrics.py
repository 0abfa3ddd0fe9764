"""Prometheus counters of the MQTT ingest (module-level: one registration per process)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
