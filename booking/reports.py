"""Booking statistics for a period: counted by the database (GROUP BY), never by loading bookings.

Every figure is by appointment date (the day the person was to come), so that bookings,
cancellations, attendance and capacity of one day line up. "Bookings" counts every booking made
for the period, including those cancelled since; "seats booked" leaves the cancelled ones out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session, selectinload

from booking.calendar import EARLIEST, LATEST
from booking.errors import BookingError
from booking.i18n import N_
from booking.models import (Booking, BookingEvent, BookingStatus, Channel, Desk, Office, OfficeSession, WaitlistEntry,
                            WaitlistStatus)
from booking.schedule import plan_days

MAX_PERIOD_DAYS = 366  # one (leap) year: enough for any yearly report, small enough for one page
FIRST_YEAR, LAST_YEAR = EARLIEST.year, LATEST.year


class InvalidPeriod(BookingError):
    code = "invalid_period"
    message = N_("The period must end on or after the day it starts.")


class PeriodTooLong(InvalidPeriod):
    code = "period_too_long"
    message = N_("A report covers at most %(days)s days; choose a shorter period.")


class InvalidQuarter(InvalidPeriod):
    code = "invalid_quarter"
    message = N_("Give a year from %(first)s to %(last)s and a quarter from 1 to 4.")


def ratio(part: int, whole: int) -> float | None:
    """A share, or None when there is nothing to share (an empty period is not a 0 % rate)."""
    return part / whole if whole else None


@dataclass(frozen=True)
class Period:
    """Dates from `start` to `end`, both included."""

    start: date
    end: date

    @classmethod
    def checked(cls, start: date, end: date, *, max_days: int = MAX_PERIOD_DAYS) -> Period:
        if end < start:
            raise InvalidPeriod()
        if (end - start).days + 1 > max_days:
            raise PeriodTooLong(days=max_days)
        return cls(start, end)

    @classmethod
    def last_days(cls, today: date, days: int = 30) -> Period:
        return cls(today - timedelta(days=days - 1), today)

    @classmethod
    def quarter(cls, year: int, quarter: int) -> Period:
        if not (FIRST_YEAR <= year <= LAST_YEAR and 1 <= quarter <= 4):
            raise InvalidQuarter(first=FIRST_YEAR, last=LAST_YEAR)
        start = date(year, 3 * quarter - 2, 1)
        following = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
        return cls(start, following - timedelta(days=1))

    @property
    def length(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> Iterator[date]:
        return (self.start + timedelta(days=i) for i in range(self.length))

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The instants the period spans in `tz`: from its first midnight to the one after its last day."""
        return (datetime.combine(self.start, time.min, tz),
                datetime.combine(self.end + timedelta(days=1), time.min, tz))


@dataclass
class Figures:
    """Counts shared by a day, an office and the province; ratios are derived, never stored."""

    bookings: dict[Channel, int] = field(default_factory=dict)
    cancelled: int = 0
    capacity: int = 0

    @property
    def total(self) -> int:
        return sum(self.bookings.values())

    @property
    def seats_booked(self) -> int:
        return self.total - self.cancelled

    @property
    def utilisation(self) -> float | None:
        return ratio(self.seats_booked, self.capacity)


@dataclass
class DayLine(Figures):
    day: date = date.min


@dataclass
class OfficeLine(Figures):
    """One office's period, or the sum over several (office_id None)."""

    office_id: int | None = None
    code: str = ""
    name: str = ""
    name_en: str | None = None
    booked: int = 0
    checked_in: int = 0
    served: int = 0
    no_shows: int = 0
    # Attendance of days already over: the no-show rate must not count today's people as absent.
    past_attended: int = 0  # served or checked in
    past_no_shows: int = 0

    @property
    def no_show_rate(self) -> float | None:
        return ratio(self.past_no_shows, self.past_attended + self.past_no_shows)

    def add(self, other: OfficeLine) -> None:
        for channel, n in other.bookings.items():
            self.bookings[channel] = self.bookings.get(channel, 0) + n
        for name in ("cancelled", "capacity", "booked", "checked_in", "served", "no_shows", "past_attended",
                     "past_no_shows"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class BookingReport:
    period: Period
    today: date
    days: list[DayLine]
    offices: list[OfficeLine]
    total: OfficeLine

    @property
    def channels(self) -> list[Channel]:
        """The channels anybody booked through, in a fixed order, for chart series and columns."""
        return [c for c in Channel if self.total.bookings.get(c)]


def _count(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _in_scope(query: Any, column: Any, office_ids: Collection[int] | None) -> Any:
    return query if office_ids is None else query.where(column.in_(list(office_ids)))


def load_offices(session: Session, office_ids: Collection[int] | None) -> list[Office]:
    """The offices a report covers (None: every office), with their weekly plans, by code."""
    query = select(Office).options(selectinload(Office.templates)).order_by(Office.code)
    return list(session.scalars(_in_scope(query, Office.id, office_ids)))


def capacity_by_day(session: Session, offices: list[Office], period: Period) -> dict[tuple[int, date], int]:
    """Seats offered by each office on each date, counting only the sessions actually held.

    A session somebody booked into has a row whose capacity is what the office really offered
    (and which says whether it was closed); a session nobody booked has no row, so its capacity
    comes from the plan. Without the plan, quiet sessions would vanish and inflate utilisation.
    """
    ids = [o.id for o in offices]
    if not ids:
        return {}
    seats: dict[tuple[int, date, str], int] = {}
    rows = session.execute(select(OfficeSession.office_id, OfficeSession.date, OfficeSession.code,
                                  OfficeSession.capacity, OfficeSession.closed)
                           .where(OfficeSession.office_id.in_(ids),
                                  OfficeSession.date.between(period.start, period.end)))
    for office_id, day, code, capacity, closed in rows:
        seats[(office_id, day, code)] = 0 if closed else capacity
    # Inactive offices take no bookings: only the sessions they had already opened count.
    plans = plan_days(session, [o for o in offices if o.active], period.start, period.end)
    for office_id, days in plans.items():
        for planned_day in days:
            for planned in planned_day.sessions:
                seats.setdefault((office_id, planned.date, planned.code), planned.capacity)
    totals: dict[tuple[int, date], int] = defaultdict(int)
    for (office_id, day, _code), capacity in seats.items():
        totals[(office_id, day)] += capacity
    return totals


def _days(session: Session, office_ids: Collection[int] | None, period: Period,
          capacity: dict[tuple[int, date], int]) -> list[DayLine]:
    lines = {day: DayLine(day=day) for day in period.dates()}
    query = (select(Booking.date, Booking.channel, func.count(), _count(Booking.status == BookingStatus.CANCELLED))
             .where(Booking.date.between(period.start, period.end))
             .group_by(Booking.date, Booking.channel))
    for day, channel, n, cancelled in session.execute(_in_scope(query, Booking.office_id, office_ids)):
        lines[day].bookings[channel] = n
        lines[day].cancelled += cancelled
    for (_office_id, day), seats in capacity.items():
        lines[day].capacity += seats
    return list(lines.values())


def _offices(session: Session, offices: list[Office], period: Period, today: date,
             capacity: dict[tuple[int, date], int]) -> list[OfficeLine]:
    lines = {o.id: OfficeLine(office_id=o.id, code=o.code, name=o.name, name_en=o.name_en) for o in offices}
    if not lines:
        return []
    past = Booking.date < today
    status = Booking.status
    query = (select(Booking.office_id, Booking.channel, func.count(),
                    _count(status == BookingStatus.CANCELLED), _count(status == BookingStatus.BOOKED),
                    _count(status == BookingStatus.CHECKED_IN), _count(status == BookingStatus.SERVED),
                    _count(status == BookingStatus.NO_SHOW),
                    _count(past & status.in_([BookingStatus.SERVED, BookingStatus.CHECKED_IN])),
                    _count(past & (status == BookingStatus.NO_SHOW)))
             .where(Booking.date.between(period.start, period.end), Booking.office_id.in_(list(lines)))
             .group_by(Booking.office_id, Booking.channel))
    for office_id, channel, n, cancelled, booked, checked_in, served, no_shows, attended, absent in \
            session.execute(query):
        line = lines[office_id]
        line.bookings[channel] = n
        line.cancelled += cancelled
        line.booked += booked
        line.checked_in += checked_in
        line.served += served
        line.no_shows += no_shows
        line.past_attended += attended
        line.past_no_shows += absent
    for (office_id, _day), seats in capacity.items():
        lines[office_id].capacity += seats
    return list(lines.values())


def booking_report(session: Session, *, office_ids: Collection[int] | None, period: Period,
                   today: date) -> BookingReport:
    """The period's figures for the offices in `office_ids` (None: the whole province).

    `today` splits finished days (whose absentees are known) from the rest.
    """
    offices = load_offices(session, office_ids)
    capacity = capacity_by_day(session, offices, period)
    scope = None if office_ids is None else [o.id for o in offices]
    days = _days(session, scope, period, capacity)
    lines = _offices(session, offices, period, today, capacity)
    total = OfficeLine()
    for line in lines:
        total.add(line)
    return BookingReport(period=period, today=today, days=days, offices=lines, total=total)


def waitlist_outcomes(session: Session, *, office_ids: Collection[int] | None, start: date, end: date) -> dict[WaitlistStatus, int]:
    """How the waitlist entries for sessions from `start` to `end` stand (or ended), per status (the reports)."""
    query = select(WaitlistEntry.status, func.count()).where(WaitlistEntry.date.between(start, end)) \
        .group_by(WaitlistEntry.status)
    if office_ids is not None:
        query = query.where(WaitlistEntry.office_id.in_(list(office_ids)))
    found: dict[WaitlistStatus, int] = {row[0]: row[1] for row in session.execute(query)}
    return {status: found.get(status, 0) for status in WaitlistStatus}


# -- the office floor: desks, walk-ins ----------------------------------------------------------------

@dataclass(frozen=True)
class DeskLine:
    """One desk's period: people it served, and the seconds from their (last) call to being marked served."""

    office_id: int
    number: int
    name: str
    served: int
    mean_service: float | None
    p90_service: float | None  # nearest rank


@dataclass
class FloorLine:
    """The counters of one office's period, or of all the offices reported on."""

    served_at_desk: int = 0
    no_shows_at_desk: int = 0
    walk_ins: int = 0  # tickets issued and not cancelled
    walk_ins_served: int = 0
    waits: list[float] = field(default_factory=list, repr=False)  # seconds from check-in to the first call

    @property
    def mean_wait(self) -> float | None:
        return _mean(self.waits)


@dataclass(frozen=True)
class FloorReport:
    """The counters' period. Waits run from check-in to a desk's first call (the "called" history entry,
    as a recall overwrites `called_at`); service times from the last call to served. A desk deleted
    since loses its people from the per-desk figures (their desk becomes empty), not from the totals."""

    total: FloorLine
    offices: dict[int, FloorLine]
    desks: list[DeskLine]  # the desks that served anybody, by office and number


def _mean(spans: list[float]) -> float | None:
    return sum(spans) / len(spans) if spans else None


def _p90(spans: list[float]) -> float | None:
    if not spans:
        return None
    ordered = sorted(spans)
    return ordered[max(0, -(-9 * len(ordered) // 10) - 1)]  # nearest rank: ceil(0.9 n)


def floor_report(session: Session, *, office_ids: Collection[int] | None, period: Period) -> FloorReport:
    """The desks' and walk-ins' figures for appointments dated in `period` (three queries)."""
    in_period = Booking.date.between(period.start, period.end)
    status, walk_in, at_desk = Booking.status, Booking.channel == Channel.WALKIN, Booking.desk_id.is_not(None)
    total, offices = FloorLine(), defaultdict[int, FloorLine](FloorLine)
    counts = session.execute(_in_scope(select(
        Booking.office_id, _count(at_desk & (status == BookingStatus.SERVED)),
        _count(at_desk & (status == BookingStatus.NO_SHOW)),
        _count(walk_in & (status != BookingStatus.CANCELLED)), _count(walk_in & (status == BookingStatus.SERVED)))
        .where(in_period).group_by(Booking.office_id), Booking.office_id, office_ids))
    for office_id, *figures in counts:
        for line in (total, offices[office_id]):
            for name, n in zip(("served_at_desk", "no_shows_at_desk", "walk_ins", "walk_ins_served"), figures,
                               strict=True):
                setattr(line, name, getattr(line, name) + n)
    first_call = (select(BookingEvent.booking_id, func.min(BookingEvent.at).label("at"))
                  .where(BookingEvent.action == "called").group_by(BookingEvent.booking_id).subquery())
    rows = session.execute(_in_scope(
        select(Booking.office_id, Booking.desk_id, Booking.status, Booking.checked_in_at, Booking.called_at,
               Booking.served_at, first_call.c.at).join(first_call, first_call.c.booking_id == Booking.id)
        .where(in_period, at_desk), Booking.office_id, office_ids)).all()
    served: dict[int, int] = defaultdict(int)
    services: dict[int, list[float]] = defaultdict(list)
    for r in rows:
        if r.checked_in_at and r.at >= r.checked_in_at:
            wait = (r.at - r.checked_in_at).total_seconds()
            total.waits.append(wait)
            offices[r.office_id].waits.append(wait)
        if r.status is BookingStatus.SERVED:
            served[r.desk_id] += 1
            if r.called_at and r.served_at:
                services[r.desk_id].append((r.served_at - r.called_at).total_seconds())
    desk_query = select(Desk).order_by(Desk.office_id, Desk.number)
    lines = [DeskLine(d.office_id, d.number, d.name, served[d.id], _mean(services[d.id]), _p90(services[d.id]))
             for d in session.scalars(_in_scope(desk_query, Desk.office_id, office_ids)) if served[d.id]]
    return FloorReport(total, dict(offices), lines)
