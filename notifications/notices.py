"""The messages a booking's life sends: confirmed, cancelled, moved; and what a closure did to it.

The IVR, the console and the API all call these, in the transaction that changed the booking,
so every channel sends the same words and none can forget one.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from booking.models import Booking, Office
from booking.phones import PhoneKind, parse_phone
from notifications import reminders, texts
from notifications.broadcasts import create, schedule
from notifications.broadcasts import enqueue as enqueue_broadcast
from notifications.models import AudienceKind, Broadcast, MessageKind, OutboxMessage
from notifications.outbox import enqueue
from notifications.policy import SmsPolicy
from notifications.texts import N_, Localizer
from notifications.zalo import booking_params

NEARLY_TURN = N_("Number %(queue)s at %(office)s: your turn is near, %(ahead)s ahead of you. Please come close to the "
                 "counters.")


def _office_name(office: Office, language: str) -> str:
    return office.name_en if language == "en" and office.name_en else office.name


def _queue(session: Session, booking: Booking, kind: MessageKind, body: str, *, now: datetime, policy: SmsPolicy,
           key: str, urgent: bool | None = None) -> OutboxMessage | None:
    if not booking.phone or parse_phone(booking.phone).kind is not PhoneKind.MOBILE:
        return None  # SMS reaches mobiles only (a walk-in may give no number); the person heard or saw it all already
    return enqueue(session, kind=kind, recipient=booking.phone, body=body, language=booking.language, now=now,
                   policy=policy, booking_id=booking.id, dedupe_key=key, urgent=urgent, params=booking_params(booking))


def confirmed(session: Session, booking: Booking, *, now: datetime, policy: SmsPolicy,
              loc: Localizer) -> OutboxMessage | None:
    body = texts.confirmation(texts.visit_of(booking, loc.language), hotline=policy.hotline, loc=loc, fits=policy.fits)
    return _queue(session, booking, MessageKind.CONFIRMATION, body, now=now, policy=policy,
                  key=f"confirmation:{booking.id}")


def cancelled(session: Session, booking: Booking, *, now: datetime, policy: SmsPolicy,
              loc: Localizer) -> OutboxMessage | None:
    body = texts.cancellation(code=booking.code, office=texts.office_name(booking.office, loc.language), day=booking.date,
                              session_code=booking.session_code, hotline=policy.hotline, loc=loc)
    return _queue(session, booking, MessageKind.CANCELLATION, body, now=now, policy=policy,
                  key=f"cancellation:{booking.id}")


def moved(session: Session, booking: Booking, *, was: date, was_session: str, now: datetime, policy: SmsPolicy,
          loc: Localizer, reason: str = "") -> OutboxMessage | None:
    """Tell the person where their appointment (on `was`, session `was_session`) is now, and why (`reason`;
    empty: at their own request)."""
    body = texts.move(texts.visit_of(booking, loc.language), was=was, was_session=was_session, reason=reason,
                      hotline=policy.hotline, loc=loc)
    reminders.drop_stale(session, booking, now=now)
    # A booking may move more than once: each move is its own message.
    return _queue(session, booking, MessageKind.MOVE, body, now=now, policy=policy,
                  key=f"move:{booking.id}:{booking.updated_at.isoformat()}")


def nearly_turn(session: Session, booking: Booking, *, ahead: int, now: datetime, policy: SmsPolicy,
                loc: Localizer) -> OutboxMessage | None:
    """Tell a checked-in person that their turn is near; once per booking, sent at once (they are waiting)."""
    body = loc.gettext(NEARLY_TURN, queue=booking.queue_label, office=_office_name(booking.office, loc.language),
                       ahead=ahead)
    return _queue(session, booking, MessageKind.NEARLY_TURN, body, now=now, policy=policy,
                  key=f"nearly_turn:{booking.id}", urgent=True)


def closure_cancelled(session: Session, booking: Booking, *, reason: str, kind: MessageKind, urgent: bool,
                      now: datetime, policy: SmsPolicy, loc: Localizer) -> OutboxMessage | None:
    """Tell one person that the office will not open for their appointment, which is cancelled.

    `urgent` sends it even in quiet hours (the caller decides when the appointment is too close
    to wait for the morning); `kind` says why, for the reports: a closure or one cancelled session.
    """
    body = texts.closure_cancellation(code=booking.code, office=texts.office_name(booking.office, loc.language),
                                      day=booking.date, session_code=booking.session_code, reason=reason,
                                      hotline=policy.hotline, loc=loc)
    return _queue(session, booking, kind, body, now=now, policy=policy, key=f"cancellation:{booking.id}",
                  urgent=urgent)


def closure_moved(session: Session, booking: Booking, *, was: date, was_session: str, reason: str, urgent: bool,
                  now: datetime, policy: SmsPolicy, loc: Localizer) -> OutboxMessage | None:
    """Tell one person that the office will not open on `was` (session `was_session`) and where their
    appointment is now."""
    body = texts.closure_move(texts.visit_of(booking, loc.language), was=was, was_session=was_session, reason=reason,
                              hotline=policy.hotline, loc=loc)
    reminders.drop_stale(session, booking, now=now)
    return _queue(session, booking, MessageKind.MOVE, body, now=now, policy=policy,
                  key=f"move:{booking.id}:{booking.updated_at.isoformat()}", urgent=urgent)


def closure_broadcast(session: Session, *, office: Office, start: date, end: date, reason: str, created_by: str,
                      now: datetime, policy: SmsPolicy, loc: Localizer) -> Broadcast:
    """An urgent notice to everyone booked at `office` in the closed days, queued at once.

    Office closures no longer send it: `actions.offices` tells each person booked what became of
    their own appointment (`closure_moved`, `closure_cancelled`). Kept for a manager's own notice.

    It is queued before the bookings are cancelled, in the same transaction: its audience is
    the people booked in those days, and a cancelled booking no longer counts as one.
    """
    body = texts.closure(office=texts.office_name(office, loc.language), start=start, end=end, reason=reason,
                         hotline=policy.hotline, loc=loc)
    broadcast = create(session, body=body, audience=AudienceKind.OFFICE_DATES, urgent=True, office_id=office.id,
                       spec={"office_id": office.id, "start": start.isoformat(), "end": end.isoformat()},
                       created_by=created_by, now=now, title=reason, language=loc.language, kind=MessageKind.CLOSURE)
    schedule(session, broadcast, send_at=now, now=now)
    enqueue_broadcast(session, broadcast, now=now, policy=policy)
    return broadcast
