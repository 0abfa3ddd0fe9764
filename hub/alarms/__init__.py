"""Alarms raised by the device rules: their lifecycle, store, API.

``models`` (typed records; the alarm is the bus payload of topic ``alarms``), ``service`` (the
lifecycle as a transition table, the open-alarm cache, metrics, publishing), ``repo`` (the only
alarm SQL), ``routes`` (``/api/alarms``), ``metrics`` (Prometheus).
"""
