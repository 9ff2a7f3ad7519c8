"""How many seats are left: per session and arrival window, for one office or across offices.

Availability reads plans and counters, never the bookings themselves, so an office with years of
bookings answers as fast as a new one. Seats that have lapsed but not yet been swept (an expired
hold, a due reserve, a cooled cancellation) are counted as free, as the next booking will sweep
them before it takes a seat.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache, lru_cache
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Executable, Integer, String, and_, bindparam, func, literal, select, union_all
from sqlalchemy.orm import Session

from booking.models import (
    ArrivalWindow, Booking, BookingStatus, Channel, Hold, Office, OfficeSession, SessionReserve, SessionTemplate,
)
from booking.policy import BookingPolicy
from booking.schedule import PlanInputs, PlannedOffice, PlannedSession, StandingReserve, plan
from booking.seats import reserve_release, window_bounds, window_capacity


class OfficeRules(PlannedOffice, Protocol):
    """What availability reads of an office: an `Office`, or its columns read without the ORM (`_OfficeColumns`)."""

    @property
    def timezone(self) -> str: ...
    @property
    def active(self) -> bool: ...
    @property
    def horizon_days(self) -> int: ...
    @property
    def cutoff_minutes(self) -> int: ...
    @property
    def window_minutes(self) -> int: ...
    @property
    def crowd_limit(self) -> int: ...


class _TemplateColumns(NamedTuple):
    weekday: int
    code: str
    start_time: time
    end_time: time
    capacity: int


@dataclass(frozen=True)
class _OfficeColumns:
    id: int
    timezone: str
    active: bool
    horizon_days: int
    cutoff_minutes: int
    window_minutes: int
    crowd_limit: int
    templates: list[_TemplateColumns]


@dataclass(frozen=True)
class WindowRoom:
    position: int
    start: time
    end: time
    capacity: int
    taken: int

    @property
    def remaining(self) -> int:
        return max(0, self.capacity - self.taken)


@dataclass(frozen=True)
class SessionRoom:
    office_id: int
    date: date
    code: str
    start: time
    end: time
    capacity: int
    booked: int
    held: int
    cooling: int
    reserved: int  # seats kept for channels, not yet used nor released
    remaining: int  # what the asking channel may still book
    seats: int  # the effective capacity for the asking channel (`effective_capacity`); never below `remaining`
    windows: tuple[WindowRoom, ...]
    bookable: bool  # within the horizon, before the cut-off, not closed
    asker_booked: bool = False  # the number asked about (`booked_by`) already has a booking in it

    def starts_at(self, tz: ZoneInfo) -> datetime:
        return datetime.combine(self.date, self.start, tz)


@dataclass(frozen=True)
class DayRoom:
    office_id: int
    date: date
    closed_reason: str | None
    sessions: tuple[SessionRoom, ...]


@dataclass
class _WindowCount:
    position: int
    start: time
    end: time
    capacity: int
    taken: int


@dataclass
class _Counters:
    capacity: int
    booked: int = 0
    held: int = 0
    cooling: int = 0
    closed: bool = False
    windows: list[_WindowCount] = field(default_factory=list)  # a session row's windows, as counted
    planned_windows: tuple[WindowRoom, ...] | None = None  # a planned session's instead, none taken yet
    reserves: list[tuple[Channel, int]] = field(default_factory=list)  # (channel, seats left) still standing
    asker_booked: bool = False


@lru_cache(maxsize=256)
def _planned_windows(start: time, end: time, minutes: int, capacity: int, crowd_limit: int) -> tuple[WindowRoom, ...]:
    """A planned session's arrival windows, none taken yet. A pure function of the template's hours and the
    office's settings, kept by the process: every day a template holds asks for the same ones."""
    bounds = window_bounds(start, end, minutes)
    per_window = window_capacity(capacity, len(bounds), crowd_limit)
    return tuple(WindowRoom(i, s, e, per_window, 0) for i, (s, e) in enumerate(bounds))


def _planned_counters(office: OfficeRules, tz: ZoneInfo, planned: PlannedSession, reserves: list[StandingReserve],
                      now: datetime) -> _Counters:
    starts, ends = planned.starts_at(tz), planned.ends_at(tz)
    left, standing = planned.capacity, []
    for reserve in reserves:
        seats = min(reserve.seats, left)
        if reserve.session_code == planned.code and seats > 0 \
                and reserve_release(reserve.channel, reserve.release_minutes_before, starts, ends) > now:
            standing.append((reserve.channel, seats))
            left -= seats
    return _Counters(planned.capacity, reserves=standing, planned_windows=_planned_windows(
        planned.start_time, planned.end_time, office.window_minutes, planned.capacity, office.crowd_limit))


@cache
def _counters_statement(asker: bool) -> Executable:
    """One statement for the sessions and their windows, read as plain columns (no ORM rows), and with `asker`
    whether the number `booked_by` has a booking in each (a phone has at most one live booking per session);
    built once per process, as building it cost about as much as running it."""
    start, end = bindparam("start", type_=Date), bindparam("end", type_=Date)
    query = (select(OfficeSession.id, OfficeSession.office_id, OfficeSession.date, OfficeSession.code,
                    OfficeSession.capacity, OfficeSession.booked, OfficeSession.held, OfficeSession.cooling,
                    OfficeSession.reserve_left, OfficeSession.closed,
                    ArrivalWindow.id, ArrivalWindow.position, ArrivalWindow.start_time, ArrivalWindow.end_time,
                    ArrivalWindow.capacity, ArrivalWindow.booked + ArrivalWindow.held + ArrivalWindow.cooling,
                    (Booking.id.is_not(None) if asker else literal(False)).label("asker_booked"))
             .outerjoin(ArrivalWindow, ArrivalWindow.session_id == OfficeSession.id)
             .where(OfficeSession.office_id.in_(bindparam("office_ids", type_=Integer, expanding=True)),
                    OfficeSession.date.between(start, end))
             .order_by(OfficeSession.id, ArrivalWindow.position))
    if asker:
        query = query.outerjoin(Booking, and_(Booking.session_id == OfficeSession.id,
                                              Booking.phone == bindparam("booked_by", type_=String),
                                              Booking.status == BookingStatus.BOOKED))
    return query


def _load_counters(session: Session, office_ids: list[int], start: date, end: date, now: datetime,
                   policy: BookingPolicy, booked_by: str | None) -> dict[tuple[int, date, str], _Counters]:
    rows = session.execute(_counters_statement(booked_by is not None),
                           {"office_ids": office_ids, "start": start, "end": end}
                           | ({"booked_by": booked_by} if booked_by is not None else {}))
    counters: dict[int, _Counters] = {}
    keys: dict[int, tuple[int, date, str]] = {}
    windows: dict[int, _WindowCount] = {}
    reserving, lapsing = [], []
    for (sid, office_id, day, code, capacity, booked, held, cooling, reserve_left, closed,
         wid, position, w_start, w_end, w_capacity, w_taken, asker_booked) in rows:
        c = counters.get(sid)
        if c is None:
            c = counters[sid] = _Counters(capacity, booked, held, cooling, closed, asker_booked=bool(asker_booked))
            keys[sid] = (office_id, day, code)
            if reserve_left > 0:
                reserving.append(sid)
            if held > 0 or cooling > 0:
                lapsing.append(sid)
        if wid is not None:
            windows[wid] = entry = _WindowCount(position, w_start, w_end, w_capacity, w_taken)
            c.windows.append(entry)
    # The counters say which sessions can have a standing reserve or a lapsed seat: only those are asked about.
    if reserving:
        for session_id, reserve_channel, left in session.execute(
                select(SessionReserve.session_id, SessionReserve.channel, SessionReserve.seats - SessionReserve.used)
                .where(SessionReserve.session_id.in_(reserving), SessionReserve.released.is_(False),
                       SessionReserve.release_at > now, SessionReserve.seats > SessionReserve.used)
                .order_by(SessionReserve.id)):
            counters[session_id].reserves.append((reserve_channel, left))
    if lapsing:
        # Lapsed seats not yet swept are free to the next booker: expired holds and cooled cancellations, in one query.
        lapsed = union_all(
            select(literal("held"), Hold.session_id, Hold.window_id, func.count())
            .where(Hold.session_id.in_(lapsing), Hold.expires_at <= now).group_by(Hold.session_id, Hold.window_id),
            select(literal("cooling"), Booking.session_id, Booking.window_id, func.count()).where(
                Booking.session_id.in_(lapsing), Booking.status == BookingStatus.CANCELLED,
                Booking.seat_released_at.is_(None), Booking.cancelled_at <= now - policy.rebook_delay)
            .group_by(Booking.session_id, Booking.window_id),
        )
        for column, session_id, window_id, count in session.execute(lapsed):
            c = counters[session_id]
            setattr(c, column, getattr(c, column) - count)
            windows[window_id].taken -= count
    return {keys[sid]: c for sid, c in counters.items()}


def effective_capacity(*, capacity: int, window_capacities: Iterable[int], kept_for_others: int) -> int:
    """The seats a session can really give one channel, never negative.

    Its capacity less the seats other channels still keep, and no more than its arrival windows
    hold together (the crowd limit caps each window). Every page that says "x of y seats" shows
    this y, so the settings page, the grid and the public page cannot disagree; what is left for
    the channel (`SessionRoom.remaining`) never exceeds it.
    """
    return max(0, min(capacity - kept_for_others, sum(window_capacities)))


def _room(office: OfficeRules, tz: ZoneInfo, planned: PlannedSession, c: _Counters, *, channel: Channel,
          now: datetime, last_day: date) -> SessionRoom:
    reserved = sum(seats for _, seats in c.reserves)
    own = sum(seats for ch, seats in c.reserves if ch == channel)
    windows = c.planned_windows if c.planned_windows is not None \
        else tuple(WindowRoom(w.position, w.start, w.end, w.capacity, w.taken) for w in c.windows)
    open_windows = sum(w.remaining for w in windows)
    pool = c.capacity - c.booked - c.held - c.cooling - reserved + own
    bookable = (office.active and not c.closed and planned.date <= last_day
                and now < planned.starts_at(tz) - timedelta(minutes=office.cutoff_minutes))
    return SessionRoom(
        office_id=office.id, date=planned.date, code=planned.code, start=planned.start_time, end=planned.end_time,
        capacity=c.capacity, booked=c.booked, held=c.held, cooling=c.cooling, reserved=reserved,
        remaining=max(0, min(pool, open_windows)) if bookable else 0, windows=windows, bookable=bookable,
        seats=effective_capacity(capacity=c.capacity, window_capacities=(w.capacity for w in windows),
                                 kept_for_others=reserved - own),
        asker_booked=c.asker_booked,
    )


def availability(session: Session, offices: Sequence[OfficeRules], start: date, end: date, *, now: datetime,
                 policy: BookingPolicy, channel: Channel = Channel.IVR,
                 booked_by: str | None = None) -> dict[int, list[DayRoom]]:
    """Each office's days from `start` to `end`: closures, sessions, seats and windows left (and, given a
    number `booked_by`, the sessions it has a booking in, in the same statement as the counters)."""
    if end < start or not offices:
        return {office.id: [] for office in offices}
    ids = [office.id for office in offices]
    inputs = PlanInputs.load(session, ids, start, end, reserves=True)
    plans = plan(offices, inputs, start, end)
    counters = _load_counters(session, ids, start, end, now, policy, booked_by)
    result: dict[int, list[DayRoom]] = {}
    for office in offices:
        tz = ZoneInfo(office.timezone)
        last_day = now.astimezone(tz).date() + timedelta(days=office.horizon_days)  # the horizon
        reserves = inputs.reserves.get(office.id, [])
        days = []
        for day in plans[office.id]:
            rooms = []
            for planned in day.sessions:
                c = counters.get((office.id, planned.date, planned.code)) \
                    or _planned_counters(office, tz, planned, reserves, now)
                rooms.append(_room(office, tz, planned, c, channel=channel, now=now, last_day=last_day))
            days.append(DayRoom(office.id, day.date, day.closed_reason, tuple(rooms)))
        result[office.id] = days
    return result


def office_availability(session: Session, office: OfficeRules, start: date, end: date, *, now: datetime,
                        policy: BookingPolicy, channel: Channel = Channel.IVR) -> list[DayRoom]:
    return availability(session, [office], start, end, now=now, policy=policy, channel=channel)[office.id]


def next_sessions_with_room(session: Session, *, now: datetime, policy: BookingPolicy, limit: int = 3,
                            channel: Channel = Channel.IVR, office_ids: list[int] | None = None,
                            min_seats: int = 1, booked_by: str | None = None) -> list[SessionRoom]:
    """The `limit` soonest bookable sessions with room, across the given offices (default: all active).

    Given a number `booked_by`, each says whether that number already has a booking in it (`asker_booked`):
    they are still listed, so that the caller may tell "booked already" from "full".
    """
    rooms = _bookable_sessions(session, now=now, policy=policy, channel=channel, office_ids=office_ids,
                               booked_by=booked_by)
    return [room for room in rooms if room.remaining >= min_seats][:limit]


def soonest_full_session(session: Session, *, now: datetime, policy: BookingPolicy, office_id: int,
                         channel: Channel = Channel.IVR) -> SessionRoom | None:
    """The office's soonest bookable session that has seats but none left for `channel`: one to wait for."""
    rooms = _bookable_sessions(session, now=now, policy=policy, channel=channel, office_ids=[office_id],
                               booked_by=None)
    return next((room for room in rooms if room.remaining == 0 and room.seats > 0), None)


@cache
def _offices_statement(chosen: bool) -> Executable:
    """The active offices' rule columns (only the `office_ids` given when `chosen`) joined with their week's
    templates, as plain columns (no ORM rows), in one statement built once per process."""
    query = (select(Office.id, Office.timezone, Office.active, Office.horizon_days, Office.cutoff_minutes,
                    Office.window_minutes, Office.crowd_limit, SessionTemplate.weekday, SessionTemplate.code,
                    SessionTemplate.start_time, SessionTemplate.end_time, SessionTemplate.capacity)
             .outerjoin(SessionTemplate, SessionTemplate.office_id == Office.id).where(Office.active.is_(True))
             .order_by(Office.id, SessionTemplate.weekday, SessionTemplate.start_time))
    if chosen:
        query = query.where(Office.id.in_(bindparam("office_ids", type_=Integer, expanding=True)))
    return query


def _bookable_sessions(session: Session, *, now: datetime, policy: BookingPolicy, channel: Channel,
                       office_ids: list[int] | None, booked_by: str | None) -> list[SessionRoom]:
    """Every bookable session within the horizon of the given offices (default: all active), soonest first."""
    query = _offices_statement(office_ids is not None)
    by_id: dict[int, _OfficeColumns] = {}
    for office_id, tz_name, active, horizon_days, cutoff, window, crowd, *template in session.execute(
            query, {"office_ids": office_ids} if office_ids is not None else {}):
        office = by_id.get(office_id)
        if office is None:
            office = by_id[office_id] = _OfficeColumns(office_id, tz_name, active, horizon_days, cutoff, window,
                                                       crowd, [])
        if template[0] is not None:  # an office without templates still has its overrides' sessions
            office.templates.append(_TemplateColumns(*template))
    offices = list(by_id.values())
    if not offices:
        return []
    zones = {o.id: ZoneInfo(o.timezone) for o in offices}
    today = min(now.astimezone(zones[o.id]).date() for o in offices)
    horizon = max(o.horizon_days for o in offices)
    rooms = [room for days in availability(session, offices, today, today + timedelta(days=horizon + 1), now=now,
                                           policy=policy, channel=channel, booked_by=booked_by).values()
             for day in days for room in day.sessions if room.bookable]
    rooms.sort(key=lambda r: (r.starts_at(zones[r.office_id]), r.office_id))
    return rooms
