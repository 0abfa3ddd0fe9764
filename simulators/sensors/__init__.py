"""The simulated sensor fleet: realistic signals over MQTT, scripted anomalies with ground
truth, last-will disconnects and malformed messages on demand."""

from simulators.sensors.anomalies import (
    ANOMALY_KINDS,
    Anomaly,
    AnomalyKind,
    PlannedAnomaly,
    TruthWriter,
    make_anomaly,
    scripted_day,
)
from simulators.sensors.fleet import SensorFleet, topic
from simulators.sensors.malformed import MALFORMED_KINDS, MalformedKind, malformed
from simulators.sensors.rulecheck import Fired, evaluate, highest
from simulators.sensors.signals import INTERVALS, DeviceSignal
from simulators.sensors.stream import DeviceStream

__all__ = [
    "ANOMALY_KINDS",
    "INTERVALS",
    "MALFORMED_KINDS",
    "Anomaly",
    "AnomalyKind",
    "DeviceSignal",
    "DeviceStream",
    "Fired",
    "MalformedKind",
    "PlannedAnomaly",
    "SensorFleet",
    "TruthWriter",
    "evaluate",
    "highest",
    "make_anomaly",
    "malformed",
    "scripted_day",
    "topic",
]
