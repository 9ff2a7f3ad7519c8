"""How many seats are left: per session and arrival window, for one office or across offices.

Availability reads plans and counters, never the bookings themselves, so an office with years of
bookings answers as fast as a new one. Seats that have lapsed but not yet been swept (an expired
hold, a due reserve, a cooled cancellation) are counted as free, as the next booking will sweep
them before it takes a seat.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session, joinedload

from booking.models import (
    ArrivalWindow, Booking, BookingStatus, Channel, ChannelReserve, Hold, Office, OfficeSession, SessionReserve,
)
from booking.policy import BookingPolicy
from booking.schedule import PlannedSession, plan_days
from booking.seats import reserve_release, window_bounds, window_capacity


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
    windows: list[_WindowCount] = field(default_factory=list)
    reserves: list[tuple[Channel, int]] = field(default_factory=list)  # (channel, seats left) still standing


def _planned_counters(office: Office, planned: PlannedSession, reserves: list[ChannelReserve],
                      now: datetime) -> _Counters:
    bounds = window_bounds(planned.start_time, planned.end_time, office.window_minutes)
    per_window = window_capacity(planned.capacity, len(bounds), office.crowd_limit)
    tz = ZoneInfo(office.timezone)
    starts, ends = planned.starts_at(tz), planned.ends_at(tz)
    left, standing = planned.capacity, []
    for reserve in reserves:
        seats = min(reserve.seats, left)
        if reserve.session_code == planned.code and seats > 0 \
                and reserve_release(reserve.channel, reserve.release_minutes_before, starts, ends) > now:
            standing.append((reserve.channel, seats))
            left -= seats
    return _Counters(planned.capacity, windows=[_WindowCount(i, s, e, per_window, 0) for i, (s, e) in enumerate(bounds)],
                     reserves=standing)


def _load_counters(session: Session, office_ids: list[int], start: date, end: date, now: datetime,
                   policy: BookingPolicy) -> dict[tuple[int, date, str], _Counters]:
    # One statement for the sessions and their windows, read as plain columns (no ORM rows).
    rows = session.execute(
        select(OfficeSession.id, OfficeSession.office_id, OfficeSession.date, OfficeSession.code,
               OfficeSession.capacity, OfficeSession.booked, OfficeSession.held, OfficeSession.cooling,
               OfficeSession.reserve_left, OfficeSession.closed,
               ArrivalWindow.id, ArrivalWindow.position, ArrivalWindow.start_time, ArrivalWindow.end_time,
               ArrivalWindow.capacity, ArrivalWindow.booked + ArrivalWindow.held + ArrivalWindow.cooling)
        .outerjoin(ArrivalWindow, ArrivalWindow.session_id == OfficeSession.id)
        .where(OfficeSession.office_id.in_(office_ids), OfficeSession.date.between(start, end))
        .order_by(OfficeSession.id, ArrivalWindow.position))
    counters: dict[int, _Counters] = {}
    keys: dict[int, tuple[int, date, str]] = {}
    windows: dict[int, _WindowCount] = {}
    reserving, lapsing = [], []
    for (sid, office_id, day, code, capacity, booked, held, cooling, reserve_left, closed,
         wid, position, w_start, w_end, w_capacity, w_taken) in rows:
        c = counters.get(sid)
        if c is None:
            c = counters[sid] = _Counters(capacity, booked, held, cooling, closed, [], [])
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


def _room(office: Office, planned: PlannedSession, c: _Counters, *, channel: Channel, now: datetime) -> SessionRoom:
    tz = ZoneInfo(office.timezone)
    local = now.astimezone(tz)
    reserved = sum(seats for _, seats in c.reserves)
    own = sum(seats for ch, seats in c.reserves if ch == channel)
    windows = tuple(WindowRoom(w.position, w.start, w.end, w.capacity, w.taken) for w in c.windows)
    open_windows = sum(w.remaining for w in windows)
    pool = c.capacity - c.booked - c.held - c.cooling - reserved + own
    bookable = (office.active and not c.closed
                and planned.date <= local.date() + timedelta(days=office.horizon_days)
                and now < planned.starts_at(tz) - timedelta(minutes=office.cutoff_minutes))
    return SessionRoom(
        office_id=office.id, date=planned.date, code=planned.code, start=planned.start_time, end=planned.end_time,
        capacity=c.capacity, booked=c.booked, held=c.held, cooling=c.cooling, reserved=reserved,
        remaining=max(0, min(pool, open_windows)) if bookable else 0, windows=windows, bookable=bookable,
        seats=effective_capacity(capacity=c.capacity, window_capacities=(w.capacity for w in windows),
                                 kept_for_others=reserved - own),
    )


def availability(session: Session, offices: list[Office], start: date, end: date, *, now: datetime,
                 policy: BookingPolicy, channel: Channel = Channel.IVR) -> dict[int, list[DayRoom]]:
    """Each office's days from `start` to `end`: closures, sessions, seats and windows left."""
    plans = plan_days(session, offices, start, end)
    ids = [office.id for office in offices]
    counters = _load_counters(session, ids, start, end, now, policy)
    reserve_config: dict[int, list[ChannelReserve]] = defaultdict(list)
    for reserve in session.scalars(select(ChannelReserve).where(ChannelReserve.office_id.in_(ids), ChannelReserve.seats > 0)
                                   .order_by(ChannelReserve.id)):
        reserve_config[reserve.office_id].append(reserve)
    result: dict[int, list[DayRoom]] = {}
    for office in offices:
        days = []
        for day in plans[office.id]:
            rooms = []
            for planned in day.sessions:
                c = counters.get((office.id, planned.date, planned.code)) \
                    or _planned_counters(office, planned, reserve_config[office.id], now)
                rooms.append(_room(office, planned, c, channel=channel, now=now))
            days.append(DayRoom(office.id, day.date, day.closed_reason, tuple(rooms)))
        result[office.id] = days
    return result


def office_availability(session: Session, office: Office, start: date, end: date, *, now: datetime,
                        policy: BookingPolicy, channel: Channel = Channel.IVR) -> list[DayRoom]:
    return availability(session, [office], start, end, now=now, policy=policy, channel=channel)[office.id]


def next_sessions_with_room(session: Session, *, now: datetime, policy: BookingPolicy, limit: int = 3,
                            channel: Channel = Channel.IVR, office_ids: list[int] | None = None,
                            min_seats: int = 1) -> list[SessionRoom]:
    """The `limit` soonest bookable sessions with room, across the given offices (default: all active)."""
    rooms = _bookable_sessions(session, now=now, policy=policy, channel=channel, office_ids=office_ids)
    return [room for room in rooms if room.remaining >= min_seats][:limit]


def soonest_full_session(session: Session, *, now: datetime, policy: BookingPolicy, office_id: int,
                         channel: Channel = Channel.IVR) -> SessionRoom | None:
    """The office's soonest bookable session that has seats but none left for `channel`: one to wait for."""
    rooms = _bookable_sessions(session, now=now, policy=policy, channel=channel, office_ids=[office_id])
    return next((room for room in rooms if room.remaining == 0 and room.seats > 0), None)


def _bookable_sessions(session: Session, *, now: datetime, policy: BookingPolicy, channel: Channel,
                       office_ids: list[int] | None) -> list[SessionRoom]:
    """Every bookable session within the horizon of the given offices (default: all active), soonest first."""
    # One statement: the offices joined with their week's sessions.
    query = select(Office).where(Office.active.is_(True)).options(joinedload(Office.templates))
    if office_ids is not None:
        query = query.where(Office.id.in_(office_ids))
    offices = list(session.scalars(query).unique())
    if not offices:
        return []
    today = min(now.astimezone(ZoneInfo(o.timezone)).date() for o in offices)
    horizon = max(o.horizon_days for o in offices)
    by_id = {o.id: o for o in offices}
    rooms = [room for days in availability(session, offices, today, today + timedelta(days=horizon + 1), now=now,
                                           policy=policy, channel=channel).values()
             for day in days for room in day.sessions if room.bookable]
    rooms.sort(key=lambda r: (r.starts_at(ZoneInfo(by_id[r.office_id].timezone)), r.office_id))
    return rooms
