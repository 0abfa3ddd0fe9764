"""Whom an overdue case (red light, 督办) notifies: the supervisors of the site file, by scope.

Pure: no I/O. Level 1 (the first red) goes to the supervisors nearest the case: its grid's, else
its community's, else its street's, else the district's. Level 2 and beyond go to the
district's. A level whose scopes have nobody falls back upward; when even the district has
nobody, a later level repeats the nearest that has someone, so an escalation rings someone
whenever the site names any supervisor over the case. A case outside every grid has only the
district above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.config.workers import Supervisor
from hub.dispatch.models import Case


@dataclass(frozen=True, slots=True)
class Route:
    """The supervisors an escalation notifies and the scope they were found at."""

    scope: str | None
    """``street:s1``, ``district``...; None when the site names nobody over the case."""
    usernames: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Place:
    grid_id: str | None
    community_id: str | None
    street_id: str | None


class SupervisorMap:
    """The site's supervisors indexed by scope."""

    def __init__(self, supervisors: Sequence[Supervisor]) -> None:
        self._by_scope: dict[str, list[str]] = {}
        for s in supervisors:
            key = "district" if s.level == "district" else s.scope
            self._by_scope.setdefault(key, []).append(s.username)

    def __bool__(self) -> bool:
        return bool(self._by_scope)

    def route(self, place: Place, level: int) -> Route:
        """The supervisors escalation ``level`` (1, 2, ...) of a case at ``place`` notifies."""
        local = [
            f"{kind}:{ident}"
            for kind, ident in (
                ("grid", place.grid_id),
                ("community", place.community_id),
                ("street", place.street_id),
            )
            if ident is not None
        ]
        # Level 1 climbs from the case's own grid; later levels start at the district and,
        # with nobody there, come back down to the nearest who is.
        ladder = [*local, "district"] if level <= 1 else ["district", *reversed(local)]
        for scope in ladder:
            names = self._by_scope.get(scope)
            if names:
                return Route(scope, tuple(names))
        return Route(None, ())


def stage_overdue(case: Case, now: datetime) -> bool:
    return case.stage_deadline is not None and now >= case.stage_deadline


def escalated_in_stage(case: Case, last: tuple[datetime, dict[str, Any]] | None) -> bool:
    """Whether ``last`` (the case's latest escalation: time, timeline detail) belongs to the
    case's current stage. A new stage (or a rework's new handling) has a new start."""
    if last is None or case.stage_started_at is None:
        return False
    ts, detail = last
    mark = detail.get("stage_started_at")
    if isinstance(mark, str):
        try:
            return datetime.fromisoformat(mark) == case.stage_started_at
        except ValueError:
            pass
    # Escalations logged before the stage was recorded: by time.
    return ts >= case.stage_started_at
