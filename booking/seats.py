"""Seat counters: creating a session's row, taking and giving back seats, sweeping lapsed ones.

Every function here expects the caller to have locked the session row with `lock_session`
first. That single rule orders all writers of one session one behind the other on PostgreSQL
(SQLite already runs one writer at a time), so the counters, the windows and the reserves of a
session always change together. The UPDATEs are still conditional: if a caller ever forgot the
lock, the database would refuse the extra seat rather than overbook.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, CursorResult, and_, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from booking.errors import SessionFull, WindowFull
from booking.models import (
    ArrivalWindow, Booking, BookingStatus, Channel, ChannelReserve, Hold, Office, OfficeSession, SessionReserve,
)
from booking.schedule import PlannedSession
from database.base import Base


def _insert(session: Session, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def window_bounds(start: time, end: time, minutes: int) -> list[tuple[time, time]]:
    """Cut a session into arrival windows of `minutes`; the last one may be shorter."""
    day = date(2000, 1, 3)
    cursor, stop = datetime.combine(day, start), datetime.combine(day, end)
    step = timedelta(minutes=minutes)
    bounds = []
    while cursor < stop:
        bounds.append((cursor.time(), min(cursor + step, stop).time()))
        cursor += step
    return bounds


def window_capacity(session_capacity: int, windows: int, crowd_limit: int) -> int:
    """Spread the session's seats evenly over its windows, never above the crowd limit.

    Spreading tells people to come throughout the session instead of all at opening time; the
    crowd limit caps how many may be told to come in the same half hour.
    """
    if windows == 0:
        return 0
    return min(crowd_limit, math.ceil(session_capacity / windows))


def reserve_release(channel: Channel, minutes_before: int, starts: datetime, ends: datetime) -> datetime:
    """When a channel's unused reserve goes on sale to everyone.

    Seats kept for walk-ins are for people who come during the session, so they stand until it
    ends (`release_minutes_before` does not apply to them); other channels' reserves lapse the set
    minutes before it starts.
    """
    return ends if channel is Channel.WALKIN else starts - timedelta(minutes=minutes_before)


def ensure_session(session: Session, office: Office, planned: PlannedSession, *, now: datetime) -> int:
    """The id of the session row for `planned`, creating it with its windows and reserves.

    Two callers may create the same session at the same moment: INSERT … ON CONFLICT DO NOTHING
    lets exactly one of them win, and the other reads the winner's row once it is committed.
    """
    insert = _insert(session, OfficeSession)
    stmt = insert.values(
        office_id=office.id, date=planned.date, code=planned.code, start_time=planned.start_time,
        end_time=planned.end_time, capacity=planned.capacity, booked=0, held=0, cooling=0,
        reserve_left=0, next_queue=0, closed=False,
    ).on_conflict_do_nothing(index_elements=["office_id", "date", "code"]).returning(OfficeSession.id)
    new_id = session.execute(stmt).scalar_one_or_none()
    if new_id is None:
        return session.execute(
            select(OfficeSession.id).where(
                OfficeSession.office_id == office.id, OfficeSession.date == planned.date,
                OfficeSession.code == planned.code)
        ).scalar_one()
    bounds = window_bounds(planned.start_time, planned.end_time, office.window_minutes)
    per_window = window_capacity(planned.capacity, len(bounds), office.crowd_limit)
    session.execute(
        ArrivalWindow.__table__.insert(),
        [dict(session_id=new_id, position=i, start_time=s, end_time=e, capacity=per_window,
              booked=0, held=0, cooling=0) for i, (s, e) in enumerate(bounds)],
    )
    tz = ZoneInfo(office.timezone)
    starts = planned.starts_at(tz)
    reserved = 0
    rows = []
    for reserve in session.scalars(select(ChannelReserve).where(
            ChannelReserve.office_id == office.id, ChannelReserve.session_code == planned.code,
            ChannelReserve.seats > 0).order_by(ChannelReserve.id)):
        release_at = reserve_release(reserve.channel, reserve.release_minutes_before, starts, planned.ends_at(tz))
        seats = min(reserve.seats, planned.capacity - reserved)
        if release_at <= now or seats <= 0:
            continue
        reserved += seats
        rows.append(dict(session_id=new_id, channel=reserve.channel, seats=seats, used=0,
                         release_at=release_at, released=False))
    if rows:
        session.execute(SessionReserve.__table__.insert(), rows)
        session.execute(update(OfficeSession).where(OfficeSession.id == new_id).values(reserve_left=reserved))
    return new_id


def fit_reserves(session: Session, row: OfficeSession) -> None:
    """Shrink the locked session's unused channel reserves to what its capacity still leaves free.

    Lowering a session's capacity must not leave seats kept for a channel beyond it: they would
    either be booked past capacity or keep the session looking full after people cancel.
    """
    excess = row.booked + row.held + row.cooling + row.reserve_left - row.capacity
    if excess <= 0 or row.reserve_left <= 0:
        return
    cut_total = 0
    for reserve in session.scalars(select(SessionReserve).where(
            SessionReserve.session_id == row.id, SessionReserve.released.is_(False),
            SessionReserve.seats > SessionReserve.used).order_by(SessionReserve.id.desc())):
        cut = min(excess - cut_total, reserve.seats - reserve.used)
        reserve.seats -= cut
        cut_total += cut
        if cut_total == excess:
            break
    row.reserve_left -= cut_total
    session.flush()


def lock_session(session: Session, session_id: int) -> OfficeSession:
    """Lock the session row for the rest of the transaction and return its current counters."""
    row = session.execute(
        select(OfficeSession).where(OfficeSession.id == session_id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    return row


def lock_sessions(session: Session, session_ids: list[int]) -> dict[int, OfficeSession]:
    """Lock several sessions in id order, so that two movers never wait on each other."""
    return {sid: lock_session(session, sid) for sid in sorted(set(session_ids))}


@dataclass(frozen=True)
class Seat:
    """A seat just taken: its window, the reserve it came from, and its queue number once booked."""

    window_id: int
    window_start: time
    window_end: time
    reserve_channel: Channel | None
    queue_number: int | None = None


def seats_taken() -> ColumnElement[int]:
    """Seats of a session nobody else may take: booked, held, cooling off, or kept for a channel."""
    return OfficeSession.booked + OfficeSession.held + OfficeSession.cooling + OfficeSession.reserve_left


def window_has_room() -> ColumnElement[bool]:
    """Whether an arrival window may be told one more person."""
    return (ArrivalWindow.booked + ArrivalWindow.held + ArrivalWindow.cooling) < ArrivalWindow.capacity


def _take_from_pool(session: Session, row: OfficeSession, channel: Channel,
                    column: str) -> tuple[Channel | None, int | None]:
    """Count one more seat as `column` (held or booked) on the session; raise if there is none.

    A booked seat gets its queue number from the same UPDATE. Returns the reserve the seat came
    from, if any, and the queue number (None for a hold).
    """
    counter = getattr(OfficeSession, column)
    values: dict[Any, Any] = {counter: counter + 1}
    if column == "booked":
        values[OfficeSession.next_queue] = OfficeSession.next_queue + 1
    reserve_id = session.execute(
        update(SessionReserve).where(reserve_for(row.id, channel))
        .values(used=SessionReserve.used + 1).returning(SessionReserve.id)
    ).scalar_one_or_none() if row.reserve_left > 0 else None
    taken = seats_taken()
    condition: ColumnElement[bool]
    if reserve_id is not None:
        # A reserved seat is already counted in `taken`; capacity still bounds it, in case it was lowered.
        values[OfficeSession.reserve_left] = OfficeSession.reserve_left - 1
        condition = (OfficeSession.reserve_left > 0) & (taken <= OfficeSession.capacity)
    else:
        condition = taken < OfficeSession.capacity
    condition &= OfficeSession.closed.is_(False)
    queue = session.execute(
        update(OfficeSession).where(OfficeSession.id == row.id, condition).values(values)
        .returning(OfficeSession.next_queue)
    ).scalar_one_or_none()
    if queue is None:
        raise SessionFull()
    return (channel if reserve_id is not None else None), (queue if column == "booked" else None)


def take_seat(session: Session, row: OfficeSession, *, channel: Channel, as_hold: bool,
              window_position: int | None = None) -> Seat:
    """Take one seat in the locked session `row` and one place in an arrival window.

    Without `window_position`, the earliest window with room is used. Raises SessionFull or
    WindowFull; the service's savepoint then rolls the session counter back.
    """
    column = "held" if as_hold else "booked"
    reserve_channel, queue = _take_from_pool(session, row, channel, column)
    window_id, start, end = take_window(session, row.id, column=column, window_position=window_position)
    return Seat(window_id, start, end, reserve_channel, queue)


def confirm_seat(session: Session, *, session_id: int, window_id: int, reserve_channel: Channel | None) -> Seat:
    """Turn a held seat into a booked one, giving it the session's next queue number."""
    queue = session.execute(
        update(OfficeSession).where(OfficeSession.id == session_id)
        .values(held=OfficeSession.held - 1, booked=OfficeSession.booked + 1,
                next_queue=OfficeSession.next_queue + 1)
        .returning(OfficeSession.next_queue)
    ).scalar_one()
    window = session.execute(
        update(ArrivalWindow).where(ArrivalWindow.id == window_id)
        .values(held=ArrivalWindow.held - 1, booked=ArrivalWindow.booked + 1)
        .returning(ArrivalWindow.start_time, ArrivalWindow.end_time)
    ).one()
    return Seat(window_id, window.start_time, window.end_time, reserve_channel, queue)


def take_window(session: Session, session_id: int, *, column: str,
                window_position: int | None = None) -> tuple[int, time, time]:
    """Count one more person as `column` in the earliest window with room (or the one asked for)."""
    counter = getattr(ArrivalWindow, column)
    room = window_has_room()
    candidates = select(ArrivalWindow.id).where(ArrivalWindow.session_id == session_id, room)
    if window_position is not None:
        candidates = candidates.where(ArrivalWindow.position == window_position)
    chosen = candidates.order_by(ArrivalWindow.position).limit(1).scalar_subquery()
    window = session.execute(
        update(ArrivalWindow).where(ArrivalWindow.id == chosen, room)
        .values({counter: counter + 1})
        .returning(ArrivalWindow.id, ArrivalWindow.start_time, ArrivalWindow.end_time)
    ).one_or_none()
    if window is None:
        raise WindowFull() if window_position is not None else SessionFull()
    return window.id, window.start_time, window.end_time


def give_back(session: Session, *, session_id: int, window_id: int, reserve_channel: Channel | None,
              column: str) -> None:
    """Give one seat counted as `column` back: to its channel's reserve while it stands, else to all."""
    counter = getattr(OfficeSession, column)
    # An UPDATE without RETURNING gives a CursorResult; Session.execute is typed for any statement.
    refilled = cast(CursorResult[Any], session.execute(
        update(SessionReserve)
        .where(SessionReserve.session_id == session_id, SessionReserve.channel == reserve_channel,
               SessionReserve.released.is_(False), SessionReserve.used > 0)
        .values(used=SessionReserve.used - 1)
    )).rowcount if reserve_channel is not None else 0
    values = {counter: counter - 1}
    if refilled:
        values[OfficeSession.reserve_left] = OfficeSession.reserve_left + 1
    session.execute(update(OfficeSession).where(OfficeSession.id == session_id).values(values))
    window_counter = getattr(ArrivalWindow, column)
    session.execute(update(ArrivalWindow).where(ArrivalWindow.id == window_id)
                    .values({window_counter: window_counter - 1}))


def convert(session: Session, *, session_id: int, window_id: int, from_column: str, to_column: str) -> None:
    """Move one seat between counters (held → booked on confirmation, booked → cooling on cancel)."""
    for model, key in ((OfficeSession, session_id), (ArrivalWindow, window_id)):
        source, target = getattr(model, from_column), getattr(model, to_column)
        session.execute(update(model).where(model.id == key).values({source: source - 1, target: target + 1}))


def hold_lapsed(session_id: Any, now: Any) -> ColumnElement[bool]:
    """A hold of the session whose time ran out: its seat goes back on sale."""
    return and_(Hold.session_id == session_id, Hold.expires_at <= now)


def seat_cooled(session_id: Any, cancelled_by: Any) -> ColumnElement[bool]:
    """A booking of the session cancelled by `cancelled_by` (now less the rebook delay), its seat not yet back."""
    return and_(Booking.session_id == session_id, Booking.status == BookingStatus.CANCELLED,
                Booking.seat_released_at.is_(None), Booking.cancelled_at <= cancelled_by)


def reserve_due(session_id: Any, now: Any) -> ColumnElement[bool]:
    """A channel's reserve in the session whose seats should now be on sale to everyone."""
    return and_(SessionReserve.session_id == session_id, SessionReserve.released.is_(False),
                SessionReserve.release_at <= now)


def reserve_for(session_id: Any, channel: Any) -> ColumnElement[bool]:
    """A reserve of the session still keeping a seat for `channel`."""
    return and_(SessionReserve.session_id == session_id, SessionReserve.channel == channel,
                SessionReserve.released.is_(False), SessionReserve.used < SessionReserve.seats)


def sweep(session: Session, row: OfficeSession, *, now: datetime, rebook_delay: timedelta) -> bool:
    """Free what has lapsed in the locked session: expired holds, due reserves, cooled seats.

    Runs before every seat is taken, so holds expire and reserves lapse on time even when the
    scheduler is down; the scheduled job only makes it happen sooner for idle sessions.
    Returns whether anything changed.
    """
    changed = False
    if row.held > 0:
        for window_id, reserve_channel in session.execute(
            delete(Hold).where(hold_lapsed(row.id, now))
            .returning(Hold.window_id, Hold.reserve_channel)
        ).all():
            give_back(session, session_id=row.id, window_id=window_id, reserve_channel=reserve_channel, column="held")
            changed = True
    if row.cooling > 0:
        for window_id, reserve_channel in session.execute(
            update(Booking).where(seat_cooled(row.id, now - rebook_delay))
            .values(seat_released_at=now).returning(Booking.window_id, Booking.reserve_channel)
        ).all():
            give_back(session, session_id=row.id, window_id=window_id, reserve_channel=reserve_channel,
                      column="cooling")
            changed = True
    if row.reserve_left > 0:
        unused = session.execute(
            update(SessionReserve).where(reserve_due(row.id, now))
            .values(released=True).returning(SessionReserve.seats - SessionReserve.used)
        ).scalars().all()
        if unused:
            session.execute(update(OfficeSession).where(OfficeSession.id == row.id)
                            .values(reserve_left=OfficeSession.reserve_left - sum(unused)))
            changed = True
    if changed:
        session.refresh(row)
    return changed


def sessions_with_lapsed_seats(session: Session, *, now: datetime, rebook_delay: timedelta,
                               limit: int = 500) -> list[int]:
    """Sessions that have an expired hold, a due reserve or a cooled seat to free (for the job)."""
    ids: set[int] = set(session.scalars(
        select(Hold.session_id).where(Hold.expires_at <= now).distinct().limit(limit)))
    ids.update(session.scalars(select(SessionReserve.session_id).where(
        SessionReserve.released.is_(False), SessionReserve.release_at <= now).distinct().limit(limit)))
    ids.update(session.scalars(select(Booking.session_id).where(
        Booking.status == BookingStatus.CANCELLED, Booking.seat_released_at.is_(None),
        Booking.cancelled_at <= now - rebook_delay).distinct().limit(limit)))
    return sorted(ids)


__all__ = [
    "Seat", "confirm_seat", "convert", "ensure_session", "give_back", "hold_lapsed", "lock_session", "lock_sessions",
    "reserve_due", "reserve_for", "reserve_release", "seat_cooled", "seats_taken", "sessions_with_lapsed_seats",
    "sweep", "take_seat", "take_window", "window_bounds", "window_capacity", "window_has_room",
]
