"""The working calendar and time limits in the site file (hub/config/calendar.py)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from hub.config import Site, TimeLimit, WorkCalendar, default_calendar, parse_site
from hub.errors import SiteFileError

GOOD = Site.for_cameras([], name="测试区").to_yaml()
"""A valid site file with no cameras: the calendar sections are appended to it."""


def _days(first: str, last: str) -> set[date]:
    d, end, out = date.fromisoformat(first), date.fromisoformat(last), set()
    while d <= end:
        out.add(d)
        d += timedelta(days=1)
    return out


def test_shipped_calendar_has_china_2026() -> None:
    cal = default_calendar()
    assert cal.working_hours == (("08:30", "12:00"), ("13:30", "17:30"))
    assert cal.day_length() == timedelta(hours=7, minutes=30)
    assert cal.weekend == (6, 7)
    holidays = set(cal.holidays)
    for first, last in [
        ("2026-01-01", "2026-01-03"),  # 元旦
        ("2026-02-15", "2026-02-23"),  # 春节
        ("2026-04-04", "2026-04-06"),  # 清明
        ("2026-05-01", "2026-05-05"),  # 劳动节
        ("2026-06-19", "2026-06-21"),  # 端午
        ("2026-09-25", "2026-09-27"),  # 中秋
        ("2026-10-01", "2026-10-07"),  # 国庆
    ]:
        assert _days(first, last) <= holidays
    assert len(holidays) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    make_up = {"2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"}
    assert {d.isoformat() for d in cal.workdays} == make_up
    assert all(d.isoweekday() in (6, 7) for d in cal.workdays)  # 调休 falls on weekends
    assert cal.known_years() == {2026}
    assert default_calendar() is cal


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2026-09-16", True),  # a plain Wednesday
        ("2026-09-19", False),  # a plain Saturday
        ("2026-09-20", True),  # Sunday, make-up day before 国庆
        ("2026-10-01", False),  # Thursday, 国庆
        ("2026-10-10", True),  # Saturday, make-up day after 国庆
        ("2026-10-11", False),  # Sunday
        ("2026-02-23", False),  # Monday, last day of 春节
        ("2026-02-14", True),  # Saturday before 春节
        ("2027-10-01", True),  # a year the calendar does not know: weekdays only
    ],
)
def test_is_working_day(day: str, working: bool) -> None:
    assert default_calendar().is_working_day(date.fromisoformat(day)) is working


def test_calendar_is_hashable_and_frozen() -> None:
    cal = WorkCalendar(holidays=[date(2026, 10, 1)])  # type: ignore[arg-type]
    assert hash(cal) == hash(WorkCalendar(holidays=(date(2026, 10, 1),)))
    with pytest.raises(ValidationError):
        cal.weekend = (7,)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ([["12:00", "08:30"]], "must start before it ends"),
        ([["08:30", "08:30"]], "must start before it ends"),
        ([["08:30", "12:00"], ["11:00", "17:30"]], "overlaps"),
        ([["13:30", "17:30"], ["08:30", "12:00"]], "overlaps or comes before"),
        ([["8:30", "12:00"]], "not a time of day"),
        ([["08:30", "24:30"]], "not a time of day"),
        ([["08:60", "12:00"]], "not a time of day"),
        ([["08:30", 720]], 'quote the time, "12:00"'),
        ([], "at least 1"),
    ],
)
def test_bad_working_hours_are_rejected(hours: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WorkCalendar.model_validate({"working_hours": hours})


def test_periods_may_touch_and_run_to_midnight() -> None:
    cal = WorkCalendar.model_validate(
        {"working_hours": [["00:00", "08:00"], ["08:00", "24:00"]], "weekend": []}
    )
    assert cal.day_length() == timedelta(hours=24)


@pytest.mark.parametrize(
    ("weekend", "message"),
    [([0], "not an ISO weekday"), ([8], "not an ISO weekday"), ([6, 6], "unique"),
     ([1, 2, 3, 4, 5, 6, 7], "no working days")],
)  # fmt: skip
def test_bad_weekend_is_rejected(weekend: list[int], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WorkCalendar.model_validate({"weekend": weekend})


def test_a_date_is_a_holiday_or_a_workday_not_both() -> None:
    with pytest.raises(ValidationError, match="2026-10-10: a date is either"):
        WorkCalendar.model_validate(
            {"holidays": ["2026-10-01", "2026-10-10"], "workdays": ["2026-10-10"]}
        )


def test_unknown_calendar_key_is_rejected() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        WorkCalendar.model_validate({"weekends": [6, 7]})


def test_time_limit_forms() -> None:
    assert TimeLimit.model_validate("4 working_hours") == TimeLimit(amount=4, unit="working_hours")
    assert TimeLimit.model_validate(" 0.5 working_days ").amount == 0.5
    short = TimeLimit.model_validate("15 minutes")
    assert not short.working
    assert str(short) == "15 minutes"
    assert TimeLimit(amount=2, unit="working_days").working
    for bad in ("4", "four hours", "4 fortnights", "-1 hours", "0 minutes"):
        with pytest.raises(ValidationError):
            TimeLimit.model_validate(bad)
    for amount in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValidationError):
            TimeLimit(amount=amount, unit="hours")
    with pytest.raises(ValidationError, match="Extra inputs"):
        TimeLimit.model_validate({"amount": 1, "unit": "hours", "per": "case"})


# --- in the site file ---------------------------------------------------------------------

CALENDAR = """calendar:
  working_hours: [["09:00", "12:00"], ["14:00", "18:00"]]
  holidays: [2026-10-01, 2027-01-01]
  workdays: [2026-10-10]
"""


def test_site_without_calendar_uses_the_shipped_one() -> None:
    site = parse_site(GOOD)
    assert site.calendar is None
    assert site.work_calendar() is default_calendar()


def test_site_calendar_replaces_the_shipped_one() -> None:
    site = parse_site(GOOD + CALENDAR)
    cal = site.work_calendar()
    assert cal is site.calendar
    assert cal.day_length() == timedelta(hours=7)
    assert cal.known_years() == {2026, 2027}
    assert not cal.is_working_day(date(2027, 1, 1))
    assert cal.is_working_day(date(2026, 10, 2))  # not listed here: the site's list is the list
    assert parse_site(site.to_yaml()) == site


def _error_line(text: str, needle: str) -> int:
    return text.splitlines().index(needle) + 1


def test_calendar_errors_name_their_line() -> None:
    bad = GOOD + CALENDAR.replace("  workdays:", "  weekdays: [1]\n  workdays:")
    with pytest.raises(SiteFileError) as exc:
        parse_site(bad, "x.yaml")
    assert f"x.yaml:{_error_line(bad, '  weekdays: [1]')}: calendar.weekdays" in str(exc.value)

    bad = GOOD + CALENDAR.replace("[2026-10-10]", "[2026-10-10, 2027-01-01]")
    with pytest.raises(SiteFileError, match="2027-01-01: a date is either") as exc:
        parse_site(bad, "x.yaml")
    assert f"x.yaml:{_error_line(bad, '  workdays: [2026-10-10, 2027-01-01]')}:" in str(exc.value)

    bad = GOOD + CALENDAR.replace('"12:00"]', "12:00]")
    with pytest.raises(SiteFileError, match="quote the time") as exc:
        parse_site(bad, "x.yaml")
    assert f"x.yaml:{_error_line(bad, bad.splitlines()[-3])}:" in str(exc.value)


def test_site_model_has_calendar_default_none() -> None:
    assert Site.model_fields["calendar"].default is None
