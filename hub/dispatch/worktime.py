"""Working-time arithmetic on a :class:`~hub.config.calendar.WorkCalendar`: deadlines, elapsed
working time and the share of a time limit used (for the traffic lights, 红黄绿灯).

Instants are stored in UTC and computed in the site's local time zone (zoneinfo), so working
periods follow local wall-clock time across daylight-saving changes; working time is real
elapsed time inside them (a period that a DST jump shortens counts as shorter). Working units
(``working_hours``, ``working_days``) skip nights, weekends and holidays and count make-up days
(调休); one working day is the calendar's standard working day of working time (the sum of its
periods, 7.5 h by default). ``hours`` and ``minutes`` are natural time and ignore the calendar.

Pure functions. Each local date's working periods are computed once (as UTC microseconds) and
cached, so a deadline of 30 working days walks about 42 dates, not minutes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from hub.config.calendar import TimeLimit, Unit, WorkCalendar, minutes_of

__all__ = ["deadline", "fraction_used", "limit_duration", "working_elapsed"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_UNIT_US = {"hours": 3_600_000_000, "minutes": 60_000_000, "working_hours": 3_600_000_000}

_MAX_IDLE_DAYS = 366
"""Dates in a row without working time after which deadline() gives up (a calendar whose holidays
cover a whole year) instead of searching for ever."""

Span = tuple[int, int]
"""[start, end) in microseconds since the epoch (UTC)."""


class _Plan:
    """One calendar in one time zone. Compared by identity: plans are cached by (calendar, tz)."""

    __slots__ = ("holidays", "periods", "weekend", "workdays", "zone")

    def __init__(self, cal: WorkCalendar, tz: str) -> None:
        self.zone = ZoneInfo(tz)
        self.periods = tuple((minutes_of(s), minutes_of(e)) for s, e in cal.working_hours)
        self.holidays = frozenset(cal.holidays)
        self.workdays = frozenset(cal.workdays)
        self.weekend = frozenset(cal.weekend)

    def is_working_day(self, d: date) -> bool:
        # WorkCalendar.is_working_day, on sets.
        if d in self.workdays:
            return True
        return d not in self.holidays and d.isoweekday() not in self.weekend

    def local_date(self, us: int) -> date:
        return (_EPOCH + us * _US).astimezone(self.zone).date()

    def at(self, d: date, minute: int) -> int:
        """Local date ``d`` at ``minute`` past midnight (1440 = the next midnight), in UTC µs.
        An ambiguous wall time (clocks set back) is its first occurrence; a wall time that never
        happens (clocks set forward over it) is the moment of the jump."""
        day, minute = divmod(minute, 1440)
        d += timedelta(days=day)
        wall = datetime(d.year, d.month, d.day, minute // 60, minute % 60)
        utc = wall.replace(tzinfo=self.zone).astimezone(UTC)
        if utc.astimezone(self.zone).replace(tzinfo=None) != wall:
            utc = self._jump(wall)
        return (utc - _EPOCH) // _US

    def _jump(self, wall: datetime) -> datetime:
        """The instant the clocks jump over ``wall`` (a wall time in a gap): between its reading
        with the offset after the jump (fold 1, earlier) and before it (fold 0, later), the
        first whole second that has the offset after the jump."""
        lo = int(wall.replace(tzinfo=self.zone, fold=1).timestamp())
        hi = int(wall.replace(tzinfo=self.zone, fold=0).timestamp())
        after = datetime.fromtimestamp(hi, UTC).astimezone(self.zone).utcoffset()
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if datetime.fromtimestamp(mid, UTC).astimezone(self.zone).utcoffset() == after:
                hi = mid
            else:
                lo = mid
        return datetime.fromtimestamp(hi, UTC)


@lru_cache(maxsize=64)
def _plan(cal: WorkCalendar, tz: str) -> _Plan:
    return _Plan(cal, tz)


@lru_cache(maxsize=16384)
def _day(plan: _Plan, d: date) -> tuple[Span, ...]:
    """The working spans of local date ``d``, in order and disjoint (clamped to the local day and
    to the span before, so that no time-zone change can make spans overlap)."""
    if not plan.is_working_day(d):
        return ()
    lo, hi = plan.at(d, 0), plan.at(d, 1440)
    out: list[Span] = []
    for s_min, e_min in plan.periods:
        s = max(plan.at(d, s_min), lo)
        e = min(plan.at(d, e_min), hi)
        if e > s:
            out.append((s, e))
            lo = e
    return tuple(out)


def _us(t: datetime) -> int:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{t!r} has no time zone: pass aware datetimes (UTC)")
    return (t - _EPOCH) // _US


def _utc(us: int) -> datetime:
    return _EPOCH + us * _US


def limit_duration(cal: WorkCalendar, limit: TimeLimit) -> timedelta:
    """How much time ``limit`` is: working time for working units (one working day = the
    calendar's :meth:`~WorkCalendar.day_length`), natural time otherwise."""
    return _limit_us(cal, limit.amount, limit.unit) * _US


def _limit_us(cal: WorkCalendar, amount: float, unit: Unit) -> int:
    if unit == "working_days":
        return round(amount * (cal.day_length() // _US))
    return round(amount * _UNIT_US[unit])


def deadline(cal: WorkCalendar, tz: str, start_utc: datetime, limit: TimeLimit) -> datetime:
    """When ``limit`` runs out for something that started at ``start_utc`` (UTC).

    Natural units add natural time. Working units add working time: a start outside working
    hours begins counting at the next working moment, and the deadline is the earliest instant
    at which that much working time has passed (so a limit that ends exactly at a period's end
    falls due then, not when the next period starts)."""
    start = _us(start_utc)
    if not limit.working:
        return _utc(start + _limit_us(cal, limit.amount, limit.unit))
    remaining = _limit_us(cal, limit.amount, limit.unit)
    plan = _plan(cal, tz)
    # From the day before: a zone that moves its clocks at midnight can put an instant of date d
    # in the previous date's window; spans that end before the start are skipped anyway.
    d = plan.local_date(start) - timedelta(days=1)
    idle = 0
    while True:
        spans = _day(plan, d)
        idle = 0 if spans else idle + 1
        if idle > _MAX_IDLE_DAYS:
            raise ValueError(f"the calendar has no working time for {idle} days from {d}")
        for s, e in spans:
            if e <= start:
                continue
            begin = max(s, start)
            if e - begin >= remaining:
                return _utc(begin + remaining)
            remaining -= e - begin
        d += timedelta(days=1)


def working_elapsed(cal: WorkCalendar, tz: str, a: datetime, b: datetime) -> timedelta:
    """Working time between instants ``a`` and ``b`` (negative when ``b`` is before ``a``)."""
    ua, ub = _us(a), _us(b)
    if ub < ua:
        return -working_elapsed(cal, tz, b, a)
    plan = _plan(cal, tz)
    # One day of margin each side, as in deadline(): spans outside [a, b) add nothing.
    d = plan.local_date(ua) - timedelta(days=1)
    last = plan.local_date(ub) + timedelta(days=1)
    total = 0
    while d <= last:
        for s, e in _day(plan, d):
            lo, hi = max(s, ua), min(e, ub)
            if hi > lo:
                total += hi - lo
        d += timedelta(days=1)
    return total * _US


def fraction_used(
    cal: WorkCalendar, tz: str, start: datetime, deadline: datetime, now: datetime, unit: Unit
) -> float:
    """The share of the time from ``start`` to ``deadline`` used by ``now``: 0 at (or before) the
    start, 1 at the deadline, above 1 when overdue (1.5 = half the limit over). Measured in
    working time for working units, natural time otherwise, so a working limit's share does not
    grow overnight. A deadline at the start gives 0 before it and 1 from it on."""
    if unit in ("working_hours", "working_days"):
        total = working_elapsed(cal, tz, start, deadline)
        used = working_elapsed(cal, tz, start, now)
    else:
        total, used = deadline - start, now - start
    if total <= timedelta(0):
        return 1.0 if now >= deadline else 0.0
    return max(0.0, used / total)
