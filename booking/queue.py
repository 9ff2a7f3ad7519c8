"""The day at the office: desks calling the queue, and walk-in tickets.

Queue order. The people waiting are today's bookings at the office that are checked in and not yet
called. They are called by arrival window, earliest first, then by queue number within the window.
Somebody checked in whose window has already passed is therefore called before anyone of a later
window (they were there in time for an earlier slot, or are late and still ahead of later slots);
somebody who came early waits for everyone of the earlier windows who is there, but a desk with
nobody else to call calls them. A walk-in gets the window that is running when they arrive and
the session's next queue number, so they come after that window's bookings.

A person sent to another desk (`transfer`) waits for that desk only: its next call takes them
before the common queue.

Calling is atomic: on PostgreSQL the next person's row is taken with SELECT … FOR UPDATE SKIP
LOCKED, so desks calling at once each take a different person without waiting on each other; on
both engines the claim is a conditional UPDATE (… WHERE desk_id IS NULL) whose row count says
whether it won, and a desk that lost tries the next person. A desk's own row is locked first, so
one desk never calls two people at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from statistics import median
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Select, func, select, update
from sqlalchemy.orm import Session

from booking import seats
from booking.bookings import Actor, _event, _insert_booking, _lock_plans, atomic, local_now
from booking.citizens import lock_citizen
from booking.errors import (
    AlreadyBookedForSession, BookingError, InvalidSettings, NotFound, OfficeClosed, OfficeInactive, SessionFull,
    WindowFull,
)
from booking.i18n import N_
from booking.lookup import get_or_not_found
from booking.models import Booking, BookingStatus, Channel, Desk, Office, OfficeSession
from booking.phones import parse_contact
from booking.policy import BookingPolicy
from booking.schedule import plan_days


class DeskBusy(BookingError):
    code = "desk_busy"
    message = N_("Desk %(desk)s is still serving %(queue)s: mark them served or not come first.")


class NobodyAtDesk(BookingError):
    code = "nobody_at_desk"
    message = N_("Nobody is being served at this desk.")


class DeskInactive(BookingError):
    code = "desk_inactive"
    message = N_("This desk is not in use.")


class NoSessionLeft(BookingError):
    code = "no_session_left"
    message = N_("The office has no session left today.")


# Earliest arrival window first (a morning window starts before any afternoon one), then queue number.
QUEUE_ORDER = (Booking.arrival_start, Booking.queue_number, Booking.id)


def today_at(office: Office, now: datetime) -> date:
    return local_now(office, now).date()


def _waiting_here(office_id: int, day: date) -> ColumnElement[bool]:
    return ((Booking.office_id == office_id) & (Booking.date == day) & (Booking.status == BookingStatus.CHECKED_IN)
            & Booking.desk_id.is_(None))


def _sent_to(desk_id: int) -> ColumnElement[bool]:
    """People transferred to this desk and not yet called by it."""
    return (Booking.desk_id == desk_id) & Booking.called_at.is_(None) & (Booking.status == BookingStatus.CHECKED_IN)


def _at(desk_id: int) -> ColumnElement[bool]:
    """The person this desk has called and not yet finished with."""
    return (Booking.desk_id == desk_id) & Booking.called_at.is_not(None) & (Booking.status == BookingStatus.CHECKED_IN)


# -- desks -----------------------------------------------------------------------------------------

def desks(session: Session, office_id: int, *, active_only: bool = False) -> list[Desk]:
    query = select(Desk).where(Desk.office_id == office_id)
    if active_only:
        query = query.where(Desk.active.is_(True))
    return list(session.scalars(query.order_by(Desk.number)))


def save_desk(session: Session, *, office_id: int, number: int, name: str, active: bool = True,
              desk_id: int | None = None) -> Desk:
    """Add a desk or change one (its number, name, whether it is in use)."""
    name = " ".join(name.split())
    if not 1 <= number <= 999 or len(name) > 60:
        raise InvalidSettings(detail="a desk number is 1-999 and its name at most 60 characters")
    desk = Desk(office_id=office_id) if desk_id is None else desk_of(session, office_id, desk_id)
    clash = session.scalar(select(Desk.id).where(Desk.office_id == office_id, Desk.number == number,
                                                 Desk.id != (desk_id or 0)))
    if clash is not None:
        raise InvalidSettings(detail=f"desk {number} exists already")
    session.add(desk)
    desk.number, desk.name, desk.active = number, name, active
    session.flush()
    return desk


def desk_of(session: Session, office_id: int, desk_id: int, *, lock: bool = False) -> Desk:
    """The office's desk (another office's is not found); `lock` serialises this desk's calls."""
    query = select(Desk).where(Desk.id == desk_id, Desk.office_id == office_id)
    if lock:
        query = query.with_for_update(key_share=True).execution_options(populate_existing=True)
    desk = session.scalar(query)
    if desk is None:
        raise NotFound()
    return desk


def _working(session: Session, office_id: int, desk_id: int) -> Desk:
    desk = desk_of(session, office_id, desk_id, lock=True)
    if not desk.active:
        raise DeskInactive()
    return desk


def current(session: Session, desk_id: int) -> Booking | None:
    return session.scalar(select(Booking).where(_at(desk_id)).order_by(Booking.called_at.desc()).limit(1))


def waiting(session: Session, office_id: int, day: date, *, limit: int | None = None) -> list[Booking]:
    """The common queue, in calling order."""
    query = select(Booking).where(_waiting_here(office_id, day)).order_by(*QUEUE_ORDER)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def waiting_count(session: Session, office_id: int, day: date, *, desk_id: int | None = None) -> int:
    """How many wait in the common queue (and, for a desk, for that desk alone)."""
    condition = _waiting_here(office_id, day)
    if desk_id is not None:
        condition = condition | (_sent_to(desk_id) & (Booking.date == day))
    return session.scalar(select(func.count()).select_from(Booking).where(condition)) or 0


def _claim(session: Session, candidates: Select[int], still: ColumnElement[bool], desk: Desk,
           now: datetime) -> int | None:
    """Give the first candidate to `desk` with a conditional UPDATE; None when there is nobody left."""
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True, of=Booking)
    for _attempt in range(20):
        booking_id = session.scalar(candidates.limit(1))
        if booking_id is None:
            return None
        won = cast(CursorResult[Any], session.execute(
            update(Booking).where(Booking.id == booking_id, still)
            .values(desk_id=desk.id, called_at=now, call_count=Booking.call_count + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )).rowcount
        if won == 1:
            return int(booking_id)
    return None  # lost twenty times in a row: the desk presses again


@atomic
def call_next(session: Session, *, office_id: int, desk_id: int, actor: Actor, now: datetime) -> Booking | None:
    """Call the next person to `desk_id`: someone sent to it first, then the common queue; None if nobody waits."""
    desk = _working(session, office_id, desk_id)
    busy = current(session, desk.id)
    if busy is not None:
        raise DeskBusy(desk=desk.number, queue=busy.queue_label)
    office = get_or_not_found(session, Office, office_id)
    day = today_at(office, now)
    claimed = _claim(session, select(Booking.id).where(_sent_to(desk.id), Booking.date == day)
                     .order_by(Booking.updated_at, *QUEUE_ORDER), _sent_to(desk.id), desk, now)
    if claimed is None:
        claimed = _claim(session, select(Booking.id).where(_waiting_here(office_id, day)).order_by(*QUEUE_ORDER),
                         Booking.desk_id.is_(None) & (Booking.status == BookingStatus.CHECKED_IN), desk, now)
    if claimed is None:
        return None
    booking = get_or_not_found(session, Booking, claimed, populate_existing=True)
    _event(session, booking, action="called", actor=actor, now=now, detail={"desk": desk.number})
    session.flush()
    return booking


def _serving(session: Session, office_id: int, desk_id: int) -> tuple[Desk, Booking]:
    desk = _working(session, office_id, desk_id)
    booking = current(session, desk.id)
    if booking is None:
        raise NobodyAtDesk()
    session.refresh(booking, with_for_update=True)
    if booking.status is not BookingStatus.CHECKED_IN or booking.desk_id != desk.id or booking.called_at is None:
        raise NobodyAtDesk()  # served, or sent on, by another request while this one waited for the row
    return desk, booking


@atomic
def recall(session: Session, *, office_id: int, desk_id: int, actor: Actor, now: datetime) -> Booking:
    """Call the desk's current person again (they did not come up yet): shown and chimed once more."""
    desk, booking = _serving(session, office_id, desk_id)
    booking.called_at, booking.call_count = now, booking.call_count + 1
    _event(session, booking, action="recalled", actor=actor, now=now,
           detail={"desk": desk.number, "calls": booking.call_count})
    session.flush()
    return booking


@atomic
def transfer(session: Session, *, office_id: int, desk_id: int, to_desk_id: int, actor: Actor,
             now: datetime) -> Booking:
    """Send the desk's current person to another desk of the office, which calls them next."""
    desk, booking = _serving(session, office_id, desk_id)
    target = desk_of(session, office_id, to_desk_id)
    if not target.active:
        raise DeskInactive()
    if target.id == desk.id:
        raise InvalidSettings(detail="a person is sent to another desk")
    booking.desk_id, booking.called_at = target.id, None
    _event(session, booking, action="transferred", actor=actor, now=now,
           detail={"desk": desk.number, "to_desk": target.number})
    session.flush()
    return booking


def serving(session: Session, *, office_id: int, desk_id: int) -> Booking:
    """The desk's current person, for the served and no-show actions (which lock and change it)."""
    desk = desk_of(session, office_id, desk_id)
    booking = current(session, desk.id)
    if booking is None:
        raise NobodyAtDesk()
    return booking


@atomic
def not_at_counter(session: Session, *, office_id: int, desk_id: int, actor: Actor, now: datetime) -> Booking:
    """The called person did not come to the desk: marked as not having come."""
    desk, booking = _serving(session, office_id, desk_id)
    booking.status, booking.no_show_at = BookingStatus.NO_SHOW, now
    _event(session, booking, action="no_show", actor=actor, now=now, detail={"desk": desk.number})
    session.flush()
    return booking


# -- the public display ------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeskShown:
    number: int
    name: str
    queue: str | None  # the number being served, if any
    calls: int  # how often it was called: a recall changes it, so the display chimes again


@dataclass(frozen=True)
class Board:
    desks: tuple[DeskShown, ...]
    next: tuple[str, ...]
    waiting: int


def board(session: Session, office: Office, *, now: datetime, upcoming: int = 6) -> Board:
    """What the office's screen shows: queue numbers and desks, nothing about anybody."""
    day = today_at(office, now)
    shown = []
    for desk in desks(session, office.id, active_only=True):
        booking = current(session, desk.id)
        shown.append(DeskShown(desk.number, desk.name, booking.queue_label if booking else None,
                               booking.call_count if booking else 0))
    queue = tuple(b.queue_label for b in waiting(session, office.id, day, limit=upcoming))
    return Board(tuple(shown), queue, waiting_count(session, office.id, day))


# -- walk-ins ------------------------------------------------------------------------------------------

def _todays_session(session: Session, office: Office, now: datetime) -> OfficeSession:
    """The session running now, or the next one today, opened and locked."""
    day = today_at(office, now)
    (planned_day,) = plan_days(session, [office], day, day)[office.id]
    if planned_day.closed_reason is not None:
        raise OfficeClosed(date=day.strftime("%d/%m/%Y"))
    tz = local_now(office, now).tzinfo
    assert tz is not None
    planned = next((s for s in planned_day.sessions if datetime.combine(day, s.end_time, tz) > now), None)
    if planned is None:
        raise NoSessionLeft()
    row_id = session.scalar(select(OfficeSession.id).where(
        OfficeSession.office_id == office.id, OfficeSession.date == day, OfficeSession.code == planned.code))
    if row_id is None:
        row_id = seats.ensure_session(session, office, planned, now=now)
    row = seats.lock_session(session, row_id)
    if row.closed:
        raise OfficeClosed(date=day.strftime("%d/%m/%Y"))
    return row


@atomic
def issue_walk_in(session: Session, *, office_id: int, actor: Actor, now: datetime, policy: BookingPolicy,
                  phone: str | None = None, name: str | None = None, language: str = "vi") -> Booking:
    """A ticket for somebody at the counter without an appointment: a seat of the session running now.

    The same seat rules as a booking (session capacity, the window's crowd limit, locks), drawing
    on the walk-in reserve first; no booking cut-off, as the person is already here. The ticket is
    checked in at once and takes the window running now (or the next with room). A phone is optional.
    """
    number = parse_contact(phone).number if phone and phone.strip() else ""
    _lock_plans(session, office_id)
    if number:
        lock_citizen(session, number, now=now, name=name)
    office = get_or_not_found(session, Office, office_id, populate_existing=True)
    if not office.active:
        raise OfficeInactive()
    row = _todays_session(session, office, now)
    seats.sweep(session, row, now=now, rebook_delay=policy.rebook_delay)
    if number and session.scalar(select(Booking.id).where(
            Booking.session_id == row.id, Booking.phone == number, Booking.status != BookingStatus.CANCELLED)):
        raise AlreadyBookedForSession()
    clock = local_now(office, now).time()
    for window in [w for w in row.windows if w.end_time > clock]:
        try:
            with session.begin_nested():
                seat = seats.take_seat(session, row, channel=Channel.WALKIN, as_hold=False,
                                       window_position=window.position)
            break
        except WindowFull:
            continue
    else:
        raise SessionFull()
    booking = _insert_booking(session, office=office, row=row, seat=seat, phone=number, name=name, procedure=None,
                              channel=Channel.WALKIN, actor=actor, language=language, now=now)
    booking.status, booking.checked_in_at = BookingStatus.CHECKED_IN, now
    _event(session, booking, action="checked_in", actor=actor, now=now)
    session.flush()
    return booking


# -- the day at the desks -----------------------------------------------------------------------------

@dataclass(frozen=True)
class DeskDay:
    """One desk's day: how many it served, how many did not come up, the median minutes waited and served."""

    number: int
    name: str
    served: int
    not_come: int
    median_wait: int | None  # from check-in to the (last) call
    median_service: int | None  # from the call to served


def _median_minutes(spans: list[float]) -> int | None:
    return round(median(spans) / 60) if spans else None


def day_at_desks(session: Session, office: Office, day: date) -> list[DeskDay]:
    """What each of the office's desks did on `day`, for its manager."""
    rows = session.execute(select(Booking.desk_id, Booking.status, Booking.checked_in_at, Booking.called_at,
                                  Booking.served_at).where(Booking.office_id == office.id, Booking.date == day,
                                                           Booking.desk_id.is_not(None))).all()
    shown = []
    for desk in desks(session, office.id):
        mine = [r for r in rows if r.desk_id == desk.id]
        served = [r for r in mine if r.status is BookingStatus.SERVED]
        waits = [(r.called_at - r.checked_in_at).total_seconds() for r in mine if r.called_at and r.checked_in_at]
        services = [(r.served_at - r.called_at).total_seconds() for r in served if r.served_at and r.called_at]
        shown.append(DeskDay(desk.number, desk.name, len(served),
                             sum(1 for r in mine if r.status is BookingStatus.NO_SHOW),
                             _median_minutes(waits), _median_minutes(services)))
    return shown
