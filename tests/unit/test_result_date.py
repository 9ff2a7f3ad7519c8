"""The day a dossier's result comes back: N working days by the province calendar (no database)."""

from __future__ import annotations

from datetime import date

import pytest

from booking.calendar import ProvinceCalendar, add_working_days
from booking.models import CalendarDay, CalendarDayKind


def _calendar(*overrides: CalendarDay) -> ProvinceCalendar:
    return ProvinceCalendar({row.date: row for row in overrides})


def _day_off(day: date) -> CalendarDay:
    return CalendarDay(date=day, kind=CalendarDayKind.DAY_OFF, works_as_weekday=None, note="Nghỉ bù")


def _make_up(day: date, weekday: int) -> CalendarDay:
    return CalendarDay(date=day, kind=CalendarDayKind.WORKING_DAY, works_as_weekday=weekday, note="Làm bù")


def test_no_working_days_is_the_same_day() -> None:
    assert add_working_days(_calendar(), date(2027, 3, 10), 0) == date(2027, 3, 10)


def test_an_ordinary_week_skips_the_weekend() -> None:
    assert add_working_days(_calendar(), date(2027, 3, 10), 3) == date(2027, 3, 15)  # Wed + 3 = Mon
    assert add_working_days(_calendar(), date(2027, 3, 12), 1) == date(2027, 3, 15)  # Fri + 1 = Mon


def test_tet_2027_is_skipped_whole() -> None:
    # Tết Đinh Mùi: 29 Tết (Thu 4/2) to mùng năm (Wed 10/2) are off.
    assert add_working_days(_calendar(), date(2027, 2, 3), 1) == date(2027, 2, 11)
    assert add_working_days(_calendar(), date(2027, 2, 3), 2) == date(2027, 2, 12)


def test_a_province_day_off_after_tet_is_skipped_too() -> None:
    assert add_working_days(_calendar(_day_off(date(2027, 2, 11))), date(2027, 2, 3), 2) == date(2027, 2, 15)


def test_a_make_up_saturday_counts_as_a_working_day() -> None:
    # 2026: Monday 31/8 is off before Quốc khánh, worked on Saturday 22/8 instead.
    assert add_working_days(_calendar(), date(2026, 8, 21), 1) == date(2026, 8, 24)
    assert add_working_days(_calendar(_make_up(date(2026, 8, 22), 0)), date(2026, 8, 21), 1) == date(2026, 8, 22)


def test_30_april_and_1_may_with_the_day_in_lieu() -> None:
    # 2027: Fri 30/4, Sat 1/5 and Monday 3/5 in lieu of the Saturday.
    assert add_working_days(_calendar(), date(2027, 4, 29), 1) == date(2027, 5, 4)
    assert add_working_days(_calendar(), date(2027, 4, 29), 2) == date(2027, 5, 5)


def test_2_september() -> None:
    # 2026: Mon 31/8 (for Saturday 22/8), Tue 1/9 and Wed 2/9 off.
    assert add_working_days(_calendar(), date(2026, 8, 28), 1) == date(2026, 9, 3)
    # 2027: Thu 2/9 and Fri 3/9 off.
    assert add_working_days(_calendar(), date(2027, 9, 1), 1) == date(2027, 9, 6)


def test_negative_days_are_refused() -> None:
    with pytest.raises(ValueError):
        add_working_days(_calendar(), date(2027, 3, 10), -1)
