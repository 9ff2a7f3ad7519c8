"""The messages a booking's life sends: confirmed, cancelled, moved; and closure notices.

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

MOVED = N_("Your appointment %(code)s is now at %(office)s on %(date)s (%(part)s): please arrive %(start)s-%(end)s, "
           "queue number %(queue)s.")
CLOSED = N_("%(office)s is closed from %(start)s to %(end)s (%(reason)s). Appointments on those days are cancelled; "
            "please call the hotline to book again.")


def _office_name(office: Office, language: str) -> str:
    return office.name_en if language == "en" and office.name_en else office.name


def _queue(session: Session, booking: Booking, kind: MessageKind, body: str, *, now: datetime, policy: SmsPolicy,
           key: str) -> OutboxMessage | None:
    if parse_phone(booking.phone).kind is not PhoneKind.MOBILE:
        return None  # SMS reaches mobiles only; the person heard or saw it all already
    return enqueue(session, kind=kind, recipient=booking.phone, body=body, language=booking.language, now=now,
                   policy=policy, booking_id=booking.id, dedupe_key=key)


def confirmed(session: Session, booking: Booking, *, now: datetime, policy: SmsPolicy,
              loc: Localizer) -> OutboxMessage | None:
    body = texts.confirmation(code=booking.code, office=_office_name(booking.office, loc.language), day=booking.date,
                              session_code=booking.session_code, start=booking.arrival_start,
                              end=booking.arrival_end, queue=booking.queue_label, loc=loc)
    return _queue(session, booking, MessageKind.CONFIRMATION, body, now=now, policy=policy,
                  key=f"confirmation:{booking.id}")


def cancelled(session: Session, booking: Booking, *, now: datetime, policy: SmsPolicy,
              loc: Localizer) -> OutboxMessage | None:
    body = texts.cancellation(code=booking.code, office=_office_name(booking.office, loc.language), day=booking.date,
                              loc=loc)
    return _queue(session, booking, MessageKind.CANCELLATION, body, now=now, policy=policy,
                  key=f"cancellation:{booking.id}")


def moved(session: Session, booking: Booking, *, now: datetime, policy: SmsPolicy,
          loc: Localizer) -> OutboxMessage | None:
    body = loc.gettext(MOVED, code=booking.code, office=_office_name(booking.office, loc.language),
                       date=loc.date(booking.date), part=texts.part_of_day(booking.session_code, loc),
                       start=loc.time(booking.arrival_start), end=loc.time(booking.arrival_end),
                       queue=booking.queue_label)
    reminders.drop_stale(session, booking, now=now)
    # A booking may move more than once: each move is its own message.
    return _queue(session, booking, MessageKind.MOVE, body, now=now, policy=policy,
                  key=f"move:{booking.id}:{booking.updated_at.isoformat()}")


def closure_broadcast(session: Session, *, office: Office, start: date, end: date, reason: str, created_by: str,
                      now: datetime, policy: SmsPolicy, loc: Localizer) -> Broadcast:
    """An urgent notice to everyone booked at `office` in the closed days, queued at once.

    It is queued before the bookings are cancelled, in the same transaction: its audience is
    the people booked in those days, and a cancelled booking no longer counts as one.
    """
    body = loc.gettext(CLOSED, office=_office_name(office, loc.language), start=loc.date(start), end=loc.date(end),
                       reason=reason)
    broadcast = create(session, body=body, audience=AudienceKind.OFFICE_DATES, urgent=True, office_id=office.id,
                       spec={"office_id": office.id, "start": start.isoformat(), "end": end.isoformat()},
                       created_by=created_by, now=now, title=reason, language=loc.language, kind=MessageKind.CLOSURE)
    schedule(session, broadcast, send_at=now, now=now)
    enqueue_broadcast(session, broadcast, now=now, policy=policy)
    return broadcast
