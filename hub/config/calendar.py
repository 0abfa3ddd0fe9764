"""The working calendar (工作日历) that case time limits (处置时限) count on, and the limits
themselves.

A working day has its working periods (default 08:30-12:00 and 13:30-17:30 local time); weekends
are off, public holidays (法定节假日) are off even on weekdays, and make-up working days (调休上班)
are working even on a weekend. The arithmetic over it lives in :mod:`hub.dispatch.worktime`.

The shipped default (:func:`default_calendar`, ``data/calendar.yaml``) knows China's public
holidays for the years it lists; a site adds later years in its own ``calendar:`` section.
:func:`coverage_gap` says which coming years it does not know yet (the hub warns at start).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from functools import cache
from importlib.resources import files
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from hub.config.common import Strict

_HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _check_hhmm(v: Any) -> Any:
    if isinstance(v, int) and not isinstance(v, bool):
        # YAML 1.1 reads an unquoted 12:00 as the base-60 number 720.
        h, m = divmod(v, 60)
        raise ValueError(
            f'quote the time, "{h:02d}:{m:02d}": YAML reads it unquoted as the number {v}'
        )
    if not isinstance(v, str) or not _HHMM.match(v):
        raise ValueError(f"{v!r} is not a time of day HH:MM (00:00 to 24:00)")
    return v


HHMM = Annotated[str, BeforeValidator(_check_hhmm)]
"""A local time of day "HH:MM"; "24:00" is the end of the day."""


def minutes_of(hhmm: str) -> int:
    """Minutes since local midnight of an "HH:MM" time ("24:00" -> 1440)."""
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


Unit = Literal["working_hours", "working_days", "hours", "minutes"]
WORKING_UNITS: frozenset[str] = frozenset(("working_hours", "working_days"))
_LIMIT_TEXT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s+([a-z_]+)\s*$")


class TimeLimit(Strict):
    """A time limit: ``amount`` of ``unit``. Working units count on the working calendar;
    ``hours`` and ``minutes`` are natural time, for urgent categories (fire, gas leaks) that run
    day and night. A site file may write it short: ``"4 working_hours"``, ``"15 minutes"``."""

    amount: float = Field(gt=0, allow_inf_nan=False)
    unit: Unit

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        if isinstance(data, str):
            m = _LIMIT_TEXT.match(data)
            if m is None:
                raise ValueError(f'{data!r} is not a time limit like "4 working_hours"')
            return {"amount": float(m.group(1)), "unit": m.group(2)}
        return data

    @property
    def working(self) -> bool:
        """Whether the limit counts working time (on the calendar) rather than natural time."""
        return self.unit in WORKING_UNITS

    def __str__(self) -> str:
        return f"{self.amount:g} {self.unit}"


def _tuple(v: Any) -> Any:
    # A list in the file; kept as a tuple so that a calendar is hashable (worktime caches on it).
    return tuple(v) if isinstance(v, list) else v


class WorkCalendar(Strict):
    """Working periods of a working day, the weekly days off, public holidays and make-up days.

    ``working_hours``: (start, end) local "HH:MM" periods of a working day, in order, not
    overlapping (default 08:30-12:00, 13:30-17:30); the sum is one working day of working time.
    ``weekend``: ISO weekdays off (1 = Monday ... 7 = Sunday; default Saturday and Sunday).
    ``holidays``: public holidays, off even on a weekday. ``workdays``: make-up working days
    (调休), working even on a weekend day. A date may be in one of the two lists only.
    """

    working_hours: Annotated[
        tuple[tuple[HHMM, HHMM], ...], BeforeValidator(_tuple), Field(min_length=1)
    ] = (("08:30", "12:00"), ("13:30", "17:30"))
    weekend: Annotated[tuple[int, ...], BeforeValidator(_tuple)] = (6, 7)
    holidays: Annotated[tuple[date, ...], BeforeValidator(_tuple)] = ()
    workdays: Annotated[tuple[date, ...], BeforeValidator(_tuple)] = ()

    @field_validator("working_hours")
    @classmethod
    def _periods(cls, periods: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        prev_end = -1
        for start, end in periods:
            s, e = minutes_of(start), minutes_of(end)
            if s >= e:
                raise ValueError(f"working period {start}-{end} must start before it ends")
            if s < prev_end:
                raise ValueError(
                    f"working period {start}-{end} overlaps or comes before the one before it"
                    " (list periods in order, not overlapping)"
                )
            prev_end = e
        return periods

    @field_validator("weekend")
    @classmethod
    def _weekend(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        for d in days:
            if not 1 <= d <= 7:
                raise ValueError(
                    f"weekend day {d} is not an ISO weekday (1 = Monday ... 7 = Sunday)"
                )
        if len(set(days)) != len(days):
            raise ValueError("weekend days must be unique")
        if len(days) == 7:
            raise ValueError(
                "every weekday is a weekend day: the calendar would have no working days"
            )
        return days

    @field_validator("workdays")
    @classmethod
    def _not_holidays(cls, workdays: tuple[date, ...], info: ValidationInfo) -> tuple[date, ...]:
        both = sorted(set(info.data.get("holidays", ())) & set(workdays))
        if both:
            listed = ", ".join(d.isoformat() for d in both)
            raise ValueError(f"{listed}: a date is either a holiday or a make-up working day")
        return workdays

    def is_working_day(self, d: date) -> bool:
        """Whether local date ``d`` has working hours: a make-up day, or a weekday that is
        neither a weekend day nor a holiday."""
        if d in self.workdays:
            return True
        return d not in self.holidays and d.isoweekday() not in self.weekend

    def day_length(self) -> timedelta:
        """One working day of working time: the sum of the working periods."""
        return timedelta(minutes=sum(minutes_of(e) - minutes_of(s) for s, e in self.working_hours))

    def known_years(self) -> frozenset[int]:
        """Years that have holidays or make-up days listed: outside them the calendar knows only
        weekends, so a service may warn when a deadline falls in a year it does not know."""
        return frozenset(d.year for d in (*self.holidays, *self.workdays))


@cache
def default_calendar() -> WorkCalendar:
    """The shipped calendar: standard hours, Saturday and Sunday off, and China's public holidays
    and make-up days for the years in ``hub/config/data/calendar.yaml``."""
    text = files("hub.config").joinpath("data/calendar.yaml").read_text(encoding="utf-8")
    return WorkCalendar.model_validate(yaml.safe_load(text))


COVERAGE_HORIZON_DAYS = 60
"""How far ahead the hub checks that the calendar knows the holidays: beyond the longest usual
time limit, and early enough to add the next year after the State Council publishes it."""


def coverage_gap(
    cal: WorkCalendar, today: date, horizon_days: int = COVERAGE_HORIZON_DAYS
) -> list[int]:
    """Years in [today, today + horizon_days] for which ``cal`` lists no holidays or make-up
    days (:meth:`WorkCalendar.known_years`), in order: deadlines there count only weekends as
    days off. Empty when the calendar knows every year of the window."""
    if horizon_days < 0:
        raise ValueError(f"horizon_days must not be negative, not {horizon_days}")
    known = cal.known_years()
    last = today + timedelta(days=horizon_days)
    return [y for y in range(today.year, last.year + 1) if y not in known]


def coverage_warning(gap: list[int], horizon_days: int = COVERAGE_HORIZON_DAYS) -> str:
    """What to tell the admin about the years :func:`coverage_gap` found (non-empty)."""
    years = ", ".join(str(y) for y in gap)
    return (
        f"the working calendar lists no public holidays for {years} (within the next"
        f" {horizon_days} days): case deadlines there count only weekends as days off, so"
        " holidays such as 元旦 and 春节 and the make-up working days (调休) are ignored."
        f" Add {years}'s holidays and workdays to the site file's `calendar:` section (it"
        " replaces the shipped calendar: copy hub/config/data/calendar.yaml's lists too) and"
        ' restart the hub; see docs/operations.md, "Working calendar"'
    )
