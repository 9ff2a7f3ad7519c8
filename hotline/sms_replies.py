"""Answers to SMS replies, where a provider delivers them (Twilio carries none from Vietnam today: SMS_REPLIES).

The SMS edge: it parses the keywords (in any case, with or without diacritics), calls the same
actions as the phone menu and the console, as the sender (whose number the provider delivered),
and words the answer. Nothing else depends on replies.
"""

from __future__ import annotations

from datetime import date

from actions import bookings as actions
from actions import citizens
from actions.context import Context
from booking.codes import normalise_code
from booking.errors import BookingError, InvalidBookingCode, NotFound
from notifications.sms import without_diacritics
from notifications.texts import N_, Localizer

STOP = {"stop", "stopall", "unsubscribe", "end", "quit", "dung", "ngung", "tu choi", "huy dang ky",
        "khong nhan", "dung nhan", "ngung nhan"}
START = {"start", "unstop", "yes", "bat dau", "dang ky", "nhan lai", "nhan thong bao"}

HELP = N_("Public administration hotline: reply LICH to list your appointments, HUY and the code to cancel "
          "one, STOP to stop notices.")
# Where replies do not reach us (SMS_REPLIES off: Twilio carries none from Vietnam), no text offers keywords.
HELP_CALL = N_("Public administration hotline: to book, check or cancel an appointment, or to stop notices, "
               "call %(hotline)s.")
CANCELLED = N_("Appointment %(code)s on %(date)s has been cancelled.")
NOT_YOURS = N_("No appointment of this number has the code %(code)s.")
NONE = N_("This number has no upcoming appointment.")
LISTED = N_("%(code)s: %(date)s %(time)s, queue number %(queue)s")
STOPPED = N_("You will no longer receive notices. Messages about your own appointments still come. Reply START "
             "to receive notices again.")
STOPPED_CALL = N_("You will no longer receive notices. Messages about your own appointments still come. To receive "
                  "notices again, call %(hotline)s.")
STARTED = N_("You will receive notices again.")


def _words(body: str) -> list[str]:
    return without_diacritics(body).lower().replace(",", " ").split()


def answer(ctx: Context, *, body: str, today: date, loc: Localizer) -> str:
    """What to reply to `body` from the sender (`ctx.actor`, an SMS sender), after doing what it asks.

    Keywords are offered only where the provider carries replies (`ctx.sms.replies`); elsewhere the
    answer points to the hotline's number.
    """
    replies, hotline = ctx.sms.replies, ctx.sms.hotline
    words = _words(body)
    phrase = " ".join(words)
    if phrase in STOP:
        citizens.set_notices(ctx, receive=False)
        return loc.gettext(STOPPED) if replies else loc.gettext(STOPPED_CALL, hotline=hotline)
    if phrase in START:
        citizens.set_notices(ctx, receive=True)
        return loc.gettext(STARTED)
    if words and words[0] == "huy" and len(words) > 1:
        typed = "".join(words[1:])
        try:
            booking = actions.cancel(ctx, code=normalise_code(typed), reason="cancelled by SMS reply")
        except (NotFound, InvalidBookingCode):
            return loc.gettext(NOT_YOURS, code=typed)  # no such code, not a code, or not this number's
        except BookingError as exc:
            return exc.render(loc.gettext)
        return loc.gettext(CANCELLED, code=booking.code, date=loc.date(booking.date))
    if phrase == "lich":
        upcoming = actions.of_phone(ctx, since=today, live_only=True)
        if not upcoming:
            return loc.gettext(NONE)
        return "; ".join(loc.gettext(LISTED, code=b.code, date=loc.date(b.date), time=loc.time(b.arrival_start),
                                     queue=b.queue_label) for b in upcoming)
    return loc.gettext(HELP) if replies else loc.gettext(HELP_CALL, hotline=hotline)

