"""The texts of the messages, in English; Vietnamese comes from the catalogue at the edge.

Composing needs a `Localizer` (translation and date/time formatting in one language), which the
edge provides; this package therefore never imports Flask or Babel's request machinery.
"""

from __future__ import annotations

from datetime import date, time
from typing import Any, Protocol


def N_(message: str) -> str:
    return message


class Localizer(Protocol):
    language: str

    def gettext(self, message: str, **params: Any) -> str: ...

    def date(self, value: date) -> str: ...

    def time(self, value: time) -> str: ...


CONFIRMATION = N_("Appointment %(code)s at %(office)s on %(date)s (%(part)s): please arrive %(start)s-%(end)s, "
                  "queue number %(queue)s. Bring your documents.")
CANCELLATION = N_("Your appointment %(code)s at %(office)s on %(date)s has been cancelled.")
CALLBACK_ACK = N_("The public administration hotline received your request: an operator will call you back.")
MORNING = N_("morning")
AFTERNOON = N_("afternoon")


def part_of_day(code: str, loc: Localizer) -> str:
    return loc.gettext(MORNING) if code == "S" else loc.gettext(AFTERNOON) if code == "C" else code


def confirmation(*, code: str, office: str, day: date, session_code: str, start: time, end: time, queue: str,
                 loc: Localizer) -> str:
    return loc.gettext(CONFIRMATION, code=code, office=office, date=loc.date(day),
                       part=part_of_day(session_code, loc), start=loc.time(start), end=loc.time(end), queue=queue)


def cancellation(*, code: str, office: str, day: date, loc: Localizer) -> str:
    return loc.gettext(CANCELLATION, code=code, office=office, date=loc.date(day))


def callback_ack(*, loc: Localizer) -> str:
    return loc.gettext(CALLBACK_ACK)
