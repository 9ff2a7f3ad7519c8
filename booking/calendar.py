"""Which days are working days: Vietnam's public holidays plus the province's own corrections.

Tết and Hùng Kings' day follow the lunar calendar; the `holidays` package computes them. Bridge
days and make-up Saturdays are announced year by year, so `calendar_days` rows override it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.models import CalendarDay, CalendarDayKind


# The dates anyone may ask about: the holiday calendar's sane range, and bounded, so that no
# request can make the services plan or scan millennia.
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)


@lru_cache(maxsize=8)
def _national_holidays(year: int, language: str) -> dict[date, str]:
    lang = "vi" if language == "vi" else "en_US"
    return dict(holidays.country_holidays("VN", years=year, language=lang))


def national_holiday(day: date, language: str = "vi") -> str | None:
    """The holiday's name on `day` in `language`, or None on an ordinary day."""
    return _national_holidays(day.year, language).get(day)


@dataclass(frozen=True)
class DayRule:
    """What the calendar says about one date."""

    day_off: bool
    reason: str | None  # the holiday's or override's name when it is a day off
    template_weekday: int | None  # whose weekly sessions apply; None on a day off


class ProvinceCalendar:
    """The calendar for a range of dates, loaded once so that planning a range costs one query."""

    def __init__(self, overrides: dict[date, CalendarDay], language: str = "vi") -> None:
        self._overrides = overrides
        self._language = language

    @classmethod
    def load(cls, session: Session, start: date, end: date, language: str = "vi") -> ProvinceCalendar:
        rows = session.scalars(select(CalendarDay).where(CalendarDay.date.between(start, end)))
        return cls({row.date: row for row in rows}, language)

    def rule(self, day: date) -> DayRule:
        override = self._overrides.get(day)
        if override is not None:
            if override.kind is CalendarDayKind.DAY_OFF:
                return DayRule(True, override.note or None, None)
            weekday = override.works_as_weekday if override.works_as_weekday is not None else day.weekday()
            return DayRule(False, None, weekday)
        holiday = national_holiday(day, self._language)
        if holiday is not None:
            return DayRule(True, holiday, None)
        return DayRule(False, None, day.weekday())


WORKING_DAYS_AHEAD = 40  # far enough to pass Tết when looking for the next working day


@dataclass(frozen=True)
class Promise:
    """When operators will call back: before `by` (local time); `today` when operators are working now."""

    by: datetime
    today: bool


def _working(calendar: ProvinceCalendar, day: date) -> bool:
    weekday = calendar.rule(day).template_weekday
    return weekday is not None and weekday < 5


def operators_promise(session: Session, at: datetime, *, tz: ZoneInfo, opens: time, closes: time) -> Promise:
    """Whether operators are working at `at`, and so by when a call-back is promised.

    Working means a working day of the province calendar (Tết and bridge days are off, a make-up
    Saturday works as the weekday it stands in for) within the operators' hours: then before closing
    time that day; else by closing time on the next working day (the same day when asked before
    they open). The IVR says this promise and the console's call-back queue shows it: one rule.
    """
    local = at.astimezone(tz)
    calendar = ProvinceCalendar.load(session, local.date(), local.date() + timedelta(days=WORKING_DAYS_AHEAD))
    if _working(calendar, local.date()) and opens <= local.time() < closes:
        return Promise(datetime.combine(local.date(), closes, tzinfo=tz), today=True)
    day = local.date() if local.time() < opens else local.date() + timedelta(days=1)
    while not _working(calendar, day) and day < local.date() + timedelta(days=WORKING_DAYS_AHEAD):
        day += timedelta(days=1)
    return Promise(datetime.combine(day, closes, tzinfo=tz), today=False)


def _working_days_span(working_days: int) -> int:
    """Calendar days enough to hold `working_days` working days whatever the holidays: weekends, Tết and bridges."""
    return working_days * 7 // 5 + WORKING_DAYS_AHEAD


def add_working_days(calendar: ProvinceCalendar, start: date, working_days: int) -> date:
    """The day `working_days` working days after `start` (0: `start` itself), counted with `calendar`.

    A working day is one the province works as a weekday: national holidays and announced days off
    (bridge days) are skipped, a make-up Saturday counts, an ordinary weekend does not.
    """
    if working_days < 0:
        raise ValueError("working days are not negative")
    day, left = start, working_days
    while left:
        day += timedelta(days=1)
        if day > LATEST:
            return LATEST
        if _working(calendar, day):
            left -= 1
    return day


def result_date(session: Session, start_day: date, working_days: int | None) -> date | None:
    """When a dossier filed on `start_day` comes back: `working_days` working days later by the province
    calendar (0: the same day); None when the procedure states no processing time."""
    if working_days is None:
        return None
    end = min(start_day + timedelta(days=_working_days_span(working_days)), LATEST)
    return add_working_days(ProvinceCalendar.load(session, start_day, end), start_day, working_days)
