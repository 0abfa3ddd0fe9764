"""Devices (IoT sensors): profiles describe a kind of device, with its telemetry and alarm
rules; devices are the installed units."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hub.config.common import LonLat, Strict

Severity = Literal["critical", "major", "minor", "warning"]
SEVERITIES: tuple[Severity, ...] = ("critical", "major", "minor", "warning")


class TelemetryField(Strict):
    """One value a device reports. ``min``/``max`` are the physical range: a value outside it is
    a broken sensor or a forged message, not an alarm, and is dead-lettered."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    name: str = ""
    type: Literal["number", "boolean", "string"] = "number"
    unit: str = ""
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _range(self) -> TelemetryField:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Condition(Strict):
    op: Literal[">", ">=", "<", "<=", "==", "!="]
    value: float | bool | str


class AlarmRule(Strict):
    """How a profile turns telemetry into alarms.

    - ``threshold``: a severity's condition holds on the latest value;
    - ``duration``: the condition has held continuously for ``for_seconds``;
    - ``rate``: the change of ``key`` per minute over ``window_seconds`` meets the condition;
    - ``missing``: no telemetry (of ``key``, or of anything when ``key`` is None) for longer than
      the condition's value in seconds (use op ``>``).
    ``create`` maps each severity to its condition, checked from the most severe down; ``clear``
    (when given) must hold before an active alarm clears, otherwise it clears when no create
    condition holds any more.
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    name: str
    kind: Literal["threshold", "duration", "rate", "missing"] = "threshold"
    key: str | None = None
    create: dict[Severity, Condition] = Field(min_length=1)
    clear: Condition | None = None
    for_seconds: float | None = Field(default=None, gt=0)
    window_seconds: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _kind_fields(self) -> AlarmRule:
        if self.kind != "missing" and self.key is None:
            raise ValueError(f"a {self.kind} rule needs the telemetry key it watches")
        if self.kind == "duration" and self.for_seconds is None:
            raise ValueError("a duration rule needs for_seconds")
        return self


class DeviceProfile(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    name: str
    kind: Literal[
        "smoke", "water_level", "manhole", "gas", "air_quality", "door", "gps", "other"
    ] = "other"
    telemetry: list[TelemetryField] = Field(default_factory=list)
    alarm_rules: list[AlarmRule] = Field(default_factory=list)
    inactivity_timeout_seconds: float | None = Field(default=None, gt=0)
    """A device that reports nothing for this long is offline, even without a last will."""
    max_messages_per_minute: int = Field(default=600, gt=0)
    """Above this a device is flooding: further messages in the minute are dead-lettered."""

    @model_validator(mode="after")
    def _rule_keys(self) -> DeviceProfile:
        keys = {f.key for f in self.telemetry}
        for rule in self.alarm_rules:
            if rule.key is not None and rule.key not in keys:
                raise ValueError(f"rule {rule.id} watches unknown telemetry key {rule.key!r}")
        return self


class Device(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")
    name: str
    profile: str
    grid: str
    position: LonLat
    enabled: bool = True
