"""The waitlist of a full session: joining it, and offering each freed seat to the next person waiting.

A freed seat (a cancellation, a move, a raised capacity, a lapsed hold) is offered by holding it
for the first entry waiting, as a hold owned by the entry (`waitlist:<id>`) that lasts long enough
to call the person and, failing that, text them. Offering runs under the session's row lock, the
lock every seat change takes: two offerers of one session run one after the other, so one seat
never goes to two people, and each entry leaves WAITING by a conditional UPDATE, so one person
never gets two seats. Accepting confirms the hold through `bookings.confirm_hold`, the normal way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from booking import bookings, seats
from booking.bookings import Actor, atomic, local_now
from booking.errors import BookingError, HoldExpired, NotFound, SessionFull, WindowFull
from booking.i18n import N_
from booking.models import (
    ArrivalWindow, Booking, BookingStatus, Channel, Hold, Office, OfficeSession, OfferCall, SessionReserve, WaitlistEntry,
    WaitlistStatus,
)
from booking.phones import parse_contact
from booking.policy import BookingPolicy

LIVE = (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)


class SessionHasRoom(BookingError):
    code = "session_has_room"
    message = N_("This session still has places: please book instead.")


class AlreadyWaiting(BookingError):
    code = "already_waiting"
    message = N_("This phone number is already on the waitlist of this session.")


class OfferGone(BookingError):
    code = "offer_gone"
    message = N_("This place is no longer held for this person.")


@dataclass(frozen=True)
class Joined:
    entry: WaitlistEntry
    ahead: int  # people waiting before this one


def _free_for(row: OfficeSession, channel: Channel, session: Session) -> int:
    """Seats of the locked, swept session that `channel` could take now (its own reserve included)."""
    own = session.scalar(select(func.coalesce(func.sum(SessionReserve.seats - SessionReserve.used), 0)).where(
        SessionReserve.session_id == row.id, SessionReserve.channel == channel,
        SessionReserve.released.is_(False))) or 0
    return row.capacity - row.booked - row.held - row.cooling - row.reserve_left + int(own)


def _has_window_room(session: Session, row: OfficeSession) -> bool:
    return bool(session.scalar(select(func.count()).where(
        ArrivalWindow.session_id == row.id,
        ArrivalWindow.booked + ArrivalWindow.held + ArrivalWindow.cooling < ArrivalWindow.capacity)))


@atomic
def join(session: Session, *, office_id: int, day: date, code: str, phone: str, language: str, channel: Channel,
         created_by: str, phone_verified: bool, now: datetime, policy: BookingPolicy, name: str | None = None,
         procedure_id: int | None = None, field: str | None = None) -> Joined:
    """Put `phone` on the waitlist of a full session; a session with room is booked instead (SessionHasRoom)."""
    phone = parse_contact(phone).number
    bookings._lock_plans(session, office_id)
    office, row = bookings._open_for_booking(session, office_id=office_id, day=day, code=code, now=now, policy=policy)
    if bookings._procedure(session, office, procedure_id) is None:
        procedure_id = None
    if _free_for(row, channel, session) > 0 and _has_window_room(session, row):
        raise SessionHasRoom()
    bookings._check_phone(session, phone=phone, session_id=row.id, today=local_now(office, now).date(),
                          policy=policy)
    entry = WaitlistEntry(
        office_id=office.id, session_id=row.id, date=row.date, session_code=row.code, phone=phone,
        language=language, name=name, procedure_id=procedure_id, field=field, channel=channel, created_by=created_by,
        phone_verified=phone_verified, status=WaitlistStatus.WAITING, created_at=now, updated_at=now, attempts=0)
    try:
        with session.begin_nested():
            session.add(entry)
            session.flush()
    except IntegrityError as exc:
        raise AlreadyWaiting() from exc
    ahead = session.scalar(select(func.count()).where(
        WaitlistEntry.session_id == row.id, WaitlistEntry.status == WaitlistStatus.WAITING,
        WaitlistEntry.id < entry.id)) or 0
    return Joined(entry, ahead)


def _move(session: Session, entry_id: int, frm: WaitlistStatus, to: WaitlistStatus, now: datetime,
          **values: Any) -> bool:
    """Change one entry's status if it is still `frm`: the conditional UPDATE that decides every race."""
    done = cast(CursorResult[Any], session.execute(
        update(WaitlistEntry).where(WaitlistEntry.id == entry_id, WaitlistEntry.status == frm)
        .values(status=to, updated_at=now, **values)))
    return bool(done.rowcount)


@dataclass(frozen=True)
class Offers:
    offered: list[WaitlistEntry]
    expired: list[WaitlistEntry]


def offer_seats(session: Session, *, session_id: int, now: datetime, policy: BookingPolicy,
                hold_for: timedelta) -> Offers:
    """Offer the session's free seats to the people waiting, in the order they joined; lapse lapsed offers.

    Runs in the caller's transaction; takes (or already holds) the session's row lock.
    """
    with session.begin_nested():
        row = seats.lock_session(session, session_id)
        seats.sweep(session, row, now=now, rebook_delay=policy.rebook_delay)
        expired = _expire_offers(session, row, now)
        office = session.get(Office, row.office_id, populate_existing=True)
        assert office is not None
        over = now >= datetime.combine(row.date, row.start_time, local_now(office, now).tzinfo) \
            - timedelta(minutes=office.cutoff_minutes)
        if over:  # the session no longer takes bookings: nobody waiting will get a seat
            for late in _waiting(session, row.id):
                if _move(session, late.id, WaitlistStatus.WAITING, WaitlistStatus.EXPIRED, now):
                    expired.append(late)
            return Offers([], expired)
        if row.closed or not office.active:
            return Offers([], expired)
        offered: list[WaitlistEntry] = []
        skipped: set[int] = set()
        while True:
            first = next((e for e in _waiting(session, row.id) if e.id not in skipped), None)
            if first is None:
                break
            entry = first
            if _blocked(session, row, entry, now):
                skipped.add(entry.id)
                continue
            try:
                with session.begin_nested():
                    seat = seats.take_seat(session, row, channel=entry.channel, as_hold=True)
            except (SessionFull, WindowFull):
                break
            hold = Hold(session_id=row.id, window_id=seat.window_id, phone=entry.phone, owner=entry.hold_owner,
                        channel=entry.channel, reserve_channel=seat.reserve_channel, created_at=now,
                        expires_at=now + hold_for)
            session.add(hold)
            session.flush()
            if not _move(session, entry.id, WaitlistStatus.WAITING, WaitlistStatus.OFFERED, now, offered_at=now,
                         offer_expires_at=now + hold_for, hold_id=hold.id, call_status=OfferCall.DUE,
                         call_sid=None, attempts=0):
                raise RuntimeError("a waiting entry changed under the session's lock")
            session.refresh(entry)
            offered.append(entry)
            session.refresh(row)
        return Offers(offered, expired)


def _waiting(session: Session, session_id: int) -> list[WaitlistEntry]:
    return list(session.scalars(
        select(WaitlistEntry).where(WaitlistEntry.session_id == session_id,
                                    WaitlistEntry.status == WaitlistStatus.WAITING)
        .order_by(WaitlistEntry.id).limit(50).execution_options(populate_existing=True)))


def _blocked(session: Session, row: OfficeSession, entry: WaitlistEntry, now: datetime) -> bool:
    """The entry cannot take a seat now: booked meanwhile (it leaves the list), or a call holds one for it."""
    booked = session.scalar(select(Booking.id).where(
        Booking.session_id == row.id, Booking.phone == entry.phone, Booking.status != BookingStatus.CANCELLED))
    if booked is not None:
        _move(session, entry.id, WaitlistStatus.WAITING, WaitlistStatus.CANCELLED, now)
        return True
    return session.scalar(select(Hold.id).where(Hold.session_id == row.id, Hold.phone == entry.phone)) is not None


def _expire_offers(session: Session, row: OfficeSession, now: datetime) -> list[WaitlistEntry]:
    """Offers of the locked session whose hold has lapsed (swept already) or gone: the offer passes on."""
    lapsed = list(session.scalars(select(WaitlistEntry).where(
        WaitlistEntry.session_id == row.id, WaitlistEntry.status == WaitlistStatus.OFFERED,
        (WaitlistEntry.offer_expires_at <= now) | ~select(Hold.id).where(
            Hold.id == WaitlistEntry.hold_id).exists())))
    gone = []
    for entry in lapsed:
        if entry.hold_id is not None:
            bookings.release_hold(session, hold_id=entry.hold_id, owner=entry.hold_owner)
        if _move(session, entry.id, WaitlistStatus.OFFERED, WaitlistStatus.EXPIRED, now):
            session.refresh(entry)
            gone.append(entry)
    return gone


def get(session: Session, entry_id: int) -> WaitlistEntry:
    entry = session.get(WaitlistEntry, entry_id, populate_existing=True)
    if entry is None:
        raise NotFound()
    return entry


@atomic
def accept(session: Session, *, entry_id: int, actor: Actor, now: datetime, policy: BookingPolicy) -> Booking:
    """Turn the seat held for the entry into a booking (the normal confirmation); OfferGone if it lapsed."""
    entry = get(session, entry_id)
    if entry.status is not WaitlistStatus.OFFERED or entry.hold_id is None:
        raise OfferGone()
    try:
        booking = bookings.confirm_hold(session, hold_id=entry.hold_id, owner=entry.hold_owner, actor=actor, now=now,
                                        policy=policy, name=entry.name, procedure_id=entry.procedure_id,
                                        language=entry.language)
    except HoldExpired as exc:
        raise OfferGone() from exc
    if entry.field:
        booking.field = entry.field
    if not _move(session, entry.id, WaitlistStatus.OFFERED, WaitlistStatus.ACCEPTED, now, booking_id=booking.id):
        raise OfferGone()
    session.refresh(entry)
    return booking


@atomic
def give_up(session: Session, *, entry_id: int, to: WaitlistStatus, now: datetime) -> WaitlistEntry:
    """Decline an offer (to DECLINED) or leave the waitlist (to CANCELLED), giving back any seat held."""
    entry = get(session, entry_id)
    if entry.status not in LIVE or (to is WaitlistStatus.DECLINED and entry.status is not WaitlistStatus.OFFERED):
        raise OfferGone()
    was = entry.status
    if was is WaitlistStatus.OFFERED and entry.hold_id is not None:
        seats.lock_session(session, entry.session_id)  # under the lock the offerers take
        bookings.release_hold(session, hold_id=entry.hold_id, owner=entry.hold_owner)
    if not _move(session, entry.id, was, to, now):
        raise OfferGone()
    session.refresh(entry)
    return entry


def live_offer(phone: Any, now: Any) -> Select[Any]:
    """The id of the live offer held for this number, if any (a caller ringing the hotline from it claims it).

    `phone` and `now` are values or bound parameters: the hotline reads it within the call's own upsert.
    """
    return select(WaitlistEntry.id).where(
        WaitlistEntry.phone == phone, WaitlistEntry.status == WaitlistStatus.OFFERED,
        WaitlistEntry.offer_expires_at > now).order_by(WaitlistEntry.offer_expires_at).limit(1)


def sessions_to_offer(session: Session, *, today: date, office_id: int | None = None, limit: int = 500) -> list[int]:
    """Sessions with people waiting or offers out (for the sweeping job, should a trigger have failed)."""
    query = select(WaitlistEntry.session_id).where(
        WaitlistEntry.status.in_(LIVE), WaitlistEntry.date >= today - timedelta(days=1))
    if office_id is not None:
        query = query.where(WaitlistEntry.office_id == office_id)
    return sorted(session.scalars(query.distinct().limit(limit)))


def live_entries(session: Session, *, session_id: int) -> list[WaitlistEntry]:
    return list(session.scalars(select(WaitlistEntry).where(
        WaitlistEntry.session_id == session_id, WaitlistEntry.status.in_(LIVE)).order_by(WaitlistEntry.id)))


def live_entries_of_phone(session: Session, *, phone: str) -> list[WaitlistEntry]:
    return list(session.scalars(select(WaitlistEntry).where(
        WaitlistEntry.phone == phone, WaitlistEntry.status.in_(LIVE)).order_by(WaitlistEntry.date, WaitlistEntry.id)))


__all__ = [
    "AlreadyWaiting", "Joined", "OfferGone", "Offers", "SessionHasRoom", "accept", "get", "give_up", "join",
    "live_entries", "live_entries_of_phone", "live_offer", "offer_seats", "sessions_to_offer",
]
