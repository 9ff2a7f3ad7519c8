"""Console pages. Each view: check access, call the same services as the IVR and the API, audit, answer."""

from __future__ import annotations

from collections import Counter
from datetime import date
from collections.abc import Callable
from typing import Any, TypeVar

import segno
from flask import Response, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import format_date, gettext
from flask_babel import lazy_gettext as _l
from flask_login import login_user, logout_user
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from werkzeug.wrappers import Response as BaseResponse

from accounts.models import Role
from actions import bookings as actions
from actions import desk
from actions import offices as office_actions
from actions.offices import Disposition, PlanChanged
from booking.errors import BookingError
from booking.models import Booking, BookingStatus
from hotline.auth import check_password, roles_required
from hotline.console.common import (ANY_STAFF, acting, apply_change, attempt, blueprint, calendar_date,
                                    csv_response, flash_error, flash_field_errors, in_calendar,
                                    local_today, managed_office, me, over_capacity_notice)
from hotline.console.forms import ActionForm, CapacityForm, CheckInForm, ClosureForm, LoginForm
from hotline.console.labels import CHANNELS
from hotline.runtime import runtime

T = TypeVar("T")
STATUS_LABELS = {
    BookingStatus.BOOKED: _l("Booked"),
    BookingStatus.CANCELLED: _l("Cancelled"),
    BookingStatus.CHECKED_IN: _l("Checked in"),
    BookingStatus.SERVED: _l("Served"),
    BookingStatus.NO_SHOW: _l("Did not come"),
}
EVENT_LABELS = {
    "created": _l("Booked"),
    "cancelled": _l("Cancelled"),
    "moved": _l("Moved"),
    "checked_in": _l("Checked in"),
    "served": _l("Served"),
    "no_show": _l("Marked as not having come"),
    "called": _l("Called to a desk"),
    "recalled": _l("Called again at a desk"),
    "transferred": _l("Sent to another desk"),
}


@blueprint.app_template_filter("booking_status")
def booking_status(status: BookingStatus) -> str:
    """A booking's status in the page's language (the roster, lookup and confirmation pages)."""
    return str(STATUS_LABELS.get(status, status.value))


def qr_svg(code: str) -> Markup:
    """The booking code as a QR code, inline SVG: a desk reader types the nine digits into check-in.

    Numeric mode and no Micro QR, so every common reader decodes it; the code is nine digits
    (checked by `find_booking`), so nothing in it needs escaping.
    """
    qr = segno.make(code, micro=False)
    return Markup(qr.svg_inline(scale=5, title=code, svgclass="qr", omitsize=True, light="#fff"))


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> str | BaseResponse:
    form = LoginForm()
    if form.validate_on_submit():
        principal = check_password(form.username.data or "", form.password.data or "", request.remote_addr or "")
        if principal is not None:
            session.permanent = True  # ends after PERMANENT_SESSION_LIFETIME, not only with the browser
            login_user(principal)
            return redirect(url_for("console.home"))
        flash(gettext("Wrong user name or password."), "error")
    return render_template("console/login.html", form=form)


@blueprint.post("/logout")
def logout() -> BaseResponse:
    if ActionForm().validate_on_submit():
        logout_user()
    return redirect(url_for("console.login"))


@blueprint.get("/")
@roles_required(*ANY_STAFF)
def home() -> BaseResponse:
    if me().role is Role.MANAGER and me().office_ids:
        return redirect(url_for("console.roster", office_id=min(me().office_ids)))
    return redirect(url_for("console.grid"))


# -- operators ------------------------------------------------------------------------------------

def _history(booking: Booking) -> list[dict[str, Any]]:
    """The booking's events for people: labels translated, a move shown as where it went from and to."""
    rows = []
    for event in booking.events:
        note = ""
        if event.action == "moved" and {"before", "after"} <= set(event.detail):
            ends = [event.detail[side] for side in ("before", "after")]
            note = " → ".join(f"{format_date(date.fromisoformat(e['date']), 'dd/MM/yyyy')} {e['queue']}" for e in ends)
        elif event.detail.get("reason"):
            note = str(event.detail["reason"])
        rows.append({"at": event.at, "action": str(EVENT_LABELS.get(event.action, event.action)),
                     "actor": event.actor, "note": note})
    return rows


@blueprint.get("/bookings/<code>")
@roles_required(*ANY_STAFF)
def booking_detail(code: str) -> str:
    """The confirmation a caller is read (or handed, printed): everything about one booking and its QR code."""
    with runtime().reading() as db:
        booking = actions.find(acting(db), code=code)
        return render_template("console/confirmation.html", booking=booking, office=booking.office,
                               procedure=booking.procedure, history=_history(booking), qr=qr_svg(booking.code),
                               action=ActionForm())


# -- managers --------------------------------------------------------------------------------------

def _roster_rows(office_id: int, day: date, session: str | None) -> list[Booking]:
    with runtime().reading() as db:
        query = select(Booking).where(Booking.office_id == office_id, Booking.date == day,
                                      Booking.status != BookingStatus.CANCELLED)
        if session:
            query = query.where(Booking.session_code == session)
        return list(db.scalars(query.options(selectinload(Booking.procedure))
                               .order_by(Booking.session_code.desc(), Booking.queue_number)))


@blueprint.get("/offices/<id:office_id>/roster")
@roles_required(Role.MANAGER)
def roster(office_id: int) -> str | Response:
    office = managed_office(office_id)
    day = calendar_date(request.args.get("date") or local_today().isoformat()) or abort(400)
    session = request.args.get("session") or None
    rows = _roster_rows(office_id, day, session)
    if request.args.get("format") == "csv":
        return csv_response(
            f"roster-{office.code}-{day.isoformat()}.csv",
            [gettext("Queue"), gettext("Code"), gettext("Arrives from"), gettext("Arrives by"), gettext("Name"),
             gettext("Phone"), gettext("Procedure"), gettext("Field"), gettext("Channel"), gettext("Status")],
            ([b.queue_label, b.code, b.arrival_start.strftime("%H:%M"), b.arrival_end.strftime("%H:%M"), b.name or "",
              b.phone, b.procedure.name if b.procedure else "", b.field or "", str(CHANNELS[b.channel]),
              booking_status(b.status)]
             for b in rows))
    counts = Counter(b.status for b in rows)
    return render_template("console/roster.html", office=office, day=day, session=session, rows=rows,
                           counts=[(status, counts[status]) for status in STATUS_LABELS if counts[status]],
                           checkin=CheckInForm(), closure=ClosureForm(), capacity=CapacityForm(day=day),
                           action=ActionForm())


@blueprint.post("/offices/<id:office_id>/checkin")
@roles_required(Role.MANAGER)
def checkin(office_id: int) -> BaseResponse:
    managed_office(office_id)
    back = url_for("console.roster", office_id=office_id, date=request.form.get("date"))
    form = CheckInForm()
    if form.validate_on_submit():

        def check_in(db: Session) -> str:
            booking = desk.check_in(acting(db), code=form.code.data or "", office_id=office_id)
            return gettext("Checked in: %(queue)s.", queue=booking.queue_label)

        return apply_change(check_in, back)
    return redirect(back)


@blueprint.post("/offices/<id:office_id>/capacity")
@roles_required(Role.MANAGER)
def capacity(office_id: int) -> BaseResponse:
    managed_office(office_id)
    form = CapacityForm()
    shown = form.day.data if form.day.data is not None and in_calendar(form.day.data) else None
    back = url_for("console.roster", office_id=office_id, date=shown)
    if form.validate_on_submit() and form.day.data is not None:
        day = form.day.data

        def change(db: Session) -> str | None:
            code = form.session.data or "S"
            office_actions.set_session_on_date(acting(db), office_id=office_id, day=day, code=code,
                                               capacity=form.capacity.data)
            return over_capacity_notice(db, office_id=office_id, start=day, code=code)

        return apply_change(change, back)
    flash_field_errors(form)
    return redirect(back)


def _closed_message(outcome: office_actions.ClosureOutcome) -> str:
    if outcome.disposition is Disposition.MOVE:
        return gettext("Closed; %(n)s appointments affected, %(moved)s moved.", n=outcome.affected,
                       moved=len(outcome.moved))
    return gettext("Closed; %(n)s appointments affected.", n=outcome.affected)


def confirmed(apply: Callable[[Session], T], done: Callable[[T], str], back: str) -> BaseResponse | None:
    """A change confirmed from its preview: back to `back` with `done(outcome)`, or with the rule it broke.

    None when the preview no longer holds (`PlanChanged`, flashed): the caller shows the new preview.
    """
    try:
        with runtime().transaction() as db:
            outcome = apply(db)
    except PlanChanged as exc:
        flash_error(exc)
        return None
    except BookingError as exc:
        flash_error(exc)
        return redirect(back)
    flash(done(outcome), "ok")
    return redirect(back)


def closure_page(office_id: int, back: str) -> tuple[str, int] | BaseResponse:
    """The closure form of the roster and of the settings page: a preview first, then the closure.

    The form's POST shows what the closure would do (`preview_closure`: the closure's own code,
    rolled back); the preview's button posts the same fields again with `confirm` and the preview's
    fingerprint, and the office closes only if the closure still does what was shown (otherwise the
    new preview is shown, with 409). Invalid input goes back to `back` with the fields' errors.
    """
    office = managed_office(office_id)
    form = ClosureForm()
    if not form.validate_on_submit() or form.start.data is None or form.end.data is None:
        flash_field_errors(form)
        return redirect(back)
    start, end, reason = form.start.data, form.end.data, form.reason.data or ""
    disposition = Disposition(form.disposition.data)
    status = 200
    if form.confirm.data:
        done = confirmed(lambda db: office_actions.close_office(
            acting(db), office_id=office_id, start=start, end=end, reason=reason, disposition=disposition,
            expect=form.expect.data or None), _closed_message, back)
        if done is not None:
            return done
        status = 409  # and the new preview
    preview = attempt(lambda db: office_actions.preview_closure(acting(db), office_id=office_id, start=start,
                                                                end=end, reason=reason, disposition=disposition))
    if preview is None:
        return redirect(back)
    return render_template("console/closure_preview.html", office=office, preview=preview, action=request.path,
                           back=back, Outcome=office_actions.Outcome, Disposition=Disposition), status


@blueprint.post("/offices/<id:office_id>/closures")
@roles_required(Role.MANAGER)
def close(office_id: int) -> tuple[str, int] | BaseResponse:
    return closure_page(office_id, url_for("console.roster", office_id=office_id))

