"""Which coming years the working calendar does not know (hub/config/calendar.py
``coverage_gap``), and the hub saying so at start (hub/app.py ``_check_calendar``)."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from prometheus_client import REGISTRY

from hub.app import _check_calendar
from hub.config import Site, WorkCalendar, default_calendar, parse_site
from hub.config.calendar import COVERAGE_HORIZON_DAYS, coverage_gap, coverage_warning


def _cal(*holidays: str, workdays: tuple[str, ...] = ()) -> WorkCalendar:
    return WorkCalendar.model_validate({"holidays": list(holidays), "workdays": list(workdays)})


def test_the_shipped_calendar_does_not_know_2027_at_the_end_of_november_2026() -> None:
    # Today 2026-11-30: 60 days on is 2027-01-29, past 元旦 and close to 春节.
    assert coverage_gap(default_calendar(), date(2026, 11, 30)) == [2027]


@pytest.mark.parametrize(
    ("today", "gap"),
    [
        (date(2026, 1, 1), []),
        (date(2026, 6, 1), []),
        (date(2026, 11, 1), []),  # 2026-12-31 is 60 days on: still 2026
        (date(2026, 11, 2), [2027]),  # 2027-01-01 is 60 days on
        (date(2027, 3, 1), [2027]),
    ],
)
def test_the_window_is_today_to_sixty_days_on(today: date, gap: list[int]) -> None:
    assert COVERAGE_HORIZON_DAYS == 60
    assert coverage_gap(default_calendar(), today) == gap


def test_a_year_counts_as_known_by_its_holidays_or_its_make_up_days() -> None:
    today = date(2026, 12, 15)
    assert coverage_gap(_cal("2026-10-01"), today) == [2027]
    assert coverage_gap(_cal("2026-10-01", "2027-01-01"), today) == []
    assert coverage_gap(_cal("2026-10-01", workdays=("2027-02-07",)), today) == []


def test_a_long_horizon_lists_every_unknown_year_in_order() -> None:
    cal = _cal("2027-01-01")
    assert coverage_gap(cal, date(2026, 12, 1), horizon_days=400) == [2026, 2028]
    assert coverage_gap(cal, date(2026, 12, 1), horizon_days=0) == [2026]


def test_a_calendar_without_holidays_knows_no_year() -> None:
    assert coverage_gap(WorkCalendar(), date(2026, 11, 30)) == [2026, 2027]


def test_a_negative_horizon_is_refused() -> None:
    with pytest.raises(ValueError, match="horizon_days"):
        coverage_gap(default_calendar(), date(2026, 11, 30), horizon_days=-1)


def test_the_warning_tells_the_admin_what_to_add_and_where() -> None:
    text = coverage_warning([2027])
    assert "2027" in text
    assert "`calendar:`" in text
    assert "docs/operations.md" in text
    assert "元旦" in text and "调休" in text


def _site_with(cal: WorkCalendar) -> Site:
    base = Site.for_cameras([], name="测试区").to_yaml()
    holidays = ", ".join(d.isoformat() for d in cal.holidays)
    site = parse_site(base + f"\ncalendar:\n  holidays: [{holidays}]\n")
    assert site.work_calendar().holidays == cal.holidays
    return site


def _gauge() -> float | None:
    return REGISTRY.get_sample_value("hub_calendar_unknown_years")


def test_the_hub_warns_at_start_and_exports_the_gap(caplog: pytest.LogCaptureFixture) -> None:
    # Independent of the machine's date: holidays only in a year long past.
    site = _site_with(_cal("1999-10-01"))
    with caplog.at_level(logging.WARNING, logger="hub.app"):
        _check_calendar(site, "Asia/Shanghai")
    warnings = [r for r in caplog.records if "working calendar" in r.getMessage()]
    assert len(warnings) == 1
    this_year = date.today().year
    assert str(this_year) in warnings[0].getMessage()
    assert "`calendar:`" in warnings[0].getMessage()
    assert _gauge() is not None and _gauge() >= 1


def test_the_hub_is_quiet_when_the_calendar_knows_the_coming_weeks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    today = date.today()
    site = _site_with(_cal(f"{today.year}-10-01", f"{today.year + 1}-10-01"))
    with caplog.at_level(logging.WARNING, logger="hub.app"):
        _check_calendar(site, "Asia/Shanghai")
    assert not [r for r in caplog.records if "working calendar" in r.getMessage()]
    assert _gauge() == 0
