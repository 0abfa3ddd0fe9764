"""Working-time arithmetic (hub/dispatch/worktime.py): deadlines over nights, lunch breaks,
weekends, holidays and make-up days, elapsed working time, and traffic-light fractions."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.config import TimeLimit, Unit, WorkCalendar, default_calendar
from hub.dispatch.worktime import deadline, fraction_used, limit_duration, working_elapsed

CN = "Asia/Shanghai"
CAL = default_calendar()  # 08:30-12:00, 13:30-17:30; China's 2026 holidays
ROUND_THE_CLOCK = WorkCalendar.model_validate(
    {"working_hours": [["00:00", "24:00"]], "weekend": []}
)


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, tz: str = CN) -> datetime:
    """A local wall time, as the UTC instant the hub stores."""
    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def lim(amount: float, unit: Unit) -> TimeLimit:
    return TimeLimit(amount=amount, unit=unit)


def due(
    start: datetime, amount: float, unit: Unit, cal: WorkCalendar = CAL, tz: str = CN
) -> datetime:
    result = deadline(cal, tz, start, lim(amount, unit))
    assert result.tzinfo is UTC
    return result


# --- deadlines in working time ------------------------------------------------------------


def test_friday_afternoon_runs_over_the_weekend() -> None:
    # Friday 16:00-17:30 gives 1.5 h; Monday from 08:30 the other 2.5 h: 11:00.
    assert due(at(2026, 3, 6, 16), 4, "working_hours") == at(2026, 3, 9, 11)
    # 6 h runs through Monday's lunch break: 08:30-12:00, then 13:30 + 1 h.
    assert due(at(2026, 3, 6, 16), 6, "working_hours") == at(2026, 3, 9, 14, 30)
    # With a 09:00 morning start, Monday needs until 11:30.
    nine = WorkCalendar.model_validate({"working_hours": [["09:00", "12:00"], ["13:30", "17:30"]]})
    assert due(at(2026, 3, 6, 16), 4, "working_hours", nine) == at(2026, 3, 9, 11, 30)


@pytest.mark.parametrize(
    ("start", "amount", "expected"),
    [
        (at(2026, 3, 10, 17), 1, at(2026, 3, 11, 9)),  # overnight
        (at(2026, 3, 10, 20), 1, at(2026, 3, 11, 9, 30)),  # starts after hours
        (at(2026, 3, 10, 6), 1, at(2026, 3, 10, 9, 30)),  # starts before hours
        (at(2026, 3, 10, 11, 30), 1, at(2026, 3, 10, 14)),  # over the lunch break
        (at(2026, 3, 10, 12, 30), 1, at(2026, 3, 10, 14, 30)),  # starts in the lunch break
        (at(2026, 3, 10, 11), 1, at(2026, 3, 10, 12)),  # due at the end of a period, not 13:30
        (at(2026, 3, 10, 17), 0.5, at(2026, 3, 10, 17, 30)),  # due at the end of the day
        (at(2026, 3, 10, 9), 7.5, at(2026, 3, 11, 9)),
    ],
)
def test_working_hours_skip_nights_and_lunch(
    start: datetime, amount: float, expected: datetime
) -> None:
    assert due(start, amount, "working_hours") == expected


def test_national_day_week_with_make_up_days() -> None:
    # 国庆 2026: Oct 1-7 off; Sunday Sep 20 and Saturday Oct 10 are working days.
    # Fri Sep 18 16:00 + 3 working days (22.5 h): Fri 1.5, Sun 20 7.5, Mon 21 7.5, Tue 22 6.
    assert due(at(2026, 9, 18, 16), 3, "working_days") == at(2026, 9, 22, 16)
    # Thu Sep 24 16:00 + 1 day: 中秋 takes Fri 25 to Sun 27; Mon 28 needs 6 h.
    assert due(at(2026, 9, 24, 16), 1, "working_days") == at(2026, 9, 28, 16)
    # Wed Sep 30 10:00 + 2 days (15 h): Sep 30 6 h, Oct 8 7.5 h, Oct 9 to 10:00.
    assert due(at(2026, 9, 30, 10), 2, "working_days") == at(2026, 10, 9, 10)
    # + 3 days: Oct 9 full, then the make-up Saturday Oct 10 to 10:00.
    assert due(at(2026, 9, 30, 10), 3, "working_days") == at(2026, 10, 10, 10)
    # Nothing counts from the eve of the holiday to its end.
    assert working_elapsed(CAL, CN, at(2026, 9, 30, 17, 30), at(2026, 10, 8, 8, 30)) == timedelta()


def test_start_on_a_make_up_saturday() -> None:
    assert due(at(2026, 10, 10, 9), 4, "working_hours") == at(2026, 10, 10, 14, 30)
    # Sunday Oct 11 is off again: Saturday 17:00 + 1 h ends on Monday.
    assert due(at(2026, 10, 10, 17), 1, "working_hours") == at(2026, 10, 12, 9)
    # 春节: Saturday Feb 14 works, Feb 15-23 off.
    assert due(at(2026, 2, 14, 17), 1, "working_hours") == at(2026, 2, 24, 9)


def test_start_inside_a_holiday() -> None:
    assert due(at(2026, 10, 3, 10), 1, "working_hours") == at(2026, 10, 8, 9, 30)
    assert due(at(2026, 2, 18, 10), 1, "working_days") == at(2026, 2, 24, 17, 30)
    assert due(at(2026, 1, 1, 9), 2, "working_hours") == at(2026, 1, 4, 10, 30)  # Sunday Jan 4


def test_thirty_working_days_over_qingming_is_fast() -> None:
    # From Monday Mar 2: six weeks of five days, less Monday Apr 6 (清明), so Monday Apr 13.
    assert due(at(2026, 3, 2, 8, 30), 30, "working_days") == at(2026, 4, 13, 17, 30)
    t0 = time.perf_counter()
    for i in range(2000):
        deadline(CAL, CN, at(2026, 1, 5) + timedelta(minutes=97 * i), lim(30, "working_days"))
    assert time.perf_counter() - t0 < 2.0  # about 0.1 ms each


def test_working_day_is_the_calendars_day_length() -> None:
    eight = WorkCalendar.model_validate({"working_hours": [["09:00", "17:00"]]})
    assert limit_duration(eight, lim(1.5, "working_days")) == timedelta(hours=12)
    assert limit_duration(CAL, lim(2, "working_days")) == timedelta(hours=15)
    assert due(at(2026, 3, 10, 9), 1.5, "working_days", eight) == at(2026, 3, 11, 13)


def test_natural_units_ignore_the_calendar() -> None:
    night = at(2026, 10, 1, 22)  # a holiday night
    assert due(night, 90, "minutes") == night + timedelta(minutes=90)
    assert due(night, 2, "hours") == at(2026, 10, 2, 0)
    assert limit_duration(CAL, lim(15, "minutes")) == timedelta(minutes=15)


def test_instants_must_be_aware_and_any_zone_works() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        deadline(CAL, CN, datetime(2026, 3, 10, 9), lim(1, "working_hours"))
    with pytest.raises(ValueError, match="no time zone"):
        working_elapsed(CAL, CN, datetime(2026, 3, 10, 9), at(2026, 3, 10, 10))
    local = datetime(2026, 3, 6, 16, tzinfo=ZoneInfo(CN))
    assert deadline(CAL, CN, local, lim(4, "working_hours")) == at(2026, 3, 9, 11)


def test_a_calendar_without_working_time_is_an_error_not_a_hang() -> None:
    year = [date(2026, 1, 1) + timedelta(days=i) for i in range(400)]
    idle = WorkCalendar(holidays=tuple(year))
    with pytest.raises(ValueError, match="no working time"):
        deadline(idle, CN, at(2026, 1, 1), lim(1, "working_hours"))


# --- daylight saving time -----------------------------------------------------------------


def test_working_hours_follow_local_time_across_dst() -> None:
    berlin = "Europe/Berlin"  # CET -> CEST on Sunday Mar 29 2026
    start = at(2026, 3, 27, 16, tz=berlin)
    assert start.hour == 15  # UTC+1
    end = due(start, 4, "working_hours", tz=berlin)
    assert end == at(2026, 3, 30, 11, tz=berlin)
    assert end.hour == 9  # UTC+2
    # And back in autumn (Oct 25 2026).
    assert due(at(2026, 10, 23, 16, tz=berlin), 4, "working_hours", tz=berlin) == at(
        2026, 10, 26, 11, tz=berlin
    )


def test_dst_days_are_shorter_and_longer_in_real_time() -> None:
    ny = "America/New_York"  # clocks forward Mar 8 2026 and back Nov 1 2026, at 02:00
    day = ROUND_THE_CLOCK
    assert working_elapsed(day, ny, at(2026, 3, 8, tz=ny), at(2026, 3, 9, tz=ny)) == timedelta(
        hours=23
    )
    assert working_elapsed(day, ny, at(2026, 11, 1, tz=ny), at(2026, 11, 2, tz=ny)) == timedelta(
        hours=25
    )
    # 24 working hours are 24 real hours: from noon to 13:00 over the spring change.
    assert due(at(2026, 3, 7, 12, tz=ny), 24, "working_hours", day, ny) == at(2026, 3, 8, 13, tz=ny)
    # A period that the spring change cuts into counts its real length: 01:00-04:00 is 2 h.
    night = WorkCalendar.model_validate({"working_hours": [["01:00", "04:00"]], "weekend": []})
    assert working_elapsed(night, ny, at(2026, 3, 8, tz=ny), at(2026, 3, 9, tz=ny)) == timedelta(
        hours=2
    )
    # A period that lies inside the skipped hour counts nothing and breaks nothing.
    gap = WorkCalendar.model_validate(
        {"working_hours": [["02:10", "02:50"], ["03:00", "04:00"]], "weekend": []}
    )
    assert working_elapsed(gap, ny, at(2026, 3, 8, tz=ny), at(2026, 3, 9, tz=ny)) == timedelta(
        hours=1
    )
    assert due(at(2026, 3, 8, tz=ny), 1, "working_hours", gap, ny) == at(2026, 3, 8, 4, tz=ny)


# --- elapsed working time and traffic lights ----------------------------------------------


def test_working_elapsed() -> None:
    fri, mon = at(2026, 3, 6, 16), at(2026, 3, 9, 11)
    assert working_elapsed(CAL, CN, fri, mon) == timedelta(hours=4)
    assert working_elapsed(CAL, CN, mon, fri) == -timedelta(hours=4)
    assert working_elapsed(CAL, CN, fri, fri) == timedelta()
    # A whole ordinary week is five standard days.
    assert working_elapsed(CAL, CN, at(2026, 3, 9), at(2026, 3, 16)) == timedelta(hours=37.5)
    # The week of 国庆 with its make-up Saturday: Oct 8, 9 and 10.
    assert working_elapsed(CAL, CN, at(2026, 10, 1), at(2026, 10, 11)) == timedelta(hours=22.5)


def test_fraction_used_for_traffic_lights() -> None:
    start = at(2026, 3, 10, 16)  # Tuesday
    limit = lim(4, "working_hours")
    end = deadline(CAL, CN, start, limit)
    assert end == at(2026, 3, 11, 11)

    def used(now: datetime) -> float:
        return fraction_used(CAL, CN, start, end, now, limit.unit)

    assert used(at(2026, 3, 10, 12)) == 0.0  # before the start
    assert used(start) == 0.0
    assert used(at(2026, 3, 10, 17)) == 0.25
    assert used(at(2026, 3, 10, 23)) == 0.375  # the night does not count
    assert used(at(2026, 3, 11, 8)) == 0.375
    assert used(end) == 1.0
    assert used(at(2026, 3, 11, 12)) == 1.25  # overdue
    assert used(at(2026, 3, 11, 13)) == 1.25  # ...and lunch does not make it worse

    fire_start = at(2026, 10, 1, 23)
    fire_end = deadline(CAL, CN, fire_start, lim(2, "hours"))
    assert fraction_used(CAL, CN, fire_start, fire_end, at(2026, 10, 2, 0), "hours") == 0.5
    assert fraction_used(CAL, CN, fire_start, fire_end, at(2026, 10, 2, 2), "minutes") == 1.5
    # A degenerate limit (deadline at the start) is used up at the deadline.
    assert fraction_used(CAL, CN, end, end, end - timedelta(seconds=1), "hours") == 0.0
    assert fraction_used(CAL, CN, end, end, end, "hours") == 1.0


# --- properties ---------------------------------------------------------------------------

ZONES = st.sampled_from([CN, "Europe/Berlin", "America/New_York"])
STARTS = st.datetimes(
    min_value=datetime(2025, 12, 1), max_value=datetime(2027, 1, 31), timezones=st.just(UTC)
)
LIMITS = st.one_of(
    st.builds(lim, st.floats(min_value=0.001, max_value=300), st.just("working_hours")),
    st.builds(lim, st.floats(min_value=0.001, max_value=40), st.just("working_days")),
)
CALENDARS = st.sampled_from(
    [
        CAL,
        ROUND_THE_CLOCK,
        WorkCalendar.model_validate(
            {
                "working_hours": [["00:00", "01:30"], ["02:30", "03:30"], ["23:00", "24:00"]],
                "weekend": [7],
                "holidays": ["2026-03-08", "2026-11-01"],
            }
        ),
    ]
)


@settings(deadline=None, max_examples=300)
@given(start=STARTS, limit=LIMITS, tz=ZONES, cal=CALENDARS)
def test_working_elapsed_inverts_deadline(
    start: datetime, limit: TimeLimit, tz: str, cal: WorkCalendar
) -> None:
    end = deadline(cal, tz, start, limit)
    assert end > start
    assert working_elapsed(cal, tz, start, end) == limit_duration(cal, limit)
    assert fraction_used(cal, tz, start, end, end, limit.unit) == 1.0


@settings(deadline=None)
@given(start=STARTS, a=LIMITS, b=LIMITS, tz=ZONES)
def test_deadline_is_monotonic_in_the_amount(
    start: datetime, a: TimeLimit, b: TimeLimit, tz: str
) -> None:
    small, large = sorted((a, b), key=lambda x: limit_duration(CAL, x))
    assert deadline(CAL, tz, start, small) <= deadline(CAL, tz, start, large)
    # The deadline is inside working time: its local wall time ends or lies in a period.
    local = deadline(CAL, tz, start, large).astimezone(ZoneInfo(tz))
    assert CAL.is_working_day(local.date())
    hhmm = local.strftime("%H:%M:%S.%f")
    assert "08:30" < hhmm <= "12:00:00.000000" or "13:30" < hhmm <= "17:30:00.000000"
