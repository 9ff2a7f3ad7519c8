"""Which sessions an office holds on which dates, before anybody has booked into them.

The plan combines, in order: the province calendar (holidays, make-up days), the office's weekly
templates, per-date overrides, and closures. It reads a handful of small tables, never bookings,
in one statement of plain columns (`PlanInputs.load`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, CompoundSelect, Date, Integer, String, Time, bindparam, cast, literal, null, or_, select, union_all
from sqlalchemy.orm import Session

from booking.calendar import ProvinceCalendar
from booking.models import CalendarDay, CalendarDayKind, Channel, ChannelReserve, Closure, SessionOverride


class TemplateRules(Protocol):
    """What planning reads of a weekly session template (a `SessionTemplate`, or plain columns)."""

    @property
    def weekday(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def start_time(self) -> time: ...
    @property
    def end_time(self) -> time: ...
    @property
    def capacity(self) -> int: ...


class PlannedOffice(Protocol):
    """What planning reads of an office: an `Office`, or its columns read without the ORM."""

    @property
    def id(self) -> int: ...
    @property
    def templates(self) -> Sequence[TemplateRules]: ...


@dataclass(frozen=True)
class PlannedSession:
    office_id: int
    date: date
    code: str
    start_time: time
    end_time: time
    capacity: int

    def starts_at(self, tz: ZoneInfo) -> datetime:
        return datetime.combine(self.date, self.start_time, tz)

    def ends_at(self, tz: ZoneInfo) -> datetime:
        return datetime.combine(self.date, self.end_time, tz)


@dataclass(frozen=True)
class PlannedDay:
    """One office's day: its sessions, or why it is closed."""

    date: date
    sessions: tuple[PlannedSession, ...]
    closed_reason: str | None = None

    @property
    def open(self) -> bool:
        return self.closed_reason is None and bool(self.sessions)


@dataclass(frozen=True)
class _Override:
    code: str
    start_time: time | None
    end_time: time | None
    capacity: int | None
    cancelled: bool


@dataclass(frozen=True)
class _Closure:
    office_id: int | None  # None: every office
    start_date: date
    end_date: date
    reason: str


@dataclass(frozen=True)
class StandingReserve:
    """A channel reserve as an office configures it (`ChannelReserve`), read as plain columns."""

    office_id: int
    session_code: str
    channel: Channel
    seats: int
    release_minutes_before: int


# The columns every part of the plan's statement fills, typed alike so that one UNION ALL carries them all.
_SLOTS: dict[str, Any] = {"id": Integer, "office_id": Integer, "d0": Date, "d1": Date, "s0": String, "s1": String,
                          "t0": Time, "t1": Time, "n0": Integer, "n1": Integer, "flag": Boolean}


def _part(kind: str, **columns: Any) -> Any:
    """One part's SELECT list in the shared slots; the slots it does not use are typed NULLs (PostgreSQL
    resolves a UNION's column types pair by pair, and an untyped NULL would become text)."""
    return [literal(kind, String).label("kind"),
            *(columns[name].label(name) if name in columns else cast(null(), type_).label(name)
              for name, type_ in _SLOTS.items())]


@cache
def _inputs_statement(reserves: bool) -> CompoundSelect[Any]:
    """`PlanInputs.load`'s statement, built once per process (building it cost more than running it)."""
    ids = bindparam("office_ids", type_=Integer, expanding=True)
    start, end = bindparam("start", type_=Date), bindparam("end", type_=Date)
    parts = [
        select(*_part("override", id=SessionOverride.id, office_id=SessionOverride.office_id, d0=SessionOverride.date,
                      s0=SessionOverride.code, t0=SessionOverride.start_time, t1=SessionOverride.end_time,
                      n0=SessionOverride.capacity, flag=SessionOverride.cancelled))
        .where(SessionOverride.office_id.in_(ids), SessionOverride.date.between(start, end)),
        select(*_part("day", d0=CalendarDay.date, s0=CalendarDay.kind, s1=CalendarDay.note,
                      n0=CalendarDay.works_as_weekday))
        .where(CalendarDay.date.between(start, end)),
        select(*_part("closure", id=Closure.id, office_id=Closure.office_id, d0=Closure.start_date,
                      d1=Closure.end_date, s1=Closure.reason))
        .where(or_(Closure.office_id.in_(ids), Closure.office_id.is_(None)),
               Closure.start_date <= end, Closure.end_date >= start),
    ]
    if reserves:
        parts.append(
            select(*_part("reserve", id=ChannelReserve.id, office_id=ChannelReserve.office_id,
                          s0=ChannelReserve.session_code, s1=ChannelReserve.channel, n0=ChannelReserve.seats,
                          n1=ChannelReserve.release_minutes_before))
            .where(ChannelReserve.office_id.in_(ids), ChannelReserve.seats > 0))
    statement = union_all(*parts)
    return statement.order_by(statement.selected_columns.d0, statement.selected_columns.id)


@dataclass
class PlanInputs:
    """What planning reads besides the offices' templates, for some offices and dates."""

    calendar: ProvinceCalendar
    overrides: dict[tuple[int, date], list[_Override]] = field(default_factory=dict)
    closures: list[_Closure] = field(default_factory=list)  # by start date
    reserves: dict[int, list[StandingReserve]] = field(default_factory=dict)  # per office, when asked for

    @classmethod
    def load(cls, session: Session, office_ids: list[int], start: date, end: date, language: str = "vi", *,
             reserves: bool = False) -> PlanInputs:
        """The calendar days, overrides and closures (and, with `reserves`, the offices' channel reserves) in one
        statement of plain columns: one round trip, nothing loaded into the session."""
        days: dict[date, CalendarDay] = {}
        overrides: dict[tuple[int, date], list[_Override]] = defaultdict(list)
        closures: list[_Closure] = []
        standing: dict[int, list[StandingReserve]] = defaultdict(list)
        for kind, _id, office_id, d0, d1, s0, s1, t0, t1, n0, n1, flag in session.execute(
                _inputs_statement(reserves), {"office_ids": office_ids, "start": start, "end": end}):
            if kind == "override":
                overrides[(office_id, d0)].append(_Override(s0, t0, t1, n0, flag))
            elif kind == "day":  # a transient row, never added to the session: what the calendar reads
                days[d0] = CalendarDay(date=d0, kind=CalendarDayKind(s0), works_as_weekday=n0, note=s1)
            elif kind == "closure":
                closures.append(_Closure(office_id, d0, d1, s1))
            else:
                standing[office_id].append(StandingReserve(office_id, s0, Channel(s1), n0, n1))
        return cls(ProvinceCalendar(days, language), overrides, closures, standing)


def _dates(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def plan_days(session: Session, offices: Sequence[PlannedOffice], start: date, end: date,
              language: str = "vi") -> dict[int, list[PlannedDay]]:
    """The plan of every office in `offices` for each date from `start` to `end` inclusive."""
    if end < start or not offices:
        return {office.id: [] for office in offices}
    return plan(offices, PlanInputs.load(session, [office.id for office in offices], start, end, language),
                start, end)


def plan(offices: Sequence[PlannedOffice], inputs: PlanInputs, start: date, end: date) -> dict[int, list[PlannedDay]]:
    """`plan_days` from inputs already read (`PlanInputs.load` for the same offices and dates)."""
    plans: dict[int, list[PlannedDay]] = {}
    for office in offices:
        by_weekday: dict[int, list[TemplateRules]] = defaultdict(list)
        for template in office.templates:
            by_weekday[template.weekday].append(template)
        office_closures = [c for c in inputs.closures if c.office_id in (None, office.id)]
        days = []
        for day in _dates(start, end):
            closure = next((c for c in office_closures if c.start_date <= day <= c.end_date), None)
            if closure is not None:
                days.append(PlannedDay(day, (), closure.reason))
                continue
            rule = inputs.calendar.rule(day)
            templates = [] if rule.template_weekday is None else by_weekday.get(rule.template_weekday, [])
            sessions = {t.code: PlannedSession(office.id, day, t.code, t.start_time, t.end_time, t.capacity)
                        for t in templates}
            for change in inputs.overrides.get((office.id, day), []):
                base = sessions.get(change.code)
                if change.cancelled:
                    sessions.pop(change.code, None)
                    continue
                start_time = change.start_time or (base.start_time if base else None)
                end_time = change.end_time or (base.end_time if base else None)
                capacity = change.capacity if change.capacity is not None else (base.capacity if base else None)
                if start_time is None or end_time is None or capacity is None:
                    continue  # an added session needs its hours and capacity; incomplete rows add nothing
                sessions[change.code] = PlannedSession(office.id, day, change.code, start_time, end_time, capacity)
            ordered = tuple(sorted(sessions.values(), key=lambda s: s.start_time))
            reason = rule.reason if rule.day_off and not ordered else None
            days.append(PlannedDay(day, ordered, reason))
        plans[office.id] = days
    return plans


def plan_session(session: Session, office: PlannedOffice, day: date, code: str) -> PlannedSession | None:
    """The planned session `code` of `office` on `day`, or None when the office holds none."""
    (planned_day,) = plan_days(session, [office], day, day)[office.id]
    return next((s for s in planned_day.sessions if s.code == code), None)


def closed_reason(session: Session, office: PlannedOffice, day: date) -> str | None:
    (planned_day,) = plan_days(session, [office], day, day)[office.id]
    return planned_day.closed_reason
