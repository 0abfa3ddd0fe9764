"""Co-dispatch (联合派遣, "街道吹哨、部门报到"): a complex case goes to several departments at once,
and each department's part is followed to its own close. This module is the parts' own small
transition table and typed records; pure, no I/O (:mod:`hub.dispatch.parts_service` applies it).

    co_dispatch (center, case opened or being handled) ─> one part per department:

    dispatched ─receive─> received ─feedback─> handled ─close─> closed
        │   ^                │                    │
        │   └────────────────┼───────rework (返工)─┘
        └──return (回退)──────┴──> returned

A part's field steps (receive, feedback, return) are taken by its assignee, a worker of the
department, or recorded by the center on the department's behalf (代录: a department without a
field app answers by phone); ``assign`` (re)assigns an unfinished part. The center checks each
handled part: close it or send it back (rework, optionally to someone else). The case itself keeps
its own loop (:mod:`hub.dispatch.workflow`, its lead worker, 主办); it cannot pass its check while
a part is still open. Every part step is a change of the case: its version moves on, its
timeline records the step, and the bus announces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.bus.contracts import Case
from hub.dispatch.workflow import (
    ASSIGNEE,
    CENTER,
    CHECKERS,
    SUPERVISORS,
    CaseState,
    Refused,
    Role,
)

__all__ = [
    "CO_DISPATCH_FROM",
    "MAX_PARTS",
    "OPEN_PART_STATES",
    "CasePart",
    "CoDispatch",
    "CoDispatchResult",
    "PartAction",
    "PartState",
    "PartStep",
    "PartStepResult",
    "PartTarget",
    "plan_co_dispatch",
    "plan_part",
]

PartState = Literal["dispatched", "received", "handled", "closed", "returned"]
PART_STATES: tuple[PartState, ...] = get_args(PartState)
OPEN_PART_STATES: frozenset[PartState] = frozenset({"dispatched", "received", "handled"})
"""A part in one of these is still open: the case cannot pass its check."""

PartAction = Literal["receive", "feedback", "return", "close", "rework", "assign"]
PART_ACTIONS: tuple[PartAction, ...] = get_args(PartAction)

MAX_PARTS = 8
"""At most this many departments in one co-dispatch, and parts (not returned) on one case."""

CO_DISPATCH_FROM: frozenset[CaseState] = frozenset({"opened", "dispatched", "received", "on_scene"})
"""The case states a co-dispatch may start from: opened, or while the case is being handled."""
CO_DISPATCHERS: frozenset[Role] = CENTER | SUPERVISORS
DESK: frozenset[Role] = frozenset({"admin", "operator"})
"""Center roles that may record a department's field steps on its behalf (代录)."""


@dataclass(frozen=True, slots=True)
class PartRule:
    sources: frozenset[PartState]
    target: PartState
    roles: frozenset[Role]
    assignee_only: bool = False
    """A worker may take it only on a part assigned to them."""


def _s(*states: PartState) -> frozenset[PartState]:
    return frozenset(states)


_FIELD: frozenset[Role] = ASSIGNEE | DESK
"""The part's worker, or the center's desk on the department's behalf."""

PART_TRANSITIONS: dict[PartAction, PartRule] = {
    "receive": PartRule(_s("dispatched"), "received", _FIELD, assignee_only=True),
    "feedback": PartRule(_s("received"), "handled", _FIELD, assignee_only=True),
    "return": PartRule(_s("dispatched", "received"), "returned", _FIELD, assignee_only=True),
    "close": PartRule(_s("handled"), "closed", CHECKERS),
    "rework": PartRule(_s("handled"), "dispatched", CHECKERS),
    "assign": PartRule(_s("dispatched", "received"), "dispatched", CO_DISPATCHERS),
}

STAMP: dict[PartState, str] = {
    "received": "received_at",
    "handled": "handled_at",
    "closed": "closed_at",
    "returned": "returned_at",
}
"""The time column each part state stamps when a part enters it."""


def plan_co_dispatch(case_state: str | None, *, role: Role) -> None:
    """Refused (403 for the role, 409 for the case's state) unless a co-dispatch may start;
    without a state, the role alone is checked."""
    if role not in CO_DISPATCHERS:
        raise Refused(403, f"a {role} may not co-dispatch a case")
    if case_state is not None and case_state not in CO_DISPATCH_FROM:
        raise Refused(409, f"cannot co-dispatch a case that is {case_state}")


def plan_part(
    action: PartAction, state: str, *, role: Role, actor: str, assignee: str | None
) -> PartState:
    """The state a part in ``state`` moves to when ``actor`` (``role``) takes ``action``, or
    :class:`~hub.dispatch.workflow.Refused`: 403 when the role or person may not, 409 when the
    part's state does not allow it now."""
    rule = PART_TRANSITIONS[action]
    if role not in rule.roles:
        raise Refused(403, f"a {role} may not {action} a department's part")
    if rule.assignee_only and role == "worker" and actor != assignee:
        raise Refused(403, "the part is not assigned to you")
    if state not in rule.sources:
        raise Refused(409, f"cannot {action} a part that is {state}")
    return rule.target


# -- records and inputs --------------------------------------------------------------------

_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_USERNAME = r"^[A-Za-z0-9_.-]{1,64}$"
_DEPARTMENT = r"^[a-z][a-z0-9_-]{0,63}$"
PhotoId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]


class CasePart(BaseModel):
    """One department's part of a co-dispatched case."""

    id: int
    case_id: int
    department: str
    department_name: str | None = None
    assignee: str | None = None
    state: PartState
    note: str | None = None
    """The center's instruction when it dispatched the part."""
    feedback: str | None = None
    """The department's latest handling feedback."""
    photos: list[str] = Field(default_factory=list)
    """Photo ids of the part's feedback (also the case's evidence)."""
    rework_count: int = 0
    dispatched_by: str
    dispatched_at: datetime
    received_at: datetime | None = None
    handled_at: datetime | None = None
    closed_at: datetime | None = None
    returned_at: datetime | None = None
    updated_at: datetime


class PartTarget(BaseModel):
    """A department a case is co-dispatched to, with its worker (optional) and instruction."""

    model_config = ConfigDict(extra="forbid")

    department: str = Field(pattern=_DEPARTMENT)
    """A department id of the category catalogue (GET /api/categories)."""
    assignee: str | None = Field(default=None, pattern=_USERNAME)
    """A worker of that department; none: the center assigns or records for it later."""
    note: str | None = Field(default=None, max_length=2000, pattern=_TEXT)


class CoDispatch(BaseModel):
    """联合派遣: send the case to 1..8 departments at once. ``version`` is the case version
    the caller saw (409 when it moved on)."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=2**31 - 1)
    parts: list[PartTarget] = Field(min_length=1, max_length=MAX_PARTS)
    note: str | None = Field(default=None, max_length=2000, pattern=_TEXT)
    """Said of the whole co-dispatch (on the timeline)."""

    @model_validator(mode="after")
    def _distinct(self) -> CoDispatch:
        depts = [p.department for p in self.parts]
        if len(set(depts)) != len(depts):
            raise ValueError("a department is named twice")
        return self


class PartStep(BaseModel):
    """One step of a department's part. ``version`` is the case version the caller saw."""

    model_config = ConfigDict(extra="forbid")

    action: PartAction
    version: int = Field(ge=1, le=2**31 - 1)
    note: str | None = Field(default=None, max_length=2000, pattern=_TEXT)
    """return: the reason (required); feedback: what was done; rework: what is missing."""
    assignee: str | None = Field(default=None, pattern=_USERNAME)
    """assign (required) / rework (optional): the department's worker the part goes to."""
    photos: list[PhotoId] = Field(default_factory=list, max_length=9)
    """feedback: ids of photos uploaded before (POST /api/photos)."""


class CoDispatchResult(BaseModel):
    case: Case
    parts: list[CasePart]
    """The parts this co-dispatch created."""


class PartStepResult(BaseModel):
    case: Case
    part: CasePart
