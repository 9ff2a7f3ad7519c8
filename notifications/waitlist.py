"""The SMS of the waitlist: a freed seat is held for you, and how to claim it before the hold lapses.

Replying by SMS cannot claim it (Vietnamese networks do not pass replies to a brandname); the
person calls the hotline from the same number, which offers the seat at the start of the call, or
an operator confirms it in the console.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from booking.models import ArrivalWindow, Hold, Office, WaitlistEntry
from booking.phones import PhoneKind, parse_phone
from notifications import texts
from notifications.models import MessageKind, OutboxMessage
from notifications.outbox import enqueue
from notifications.policy import SmsPolicy
from notifications.texts import N_, Localizer

OFFER = N_("A place has come free for you at %(office)s, %(when)s, arrive %(start)s-%(end)s. It is held for you "
           "until %(until)s: to take it, call %(hotline)s from this number before then.")


def offer_text(entry: WaitlistEntry, office: Office, window: ArrivalWindow, *, hotline: str, loc: Localizer) -> str:
    assert entry.offer_expires_at is not None
    until = entry.offer_expires_at.astimezone(ZoneInfo(office.timezone)).time()
    return loc.gettext(OFFER, office=texts.office_name(office, loc.language),
                       when=texts.when(entry.date, entry.session_code, loc), start=loc.time(window.start_time),
                       end=loc.time(window.end_time), until=loc.time(until), hotline=hotline)


def offer_sms(session: Session, entry: WaitlistEntry, *, hotline: str, now: datetime, policy: SmsPolicy,
              loc: Localizer) -> OutboxMessage | None:
    """Queue the one SMS of an offer (sent at once, quiet hours or not: the hold lapses); None to a landline."""
    if parse_phone(entry.phone).kind is not PhoneKind.MOBILE or entry.hold_id is None:
        return None
    hold = session.get(Hold, entry.hold_id)
    office = session.get(Office, entry.office_id)
    if hold is None or office is None:
        return None
    window = session.get(ArrivalWindow, hold.window_id)
    assert window is not None
    body = offer_text(entry, office, window, hotline=hotline, loc=loc)
    return enqueue(session, kind=MessageKind.WAITLIST_OFFER, recipient=entry.phone, body=body,
                   language=entry.language, now=now, policy=policy, urgent=True,
                   dedupe_key=f"waitlist_offer:{entry.id}:{entry.hold_id}")
