"""A citizen's rights over their data (Law 91/2025/QH15), carried out by an administrator: see it all, erase it all.

Both are for administrators only and both are audited, the audit entry naming the number by its last
three digits only: an erasure that kept the number in the log would not have erased it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from accounts.models import Role
from actions import audit
from actions import bookings as booking_actions
from actions import waitlist as waitlist_actions
from actions.context import Context
from actions.errors import NotAllowed
from actions.retention import (LIVE_WAITLIST, anonymise_bookings, anonymise_waitlist, anonymise_callbacks, anonymise_calls,
                               anonymise_messages, ERASED, calls_table, forget_citizens, mask, mentions, redact_audit)
from booking.bookings import local_now
from booking.errors import BookingError, NotCancellable
from booking.i18n import N_
from booking.models import Booking, BookingStatus, CallbackRequest, Campaign, CampaignTarget, Citizen, WaitlistEntry
from booking.phones import parse_phone
from notifications import campaigns
from notifications.models import BroadcastNumber, OutboxMessage

ERASURE_REASON = "the person asked for their data to be erased"


class UpcomingBookings(BookingError):
    """Erasing would leave somebody booked under a number nobody can reach: they are cancelled first, when asked."""

    code = "upcoming_bookings"
    message = N_("This number still has %(count)s upcoming appointment(s). Confirm that they be cancelled "
                 "(the person is told by SMS) before the data is erased.")


def _authorise(ctx: Context) -> None:
    if not (ctx.actor.is_staff and ctx.actor.role is Role.ADMIN):
        raise NotAllowed()


def _number(phone: str) -> str:
    """The number in E.164 however it was typed (raises InvalidPhone, a 4xx at the edges)."""
    return parse_phone(phone).number


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _booking(b: Booking) -> dict[str, Any]:
    plain: dict[str, Any] = audit.plain({
        "code": b.code, "office": b.office.name, "date": b.date, "session": b.session_code, "queue": b.queue_label,
        "arrival": [b.arrival_start, b.arrival_end], "status": b.status, "name": b.name,
        "procedure": b.procedure.name if b.procedure else None, "field": b.field, "channel": b.channel,
        "language": b.language, "created_at": b.created_at, "cancelled_at": b.cancelled_at,
        "checked_in_at": b.checked_in_at, "served_at": b.served_at, "no_show_at": b.no_show_at,
        "history": [{"at": e.at, "action": e.action, "channel": e.channel} for e in b.events]})
    return plain


def export(ctx: Context, *, phone: str) -> dict[str, Any]:
    """Everything kept under a number: bookings, messages, calls, call-back requests, waitlists, choices,
    broadcast lists, call campaigns' lists."""
    _authorise(ctx)
    number = _number(phone)
    db = ctx.db
    citizen = db.get(Citizen, number)
    calls = calls_table()
    data: dict[str, Any] = {
        "phone": number, "exported_at": ctx.now.isoformat(),
        "citizen": None if citizen is None else {
            "name": citizen.name, "language": citizen.language, "receives_notices": not citizen.broadcast_opt_out,
            "opted_out_at": _iso(citizen.opted_out_at), "first_contact": _iso(citizen.created_at)},
        "bookings": [_booking(b) for b in db.scalars(
            select(Booking).where(Booking.phone == number).order_by(Booking.date, Booking.id))],
        "messages": [audit.plain({"kind": m.kind, "channel": m.channel, "status": m.status, "text": m.body,
                                  "created_at": m.created_at,
                                  "sent_at": m.sent_at}) for m in db.scalars(
            select(OutboxMessage).where(OutboxMessage.recipient == number).order_by(OutboxMessage.id))],
        "calls": [audit.plain({"started_at": c.started_at, "ended_at": c.ended_at, "outcome": c.outcome,
                               "duration_seconds": c.duration_seconds, "language": c.language, "collected": c.context})
                  for c in db.execute(select(calls).where(calls.c.caller == number).order_by(calls.c.started_at))],
        "callbacks": [audit.plain({"requested_at": r.requested_at, "done_at": r.done_at, "note": r.note,
                                   "collected": r.context}) for r in db.scalars(
            select(CallbackRequest).where(CallbackRequest.phone == number).order_by(CallbackRequest.id))],
        "waitlist": [audit.plain({"office": e.office_id, "date": e.date, "session": e.session_code, "name": e.name,
                                  "status": e.status, "joined_at": e.created_at}) for e in db.scalars(
            select(WaitlistEntry).where(WaitlistEntry.phone == number).order_by(WaitlistEntry.id))],
        "broadcast_lists": list(db.scalars(select(BroadcastNumber.broadcast_id)
                                           .where(BroadcastNumber.phone == number).order_by(BroadcastNumber.broadcast_id))),
        "campaign_targets": [audit.plain({
            "campaign": c.title, "office": c.office_id, "name": t.name, "status": t.status, "attempts": t.attempts,
            "last_called_at": t.last_attempt_at}) for t, c in db.execute(
            select(CampaignTarget, Campaign).join(Campaign, Campaign.id == CampaignTarget.campaign_id)
            .where(CampaignTarget.phone == number).order_by(CampaignTarget.id)).all()],
    }
    counts = {key: len(data[key]) for key in ("bookings", "messages", "calls", "callbacks", "waitlist", "broadcast_lists",
                                              "campaign_targets")}
    audit.record(db, actor=ctx.actor.name, action="privacy.export", target_type="citizen", target_id=mask(number),
                 now=ctx.now, after=counts, ip=ctx.actor.ip)
    return data


@dataclass
class Erased:
    """What an erasure changed, by kind of record."""

    cancelled: list[str] = field(default_factory=list)  # codes of the upcoming bookings cancelled first
    counts: dict[str, int] = field(default_factory=dict)


def upcoming(ctx: Context, *, phone: str) -> list[Booking]:
    """The number's appointments still to come, which an erasure must cancel first."""
    _authorise(ctx)
    live = ctx.db.scalars(select(Booking).where(Booking.phone == _number(phone), Booking.status == BookingStatus.BOOKED,
                                                Booking.date >= ctx.now.date() - timedelta(days=1))
                          .order_by(Booking.date, Booking.id))
    return [b for b in live if b.date >= local_now(b.office, ctx.now).date()]  # each office keeps its own day


def erase(ctx: Context, *, phone: str, cancel_upcoming: bool = False) -> Erased:
    """Anonymise everything kept under a number, as the purge does when records expire, all at once.

    Upcoming appointments are refused (`UpcomingBookings`) unless `cancel_upcoming`: then each is
    cancelled as any cancellation is (its seat goes back on sale, the person is told by SMS). Messages
    still waiting to be sent, that notice among them, and a call still going on keep their number until
    they are over; the nightly purge takes them later. A choice to receive no notices is kept, without a
    name.
    """
    _authorise(ctx)
    number = _number(phone)
    db = ctx.db
    result = Erased()
    pending = upcoming(ctx, phone=number)
    if pending and not cancel_upcoming:
        raise UpcomingBookings(count=len(pending))
    for booking in pending:
        try:
            booking_actions.cancel(ctx, code=booking.code, reason=ERASURE_REASON)
        except NotCancellable:
            continue  # today's session has already begun: it stays as it is, anonymised below
        result.cancelled.append(booking.code)
    for request in db.scalars(select(CallbackRequest).where(CallbackRequest.phone == number,
                                                            CallbackRequest.done_at.is_(None))):
        request.done_at, request.done_by = ctx.now, ctx.actor.name  # nobody is left to call back
    # Off every waitlist, as if they had left it themselves: a seat held for them goes to the next (audited).
    for entry_id in list(db.scalars(select(WaitlistEntry.id).where(WaitlistEntry.phone == number,
                                                                   WaitlistEntry.status.in_(LIVE_WAITLIST)))):
        waitlist_actions.leave(ctx, entry_id=entry_id)
    db.flush()
    result.counts = {
        "bookings": anonymise_bookings(db, Booking.phone == number),
        "waitlist": anonymise_waitlist(db, WaitlistEntry.phone == number),
        "messages": anonymise_messages(db, OutboxMessage.recipient == number),
        # A call still going on keeps what its next webhook needs; the nightly purge takes it later.
        "calls": anonymise_calls(db, lambda calls: (calls.c.caller == number) & (calls.c.status == "ended")),
        "callbacks": anonymise_callbacks(db, CallbackRequest.phone == number),
        "broadcast_numbers": _forget_lists(ctx, number),
        "campaign_targets": campaigns.forget_number(db, number, marker=ERASED, now=ctx.now),
        "citizens": forget_citizens(db, Citizen.phone == number),
        "audit_redacted": redact_audit(db, mentions(number), lambda value: number in value),
    }
    audit.record(db, actor=ctx.actor.name, action="privacy.erase", target_type="citizen", target_id=mask(number),
                 now=ctx.now, after={**result.counts, "cancelled": len(result.cancelled)}, ip=ctx.actor.ip)
    return result


def _forget_lists(ctx: Context, number: str) -> int:
    rows = list(ctx.db.scalars(select(BroadcastNumber).where(BroadcastNumber.phone == number)))
    for row in rows:
        ctx.db.delete(row)
    ctx.db.flush()
    return len(rows)


__all__ = ["Erased", "UpcomingBookings", "erase", "export", "upcoming"]
