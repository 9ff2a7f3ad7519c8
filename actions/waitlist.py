"""The waitlist, as people use it: join a full session's list, leave it, and take or refuse a freed seat.

`offer_freed_seats` is what every change that frees a seat calls afterwards (a cancellation, a
move, a raised capacity, a lapsed hold), in the same transaction; the scheduler sweeps too, so a
seat is offered even when a trigger failed. Every offer, acceptance, refusal and lapse is audited.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from actions import audit
from actions.bookings import audited
from actions.context import Context, Proof
from actions.errors import NotAllowed
from booking import waitlist
from booking.errors import NotFound
from booking.models import Booking, WaitlistEntry, WaitlistStatus
from notifications import notices
from notifications import waitlist as waitlist_texts


def state(entry: WaitlistEntry) -> dict[str, Any]:
    """What the audit log keeps of an entry."""
    return {"office_id": entry.office_id, "date": entry.date, "session": entry.session_code, "phone": entry.phone,
            "status": entry.status, "channel": entry.channel, "hold_id": entry.hold_id,
            "offer_expires_at": entry.offer_expires_at, "booking_id": entry.booking_id}


def _audit(ctx: Context, action: str, entry: WaitlistEntry, *, before: dict[str, Any] | None = None) -> None:
    audit.record(ctx.db, actor=ctx.actor.name, action=action, target_type="waitlist", target_id=entry.id,
                 office_id=entry.office_id, before=before, after=state(entry), now=ctx.now, ip=ctx.actor.ip)


def _authorise(ctx: Context, entry: WaitlistEntry) -> WaitlistEntry:
    """Staff within the offices they handle; a citizen for the number they proved is theirs."""
    actor = ctx.actor
    if actor.is_staff:
        if not actor.may_handle(entry.office_id):
            raise NotAllowed()
        return entry
    if actor.phone is not None and actor.phone == entry.phone:
        return entry
    raise NotFound()


def join(ctx: Context, *, office_id: int, day: date, code: str, phone: str, language: str,
         name: str | None = None, procedure_id: int | None = None, field: str | None = None) -> waitlist.Joined:
    """Put a number on a full session's waitlist; `phone` is where we call and text (typed numbers are fine)."""
    actor = ctx.actor
    if actor.is_staff and not actor.may_handle(office_id):
        raise NotAllowed()
    joined = waitlist.join(ctx.db, office_id=office_id, day=day, code=code, phone=phone, language=language,
                           channel=actor.channel, created_by=actor.name,
                           phone_verified=actor.proof is Proof.CALLER_ID and actor.phone is not None
                           and actor.phone == phone,
                           now=ctx.now, policy=ctx.policy, name=name, procedure_id=procedure_id, field=field)
    _audit(ctx, "waitlist.join", joined.entry)
    return joined


def offer_freed_seats(ctx: Context, *, session_id: int) -> waitlist.Offers:
    """Offer the session's free seats to the next people waiting; the lapsed offers pass on (audited)."""
    # Nobody is rung at night: a seat offered in quiet hours is held until the morning's call has had its time.
    morning = ctx.sms.due(ctx.now, urgent=False)
    offers = waitlist.offer_seats(ctx.db, session_id=session_id, now=ctx.now, policy=ctx.policy,
                                  hold_for=ctx.policy.waitlist_hold + (morning - ctx.now))
    for entry in offers.expired:
        _audit(ctx, "waitlist.expire", entry)
    for entry in offers.offered:
        _audit(ctx, "waitlist.offer", entry)
    return offers


def accept(ctx: Context, *, entry_id: int) -> Booking:
    """Take the seat held for the entry: a booking, its confirmation SMS, the audit entries."""
    entry = _authorise(ctx, waitlist.get(ctx.db, entry_id))
    before = state(entry)
    booking = waitlist.accept(ctx.db, entry_id=entry.id, actor=ctx.actor.history, now=ctx.now, policy=ctx.policy)
    notices.confirmed(ctx.db, booking, now=ctx.now, policy=ctx.sms, loc=ctx.loc(booking.language))
    audited(ctx, "booking.create", booking)
    _audit(ctx, "waitlist.accept", entry, before=before)
    return booking


def _give_up(ctx: Context, entry_id: int, to: WaitlistStatus, action: str) -> WaitlistEntry:
    entry = _authorise(ctx, waitlist.get(ctx.db, entry_id))
    before = state(entry)
    entry = waitlist.give_up(ctx.db, entry_id=entry.id, to=to, now=ctx.now)
    _audit(ctx, action, entry, before=before)
    if before["status"] is WaitlistStatus.OFFERED:
        offer_freed_seats(ctx, session_id=entry.session_id)
    return entry


def decline(ctx: Context, *, entry_id: int) -> WaitlistEntry:
    """Refuse the seat held for the entry: it goes to the next person waiting."""
    return _give_up(ctx, entry_id, WaitlistStatus.DECLINED, "waitlist.decline")


def leave(ctx: Context, *, entry_id: int) -> WaitlistEntry:
    """Leave the waitlist (and any seat held for the entry, which goes to the next)."""
    return _give_up(ctx, entry_id, WaitlistStatus.CANCELLED, "waitlist.leave")


def unanswered(ctx: Context, *, entry_id: int) -> bool:
    """The offer call was not answered (no-answer, busy, failed): one SMS says how to claim the seat in time."""
    entry = waitlist.get(ctx.db, entry_id)
    if entry.status is not WaitlistStatus.OFFERED:
        return False
    queued = waitlist_texts.offer_sms(ctx.db, entry, hotline=ctx.sms.hotline, now=ctx.now, policy=ctx.sms,
                                      loc=ctx.loc(entry.language))
    if queued is not None:
        _audit(ctx, "waitlist.offer_sms", entry)
    return queued is not None


def of_session(ctx: Context, *, office_id: int, session_id: int) -> list[WaitlistEntry]:
    """Who is waiting or offered a seat in a session (staff within the offices they handle)."""
    if not ctx.actor.may_handle(office_id):
        raise NotAllowed()
    return [e for e in waitlist.live_entries(ctx.db, session_id=session_id) if e.office_id == office_id]


def of_phone(ctx: Context, *, phone: str) -> list[WaitlistEntry]:
    """A number's live waitlist entries at the offices the staff member handles (the caller lookup)."""
    if not ctx.actor.is_staff:
        raise NotAllowed()
    return [e for e in waitlist.live_entries_of_phone(ctx.db, phone=phone) if ctx.actor.may_handle(e.office_id)]


def offer_office(ctx: Context, *, office_id: int | None = None) -> int:
    """Offer the free seats of every session with people waiting (of one office, or all); how many offers.

    After a change of an office's capacity or crowd limit, and on the scheduler's sweep, which also
    passes lapsed offers on should a trigger have failed.
    """
    made = 0
    for session_id in sessions_to_offer(ctx, office_id=office_id):
        made += len(offer_freed_seats(ctx, session_id=session_id).offered)
    return made


def sessions_to_offer(ctx: Context, *, office_id: int | None = None) -> list[int]:
    """The sessions with people waiting or offered a seat: the sweep offers each in a transaction of its own,
    so that it never holds the row locks of many busy sessions at once."""
    return list(waitlist.sessions_to_offer(ctx.db, today=ctx.now.date(), office_id=office_id))


__all__ = ["accept", "decline", "join", "leave", "of_phone", "of_session", "offer_freed_seats", "offer_office", "sessions_to_offer",
           "unanswered"]
