"""How stored values read on the console's pages: phone numbers as staff write them, states in words.

The database keeps E.164 numbers and enum values because other systems read them; people at the
desk read "0912 345 678" and "Đã gửi", so the pages translate at the last moment, in templates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import phonenumbers
from flask_babel import format_decimal, ngettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; types-WTForms 3.2 lacks it

from booking.models import Channel, Office, WaitlistStatus
from hotline.console.common import blueprint
from hotline.runtime import runtime
from notifications.models import MessageKind, MessageStatus

SESSION_PARTS = {"S": _l("Morning"), "C": _l("Afternoon")}
SESSION_CHOICES = tuple(SelectChoice(code, name) for code, name in SESSION_PARTS.items())
CHANNELS = {
    Channel.IVR: _l("Phone menu (IVR)"),
    Channel.OPERATOR: _l("Operators"),
    Channel.WEB: _l("Web"),
    Channel.API: _l("Other systems (API)"),
    Channel.WALKIN: _l("Walk-ins at the counter"),
}

MESSAGE_KINDS = {
    MessageKind.CONFIRMATION: _l("Confirmation"),
    MessageKind.REMINDER: _l("Reminder"),
    MessageKind.CANCELLATION: _l("Cancellation"),
    MessageKind.MOVE: _l("Appointment moved"),
    MessageKind.CLOSURE: _l("Closure notice"),
    MessageKind.CALLBACK_ACK: _l("Call-back acknowledgement"),
    MessageKind.BROADCAST: _l("Notice"),
    MessageKind.NEARLY_TURN: _l("Nearly your turn"),
    MessageKind.WAITLIST_OFFER: _l("Waitlist: a place held"),
}
WAITLIST_STATES = {
    WaitlistStatus.ACCEPTED: _l("Booked from the waitlist"),
    WaitlistStatus.DECLINED: _l("Refused the place offered"),
    WaitlistStatus.EXPIRED: _l("Not claimed in time, or no place came free"),
    WaitlistStatus.CANCELLED: _l("Left the waitlist"),
    WaitlistStatus.OFFERED: _l("A place held, not yet answered"),
    WaitlistStatus.WAITING: _l("Still waiting"),
}
MESSAGE_STATES = {
    MessageStatus.QUEUED: _l("Queued"), MessageStatus.HELD: _l("Held (paused)"),
    MessageStatus.SENDING: _l("Being sent"), MessageStatus.SENT: _l("Sent"),
    MessageStatus.DELIVERED: _l("Delivered"), MessageStatus.UNDELIVERED: _l("Undelivered"),
    MessageStatus.FAILED: _l("Failed"), MessageStatus.CANCELLED: _l("Cancelled"),
}
ENCODINGS = {"gsm7": _l("without diacritics (GSM-7)"), "ucs2": _l("Unicode (UCS-2)")}
CONTEXT_KEYS = {"state": _l("step"), "office": _l("office"), "session": _l("session"), "booking": _l("booking"),
                "queue": _l("queue"), "phone": _l("phone"), "date": _l("date"), "status": _l("status"),
                # the keys of the audit log's before and after (actions.offices and the settings pages)
                "capacity": _l("capacity"), "booked": _l("booked"), "closed": _l("closed"),
                "in_plan": _l("in the plan"), "start": _l("from"), "end": _l("to"), "start_date": _l("from"),
                "end_date": _l("to"), "start_time": _l("starts"), "end_time": _l("ends"), "reason": _l("reason"),
                "created_by": _l("by"), "crowd_limit": _l("crowd limit"), "window_minutes": _l("window (minutes)"),
                "session_code": _l("session"), "code": _l("code"), "channel": _l("channel"), "seats": _l("seats"),
                "release_minutes_before": _l("released (minutes before)"), "weekday": _l("weekday"),
                "disposition": _l("what becomes of those booked"), "affected": _l("people affected"),
                "bookings": _l("appointments"), "fates": _l("what became of each"), "cancelled": _l("cancelled"),
                "closure_id": _l("closure"), "office_id": _l("office"), "note": _l("note"), "kind": _l("kind"),
                "works_as_weekday": _l("follows the sessions of"), "arrival": _l("arrival")}


@blueprint.app_template_filter("phone_display")
def phone_display(number: str | None) -> str:
    """A stored E.164 number as people write it at home (0912 345 678), foreign ones internationally."""
    if not number:
        return ""
    try:
        parsed = phonenumbers.parse(number, "VN")
    except phonenumbers.NumberParseException:
        return number
    style = (phonenumbers.PhoneNumberFormat.NATIONAL if parsed.country_code == 84
             else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(parsed, style)


def _words_for(table: Mapping[Any, Any]) -> Callable[[Any], str]:
    """A template filter reading a stored value (an enum, a session code) as words; unknown ones as they are."""
    return lambda value: str(table.get(value, value))


# Templates write `booking.session_code|session_part`, `message.status|message_state`, …
for _name, _table in (("session_part", SESSION_PARTS), ("channel", CHANNELS), ("message_kind", MESSAGE_KINDS),
                      ("message_state", MESSAGE_STATES), ("sms_encoding", ENCODINGS)):
    blueprint.add_app_template_filter(_words_for(_table), _name)


@blueprint.app_context_processor
def office_menu() -> dict[str, Callable[[], list[tuple[int, str]]]]:
    """`my_offices()` for the navigation: the offices a manager runs, by name (an id means nothing to staff)."""
    def my_offices() -> list[tuple[int, str]]:
        ids = sorted(getattr(current_user, "office_ids", ()) or ())
        if not ids:
            return []
        with runtime().reading() as db:
            named = {row.id: row.name for row in db.execute(select(Office.id, Office.name).where(Office.id.in_(ids)))}
        return sorted(((i, named[i]) for i in ids if i in named), key=lambda pair: pair[1])

    return {"my_offices": my_offices}


@blueprint.app_template_filter("hours")
def hours(minutes: int) -> str:
    """A duration kept in minutes as hours in the page's number format ("24 giờ", "1,5 giờ")."""
    return ngettext("%(hours)s hour", "%(hours)s hours", minutes // 60 if minutes % 60 == 0 else 2,
                    hours=format_decimal(round(minutes / 60, 2)))


@blueprint.app_template_filter("pairs")
def pairs(values: Mapping[str, Any] | None) -> Markup:
    """A JSON object kept for the record (audit before/after, a call's context) as "key: value" lines."""
    if not values:
        return Markup("")
    lines = [f"{escape(str(CONTEXT_KEYS.get(key, key)))}: {escape(_value(key, value))}" for key, value in values.items()]
    return Markup("<br>").join(Markup(line) for line in lines)


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _value(key: str, value: Any) -> str:
    """A recorded value as staff read it: a session by its name, a date as 02/03/2027."""
    if key in ("session", "session_code") and value in SESSION_PARTS:
        return str(SESSION_PARTS[value])
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            pass  # shaped like a date but none: as it was recorded
    return _plain(value)


def _plain(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    return "—" if value is None else str(value)
