"""Holding, confirming and booking a seat in two statements on PostgreSQL: one takes the locks, one the seat.

`booking.bookings` sends these when the session is in its ordinary state (its row exists, it is
open, nothing has lapsed that a sweep would free, no reserve of the booker's channel has a seat
left, the caller holds nothing else) and falls back to its general path, statement by statement,
for everything else and for every refusal, so that a refusal gives the same reason either way.

Why two and not one: every statement on PostgreSQL reads one snapshot, taken when it starts. The
first statement waits for the locks (the office's plan, shared; the citizen's row; the session's
row), so what it read before waiting may be stale. The second starts once they are held, and no
other transaction can change what it reads: one phone's bookings and holds change only under its
citizen lock, a session's counters and windows only under the session's lock. It checks the
phone's limits and the session's and a window's room, and writes only if all of them hold (each
write is conditional on the one before it), so it writes everything or nothing.

They are built here from the column expressions the general path uses (`booking.seats`) and
compiled once per process (`database.compiled`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement, Date, DateTime, Integer, String, and_, bindparam, delete, exists, false, func, literal,
    literal_column, null, select, true, update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql.expression import CTE, Executable

from booking import seats
from booking.models import ArrivalWindow, Booking, BookingEvent, BookingStatus, Citizen, Hold, Office, OfficeSession
from database.compiled import Compiled


def _param(name: str, type_: Any) -> Any:
    return bindparam(name, type_=type_)


def _citizen(source: Any, phone: Any) -> CTE:
    """Upsert the citizen's row, which locks it: one row per row of `source` (none: nothing is locked)."""
    upsert = pg_insert(Citizen).from_select(
        ["phone", "name", "broadcast_opt_out", "created_at"],
        select(phone, _param("name", String), false(), _param("now", DateTime)).select_from(source))
    return upsert.on_conflict_do_update(
        index_elements=["phone"], set_={"name": func.coalesce(Citizen.name, upsert.excluded.name)},
    ).returning(Citizen.phone).cte("citizen")


def _plan(office_id: Any) -> CTE:
    """The office's rules, its row share-locked: the plan lock every booking service takes first."""
    return (select(Office.id, Office.active, Office.timezone, Office.horizon_days, Office.cutoff_minutes, Office.level,
                   Office.name, Office.name_en, Office.spoken_name, Office.address)
            .where(Office.id == office_id).with_for_update(read=True).cte("plan"))


def _due_for_sweep() -> list[Any]:
    """Whether anything in the locked session is due to be swept (a new seat is the general path's then)."""
    row, now = OfficeSession, _param("now", DateTime)
    return [exists().where(seats.hold_lapsed(row.id, now)).label("hold_lapsed"),
            exists().where(seats.seat_cooled(row.id, _param("cancelled_by", DateTime))).label("seat_cooled"),
            exists().where(seats.reserve_due(row.id, now)).label("reserve_due")]


def _locked_session(plan: CTE, citizen: CTE, where: ColumnElement[bool], *extra: Any,
                    hold: CTE | None = None) -> Executable:
    """The session's row, locked once the citizen's upsert has returned, with the office's rules and names.

    The uncorrelated EXISTS runs first, as an init plan, and the upsert reads the locked office:
    the order every other service takes these locks in.
    """
    row = OfficeSession
    sessions: Any = row.__table__.join(plan, plan.c.id == row.office_id)
    if hold is not None:
        sessions = sessions.join(hold, hold.c.session_id == row.id)
    return (
        select(
            row.id, row.office_id, row.date, row.code, row.start_time, row.closed, row.capacity, row.booked,
            row.held, row.cooling, row.reserve_left, plan.c.active, plan.c.timezone, plan.c.horizon_days,
            plan.c.cutoff_minutes, plan.c.level, plan.c.name, plan.c.name_en, plan.c.spoken_name,
            plan.c.address, *extra,
        )
        .select_from(sessions)
        .where(where, exists(select(citizen.c.phone)))
        .with_for_update(of=row)
    )


def _lock_for_new_seat(*, holding: bool) -> Executable:
    """Locks for a new seat in the office's session on a day (`book`, `hold_seat`).

    Also says whether a reserve of the booker's channel still has a seat, and, for a hold,
    whether the caller (`owner`) already holds one somewhere.
    """
    office_id = _param("office_id", Integer)
    plan = _plan(office_id)
    row = OfficeSession
    extra = [*_due_for_sweep(),
             exists().where(seats.reserve_for(row.id, _param("channel", String))).label("reserve_for_channel")]
    if holding:
        extra.append(exists().where(Hold.owner == _param("owner", String)).label("owner_holds"))
    return _locked_session(
        plan, _citizen(plan, _param("phone", String)),
        and_(row.office_id == office_id, row.date == _param("day", Date), row.code == _param("code", String)),
        *extra)


def _lock_for_confirmation() -> Executable:
    """Locks for confirming the caller's hold: its office's plan, its number's citizen, its session."""
    hold = select(Hold.session_id, Hold.phone).where(
        Hold.id == _param("hold_id", Integer), Hold.owner == _param("owner", String)).cte("hold")
    plan = _plan(select(OfficeSession.office_id).where(OfficeSession.id == select(hold.c.session_id)
                                                       .scalar_subquery()).scalar_subquery())
    citizen = _citizen(hold.join(plan, true()), hold.c.phone)
    return _locked_session(plan, citizen, OfficeSession.id == hold.c.session_id, hold.c.phone, hold=hold)


def _phone_may_book(phone: Any) -> ColumnElement[bool]:
    """The phone has no live booking in the session and fewer upcoming ones than the policy allows."""
    live = and_(Booking.session_id == _param("session_id", Integer), Booking.phone == phone,
                Booking.status != BookingStatus.CANCELLED)
    upcoming = (select(func.count()).select_from(Booking)
                .where(Booking.phone == phone, Booking.date >= _param("today", Date),
                       Booking.status == BookingStatus.BOOKED).scalar_subquery())
    return and_(~exists().where(live), upcoming < _param("max_future_bookings", Integer))


def _booking_and_history(seat: CTE, window: CTE, *, channel: Any, reserve_channel: Any,
                         source: Any) -> tuple[CTE, CTE]:
    """Insert the booking for the seat just taken (unless its code is in use) and its first history entry."""
    now, day, code = _param("now", DateTime), _param("day", Date), _param("session_code", String)
    columns: dict[str, Any] = {
        "code": _param("code", String), "office_id": _param("office_id", Integer),
        "session_id": _param("session_id", Integer), "window_id": window.c.id, "date": day, "session_code": code,
        "arrival_start": window.c.start_time, "arrival_end": window.c.end_time, "queue_number": seat.c.next_queue,
        "phone": _param("phone", String), "name": _param("name", String),
        "procedure_id": _param("procedure_id", Integer), "channel": channel, "reserve_channel": reserve_channel,
        "created_by": _param("actor", String), "language": _param("language", String),
        "status": literal(BookingStatus.BOOKED.value), "created_at": now, "updated_at": now,
        "result_date": _param("result_date", Date), "call_count": literal(0),
    }
    booking = (
        pg_insert(Booking).from_select(list(columns), select(*columns.values()).select_from(source))
        .on_conflict_do_nothing(index_elements=["code"])
        .returning(Booking.id, Booking.queue_number).cte("booking")
    )
    detail = func.json_build_object(
        literal_column("'queue'"), Booking.queue_label_sql(code, booking.c.queue_number),
        literal_column("'date'"), func.to_char(day, "YYYY-MM-DD"), literal_column("'session'"), code)
    history = BookingEvent.__table__.insert().from_select(
        ["booking_id", "at", "action", "actor", "channel", "detail"],
        select(booking.c.id, now, literal("created"), _param("actor", String), _param("actor_channel", String),
               detail)).returning(BookingEvent.id).cte("history")
    return booking, history


def _new_seat(*, holding: bool) -> Executable:
    """Take a seat and its window as booked (with the booking and its history) or held (with the hold).

    Returns one row when the seat was taken, none when a rule refused. A booking whose code was
    already in use (one chance in a hundred million) comes back without its id: the seat is taken
    and the caller writes the booking with another code.
    """
    session_id, phone, position = _param("session_id", Integer), _param("phone", String), _param("position", Integer)
    in_window = and_(ArrivalWindow.session_id == session_id, seats.window_has_room(),
                     position.is_(None) | (ArrivalWindow.position == position))
    allowed = [OfficeSession.id == session_id, seats.seats_taken() < OfficeSession.capacity,
               OfficeSession.closed.is_(False), _phone_may_book(phone), exists().where(in_window)]
    if holding:  # somebody else's call may be holding this session for the same number; the caller holds one seat
        allowed += [~exists().where(Hold.session_id == session_id, Hold.phone == phone),
                    ~exists().where(Hold.owner == _param("owner", String))]
        values: dict[Any, Any] = {OfficeSession.held: OfficeSession.held + 1}
    else:
        values = {OfficeSession.booked: OfficeSession.booked + 1, OfficeSession.next_queue: OfficeSession.next_queue + 1}
    seat = update(OfficeSession).where(*allowed).values(values).returning(OfficeSession.next_queue).cte("seat")
    counter = ArrivalWindow.held if holding else ArrivalWindow.booked
    chosen = select(ArrivalWindow.id).where(in_window).order_by(ArrivalWindow.position).limit(1).scalar_subquery()
    window = (
        update(ArrivalWindow).where(ArrivalWindow.id == chosen, exists(select(seat.c.next_queue)))
        .values({counter: counter + 1})
        .returning(ArrivalWindow.id, ArrivalWindow.start_time, ArrivalWindow.end_time).cte("window")
    )
    taken = select(seat.c.next_queue, window.c.id.label("window_id"), window.c.start_time, window.c.end_time)
    if holding:
        now = _param("now", DateTime)
        hold = pg_insert(Hold).from_select(
            ["session_id", "window_id", "phone", "owner", "channel", "reserve_channel", "created_at", "expires_at"],
            select(session_id, window.c.id, phone, _param("owner", String), _param("channel", String), null(), now,
                   _param("expires_at", DateTime)).select_from(window),
        ).returning(Hold.id).cte("hold")
        return taken.add_columns(hold.c.id.label("hold_id")).select_from(window).join(hold, true()).join(seat, true())
    booking, history = _booking_and_history(
        seat, window, channel=_param("channel", String), reserve_channel=null(),
        source=seat.join(window, true()))
    return (taken.add_columns(booking.c.id.label("booking_id"), history.c.id.label("history_id"))
            .select_from(seat).join(window, true()).outerjoin(booking, true()).outerjoin(history, true()))


def _confirmed_seat() -> Executable:
    """Claim the caller's unexpired hold and turn its seat into a booking, if the phone may still book.

    Returns one row when it did (as `_new_seat` does for a booking, with the hold's channels) and
    none when the hold was gone or a rule refused. When the booking is for `remember_for` (the
    caller's own number, proven by the network), the language they chose is stored for that
    number's next call, only if the booking was written.
    """
    hold_id, owner = _param("hold_id", Integer), _param("owner", String)
    claimed = (
        delete(Hold)
        .where(Hold.id == hold_id, Hold.owner == owner, Hold.expires_at > _param("now", DateTime),
               _phone_may_book(_param("phone", String)))
        .returning(Hold.window_id, Hold.channel, Hold.reserve_channel).cte("claimed")
    )
    seat = (
        update(OfficeSession).where(OfficeSession.id == _param("session_id", Integer), exists(select(claimed.c.window_id)))
        .values(held=OfficeSession.held - 1, booked=OfficeSession.booked + 1, next_queue=OfficeSession.next_queue + 1)
        .returning(OfficeSession.next_queue).cte("seat")
    )
    window = (
        update(ArrivalWindow)
        .where(ArrivalWindow.id == select(claimed.c.window_id).scalar_subquery(), exists(select(seat.c.next_queue)))
        .values(held=ArrivalWindow.held - 1, booked=ArrivalWindow.booked + 1)
        .returning(ArrivalWindow.id, ArrivalWindow.start_time, ArrivalWindow.end_time).cte("window")
    )
    booking, history = _booking_and_history(
        seat, window, channel=claimed.c.channel, reserve_channel=claimed.c.reserve_channel,
        source=seat.join(window, true()).join(claimed, true()))
    # Read by nobody: the outer join is what makes SQLAlchemy write the CTE into the statement.
    remembered = (
        update(Citizen).where(Citizen.phone == _param("phone", String), Citizen.phone == _param("remember_for", String),
                              exists(select(booking.c.id)))
        .values(language=_param("language", String)).returning(Citizen.phone).cte("remembered")
    )
    return (
        select(seat.c.next_queue, window.c.id.label("window_id"), window.c.start_time, window.c.end_time,
               claimed.c.channel, claimed.c.reserve_channel, booking.c.id.label("booking_id"),
               history.c.id.label("history_id"), remembered.c.phone.label("remembered"))
        .select_from(seat).join(window, true()).join(claimed, true()).outerjoin(booking, true())
        .outerjoin(history, true()).outerjoin(remembered, true())
    )


LOCK_FOR_BOOKING = Compiled(lambda: _lock_for_new_seat(holding=False))
LOCK_FOR_HOLD = Compiled(lambda: _lock_for_new_seat(holding=True))
LOCK_FOR_CONFIRMATION = Compiled(_lock_for_confirmation)
BOOK_SEAT = Compiled(lambda: _new_seat(holding=False))
HOLD_SEAT = Compiled(lambda: _new_seat(holding=True))
CONFIRM_SEAT = Compiled(_confirmed_seat)

__all__ = ["BOOK_SEAT", "CONFIRM_SEAT", "HOLD_SEAT", "LOCK_FOR_BOOKING", "LOCK_FOR_CONFIRMATION", "LOCK_FOR_HOLD"]
