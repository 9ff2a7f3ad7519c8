"""The waitlist in the console: who waits for a full session, and the operator's buttons for their offers.

A person whose offer call went unanswered may ring an operator instead: the operator confirms the
place held for them here (or removes them from the list), through `actions.waitlist`.
"""

from __future__ import annotations

from datetime import date

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from actions import waitlist
from booking.models import OfficeSession, WaitlistEntry
from hotline.auth import roles_required
from hotline.console.common import ANY_STAFF, acting, attempt, blueprint
from hotline.console.forms import ActionForm


def waiting(db: Session, *, office_id: int, day: date, code: str) -> list[WaitlistEntry]:
    """The live entries of a session, for the booking page (none before anybody booked it)."""
    session_id = db.scalar(select(OfficeSession.id).where(
        OfficeSession.office_id == office_id, OfficeSession.date == day, OfficeSession.code == code))
    return [] if session_id is None else waitlist.of_session(acting(db), office_id=office_id, session_id=session_id)


def join(db: Session, *, office_id: int, day: date, code: str, phone: str, name: str | None,
         procedure_id: int | None, language: str) -> str:
    joined = waitlist.join(acting(db), office_id=office_id, day=day, code=code, phone=phone, name=name,
                           procedure_id=procedure_id, language=language)
    return gettext("On the waitlist: %(ahead)s ahead. The caller will be called when a place comes free.",
                   ahead=joined.ahead)


@blueprint.post("/waitlist/<id:entry_id>/<verb>")
@roles_required(*ANY_STAFF)
def waitlist_entry(entry_id: int, verb: str) -> BaseResponse:
    """Confirm the place held for an entry (a booking, as if they had pressed 1), or take them off the list."""
    if verb not in ("accept", "leave") or not ActionForm().validate_on_submit():
        abort(400)
    back = request.form.get("back", "")
    if not back.startswith("/console/") or "//" in back:
        back = url_for("console.grid")

    def change(db: Session) -> str:
        if verb == "accept":
            booking = waitlist.accept(acting(db), entry_id=entry_id)
            return gettext("Booked: code %(code)s.", code=booking.code)
        waitlist.leave(acting(db), entry_id=entry_id)
        return gettext("Taken off the waitlist.")

    message = attempt(change)
    if message is not None:
        flash(message, "ok")
    return redirect(back)
