"""The case loop (六步闭环) as an explicit transition table: who may do what from which state.

Pure: no I/O. The service asks :func:`plan` before it writes; anything not in the table is
refused with a reason, never half-applied.

    reported ─accept─> accepted ─open─> opened ─dispatch─> dispatched ─receive─> received
        │                 │                ^                  │                     │
        └─void──> voided <┘                │                  │      arrive─> on_scene
                                           │  approve_return  │                     │
                                           └──────────────────┘         feedback (处置反馈)
                                                                                    v
    evaluated <─evaluate─ closed <─check_pass─ handled ─check_fail (返工)─> dispatched

Extensions (延期) and returns (回退) are requested by the assigned worker and approved or
rejected by a supervisor; a request changes nothing until it is approved. A worker's report
of a minor case may be handled on the spot (自行处置): it enters at ``handled`` and still goes
through the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

CaseState = Literal[
    "reported",
    "accepted",
    "opened",
    "voided",
    "dispatched",
    "received",
    "on_scene",
    "handled",
    "closed",
    "evaluated",
]
CASE_STATES: tuple[CaseState, ...] = get_args(CaseState)

Action = Literal[
    "accept",
    "open",
    "void",
    "dispatch",
    "receive",
    "arrive",
    "feedback",
    "check_pass",
    "check_fail",
    "evaluate",
    "request_extension",
    "approve_extension",
    "reject_extension",
    "request_return",
    "approve_return",
    "reject_return",
]
ACTIONS: tuple[Action, ...] = get_args(Action)

Role = Literal["admin", "operator", "supervisor", "worker", "device", "system"]

OPEN_STATES: frozenset[CaseState] = frozenset(
    {"reported", "accepted", "opened", "dispatched", "received", "on_scene", "handled"}
)
"""States in which a case is still running (its time limits count)."""
FINAL_STATES: frozenset[CaseState] = frozenset({"voided", "closed", "evaluated"})

Stage = Literal["accept", "dispatch", "handle", "check"]
STAGE_OF: dict[CaseState, Stage] = {
    "reported": "accept",
    "accepted": "accept",
    "opened": "dispatch",
    "dispatched": "handle",
    "received": "handle",
    "on_scene": "handle",
    "handled": "check",
}
"""The time-limited stage a running case is in (its stage deadline belongs to it)."""

CENTER: frozenset[Role] = frozenset({"admin", "operator", "system"})
CHECKERS: frozenset[Role] = frozenset({"admin", "operator", "supervisor"})
SUPERVISORS: frozenset[Role] = frozenset({"admin", "supervisor"})
ASSIGNEE: frozenset[Role] = frozenset({"worker"})
"""Field actions: only the worker the case is assigned to (checked by :func:`plan`)."""

PendingRequest = Literal["extension", "return"]


@dataclass(frozen=True, slots=True)
class Rule:
    sources: frozenset[CaseState]
    target: CaseState | None
    """The new state; None: the state stays (requests and their answers)."""
    roles: frozenset[Role]
    assignee_only: bool = False
    """Only the case's assigned worker may act (center roles may act for them where listed)."""
    needs_pending: PendingRequest | None = None
    """The request this action answers; refused when none is pending."""
    sets_pending: PendingRequest | None = None


def _s(*states: CaseState) -> frozenset[CaseState]:
    return frozenset(states)


_HANDLING = _s("dispatched", "received", "on_scene")

TRANSITIONS: dict[Action, Rule] = {
    "accept": Rule(_s("reported"), "accepted", CENTER),
    "open": Rule(_s("accepted"), "opened", CENTER | SUPERVISORS),
    "void": Rule(_s("reported", "accepted"), "voided", CENTER | SUPERVISORS),
    "dispatch": Rule(_s("opened"), "dispatched", CENTER | SUPERVISORS),
    "receive": Rule(_s("dispatched"), "received", ASSIGNEE, assignee_only=True),
    "arrive": Rule(_s("received"), "on_scene", ASSIGNEE, assignee_only=True),
    "feedback": Rule(_s("received", "on_scene"), "handled", ASSIGNEE, assignee_only=True),
    "check_pass": Rule(_s("handled"), "closed", CHECKERS | {"system"}),
    "check_fail": Rule(_s("handled"), "dispatched", CHECKERS),
    "evaluate": Rule(_s("closed"), "evaluated", CHECKERS),
    "request_extension": Rule(
        _HANDLING, None, ASSIGNEE, assignee_only=True, sets_pending="extension"
    ),
    "approve_extension": Rule(_HANDLING, None, SUPERVISORS, needs_pending="extension"),
    "reject_extension": Rule(_HANDLING, None, SUPERVISORS, needs_pending="extension"),
    "request_return": Rule(
        _s("dispatched", "received"), None, ASSIGNEE, assignee_only=True, sets_pending="return"
    ),
    "approve_return": Rule(
        _s("dispatched", "received"), "opened", SUPERVISORS, needs_pending="return"
    ),
    "reject_return": Rule(_s("dispatched", "received"), None, SUPERVISORS, needs_pending="return"),
}


class Refused(Exception):
    """An action the table does not allow; ``status`` is the HTTP answer it deserves."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Step:
    """What an allowed action does: the state after it and the pending request after it."""

    action: Action
    source: CaseState
    target: CaseState
    pending: PendingRequest | None


def plan(
    action: Action,
    state: CaseState,
    *,
    role: Role,
    actor: str,
    assignee: str | None,
    pending: PendingRequest | None,
) -> Step:
    """The step ``actor`` (with ``role``) takes by ``action`` on a case in ``state``, or
    :class:`Refused`: 403 when the role or person may not, 409 when the case's state does not
    allow it now (stale views land here)."""
    rule = TRANSITIONS[action]
    if role not in rule.roles:
        raise Refused(403, f"a {role} may not {action} a case")
    if rule.assignee_only and role == "worker" and actor != assignee:
        raise Refused(403, "the case is not assigned to you")
    if state not in rule.sources:
        raise Refused(409, f"cannot {action} a case that is {state}")
    if rule.needs_pending is not None and pending != rule.needs_pending:
        raise Refused(409, f"no {rule.needs_pending} request is pending")
    if rule.sets_pending is not None and pending is not None:
        raise Refused(409, f"a {pending} request is already pending")
    target = rule.target or state
    after: PendingRequest | None
    if target != state:
        after = None  # a change of state ends any open request
    elif rule.sets_pending is not None:
        after = rule.sets_pending
    elif rule.needs_pending is not None:
        after = None
    else:
        after = pending
    return Step(action, state, target, after)
