"""Fixtures for device tests: a private Mosquitto (see broker_fixtures.py)."""

from __future__ import annotations

from broker_fixtures import mqtt_broker

__all__ = ["mqtt_broker"]
