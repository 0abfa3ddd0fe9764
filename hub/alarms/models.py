"""Typed records of the alarm domain.

The alarm itself is the bus payload of topic ``alarms`` (:class:`hub.bus.contracts.Alarm`),
re-exported here: the API answers with the same shape the bus carries. Here are what the rule
engine hands in (:class:`Trigger`), the timeline (:data:`AlarmChange`), the detail and page
answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from hub.bus.contracts import Alarm, AlarmState
from hub.config import Severity

__all__ = [
    "ALARM_STATES",
    "OPEN_STATES",
    "SYSTEM",
    "Alarm",
    "AlarmAcked",
    "AlarmAssigned",
    "AlarmChange",
    "AlarmCleared",
    "AlarmCreated",
    "AlarmDetail",
    "AlarmPage",
    "AlarmState",
    "AlarmValue",
    "SeverityChanged",
    "StateFilter",
    "Trigger",
]

ALARM_STATES: tuple[AlarmState, ...] = get_args(AlarmState)
OPEN_STATES: tuple[AlarmState, ...] = ("active", "acknowledged")
StateFilter = Literal["active", "acknowledged", "cleared", "open"]
"""A listing's state filter: a state, or ``open`` (active or acknowledged)."""
SYSTEM = "system"
"""The actor of the rule engine's changes."""

AlarmValue = float | bool | str | None
"""What a rule judged: the reading, a rate per minute, or seconds of silence."""


@dataclass(frozen=True, slots=True)
class Trigger:
    """A rule's create condition held for a device: what the rule engine hands the service.

    It carries everything the alarm copies from the device and the rule, so that an alarm reads
    the same after they change, and the alarm domain needs nothing of the device domain."""

    device_id: str
    device_name: str
    profile: str
    grid_id: str | None
    position: tuple[float, float]
    """lon, lat"""
    rule_id: str
    rule_name: str
    key: str | None
    severity: Severity
    value: AlarmValue
    ts: float
    """The judged telemetry's time (epoch seconds)."""
    cameras: list[dict[str, Any]] = field(default_factory=list)
    """Linkage (hub.geo.coverage): the cameras that see the device, nearest first; stored when
    the alarm is created."""


# -- the timeline ------------------------------------------------------------------------------
# One model per action; each says which detail its entry carries. On the wire an entry is flat:
# {"ts", "action", "actor", ...detail}.


class _Entry(BaseModel):
    # ``action`` has a default (each model is one action) but is always in the JSON: say so.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    ts: datetime
    action: str
    actor: str
    """A username, or ``system`` (the rule engine)."""


class AlarmCreated(_Entry):
    action: Literal["created"] = "created"
    severity: Severity


class SeverityChanged(_Entry):
    model_config = ConfigDict(populate_by_name=True)  # from_=... in code, "from" on the wire

    action: Literal["severity"] = "severity"
    from_: Severity = Field(alias="from")
    to: Severity


class AlarmAcked(_Entry):
    action: Literal["acked"] = "acked"


class AlarmAssigned(_Entry):
    action: Literal["assigned"] = "assigned"
    assignee: str | None


class AlarmCleared(_Entry):
    action: Literal["cleared"] = "cleared"


AlarmChange = Annotated[
    AlarmCreated | SeverityChanged | AlarmAcked | AlarmAssigned | AlarmCleared,
    Field(discriminator="action"),
]
"""One entry of an alarm's timeline: ts, action, actor and the action's detail."""


class AlarmDetail(Alarm):
    """An alarm with its timeline, oldest first."""

    timeline: list[AlarmChange]


class AlarmPage(BaseModel):
    """A page of alarms, newest first; pass ``next_before_id`` back as ``before_id`` for the
    next page (None: this is the last one)."""

    items: list[Alarm]
    next_before_id: int | None
