"""Holding, confirming, booking, finding, cancelling and moving appointments, for every channel.

Each function authorises the actor, calls the domain service (which enforces the booking rules),
queues the SMS the change calls for and writes the audit entry, all in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import select

from actions import audit
from actions.context import Context, Proof
from actions.errors import NotAllowed
from booking import bookings
from booking.errors import NotFound
from booking.models import Booking, BookingStatus, Channel, Hold
from notifications import notices

CODE_PROVES = frozenset({Channel.IVR})  # where knowing a booking's code is enough to manage it


def state(booking: Booking) -> dict[str, Any]:
    """What the audit log keeps of a booking before and after a change (the same for every channel)."""
    return {"office_id": booking.office_id, "date": booking.date, "session": booking.session_code,
            "queue": booking.queue_label, "arrival_start": booking.arrival_start,
            "arrival_end": booking.arrival_end, "status": booking.status, "phone": booking.phone,
            "channel": booking.channel}


def audited(ctx: Context, action: str, booking: Booking, *, before: dict[str, Any] | None = None) -> None:
    """One audit entry for a change of a booking, the same payload whichever channel made it."""
    audit.record(ctx.db, actor=ctx.actor.name, action=action, target_type="booking", target_id=booking.code,
                 office_id=booking.office_id, before=before, after=state(booking), now=ctx.now, ip=ctx.actor.ip)


def _books_for_others(ctx: Context, office_id: int) -> None:
    """Staff book for callers at the offices they handle; citizens hold and confirm for themselves."""
    if not ctx.actor.may_handle(office_id):
        raise NotAllowed()


def _authorise(ctx: Context, booking: Booking, *, by_code: bool) -> Booking:
    """The booking, if the actor may see and change it; otherwise it does not exist for them.

    Staff within their offices; a citizen for the bookings of the number they proved is theirs;
    on the phone, anyone who reads out the booking's code (the confirmation SMS went to its own
    number, so the code is what the person booked with). A typed number proves nothing.
    """
    actor = ctx.actor
    if actor.is_staff:
        if not actor.may_handle(booking.office_id):
            raise NotAllowed()
        return booking
    if actor.phone is not None and booking.phone == actor.phone:
        return booking
    if by_code and actor.channel in CODE_PROVES:
        return booking
    raise NotFound()


def hold(ctx: Context, *, office_id: int, day: date, code: str, contact: str,
         window_position: int | None = None) -> Hold:
    """Keep a seat for the actor while they confirm; `contact` is where the SMS will go, not who they are."""
    if ctx.actor.is_staff:
        _books_for_others(ctx, office_id)
    return bookings.hold_seat(ctx.db, office_id=office_id, day=day, code=code, phone=contact,
                              owner=ctx.actor.holds_as, channel=ctx.actor.channel, now=ctx.now, policy=ctx.policy,
                              window_position=window_position)


def release(ctx: Context, *, hold_id: int) -> bool:
    """Let go of the actor's own hold; another's is left alone."""
    return bookings.release_hold(ctx.db, hold_id=hold_id, owner=ctx.actor.holds_as)


def confirm(ctx: Context, *, hold_id: int, language: str, name: str | None = None,
            procedure_id: int | None = None, field: str | None = None) -> Booking:
    """Turn the actor's hold into a booking; the confirmation SMS goes to the number the hold is for."""
    # The caller chose this language on their own phone: the next call starts in it. A typed
    # number's owner chose nothing.
    own = ctx.actor.phone if ctx.actor.proof is Proof.CALLER_ID else None
    booking = bookings.confirm_hold(ctx.db, hold_id=hold_id, owner=ctx.actor.holds_as, actor=ctx.actor.history,
                                    now=ctx.now, policy=ctx.policy, name=name, procedure_id=procedure_id,
                                    language=language, remember_for=own)
    if field:
        booking.field = field
    notices.confirmed(ctx.db, booking, now=ctx.now, policy=ctx.sms, loc=ctx.loc(booking.language))
    audited(ctx, "booking.create", booking)
    return booking


def book(ctx: Context, *, office_id: int, day: date, code: str, phone: str, language: str,
         name: str | None = None, procedure_id: int | None = None, window_position: int | None = None) -> Booking:
    """Book in one step for a caller (operators, managers, integrations): the rules of hold and confirm."""
    _books_for_others(ctx, office_id)
    booking = bookings.book(ctx.db, office_id=office_id, day=day, code=code, phone=phone, actor=ctx.actor.history,
                            now=ctx.now, policy=ctx.policy, name=name, procedure_id=procedure_id,
                            window_position=window_position, language=language)
    notices.confirmed(ctx.db, booking, now=ctx.now, policy=ctx.sms, loc=ctx.loc(booking.language))
    audited(ctx, "booking.create", booking)
    return booking


def find(ctx: Context, *, code: str) -> Booking:
    """The booking with this code, if the actor may see it (a code is typed: spaces and dashes allowed)."""
    return _authorise(ctx, bookings.find_booking(ctx.db, code), by_code=True)


def of_phone(ctx: Context, *, phone: str | None = None, since: date | None = None,
             live_only: bool = False) -> list[Booking]:
    """A person's bookings: a citizen's own (by the number they proved), or for staff any number's,
    within the offices they handle. A citizen who proved no number has none to list."""
    actor = ctx.actor
    if not actor.is_staff:
        if actor.phone is None:
            return []
        phone = actor.phone
    if phone is None:
        raise NotFound()
    found = [b for b in bookings.bookings_for_phone(ctx.db, phone, since=since)
             if not actor.is_staff or actor.may_handle(b.office_id)]
    return [b for b in found if b.status is BookingStatus.BOOKED] if live_only else found


NAMED_AT_MOST = 50  # bookings a search by name gives back: a page an operator can read


def named(ctx: Context, *, matches: Callable[[str], bool], since: date) -> list[Booking]:
    """Bookings from `since` on whose name `matches` (staff only, within the offices they handle), latest first.

    The edge says how a typed name matches a stored one (without diacritics, a part of it); names are
    read first and only the matching rows loaded, as the database cannot compare without diacritics.
    """
    actor = ctx.actor
    if not actor.is_staff:
        raise NotAllowed()
    rows = ctx.db.execute(select(Booking.id, Booking.name, Booking.office_id)
                          .where(Booking.name.is_not(None), Booking.date >= since)
                          .order_by(Booking.date.desc(), Booking.id.desc()))
    ids = [row.id for row in rows if row.name and matches(row.name) and actor.may_handle(row.office_id)]
    ids = ids[:NAMED_AT_MOST]
    found = {b.id: b for b in ctx.db.scalars(select(Booking).where(Booking.id.in_(ids)))}
    return [found[i] for i in ids]


def cancel(ctx: Context, *, code: str, reason: str = "") -> Booking:
    """Cancel a booking; its seat goes back on sale (after the cooling-off) and the person is told."""
    found = find(ctx, code=code)
    before = state(found)
    booking = bookings.cancel(ctx.db, booking_id=found.id, actor=ctx.actor.history, now=ctx.now, policy=ctx.policy,
                              reason=reason)
    notices.cancelled(ctx.db, booking, now=ctx.now, policy=ctx.sms, loc=ctx.loc(booking.language))
    audited(ctx, "booking.cancel", booking, before=before)
    _seat_freed(ctx, booking.session_id)
    return booking


def move(ctx: Context, *, code: str, office_id: int, day: date, session_code: str,
         window_position: int | None = None, reason: str = "") -> Booking:
    """Move a booking to another session (perhaps at another office), all or nothing; the person is told
    where it was, where it is and why (`reason`; empty: at their own request)."""
    found = find(ctx, code=code)
    if ctx.actor.is_staff:
        _books_for_others(ctx, office_id)
    before = state(found)
    was_session = found.session_id
    booking = bookings.move(ctx.db, booking_id=found.id, office_id=office_id, day=day, code=session_code,
                            actor=ctx.actor.history, now=ctx.now, policy=ctx.policy, window_position=window_position)
    notices.moved(ctx.db, booking, was=before["date"], was_session=before["session"], reason=reason, now=ctx.now,
                  policy=ctx.sms, loc=ctx.loc(booking.language))
    audited(ctx, "booking.move", booking, before=before)
    if was_session != booking.session_id:
        _seat_freed(ctx, was_session)
    return booking


def _seat_freed(ctx: Context, session_id: int) -> None:
    """A seat came free in the session: the next person on its waitlist is offered it."""
    from actions import waitlist  # the waitlist confirms through this module's `audited`

    waitlist.offer_freed_seats(ctx, session_id=session_id)
