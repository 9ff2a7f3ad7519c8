"""A booking in two statements on PostgreSQL: one that takes the locks, one that takes the seat.

`booking.bookings.book` sends these when the session is in its ordinary state (its row exists,
it is open, nothing has lapsed that a sweep would free, no reserve of the booker's channel has a
seat left) and falls back to the general path, statement by statement, for everything else and
for every refusal, so that a refused booking is refused with the same reason either way.

Why two and not one: every statement on PostgreSQL reads one snapshot, taken when it starts. The
first statement waits for the locks (the office's plan, shared; the citizen's row; the session's
row), so what it read before waiting may be stale. The second starts once they are held, and no
other transaction can change what it reads: one phone's bookings change only under its citizen
lock, a session's counters and windows only under the session's lock. It checks the phone's
limits and the session's and a window's room, and writes the seat, the window, the booking and
its history only if all of them hold (each write is conditional on the one before it), so it
either writes all of it or nothing.

Both are built here with the same column expressions the general path uses (`booking.seats`) and
compiled once per process (`database.compiled`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Date, DateTime, Integer, String, and_, bindparam, exists, false, func, literal, literal_column, null, select,
    true, update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql.expression import Executable

from booking import seats
from booking.models import ArrivalWindow, Booking, BookingEvent, BookingStatus, Citizen, Office, OfficeSession
from database.compiled import Compiled


def _param(name: str, type_: Any) -> Any:
    return bindparam(name, type_=type_)


def _lock_statement() -> Executable:
    """Share-lock the office's plan, upsert and lock the citizen, lock the session: in that order.

    The citizen's upsert reads the locked office, and the session's row is read only once the
    citizen's upsert has returned (an uncorrelated EXISTS runs first, as an init plan), which is
    the order every other service takes these locks in. Returns the office's rules, the session's
    counters, and whether anything in the session is due to be swept or kept for the channel.
    """
    office_id, now = _param("office_id", Integer), _param("now", DateTime)
    plan = (select(Office.id, Office.active, Office.timezone, Office.horizon_days, Office.cutoff_minutes,
                   Office.level)
            .where(Office.id == office_id).with_for_update(read=True).cte("plan"))
    upsert = pg_insert(Citizen).from_select(
        ["phone", "name", "broadcast_opt_out", "created_at"],
        select(_param("phone", String), _param("name", String), false(), now).select_from(plan))
    citizen = upsert.on_conflict_do_update(
        index_elements=["phone"], set_={"name": func.coalesce(Citizen.name, upsert.excluded.name)},
    ).returning(Citizen.phone).cte("citizen")
    row = OfficeSession
    return (
        select(
            row.id, row.date, row.code, row.start_time, row.closed, row.capacity, row.booked, row.held, row.cooling,
            row.reserve_left, plan.c.active, plan.c.timezone, plan.c.horizon_days, plan.c.cutoff_minutes,
            plan.c.level,
            exists().where(seats.hold_lapsed(row.id, now)).label("hold_lapsed"),
            exists().where(seats.seat_cooled(row.id, _param("cancelled_by", DateTime))).label("seat_cooled"),
            exists().where(seats.reserve_due(row.id, now)).label("reserve_due"),
            exists().where(seats.reserve_for(row.id, _param("channel", String))).label("reserve_for_channel"),
        )
        .join(plan, plan.c.id == row.office_id)
        .where(row.office_id == office_id, row.date == _param("day", Date), row.code == _param("code", String),
               exists(select(citizen.c.phone)))
        .with_for_update(of=row)
    )


def _take_statement() -> Executable:
    """Check the phone's limits and the room, then take the seat, its window, the booking and its history.

    Returns one row when the seat was taken (with the booking's id unless its code was already in
    use, one chance in a hundred million, which the caller undoes) and none when a rule refused.
    """
    session_id, phone, position = _param("session_id", Integer), _param("phone", String), _param("position", Integer)
    now, day, code = _param("now", DateTime), _param("day", Date), _param("session_code", String)
    live = and_(Booking.session_id == session_id, Booking.phone == phone, Booking.status != BookingStatus.CANCELLED)
    upcoming = (select(func.count()).select_from(Booking)
                .where(Booking.phone == phone, Booking.date >= _param("today", Date),
                       Booking.status == BookingStatus.BOOKED).scalar_subquery())
    in_window = and_(ArrivalWindow.session_id == session_id, seats.window_has_room(),
                     (position.is_(None)) | (ArrivalWindow.position == position))
    seat = (
        update(OfficeSession)
        .where(OfficeSession.id == session_id, seats.seats_taken() < OfficeSession.capacity,
               OfficeSession.closed.is_(False), ~exists().where(live),
               upcoming < _param("max_future_bookings", Integer), exists().where(in_window))
        .values(booked=OfficeSession.booked + 1, next_queue=OfficeSession.next_queue + 1)
        .returning(OfficeSession.next_queue).cte("seat")
    )
    chosen = select(ArrivalWindow.id).where(in_window).order_by(ArrivalWindow.position).limit(1).scalar_subquery()
    window = (
        update(ArrivalWindow)
        .where(ArrivalWindow.id == chosen, exists(select(seat.c.next_queue)))
        .values(booked=ArrivalWindow.booked + 1)
        .returning(ArrivalWindow.id, ArrivalWindow.start_time, ArrivalWindow.end_time).cte("window")
    )
    columns: dict[str, Any] = {
        "code": _param("code", String), "office_id": _param("office_id", Integer), "session_id": session_id,
        "window_id": window.c.id, "date": day, "session_code": code, "arrival_start": window.c.start_time,
        "arrival_end": window.c.end_time, "queue_number": seat.c.next_queue, "phone": phone,
        "name": _param("name", String), "procedure_id": _param("procedure_id", Integer),
        "channel": _param("channel", String), "reserve_channel": null(), "created_by": _param("actor", String),
        "language": _param("language", String), "status": literal(BookingStatus.BOOKED.value),
        "created_at": now, "updated_at": now, "result_date": _param("result_date", Date), "call_count": literal(0),
    }
    booking = (
        pg_insert(Booking).from_select(list(columns), select(*columns.values()).select_from(seat).join(window, true()))
        .on_conflict_do_nothing(index_elements=["code"])
        .returning(Booking.id, Booking.queue_number).cte("booking")
    )
    label = Booking.queue_label_sql(code, booking.c.queue_number)
    history = (
        BookingEvent.__table__.insert().from_select(
            ["booking_id", "at", "action", "actor", "channel", "detail"],
            select(booking.c.id, now, literal("created"), _param("actor", String), _param("channel", String),
                   func.json_build_object(literal_column("'queue'"), label, literal_column("'date'"),
                                          func.to_char(day, "YYYY-MM-DD"), literal_column("'session'"), code)))
        .cte("history")
    )
    return (
        select(seat.c.next_queue, window.c.id.label("window_id"), window.c.start_time, window.c.end_time,
               booking.c.id.label("booking_id"))
        .select_from(seat).join(window, true()).outerjoin(booking, true())
        .add_cte(history)
    )


LOCK_FOR_BOOKING = Compiled(_lock_statement)
TAKE_BOOKED_SEAT = Compiled(_take_statement)

__all__ = ["LOCK_FOR_BOOKING", "TAKE_BOOKED_SEAT"]
