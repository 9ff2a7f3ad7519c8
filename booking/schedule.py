"""Which sessions an office holds on which dates, before anybody has booked into them.

The plan combines, in order: the province calendar (holidays, make-up days), the office's weekly
templates, per-date overrides, and closures. It reads a handful of small tables, never bookings.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from booking.calendar import ProvinceCalendar
from booking.models import Closure, Office, SessionOverride


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


def _dates(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def plan_days(session: Session, offices: list[Office], start: date, end: date,
              language: str = "vi") -> dict[int, list[PlannedDay]]:
    """The plan of every office in `offices` for each date from `start` to `end` inclusive."""
    if end < start or not offices:
        return {office.id: [] for office in offices}
    ids = [office.id for office in offices]
    calendar = ProvinceCalendar.load(session, start, end, language)
    overrides: dict[tuple[int, date], list[SessionOverride]] = defaultdict(list)
    for row in session.scalars(
        select(SessionOverride).where(SessionOverride.office_id.in_(ids), SessionOverride.date.between(start, end))
    ):
        overrides[(row.office_id, row.date)].append(row)
    closures = list(session.scalars(
        select(Closure).where(
            or_(Closure.office_id.in_(ids), Closure.office_id.is_(None)),
            Closure.start_date <= end, Closure.end_date >= start,
        ).order_by(Closure.start_date)
    ))
    plans: dict[int, list[PlannedDay]] = {}
    for office in offices:
        by_weekday: dict[int, list[PlannedSession]] = defaultdict(list)
        for template in office.templates:
            by_weekday[template.weekday].append(PlannedSession(
                office.id, date.min, template.code, template.start_time, template.end_time, template.capacity))
        office_closures = [c for c in closures if c.office_id in (None, office.id)]
        days = []
        for day in _dates(start, end):
            closure = next((c for c in office_closures if c.start_date <= day <= c.end_date), None)
            if closure is not None:
                days.append(PlannedDay(day, (), closure.reason))
                continue
            rule = calendar.rule(day)
            templates = [] if rule.template_weekday is None else by_weekday.get(rule.template_weekday, [])
            sessions = {t.code: PlannedSession(office.id, day, t.code, t.start_time, t.end_time, t.capacity)
                        for t in templates}
            for change in overrides.get((office.id, day), []):
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


def plan_session(session: Session, office: Office, day: date, code: str) -> PlannedSession | None:
    """The planned session `code` of `office` on `day`, or None when the office holds none."""
    (planned_day,) = plan_days(session, [office], day, day)[office.id]
    return next((s for s in planned_day.sessions if s.code == code), None)


def closed_reason(session: Session, office: Office, day: date) -> str | None:
    (planned_day,) = plan_days(session, [office], day, day)[office.id]
    return planned_day.closed_reason
