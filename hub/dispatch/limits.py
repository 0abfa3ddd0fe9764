"""Time limits and traffic lights (红黄绿灯) of a case, on the working calendar.

A running case has two clocks: its current stage's (accept, dispatch, handle, check; it starts
when the stage starts) and the whole case's (it starts at the report). Each clock turns yellow
when :data:`YELLOW_AT` of its time is used and red at its deadline; the case's light is the
worst of the two. Pure: the service stores the deadlines and schedules the changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.bus.contracts import Light
from hub.config.calendar import TimeLimit, WorkCalendar
from hub.config.categories import Category
from hub.dispatch.workflow import Stage
from hub.dispatch.worktime import deadline

YELLOW_AT = 0.75
"""Share of a limit used when its light turns yellow (a quarter of the time is left)."""

LIGHT_RANK: dict[Light, int] = {"green": 0, "yellow": 1, "red": 2}


@dataclass(frozen=True, slots=True)
class Clock:
    """One limit running: it turns yellow at ``yellow_at`` and red at ``due``."""

    yellow_at: datetime
    due: datetime

    def light(self, now: datetime) -> Light:
        if now >= self.due:
            return "red"
        if now >= self.yellow_at:
            return "yellow"
        return "green"

    def next_change(self, now: datetime) -> datetime | None:
        if now < self.yellow_at:
            return self.yellow_at
        if now < self.due:
            return self.due
        return None


@dataclass(frozen=True, slots=True)
class Calendar:
    """A working calendar in its time zone."""

    cal: WorkCalendar
    tz: str

    def clock(self, start: datetime, limit: TimeLimit) -> Clock:
        part = TimeLimit(amount=limit.amount * YELLOW_AT, unit=limit.unit)
        return Clock(
            yellow_at=deadline(self.cal, self.tz, start, part),
            due=deadline(self.cal, self.tz, start, limit),
        )

    def stage_clock(self, category: Category, stage: Stage, start: datetime) -> Clock:
        limit: TimeLimit = getattr(category.limits, stage)
        return self.clock(start, limit)

    def total_clock(self, category: Category, reported: datetime) -> Clock:
        return self.clock(reported, category.limits.total)

    def extended(self, clock: Clock, limit: TimeLimit) -> Clock:
        """A stage clock given one more ``limit`` (an approved extension, 延期): it runs from
        its old deadline."""
        more = self.clock(clock.due, limit)
        return Clock(yellow_at=more.yellow_at, due=more.due)


def worst(*lights: Light) -> Light:
    return max(lights, key=LIGHT_RANK.__getitem__)


def case_light(now: datetime, *clocks: Clock | None) -> Light:
    return worst("green", *(c.light(now) for c in clocks if c is not None))


def next_change(now: datetime, *clocks: Clock | None) -> datetime | None:
    times = [t for c in clocks if c is not None and (t := c.next_change(now)) is not None]
    return min(times, default=None)
