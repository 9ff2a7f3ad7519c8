"""What every console page shares: the blueprint, who is signed in, auditing, making one change and saying how it went."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext, ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy.orm import Session
from werkzeug.routing import IntegerConverter, Map
from werkzeug.wrappers import Response as BaseResponse

from accounts.models import Role
from actions.audit import record
from actions.context import Actor as StaffActor
from actions.context import Context
from actions.errors import NotAllowed
from booking.bookings import Actor
from booking.calendar import EARLIEST, LATEST
from booking.errors import BookingError
from booking.models import Channel, Office
from booking.office_settings import beyond_capacity
from hotline.auth import Principal
from hotline.runtime import runtime

blueprint = Blueprint("console", __name__, url_prefix="/console")

ANY_STAFF = (Role.OPERATOR, Role.MANAGER)
MAX_ID = 2**31 - 1  # ids are 32-bit integers in PostgreSQL: a larger number names no row, and would not bind


def _up_to(limit: int) -> str:
    """A regular expression of the numbers from 1 to `limit`, written without leading zeros."""
    digits = str(limit)
    shorter = [rf"[1-9]\d{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    same = [f"{digits[:i]}[{'1' if i == 0 else '0'}-{int(d) - 1}]" + (rf"\d{{{len(digits) - i - 1}}}" if i + 1 < len(digits)
                                                                     else "")
            for i, d in enumerate(digits) if int(d) > (1 if i == 0 else 0)]
    return "|".join([*shorter, *same, digits])


class IdConverter(IntegerConverter):
    """`<id:name>`: a row's id in a URL. Anything from 1 to MAX_ID, else the URL matches no route (404)
    before the view asks the database, which would fail on a number it cannot store.

    The bound is in the regular expression, not only in `to_python`: Werkzeug answers a number its converter
    refuses with 405 when another rule of the same path takes another method (GET /desks and POST /desks)."""

    regex = f"(?:{_up_to(MAX_ID)})"

    def __init__(self, map: Map) -> None:
        super().__init__(map, min=1, max=MAX_ID)


def _register_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters["id"] = IdConverter


# Recorded before any route of the blueprint, so that the converter is there when their rules are built.
blueprint.record_once(_register_converter)


def valid_id(value: int | None) -> int | None:
    """`value` when it can be a row's id, else None (a query string's number is checked before any query)."""
    return value if value is not None and 1 <= value <= MAX_ID else None


T = TypeVar("T")


def me() -> Principal:
    return current_user._get_current_object()


def console_actor() -> Actor:
    return Actor(me().actor, Channel.OPERATOR)


def acting(db: Session) -> Context:
    """The context of an action taken by the signed-in user: their role and offices, this request's address."""
    user = me()
    return runtime().context(db, StaffActor.staff(user.actor, user.role, user.office_ids, ip=request.remote_addr))


def audit_change(db: Any, action: str, target_type: str, target_id: object, *, office_id: int | None = None,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    record(db, actor=me().actor, action=action, target_type=target_type, target_id=target_id,
           office_id=office_id, before=before, after=after, now=runtime().now(), ip=request.remote_addr)


def local_today() -> date:
    """Today's date in the time zone the offices keep (the settings'), whatever the server's."""
    rt = runtime()
    return rt.now().astimezone(rt.settings.tz).date()


def in_calendar(day: date) -> bool:
    """Whether the hotline deals in `day` at all: the API's range. Services walk a range day by day, so a
    closure until the year 9999 would take minutes to lift."""
    return EARLIEST <= day <= LATEST


def calendar_date(raw: str) -> date | None:
    """The date a URL or a query string gives as YYYY-MM-DD, None for anything else or outside the range."""
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None
    return day if in_calendar(day) else None


def flash_error(error: BookingError) -> None:
    flash(error.render(gettext), "error")


def flash_field_errors(form: FlaskForm) -> None:
    """Each invalid field as "Label: message", for pages that do not show errors next to the fields."""
    for name, errors in form.errors.items():
        field = form._fields.get(name) if name else None
        for error in errors:
            flash(f"{field.label.text}: {error}" if field is not None else str(error), "error")


def attempt(work: Callable[[Session], T]) -> T | None:
    """Run `work` in a transaction of its own and give back what it returns (never None).

    A broken rule (a `BookingError`) rolls the transaction back and is flashed instead of failing
    the request: the result is then None. An action the user may not take is a 403 page.
    """
    try:
        with runtime().transaction() as db:
            return work(db)
    except NotAllowed:
        abort(403)
    except BookingError as exc:
        flash_error(exc)
        return None


def apply_change(work: Callable[[Session], str | None], back: str) -> BaseResponse:
    """One change from a button or a form, then back to `back`, with the message `work` returns
    ("Saved." when it returns none) once committed, or the rule it broke."""
    message = attempt(lambda db: work(db) or gettext("Saved."))
    if message is not None:
        flash(message, "ok")
    return redirect(back)


def over_capacity_notice(db: Session, *, office_id: int, start: date, end: date | None = None,
                         code: str | None = None) -> str | None:
    """After a lower capacity or crowd limit: how many people are booked beyond what the sessions now hold.

    Nobody loses a seat by it; the notice links to the settings page's list of the sessions over, where
    the manager moves or cancels exactly those people (a preview first, as a closure).
    """
    over = beyond_capacity(db, office_id=office_id, start=start, end=end or start, code=code)
    people = sum(len(extras) for extras in over.values())
    if not people:
        return None
    if len(over) == 1:
        text = ngettext("Saved. %(num)s person is booked beyond what the session now holds and keeps the seat "
                        "for now.",
                        "Saved. %(num)s people are booked beyond what the session now holds and keep their seats "
                        "for now.", people)
    else:
        text = gettext("Saved. %(num)s people in %(sessions)s sessions are booked beyond what the sessions now hold "
                       "and keep their seats for now.", num=people, sessions=len(over))
    link = url_for("console.office_settings", office_id=office_id, _anchor="over")
    return Markup('{} <a href="{}">{}</a>').format(text, link, gettext("Move or cancel them"))


def managed_office(office_id: int) -> Office:
    if valid_id(office_id) is None:
        abort(404)
    if not me().may_manage(office_id):
        abort(403)
    with runtime().reading() as db:
        office = db.get(Office, office_id)
    if office is None:
        abort(404)
    return office


def requested_office(raw: str) -> Office:
    """The office a form or a query string names by its id: 400 for anything but a number, 404 for a number
    no id can be, then as `managed_office`."""
    try:
        office_id = int(raw)
    except ValueError:
        abort(400)
    return managed_office(office_id)


_PLAIN_NUMBER = re.compile(r"[+-]?\d+")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list: spreadsheets skip a leading tab or CR


def spreadsheet_cell(value: object) -> object:
    """Spreadsheets run a cell that starts like a formula (=, +, -, @, or those after a tab or a carriage
    return): a leading apostrophe keeps it text. Names come from callers, so every exported text cell goes
    through here; a bare number such as an E.164 phone is left as it is (nothing in it can run)."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Response:
    """A CSV download that Excel opens with Vietnamese intact (UTF-8 with a byte-order mark)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([spreadsheet_cell(cell) for cell in row] for row in rows)
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={filename}"})
