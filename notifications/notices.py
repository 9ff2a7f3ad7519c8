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

MOVED = N_("Your appointment %(code)s is now at %(office)s on %(date)s (%(part)s): please arrive %(start)s-%(end)s, "
           "queue number %(queue)s.")
CLOSED = N_("%(office)s is closed from %(start)s to %(end)s (%(reason)s). Appointments on those days are cancelled; "
            "please call the hotline to book again.")
# A closure or a cancelled session tells each person booked in it what became of their own appointment.
CLOSED_CANCELLED = N_("%(office)s will not receive you on %(date)s (%(part)s): %(reason)s. Your appointment "
                      "%(code)s is cancelled; please call the hotline to book again.")
CLOSED_MOVED = N_("%(office)s will not receive you on %(was)s (%(reason)s). Your appointment %(code)s is moved to "
                  "%(date)s (%(part)s): please arrive %(start)s-%(end)s, queue number %(queue)s.")
NO_REASON = N_("a change to the office's hours")
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
    body = loc.gettext(CLOSED_CANCELLED, office=_office_name(booking.office, loc.language), date=loc.date(booking.date),
                       part=texts.part_of_day(booking.session_code, loc), reason=reason or loc.gettext(NO_REASON),
                       code=booking.code)
    return _queue(session, booking, kind, body, now=now, policy=policy, key=f"cancellation:{booking.id}",
                  urgent=urgent)


def closure_moved(session: Session, booking: Booking, *, was: date, reason: str, urgent: bool, now: datetime,
                  policy: SmsPolicy, loc: Localizer) -> OutboxMessage | None:
    """Tell one person that the office will not open on `was` and where their appointment is now."""
    body = loc.gettext(CLOSED_MOVED, office=_office_name(booking.office, loc.language), was=loc.date(was),
                       reason=reason or loc.gettext(NO_REASON), code=booking.code, date=loc.date(booking.date),
                       part=texts.part_of_day(booking.session_code, loc), start=loc.time(booking.arrival_start),
                       end=loc.time(booking.arrival_end), queue=booking.queue_label)
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
    body = loc.gettext(CLOSED, office=_office_name(office, loc.language), start=loc.date(start), end=loc.date(end),
                       reason=reason)
    broadcast = create(session, body=body, audience=AudienceKind.OFFICE_DATES, urgent=True, office_id=office.id,
                       spec={"office_id": office.id, "start": start.isoformat(), "end": end.isoformat()},
                       created_by=created_by, now=now, title=reason, language=loc.language, kind=MessageKind.CLOSURE)
    schedule(session, broadcast, send_at=now, now=now)
    enqueue_broadcast(session, broadcast, now=now, policy=policy)
    return broadcast
