"""The texts of the messages, in English; Vietnamese comes from the catalogue at the edge.

Composing needs a `Localizer` (translation and date/time formatting in one language), which the
edge provides; this package therefore never imports Flask or Babel's request machinery.

Every text says what a person needs to act on it: which appointment (its code, office, day and
session), where and when to come, what to bring, and the number to call. A confirmation is built
of parts, and `fit` leaves out the optional ones, least useful first, until it costs no more than
`TARGET_SEGMENTS` (two UCS-2 segments are 134 characters of Vietnamese).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any, Protocol

from notifications.sms import size_of

if TYPE_CHECKING:
    from booking.models import Booking, Office, Procedure


def N_(message: str) -> str:
    return message


class Localizer(Protocol):
    language: str

    def gettext(self, message: str, **params: Any) -> str: ...

    def day(self, value: date) -> str:
        """The weekday and date, short: 'T5 03/12' in Vietnamese, 'Thu 03/12' in English."""
        ...

    def date(self, value: date) -> str: ...

    def time(self, value: time) -> str: ...


TARGET_SEGMENTS = 2  # what a confirmation should cost at most (SmsPolicy.fit_segments); optional parts give way

MORNING = N_("morning")
AFTERNOON = N_("afternoon")
# An appointment's day and session: 'Thu 03/12 morning', in Vietnamese 'sáng T5 03/12'.
WHEN = N_("%(day)s %(part)s")

CONFIRMED = N_("Appointment %(code)s at %(office)s: %(day)s, arrive %(start)s-%(end)s, queue number %(queue)s.")
REMINDED = N_("Reminder: appointment %(code)s at %(office)s: %(day)s, arrive %(start)s-%(end)s, "
              "queue number %(queue)s.")
BRING = N_("Bring %(documents)s.")
DOCUMENTS = N_("your ID card and the papers of your case")  # when the procedure says nothing shorter
BRING_SOME = N_("Bring %(documents)s etc.")  # the first of the procedure's documents, when all do not fit
RESULT = N_("Result expected %(day)s.")
ONLINE = N_("Can also be filed online: %(url)s")
HELP = N_("Questions? Call %(hotline)s.")
CANCELLED = N_("Appointment %(code)s at %(office)s, %(when)s, has been cancelled. To book again, "
               "call %(hotline)s.")
MOVED = N_("Appointment %(code)s is moved (%(why)s) from %(was)s to %(office)s, %(day)s: arrive %(start)s-%(end)s, "
           "queue number %(queue)s. Questions? Call %(hotline)s.")
AT_YOUR_REQUEST = N_("at your request")
# A closure or a cancelled session tells each person booked in it what became of their own appointment.
CLOSED_CANCELLED = N_("%(office)s does not receive on %(when)s (%(reason)s). Appointment %(code)s is cancelled; "
                      "to book again, call %(hotline)s.")
CLOSED_MOVED = N_("%(office)s does not receive on %(was)s (%(reason)s). Appointment %(code)s is moved to "
                  "%(day)s: arrive %(start)s-%(end)s, queue number %(queue)s. Questions? Call %(hotline)s.")
CLOSED = N_("%(office)s is closed %(days)s (%(reason)s). Appointments booked for then are cancelled; to book "
            "again, call %(hotline)s.")
ONE_DAY = N_("on %(day)s")
DAYS = N_("from %(start)s to %(end)s")
NO_REASON = N_("a change to the office's hours")
CALLBACK_ACK = N_("The public administration hotline received your request: an operator will call you back "
                  "%(by)s.")
BY_TODAY = N_("before %(time)s today")
BY_DAY = N_("before %(time)s on %(day)s")

# The names offices are published under, and what an SMS says instead (the unit served follows).
SHORT_PREFIXES = (("Trung tâm Phục vụ hành chính công ", "TTPVHCC "),
                  ("Bộ phận tiếp nhận và trả kết quả ", "Bộ phận Một cửa "))


def short_office(name: str, spoken_name: str) -> str:
    """The office as an SMS names it: 'TTPVHCC xã Năm Căn' for 'Trung tâm Phục vụ hành chính công xã Năm Căn'.

    The initials are the centres' own (on their signs and papers); the unit they serve is what a
    citizen recognises. A name of another shape is kept whole.
    """
    name = " ".join(name.split())
    for long, short in SHORT_PREFIXES:
        if name.startswith(long) and spoken_name:
            return short + spoken_name
    return name


def office_name(office: Office, language: str) -> str:
    """The office as the texts name it: 'TTPVHCC xã Năm Căn'; in English its English name where it has one."""
    if language == "en" and office.name_en:
        return office.name_en
    return short_office(office.name, office.spoken_name)


def part_of_day(code: str, loc: Localizer) -> str:
    return loc.gettext(MORNING) if code == "S" else loc.gettext(AFTERNOON) if code == "C" else code


def when(day: date, session_code: str, loc: Localizer) -> str:
    """An appointment's day and session, e.g. 'sáng T5 03/12'."""
    return loc.gettext(WHEN, day=loc.day(day), part=part_of_day(session_code, loc))


def portal(url: str) -> str:
    """An address as people type it: 'dichvucong.gov.vn' for 'https://dichvucong.gov.vn/'."""
    for scheme in ("https://", "http://"):
        url = url.removeprefix(scheme)
    return url.removeprefix("www.").rstrip("/")


# -- fitting a text into its segments ----------------------------------------------------------------

REQUIRED = 100  # the keep of a part that is never shortened


@dataclass(frozen=True)
class Part:
    """One sentence of a text: its wordings from the fullest to the shortest ("" leaves it out).

    `keep` orders what gives way: the part with the lowest keep is shortened first.
    """

    options: tuple[str, ...]
    keep: int = REQUIRED

    @classmethod
    def optional(cls, keep: int, *options: str) -> Part:
        return cls((*options, ""), keep)


def fits_target(text: str) -> bool:
    """Whether `text`, sent as it is, costs at most TARGET_SEGMENTS (the policy's `fits` adds its brandname)."""
    return size_of(text).segments <= TARGET_SEGMENTS


def fit(parts: Sequence[Part], *, fits: Callable[[str], bool] = fits_target) -> str:
    """The parts joined by spaces, the least kept ones shortened (then left out) until the text fits.

    Required parts stay however long they are: a text that cannot fit is sent whole rather than
    lose the appointment it tells of. Among parts kept alike, the later one gives way first.
    """
    chosen = [0] * len(parts)

    def text() -> str:
        return " ".join(option for part, i in zip(parts, chosen, strict=True) if (option := part.options[i]))

    while not fits(text()):
        shorter = [k for k, part in enumerate(parts) if part.keep < REQUIRED and chosen[k] < len(part.options) - 1]
        if not shorter:
            break
        chosen[min(shorter, key=lambda k: (parts[k].keep, -k))] += 1
    return text()


# -- the texts -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Visit:
    """What a citizen needs to come: where, when, with what; and what the procedure promises."""

    code: str
    office: str
    day: date
    start: time
    end: time
    queue: str
    documents: str = ""  # the procedure's short list; empty: the default
    result_day: date | None = None
    online_url: str | None = None


def visit_of(booking: Booking, language: str) -> Visit:
    """What the texts tell of a booking: where and when to come, and what its procedure asks and promises."""
    return visit_at(booking.office, booking.procedure, language, code=booking.code, day=booking.date,
                    start=booking.arrival_start, end=booking.arrival_end, queue=booking.queue_label,
                    result_day=booking.result_date)


def visit_at(office: Office, procedure: Procedure | None, language: str, *, code: str, day: date, start: time,
             end: time, queue: str, result_day: date | None) -> Visit:
    """A visit to `office` for `procedure` (None: not named).

    English texts take the procedure's English list of documents only: the Vietnamese one would
    turn a GSM-7 text into UCS-2; without it they say the default.
    """
    documents = ""
    if procedure is not None:
        documents = (procedure.documents_short_en or "") if language == "en" else procedure.documents_short
    return Visit(code=code, office=office_name(office, language), day=day, start=start, end=end, queue=queue,
                 documents=documents, result_day=result_day,
                 online_url=None if procedure is None else procedure.online_url)


def documents(listed: str, loc: Localizer) -> list[str]:
    """What to bring, from the fullest to the shortest wording: the procedure's whole list ('CCCD, đơn,
    giấy tờ đất'), its first items and 'etc.' ('CCCD, đơn v.v.'), then the default."""
    items = [item.strip() for item in listed.split(",") if item.strip()]
    said = [loc.gettext(BRING, documents=", ".join(items))] if items else []
    said += [loc.gettext(BRING_SOME, documents=", ".join(items[:k])) for k in range(len(items) - 1, 0, -1)]
    return [*said, loc.gettext(BRING, documents=loc.gettext(DOCUMENTS))]


def _visit_parts(head: str, visit: Visit, *, hotline: str, loc: Localizer) -> list[Part]:
    parts = [
        Part((loc.gettext(head, code=visit.code, office=visit.office, day=loc.day(visit.day),
                          start=loc.time(visit.start), end=loc.time(visit.end), queue=visit.queue),)),
        # What to bring matters most after the appointment itself: without it the trip is wasted.
        Part.optional(3, *documents(visit.documents, loc)),
    ]
    if visit.result_day is not None:
        parts.append(Part.optional(2, loc.gettext(RESULT, day=loc.day(visit.result_day))))
    if visit.online_url:
        parts.append(Part.optional(1, loc.gettext(ONLINE, url=portal(visit.online_url))))
    parts.append(Part((loc.gettext(HELP, hotline=hotline),)))
    return parts


def confirmation(visit: Visit, *, hotline: str, loc: Localizer,
                 fits: Callable[[str], bool] = fits_target) -> str:
    return fit(_visit_parts(CONFIRMED, visit, hotline=hotline, loc=loc), fits=fits)


def reminder(visit: Visit, *, hotline: str, loc: Localizer,
             fits: Callable[[str], bool] = fits_target) -> str:
    """The evening before or hours before: the same facts as the confirmation, the portal left out."""
    parts = _visit_parts(REMINDED, replace(visit, online_url=None), hotline=hotline, loc=loc)
    return fit(parts, fits=fits)


def cancellation(*, code: str, office: str, day: date, session_code: str, hotline: str, loc: Localizer) -> str:
    return loc.gettext(CANCELLED, code=code, office=office, when=when(day, session_code, loc), hotline=hotline)


def move(visit: Visit, *, was: date, was_session: str, reason: str, hotline: str, loc: Localizer) -> str:
    """A booking moved by its holder or for them; `reason` says why (empty: at the person's own request)."""
    return loc.gettext(MOVED, code=visit.code, why=reason or loc.gettext(AT_YOUR_REQUEST),
                       was=when(was, was_session, loc), office=visit.office, day=loc.day(visit.day),
                       start=loc.time(visit.start), end=loc.time(visit.end), queue=visit.queue, hotline=hotline)


def closure_cancellation(*, code: str, office: str, day: date, session_code: str, reason: str, hotline: str,
                         loc: Localizer) -> str:
    return loc.gettext(CLOSED_CANCELLED, office=office, when=when(day, session_code, loc),
                       reason=reason or loc.gettext(NO_REASON), code=code, hotline=hotline)


def closure_move(visit: Visit, *, was: date, was_session: str, reason: str, hotline: str, loc: Localizer) -> str:
    return loc.gettext(CLOSED_MOVED, office=visit.office, was=when(was, was_session, loc),
                       reason=reason or loc.gettext(NO_REASON), code=visit.code, day=loc.day(visit.day),
                       start=loc.time(visit.start), end=loc.time(visit.end), queue=visit.queue, hotline=hotline)


def days(start: date, end: date, loc: Localizer) -> str:
    """'on Fri 04/12' for one day, 'from Fri 04/12 to Sun 06/12' for several."""
    if start == end:
        return loc.gettext(ONE_DAY, day=loc.day(start))
    return loc.gettext(DAYS, start=loc.day(start), end=loc.day(end))


def closure(*, office: str, start: date, end: date, reason: str, hotline: str, loc: Localizer) -> str:
    return loc.gettext(CLOSED, office=office, days=days(start, end, loc), reason=reason or loc.gettext(NO_REASON),
                       hotline=hotline)


def callback_ack(*, by: datetime, today: date, loc: Localizer) -> str:
    """The call-back is promised before `by` (local time), as `booking.calendar.operators_promise` says."""
    promise = (loc.gettext(BY_TODAY, time=loc.time(by.time())) if by.date() == today
               else loc.gettext(BY_DAY, time=loc.time(by.time()), day=loc.day(by.date())))
    return loc.gettext(CALLBACK_ACK, by=promise)
