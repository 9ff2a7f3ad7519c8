"""Answers to SMS replies, where a provider delivers them (Twilio carries none from Vietnam today).

Nothing else depends on replies: opting out and back in is also on the phone menu and in the
console. Keywords are matched in any case, with or without diacritics.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from booking import bookings
from booking.bookings import Actor
from booking.citizens import set_broadcast_opt_out
from booking.codes import normalise_code
from booking.errors import BookingError
from booking.models import BookingStatus, Channel
from booking.policy import BookingPolicy
from notifications.sms import without_diacritics
from notifications.texts import N_, Localizer

STOP = {"stop", "stopall", "unsubscribe", "end", "quit", "dung", "ngung", "tu choi", "huy dang ky",
        "khong nhan", "dung nhan", "ngung nhan"}
START = {"start", "unstop", "yes", "bat dau", "dang ky", "nhan lai", "nhan thong bao"}

HELP = N_("Public administration hotline: reply LICH to list your appointments, HUY and the code to cancel "
          "one, STOP to stop notices.")
CANCELLED = N_("Appointment %(code)s on %(date)s has been cancelled.")
NOT_YOURS = N_("No appointment of this number has the code %(code)s.")
NONE = N_("This number has no upcoming appointment.")
LISTED = N_("%(code)s: %(date)s %(time)s, queue number %(queue)s")
STOPPED = N_("You will no longer receive notices. Messages about your own appointments still come. Reply START "
             "to receive notices again.")
STARTED = N_("You will receive notices again.")


def _words(body: str) -> list[str]:
    return without_diacritics(body).lower().replace(",", " ").split()


def answer(session: Session, *, sender: str, body: str, now: datetime, today: date, policy: BookingPolicy,
           loc: Localizer) -> str:
    """What to reply to `body` from `sender` (an E.164 mobile), after doing what it asks."""
    words = _words(body)
    phrase = " ".join(words)
    if phrase in STOP:
        set_broadcast_opt_out(session, sender, opted_out=True, now=now)
        return loc.gettext(STOPPED)
    if phrase in START:
        set_broadcast_opt_out(session, sender, opted_out=False, now=now)
        return loc.gettext(STARTED)
    if words and words[0] == "huy" and len(words) > 1:
        typed = "".join(words[1:])
        try:
            booking = bookings.find_booking(session, normalise_code(typed))
        except BookingError:
            return loc.gettext(NOT_YOURS, code=typed)
        if booking.phone != sender:
            return loc.gettext(NOT_YOURS, code=typed)
        try:
            bookings.cancel(session, booking_id=booking.id, actor=Actor(f"sms:{sender}", Channel.WEB), now=now,
                            policy=policy, reason="cancelled by SMS reply")
        except BookingError as exc:
            return exc.render(loc.gettext)
        return loc.gettext(CANCELLED, code=booking.code, date=loc.date(booking.date))
    if phrase == "lich":
        upcoming = [b for b in bookings.bookings_for_phone(session, sender, since=today)
                    if b.status is BookingStatus.BOOKED]
        if not upcoming:
            return loc.gettext(NONE)
        return "; ".join(loc.gettext(LISTED, code=b.code, date=loc.date(b.date), time=loc.time(b.arrival_start),
                                     queue=b.queue_label) for b in upcoming)
    return loc.gettext(HELP)

