"""Booking services: hold, confirm, book, cancel, move, check in, no-show.

The same functions serve the IVR, the operators' console and the API. Each takes the database
session, the actor and the clock explicitly, flushes but never commits (the edge owns the
transaction), and raises a `BookingError` when a rule forbids what was asked, after which the
edge rolls back and nothing is left half-written.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, ParamSpec, Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from sqlalchemy.orm.attributes import set_committed_value

from booking import calendar, seats
from booking.seat_statements import (
    BOOK_SEAT, CONFIRM_SEAT, HOLD_SEAT, LOCK_FOR_BOOKING, LOCK_FOR_CONFIRMATION, LOCK_FOR_HOLD,
)
from booking.citizens import lock_citizen
from booking.codes import new_code, normalise_code
from booking.errors import (
    AlreadyBookedForSession, AlreadyCheckedIn, CheckInNotAllowed, HoldExpired, InvalidTransition, NoShowTooEarly,
    NoSuchSession, NotCancellable, NotFound, NotMovable, NotServable, OfficeClosed, OfficeInactive, OutsideHorizon,
    PastCutoff, ProcedureNotOffered, TooManyBookings,
)
from booking.lookup import get_or_not_found
from booking.models import (
    ArrivalWindow, Booking, BookingEvent, BookingStatus, Channel, Citizen, Hold, Office, OfficeLevel, OfficeSession,
    Procedure,
)
from booking.phones import parse_contact
from booking.policy import BookingPolicy
from booking.schedule import PlannedSession, plan_days


# History rows a statement wrote (not the ORM's flush), listed in `Session.info` under this key
# until the transaction ends, so that whoever counts the history at commit sees them too.
HISTORY_WRITTEN = "booking.history_written"


@dataclass(frozen=True)
class Actor:
    """Who asked: a staff user, the IVR, or an API integration; recorded in the history."""

    name: str
    channel: Channel


P = ParamSpec("P")
R = TypeVar("R")


def atomic(service: Callable[P, R]) -> Callable[P, R]:
    """Run a service in a savepoint: when a rule stops it midway, none of its writes remain.

    The edge may keep using its transaction after a refusal (the IVR offers the next session),
    so a service must not leave a raised counter behind it.
    """

    @functools.wraps(service)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        session = args[0]
        assert isinstance(session, Session)
        with session.begin_nested():
            return service(*args, **kwargs)

    return run


class OfficeRules(Protocol):
    """What the booking rules read of an office: an `Office`, or its columns read by one statement."""

    @property
    def active(self) -> bool: ...
    @property
    def timezone(self) -> str: ...
    @property
    def horizon_days(self) -> int: ...
    @property
    def cutoff_minutes(self) -> int: ...
    @property
    def level(self) -> OfficeLevel: ...


@dataclass(frozen=True)
class _OfficeColumns:
    active: bool
    timezone: str
    horizon_days: int
    cutoff_minutes: int
    level: OfficeLevel


def local_now(office: OfficeRules, now: datetime) -> datetime:
    return now.astimezone(ZoneInfo(office.timezone))


def _check_date(office: OfficeRules, day: date, now: datetime) -> None:
    if not office.active:
        raise OfficeInactive()
    today = local_now(office, now).date()
    if day < today:
        raise PastCutoff()
    if day > today + timedelta(days=office.horizon_days):
        raise OutsideHorizon(days=office.horizon_days)


def _check_cutoff(office: OfficeRules, day: date, start: time, now: datetime) -> None:
    if now >= datetime.combine(day, start, ZoneInfo(office.timezone)) - timedelta(minutes=office.cutoff_minutes):
        raise PastCutoff()


def _planned(session: Session, office: Office, day: date, code: str) -> PlannedSession:
    """The session `code` the office plans on `day`, or the rule that says there is none."""
    (planned_day,) = plan_days(session, [office], day, day)[office.id]
    if planned_day.closed_reason is not None:
        raise OfficeClosed(date=day.strftime("%d/%m/%Y"))
    planned = next((s for s in planned_day.sessions if s.code == code), None)
    if planned is None:
        raise NoSuchSession(date=day.strftime("%d/%m/%Y"))
    return planned


def _open_for_booking(session: Session, *, office_id: int, day: date, code: str, now: datetime,
                      policy: BookingPolicy) -> tuple[Office, OfficeSession]:
    """The locked session a new seat would come from, if the rules allow booking into it now.

    The caller has taken the office's plan lock (`_lock_plans`). A session already open for
    booking is read and locked together with its office in one statement: the settings services keep open rows in step with closures, per-date changes and
    the calendar, so the day need not be planned again on every booking. A session nobody has
    booked yet is planned from the office's templates and opened.
    """
    found = session.execute(
        select(OfficeSession, Office).join(Office, Office.id == OfficeSession.office_id)
        .where(OfficeSession.office_id == office_id, OfficeSession.date == day, OfficeSession.code == code)
        .with_for_update(of=OfficeSession).execution_options(populate_existing=True)
    ).first()
    if found is not None:
        row, office = found
        _check_date(office, day, now)
        if row.closed:
            _planned(session, office, day, code)  # says why: closed that day, or no such session
            raise OfficeClosed(date=day.strftime("%d/%m/%Y"))
        _check_cutoff(office, day, row.start_time, now)
    else:
        # The caller holds the office's plan lock (`_lock_plans`): read it afresh under that lock.
        office = get_or_not_found(session, Office, office_id, populate_existing=True)
        _check_date(office, day, now)
        planned = _planned(session, office, day, code)
        _check_cutoff(office, day, planned.start_time, now)
        row = seats.lock_session(session, seats.ensure_session(session, office, planned, now=now))
        if row.closed:
            raise OfficeClosed(date=day.strftime("%d/%m/%Y"))
    seats.sweep(session, row, now=now, rebook_delay=policy.rebook_delay)
    return office, row


def _check_phone(session: Session, *, phone: str, session_id: int, today: date, policy: BookingPolicy,
                 exclude_booking: int | None = None) -> None:
    """One live booking per session and a limited number of upcoming ones, counted in one query."""
    query = select(
        func.count().filter(Booking.session_id == session_id, Booking.status != BookingStatus.CANCELLED),
        func.count().filter(Booking.date >= today, Booking.status == BookingStatus.BOOKED),
    ).where(Booking.phone == phone)
    if exclude_booking is not None:
        query = query.where(Booking.id != exclude_booking)
    in_session, upcoming = session.execute(query).one()
    if in_session:
        raise AlreadyBookedForSession()
    if upcoming >= policy.max_future_bookings:
        raise TooManyBookings(limit=policy.max_future_bookings)


def _procedure(session: Session, office: OfficeRules, procedure_id: int | None) -> Procedure | None:
    if procedure_id is None:
        return None
    procedure = session.get(Procedure, procedure_id)
    if procedure is None or not procedure.active:
        raise NotFound()
    if not procedure.offered_at(office.level):
        raise ProcedureNotOffered(procedure=procedure.name)
    return procedure


def _lock_plans(session: Session, *office_ids: int, also: ColumnElement[bool] | None = None) -> None:
    """Share-lock the offices' plans, in id order: the first lock every booking service takes.

    A settings change holds the same rows exclusively while it locks sessions and, when it moves
    people, their citizen rows; taking this before any citizen or session lock keeps one order.
    Only the ids are read (the service loads the office where it needs it), and offices found by
    a condition (`also`) come in the same statement: this runs on every booking.
    """
    which = Office.id.in_(sorted(set(office_ids)))
    session.execute(select(Office.id).where(which if also is None else which | also).order_by(Office.id)
                    .with_for_update(read=True)).all()


def _release_holds_of(session: Session, owner: str) -> None:
    """A caller holds one seat at a time: choosing again lets go of the previous choice.

    By owner (the call, the console user), never by phone: the number may have been typed by
    somebody else, whose own call's hold must stay where it is.
    """
    for hold_id in session.scalars(select(Hold.id).where(Hold.owner == owner)).all():
        release_hold(session, hold_id=hold_id, owner=owner)


def hold_seat(session: Session, *, office_id: int, day: date, code: str, phone: str, owner: str, channel: Channel,
              now: datetime, policy: BookingPolicy, window_position: int | None = None) -> Hold:
    """Keep a seat for `owner` (a call, a console user) while they confirm; it lapses after `policy.hold_ttl`.

    `phone` is where the booking's SMS will go; it identifies nobody. On PostgreSQL an ordinary
    hold (the owner holds nothing else yet) takes two statements (`booking.seat_statements`).
    """
    phone = parse_contact(phone).number
    if _two_statements(session):
        hold = _hold_in_two_statements(session, office_id=office_id, day=day, code=code, phone=phone, owner=owner,
                                       channel=channel, now=now, policy=policy, window_position=window_position)
        if hold is not None:
            return hold
    return _hold(session, office_id=office_id, day=day, code=code, phone=phone, owner=owner, channel=channel,
                 now=now, policy=policy, window_position=window_position)


def _hold_in_two_statements(session: Session, *, office_id: int, day: date, code: str, phone: str, owner: str,
                            channel: Channel, now: datetime, policy: BookingPolicy,
                            window_position: int | None) -> Hold | None:
    """The hold, if the session is in its ordinary state and every rule allows it; else None (see `_book_in_two_statements`)."""
    found = LOCK_FOR_HOLD.execute(session, dict(
        office_id=office_id, now=now, phone=phone, name=None, day=day, code=code, channel=channel, owner=owner,
        cancelled_by=now - policy.rebook_delay)).first()
    if found is None or found.owner_holds or not _ordinary(found, reserves=True):
        return None
    office = _office_columns(found)
    _check_date(office, day, now)
    _check_cutoff(office, day, found.start_time, now)
    expires_at = now + policy.hold_ttl
    taken = HOLD_SEAT.execute(session, dict(
        session_id=found.id, phone=phone, owner=owner, channel=channel, now=now, expires_at=expires_at,
        position=window_position, today=local_now(office, now).date(),
        max_future_bookings=policy.max_future_bookings)).first()
    if taken is None:
        return None  # refused: the general path reads the same rows and says which rule
    hold = Hold(id=taken.hold_id, session_id=found.id, window_id=taken.window_id, phone=phone, owner=owner,
                channel=channel, reserve_channel=None, created_at=now, expires_at=expires_at)
    make_transient_to_detached(hold)  # it is in the database as written: attach it without an INSERT
    session.add(hold)
    return hold


@atomic
def _hold(session: Session, *, office_id: int, day: date, code: str, phone: str, owner: str, channel: Channel,
          now: datetime, policy: BookingPolicy, window_position: int | None) -> Hold:
    """Hold by the general path: let go of the owner's other hold, plan, sweep, draw on reserves."""
    # Choosing again lets go of the owner's previous hold, perhaps at another office: its plan is locked too.
    _lock_plans(session, office_id, also=Office.id.in_(
        select(OfficeSession.office_id).join(Hold, Hold.session_id == OfficeSession.id).where(Hold.owner == owner)))
    lock_citizen(session, phone, now=now)
    _release_holds_of(session, owner)
    office, row = _open_for_booking(session, office_id=office_id, day=day, code=code, now=now, policy=policy)
    _check_phone(session, phone=phone, session_id=row.id, today=local_now(office, now).date(), policy=policy)
    if session.scalar(select(Hold.id).where(Hold.session_id == row.id, Hold.phone == phone)) is not None:
        raise AlreadyBookedForSession()  # somebody else's call is holding this session for the same number
    seat = seats.take_seat(session, row, channel=channel, as_hold=True, window_position=window_position)
    hold = Hold(session_id=row.id, window_id=seat.window_id, phone=phone, owner=owner, channel=channel,
                reserve_channel=seat.reserve_channel, created_at=now, expires_at=now + policy.hold_ttl)
    session.add(hold)
    session.flush()
    return hold


@atomic
def release_hold(session: Session, *, hold_id: int, owner: str) -> bool:
    """Let go of `owner`'s hold at once (hung up, chose again); False if it was gone or is not theirs."""
    mine = (Hold.id == hold_id) & (Hold.owner == owner)
    session_id = session.execute(select(Hold.session_id).where(mine)).scalar_one_or_none()
    if session_id is None:
        return False
    seats.lock_session(session, session_id)
    gone = session.execute(delete(Hold).where(mine).returning(Hold.window_id, Hold.reserve_channel)).first()
    if gone is None:
        return False
    seats.give_back(session, session_id=session_id, window_id=gone.window_id, reserve_channel=gone.reserve_channel,
                    column="held")
    return True


def _insert_booking(session: Session, *, office: Office, row: OfficeSession, seat: seats.Seat, phone: str,
                    name: str | None, procedure: Procedure | None, channel: Channel, actor: Actor, language: str,
                    now: datetime) -> Booking:
    assert seat.queue_number is not None
    values = _booking_values(session, office_id=office.id, session_id=row.id, day=row.date, code=row.code,
                             phone=phone, name=name, procedure=procedure, channel=channel,
                             reserve_channel=seat.reserve_channel, actor=actor, language=language, now=now)
    values.update(window_id=seat.window_id, arrival_start=seat.window_start, arrival_end=seat.window_end,
                  queue_number=seat.queue_number)
    booking = _insert_row(session, values)
    # The office is at hand: what follows in the transaction (the SMS's text) reads booking.office without a query.
    set_committed_value(booking, "office", office)
    _created(session, booking, actor=actor, now=now)
    return booking


def _insert_row(session: Session, values: dict[str, Any]) -> Booking:
    """Insert a booking with a new code; a code already in use (one chance in a hundred million) is
    skipped without aborting the transaction, and any other conflict is an error."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    booking = None
    try:
        while booking is None:
            booking = session.scalars(
                insert(Booking).values(code=new_code(), **values)
                .on_conflict_do_nothing(index_elements=["code"]).returning(Booking)
            ).one_or_none()
    except IntegrityError as exc:
        # The live-booking-per-session index is the last word when two calls race past the check.
        raise AlreadyBookedForSession() from exc
    return booking


def _created_detail(booking: Booking) -> dict[str, object]:
    return {"queue": booking.queue_label, "date": booking.date.isoformat(), "session": booking.session_code}


def _created(session: Session, booking: Booking, *, actor: Actor, now: datetime) -> None:
    _event(session, booking, action="created", actor=actor, now=now, detail=_created_detail(booking))


def confirm_hold(session: Session, *, hold_id: int, owner: str, actor: Actor, now: datetime, policy: BookingPolicy,
                 name: str | None = None, procedure_id: int | None = None, language: str = "vi",
                 remember_for: str | None = None) -> Booking:
    """Turn `owner`'s hold into a booking with a code and a queue number.

    Somebody else's hold is treated as gone: a call never learns whether another call holds a seat.
    If the booking is for `remember_for` (a number proven to be the caller's own), `language` is
    stored as that number's choice, for its next call. On PostgreSQL it takes two statements
    (`booking.seat_statements`) unless something is amiss.
    """
    if _two_statements(session):
        booking = _confirm_in_two_statements(session, hold_id=hold_id, owner=owner, actor=actor, now=now,
                                             policy=policy, name=name, procedure_id=procedure_id, language=language,
                                             remember_for=remember_for)
        if booking is not None:
            return booking
    booking = _confirm(session, hold_id=hold_id, owner=owner, actor=actor, now=now, policy=policy, name=name,
                       procedure_id=procedure_id, language=language)
    if remember_for is not None and booking.phone == remember_for:
        # The citizen's row is locked already: the confirmation locked it.
        session.execute(update(Citizen).where(Citizen.phone == booking.phone).values(language=language))
    return booking


def _confirm_in_two_statements(session: Session, *, hold_id: int, owner: str, actor: Actor, now: datetime,
                               policy: BookingPolicy, name: str | None, procedure_id: int | None,
                               language: str, remember_for: str | None) -> Booking | None:
    """The booking, if the hold is still the owner's and every rule allows it; else None (the general
    path then says why: the hold lapsed, the office closed, the number booked meanwhile)."""
    found = LOCK_FOR_CONFIRMATION.execute(session, dict(
        hold_id=hold_id, owner=owner, now=now, name=name)).first()
    if found is None or not found.active:
        return None
    office = _office_columns(found)
    procedure = _procedure(session, office, procedure_id)
    values = _booking_values(session, office_id=found.office_id, session_id=found.id, day=found.date,
                             code=found.code, phone=found.phone, name=name, procedure=procedure,
                             channel=actor.channel, reserve_channel=None, actor=actor, language=language, now=now)
    values["code"] = new_code()
    taken = CONFIRM_SEAT.execute(session, _statement_params(
        values, actor, hold_id=hold_id, owner=owner, today=local_now(office, now).date(),
        max_future_bookings=policy.max_future_bookings, remember_for=remember_for)).first()
    if taken is None:
        return None
    claimed = session.identity_map.get(identity_key(Hold, (hold_id,)))
    if claimed is not None:  # deleted by the statement: the session must not hand it out again
        session.expunge(claimed)
    values.update(channel=Channel(taken.channel),
                  reserve_channel=Channel(taken.reserve_channel) if taken.reserve_channel else None)
    return _booking_from(session, taken, values, found, actor=actor)


@atomic
def _confirm(session: Session, *, hold_id: int, owner: str, actor: Actor, now: datetime, policy: BookingPolicy,
             name: str | None, procedure_id: int | None, language: str) -> Booking:
    """Confirm by the general path."""
    hold = session.scalar(select(Hold).where(Hold.id == hold_id, Hold.owner == owner))
    if hold is None:
        raise HoldExpired()
    # The office, the citizen, then the session, as every other service locks them.
    _lock_plans(session, also=Office.id == select(OfficeSession.office_id).where(OfficeSession.id == hold.session_id)
                .scalar_subquery())
    lock_citizen(session, hold.phone, now=now, name=name)
    row = seats.lock_session(session, hold.session_id)
    office = get_or_not_found(session, Office, row.office_id)
    if not office.active:  # deactivated while the caller was deciding; a hold taken before the cut-off stands
        raise OfficeInactive()
    procedure = _procedure(session, office, procedure_id)
    # Deleting the hold is the confirmation's claim on it: a hang-up or the expiry job that got
    # there first leaves nothing to delete.
    claimed = session.execute(
        delete(Hold).where(Hold.id == hold_id, Hold.owner == owner, Hold.expires_at > now)
        .returning(Hold.window_id, Hold.reserve_channel, Hold.phone, Hold.channel)
    ).first()
    if claimed is None:
        seats.sweep(session, row, now=now, rebook_delay=policy.rebook_delay)
        raise HoldExpired()
    _check_phone(session, phone=claimed.phone, session_id=row.id, today=local_now(office, now).date(), policy=policy)
    seat = seats.confirm_seat(session, session_id=row.id, window_id=claimed.window_id,
                              reserve_channel=claimed.reserve_channel)
    return _insert_booking(session, office=office, row=row, seat=seat, phone=claimed.phone, name=name,
                           procedure=procedure, channel=claimed.channel, actor=actor, language=language, now=now)


def book(session: Session, *, office_id: int, day: date, code: str, phone: str, actor: Actor, now: datetime,
         policy: BookingPolicy, name: str | None = None, procedure_id: int | None = None,
         window_position: int | None = None, language: str = "vi") -> Booking:
    """Book a seat in one step (operators, the API): the same rules as hold and confirm.

    On PostgreSQL an ordinary booking takes two statements (`booking.seat_statements`); the
    general path handles what they leave to it, and says why when a rule refuses.
    """
    phone = parse_contact(phone).number
    if _two_statements(session):
        booking = _book_in_two_statements(
            session, office_id=office_id, day=day, code=code, phone=phone, actor=actor, now=now, policy=policy,
            name=name, procedure_id=procedure_id, window_position=window_position, language=language)
        if booking is not None:
            return booking
    return _book(session, office_id=office_id, day=day, code=code, phone=phone, actor=actor, now=now, policy=policy,
                 name=name, procedure_id=procedure_id, window_position=window_position, language=language)


def _two_statements(session: Session) -> bool:
    """Whether the engine takes the two-statement hold, confirmation and booking (data-modifying CTEs)."""
    return session.get_bind().dialect.name == "postgresql"


def _ordinary(found: Any, *, reserves: bool) -> bool:
    """Whether the locked session is as most are: open, nothing to sweep, (`reserves`) no reserve to draw on.

    Anything else is the general path's: it sweeps, draws on the reserve, or says why it is closed.
    """
    return not (found.closed or found.hold_lapsed or found.seat_cooled or found.reserve_due
                or (reserves and found.reserve_for_channel))


def _office_columns(found: Any) -> _OfficeColumns:
    return _OfficeColumns(found.active, found.timezone, found.horizon_days, found.cutoff_minutes,
                          OfficeLevel(found.level))


def _booking_values(session: Session, *, office_id: int, session_id: int, day: date, code: str, phone: str,
                    name: str | None, procedure: Procedure | None, channel: Channel,
                    reserve_channel: Channel | None, actor: Actor, language: str, now: datetime) -> dict[str, Any]:
    """Every column of a new booking but its id, its code and its seat's (window, arrival, queue number)."""
    return dict(
        office_id=office_id, session_id=session_id, date=day, session_code=code, phone=phone,
        name=name, procedure_id=procedure.id if procedure else None, field=None, channel=channel,
        reserve_channel=reserve_channel, created_by=actor.name, language=language, status=BookingStatus.BOOKED,
        created_at=now, updated_at=now, cancelled_at=None, seat_released_at=None, checked_in_at=None,
        served_at=None, no_show_at=None, desk_id=None, called_at=None, call_count=0,
        result_date=calendar.result_date(session, day, procedure.processing_days if procedure else None),
    )


def _statement_params(values: dict[str, Any], actor: Actor, **more: Any) -> dict[str, Any]:
    """What the seat statements take of a new booking's columns."""
    return dict(code=values["code"], office_id=values["office_id"], session_id=values["session_id"],
                day=values["date"], session_code=values["session_code"], phone=values["phone"], name=values["name"],
                procedure_id=values["procedure_id"], actor=actor.name, actor_channel=actor.channel,
                language=values["language"], now=values["created_at"], result_date=values["result_date"], **more)


def _office_read(session: Session, found: Any) -> Office:
    """The office as the lock statement read it, for what follows in the transaction (the SMS names it).

    The session's own instance if it has one; else one made of the columns read (the rules, and
    the names and address that the texts and the IVR's read-back use), attached as stored, whose
    other columns load on first use: confirming needs no query for the office.
    """
    kept = session.identity_map.get(identity_key(Office, (found.office_id,)))
    if kept is not None:
        return kept
    office = Office(id=found.office_id, active=found.active, timezone=found.timezone, horizon_days=found.horizon_days,
                    cutoff_minutes=found.cutoff_minutes, level=OfficeLevel(found.level), name=found.name,
                    name_en=found.name_en, spoken_name=found.spoken_name, address=found.address)
    make_transient_to_detached(office)  # the unread columns are expired: loaded if anything asks for them
    session.add(office)
    return office


def _booking_from(session: Session, taken: Any, values: dict[str, Any], found: Any, *, actor: Actor) -> Booking:
    """The booking the seat statement wrote, attached to the session as it is stored, with its office.

    If its code was in use the seat is taken but the booking is not written: it is written here
    with another code, as the general path does.
    """
    seat = dict(window_id=taken.window_id, arrival_start=taken.start_time, arrival_end=taken.end_time,
                queue_number=taken.next_queue)
    if taken.booking_id is None:
        booking = _insert_row(session, {**{k: v for k, v in values.items() if k != "code"}, **seat})  # a new code
        set_committed_value(booking, "office", _office_read(session, found))
        _created(session, booking, actor=actor, now=values["created_at"])
        return booking
    booking = Booking(id=taken.booking_id, **seat, **values)
    entry = BookingEvent(id=taken.history_id, booking_id=booking.id, at=booking.created_at, action="created",
                         actor=actor.name, channel=actor.channel, detail=_created_detail(booking))
    for row in (booking, entry):
        make_transient_to_detached(row)  # in the database as written: attached without an INSERT
        session.add(row)
    set_committed_value(entry, "booking", booking)  # and kept with it until the commit has counted it
    set_committed_value(booking, "office", _office_read(session, found))
    session.info.setdefault(HISTORY_WRITTEN, []).append(entry)
    return booking


def _book_in_two_statements(session: Session, *, office_id: int, day: date, code: str, phone: str, actor: Actor,
                            now: datetime, policy: BookingPolicy, name: str | None, procedure_id: int | None,
                            window_position: int | None, language: str) -> Booking | None:
    """The booking, if the session is in its ordinary state and every rule allows it; else None.

    Writes nothing that stays unless it books, but the citizen's row (upserted with the lock it
    takes, as the general path's first write is): a refused booking leaves a first contact's row.
    The date, cut-off and procedure rules are the general path's own functions; the phone's and
    the room's are read by the second statement from the expressions `booking.seats` states.
    """
    found = LOCK_FOR_BOOKING.execute(session, dict(
        office_id=office_id, now=now, phone=phone, name=name, day=day, code=code, channel=actor.channel,
        cancelled_by=now - policy.rebook_delay)).first()
    if found is None or not _ordinary(found, reserves=True):
        return None
    office = _office_columns(found)
    _check_date(office, day, now)
    _check_cutoff(office, day, found.start_time, now)
    procedure = _procedure(session, office, procedure_id)
    values = _booking_values(session, office_id=office_id, session_id=found.id, day=day, code=code, phone=phone,
                             name=name, procedure=procedure, channel=actor.channel, reserve_channel=None,
                             actor=actor, language=language, now=now)
    values["code"] = new_code()
    taken = BOOK_SEAT.execute(session, _statement_params(
        values, actor, channel=actor.channel, position=window_position, today=local_now(office, now).date(),
        max_future_bookings=policy.max_future_bookings)).first()
    if taken is None:
        return None  # refused: the general path reads the same rows and says which rule
    return _booking_from(session, taken, values, found, actor=actor)


@atomic
def _book(session: Session, *, office_id: int, day: date, code: str, phone: str, actor: Actor, now: datetime,
          policy: BookingPolicy, name: str | None, procedure_id: int | None, window_position: int | None,
          language: str) -> Booking:
    """Book by the general path: plan the session if it has no row yet, sweep, draw on reserves."""
    _lock_plans(session, office_id)
    lock_citizen(session, phone, now=now, name=name)
    office, row = _open_for_booking(session, office_id=office_id, day=day, code=code, now=now, policy=policy)
    procedure = _procedure(session, office, procedure_id)
    _check_phone(session, phone=phone, session_id=row.id, today=local_now(office, now).date(), policy=policy)
    seat = seats.take_seat(session, row, channel=actor.channel, as_hold=False, window_position=window_position)
    return _insert_booking(session, office=office, row=row, seat=seat, phone=phone, name=name,
                           procedure=procedure, channel=actor.channel, actor=actor, language=language, now=now)


def find_booking(session: Session, code: str) -> Booking:
    """The booking with this code, as typed by a person (spaces and dashes allowed)."""
    booking = session.execute(select(Booking).where(Booking.code == normalise_code(code))).scalar_one_or_none()
    if booking is None:
        raise NotFound()
    return booking


def _locked(session: Session, booking_id: int) -> Booking:
    """The booking's row, locked and read afresh: every change of status decides on the latest one.

    Without the lock a check-in and a cancellation (or the no-show job) racing on PostgreSQL
    could each see BOOKED, and the later write would undo the earlier one's seat accounting.
    """
    booking = session.scalar(select(Booking).where(Booking.id == booking_id).with_for_update()
                             .execution_options(populate_existing=True))
    if booking is None:
        raise NotFound()
    return booking


def _require(booking: Booking, allowed: set[BookingStatus], error: type[InvalidTransition]) -> None:
    if booking.status not in allowed:
        raise error()


def _not_past(booking: Booking, now: datetime, error: type[InvalidTransition]) -> None:
    """An appointment whose day has gone cannot be cancelled or moved, whichever channel asks.

    Until the no-show job has marked it, a past appointment is still BOOKED; cancelling it would
    hand a seat back to a session that is over and rewrite what happened.
    """
    if booking.date < local_now(booking.office, now).date():
        raise error()


def _event(session: Session, booking: Booking, *, action: str, actor: Actor, now: datetime,
           detail: dict[str, object] | None = None) -> None:
    """Record a change in the booking's history (added directly: the history is never loaded here)."""
    booking.updated_at = now
    session.add(BookingEvent(booking_id=booking.id, at=now, action=action, actor=actor.name, channel=actor.channel,
                             detail=detail or {}))
    session.expire(booking, ["events"])


@atomic
def cancel(session: Session, *, booking_id: int, actor: Actor, now: datetime, policy: BookingPolicy,
           reason: str = "") -> Booking:
    """Cancel a booking; its seat goes back on sale after `policy.rebook_delay`."""
    booking = get_or_not_found(session, Booking, booking_id)
    row = seats.lock_session(session, booking.session_id)
    booking = _locked(session, booking_id)
    while booking.session_id != row.id:  # moved before the session's lock was ours: count in its new one
        row = seats.lock_session(session, booking.session_id)
        booking = _locked(session, booking_id)
    _require(booking, {BookingStatus.BOOKED}, NotCancellable)
    _not_past(booking, now, NotCancellable)
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_at = now
    if policy.rebook_delay > timedelta(0):
        seats.convert(session, session_id=row.id, window_id=booking.window_id, from_column="booked",
                      to_column="cooling")
    else:
        booking.seat_released_at = now
        seats.give_back(session, session_id=row.id, window_id=booking.window_id,
                        reserve_channel=booking.reserve_channel, column="booked")
    _event(session, booking, action="cancelled", actor=actor, now=now, detail={"reason": reason})
    session.flush()
    return booking


@atomic
def move(session: Session, *, booking_id: int, office_id: int, day: date, code: str, actor: Actor,
         now: datetime, policy: BookingPolicy, window_position: int | None = None) -> Booking:
    """Move a booking to another session or window, all or nothing.

    The new seat is taken before the old one is given back, in one transaction: if the new
    session is full the error rolls everything back and the booking stays where it was.
    """
    booking = get_or_not_found(session, Booking, booking_id)
    _require(booking, {BookingStatus.BOOKED}, NotMovable)
    _not_past(booking, now, NotMovable)
    _lock_plans(session, office_id, booking.office_id)  # both offices' plans, before the citizen and sessions
    lock_citizen(session, booking.phone, now=now)
    office = get_or_not_found(session, Office, office_id, populate_existing=True)
    _check_date(office, day, now)
    if booking.procedure is not None and not booking.procedure.offered_at(office.level):
        raise ProcedureNotOffered(procedure=booking.procedure.name)  # as `book` refuses it there
    new_id = session.scalar(select(OfficeSession.id).where(
        OfficeSession.office_id == office.id, OfficeSession.date == day, OfficeSession.code == code))
    if new_id is None:
        new_id = seats.ensure_session(session, office, _planned(session, office, day, code), now=now)
    # Both sessions are locked in id order, so two bookings moving past each other never deadlock.
    locked = seats.lock_sessions(session, [new_id, booking.session_id])
    booking = _locked(session, booking_id)
    while booking.session_id not in locked:  # moved by someone else before the locks were taken
        locked |= seats.lock_sessions(session, [booking.session_id])
        booking = _locked(session, booking_id)
    _require(booking, {BookingStatus.BOOKED}, NotMovable)
    new_row, old_row = locked[new_id], locked[booking.session_id]
    if new_row.closed:
        raise OfficeClosed(date=day.strftime("%d/%m/%Y"))
    _check_cutoff(office, day, new_row.start_time, now)
    seats.sweep(session, new_row, now=now, rebook_delay=policy.rebook_delay)
    _check_phone(session, phone=booking.phone, session_id=new_row.id, today=local_now(office, now).date(),
                 policy=policy, exclude_booking=booking.id)
    before = {"date": booking.date.isoformat(), "session": booking.session_code, "queue": booking.queue_label,
              "office_id": booking.office_id, "arrival": booking.arrival_start.strftime("%H:%M")}
    if new_row.id == old_row.id:
        window = seats.take_window(session, new_row.id, column="booked", window_position=window_position)
        seat = seats.Seat(*window, booking.reserve_channel, booking.queue_number)
        session.execute(update(ArrivalWindow).where(ArrivalWindow.id == booking.window_id)
                        .values(booked=ArrivalWindow.booked - 1))
    else:
        seat = seats.take_seat(session, new_row, channel=actor.channel, as_hold=False,
                               window_position=window_position)
        seats.give_back(session, session_id=old_row.id, window_id=booking.window_id,
                        reserve_channel=booking.reserve_channel, column="booked")
        assert seat.queue_number is not None
        booking.queue_number = seat.queue_number
        booking.reserve_channel = seat.reserve_channel
    booking.office_id, booking.session_id, booking.date, booking.session_code = office.id, new_row.id, day, code
    booking.window_id, booking.arrival_start, booking.arrival_end = seat.window_id, seat.window_start, seat.window_end
    booking.result_date = calendar.result_date(
        session, day, booking.procedure.processing_days if booking.procedure is not None else None)
    after = {"date": day.isoformat(), "session": code, "queue": booking.queue_label, "office_id": office.id,
             "arrival": seat.window_start.strftime("%H:%M")}
    _event(session, booking, action="moved", actor=actor, now=now, detail={"before": before, "after": after})
    session.flush()
    return booking


@atomic
def check_in(session: Session, *, code: str, actor: Actor, now: datetime, office_id: int | None = None) -> Booking:
    """Record that the person arrived; only on the booking's own day and at its own office."""
    booking = find_booking(session, code)
    if office_id is not None and booking.office_id != office_id:
        raise NotFound()
    booking = _locked(session, booking.id)
    if booking.checked_in_at is not None and booking.status in (BookingStatus.CHECKED_IN, BookingStatus.SERVED):
        raise AlreadyCheckedIn(time=local_now(booking.office, booking.checked_in_at).strftime("%H:%M"))
    _require(booking, {BookingStatus.BOOKED, BookingStatus.NO_SHOW}, CheckInNotAllowed)
    if local_now(booking.office, now).date() != booking.date:
        raise CheckInNotAllowed()
    booking.status = BookingStatus.CHECKED_IN
    booking.checked_in_at = now
    _event(session, booking, action="checked_in", actor=actor, now=now)
    session.flush()
    return booking


@atomic
def mark_served(session: Session, *, booking_id: int, actor: Actor, now: datetime) -> Booking:
    booking = _locked(session, booking_id)
    _require(booking, {BookingStatus.CHECKED_IN}, NotServable)
    booking.status = BookingStatus.SERVED
    booking.served_at = now
    _event(session, booking, action="served", actor=actor, now=now)
    session.flush()
    return booking


def arrival_deadline(booking: Booking, policy: BookingPolicy) -> datetime:
    """The latest a person may arrive before they may be marked as not having come."""
    tz = ZoneInfo(booking.office.timezone)
    return datetime.combine(booking.date, booking.arrival_end, tz) + policy.no_show_grace


@atomic
def mark_no_show(session: Session, *, booking_id: int, actor: Actor, now: datetime, policy: BookingPolicy) -> Booking:
    booking = get_or_not_found(session, Booking, booking_id)
    _require(booking, {BookingStatus.BOOKED}, InvalidTransition)
    if now < arrival_deadline(booking, policy):
        raise NoShowTooEarly()
    booking.status = BookingStatus.NO_SHOW
    booking.no_show_at = now
    _event(session, booking, action="no_show", actor=actor, now=now)
    session.flush()
    return booking


@atomic
def mark_no_shows(session: Session, *, now: datetime, actor: Actor, policy: BookingPolicy) -> int:
    """Mark every booking whose session has ended and whose grace has passed (a scheduled job)."""
    count = 0
    candidates = session.scalars(
        select(Booking).join(OfficeSession, OfficeSession.id == Booking.session_id)
        .where(Booking.status == BookingStatus.BOOKED, Booking.date <= now.date() + timedelta(days=1),
               OfficeSession.closed.is_(False))  # nobody could come to a session that was not held
        .order_by(Booking.id)
    ).all()
    for booking in candidates:
        tz = ZoneInfo(booking.office.timezone)
        session_row = session.get(OfficeSession, booking.session_id)
        assert session_row is not None
        ended = datetime.combine(booking.date, session_row.end_time, tz) <= now
        if ended and now >= arrival_deadline(booking, policy):
            booking = _locked(session, booking.id)
            if booking.status is not BookingStatus.BOOKED:
                continue  # checked in or cancelled since the candidates were read
            booking.status = BookingStatus.NO_SHOW
            booking.no_show_at = now
            _event(session, booking, action="no_show", actor=actor, now=now)
            count += 1
    session.flush()
    return count


@atomic
def expire_lapsed(session: Session, *, now: datetime, policy: BookingPolicy) -> int:
    """Free expired holds, due reserves and cooled seats everywhere (the scheduled job)."""
    freed = 0
    for session_id in seats.sessions_with_lapsed_seats(session, now=now, rebook_delay=policy.rebook_delay):
        row = seats.lock_session(session, session_id)
        freed += seats.sweep(session, row, now=now, rebook_delay=policy.rebook_delay)
    return freed


def bookings_for_phone(session: Session, phone: str, *, since: date | None = None) -> list[Booking]:
    """A person's bookings, found by their number however it was written."""
    query = select(Booking).where(Booking.phone == parse_contact(phone).number)
    if since is not None:
        query = query.where(Booking.date >= since)
    return list(session.scalars(query.order_by(Booking.date, Booking.session_code, Booking.queue_number)))
