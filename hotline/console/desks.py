"""Desks at the office: the manager's list of counters, the counter screen desk staff work from, walk-in tickets.

Every change is one of `actions.desk`'s, which authorises it (the office's own staff; another
office's get a 403) and audits it; each button is a POST form with the CSRF token, so the screen
works from the keyboard alone (Tab to a button, Enter).
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from accounts.models import Role
from actions import bookings as booking_actions
from actions import desk
from actions.errors import NotAllowed
from booking.errors import BookingError, NotFound
from booking.models import Booking
from hotline.auth import roles_required
from hotline.console.common import acting, apply_change, attempt, blueprint, flash_field_errors, managed_office
from hotline.console.forms import ActionForm, stripped
from hotline.qr import public_url, url_qr_svg
from hotline.runtime import runtime


class DeskForm(FlaskForm):
    number = IntegerField(_l("Desk number"), validators=[DataRequired(), NumberRange(min=1, max=999)])
    name = StringField(_l("What it deals with"), filters=[stripped], validators=[Optional(), Length(max=60)])
    active = BooleanField(_l("In use"), default=True)


class NearlyTurnForm(FlaskForm):
    ahead = IntegerField(_l("People ahead"), validators=[NumberRange(min=0, max=50)])


class TransferForm(FlaskForm):
    to_desk = SelectField(_l("Send to desk"), coerce=int, validate_choice=False)


class WalkInForm(FlaskForm):
    phone = StringField(_l("Mobile number (optional)"), filters=[stripped], validators=[Optional(), Length(max=20)])
    name = StringField(_l("Name (optional)"), filters=[stripped], validators=[Optional(), Length(max=200)])


def _listing(office_id: int) -> str:
    return url_for("console.desks", office_id=office_id)


@blueprint.get("/offices/<id:office_id>/desks")
@roles_required(Role.MANAGER)
def desks(office_id: int) -> str:
    office = managed_office(office_id)
    with runtime().reading() as db:
        try:
            rows = desk.desks(acting(db), office_id=office_id)
            today = desk.day_at_desks(acting(db), office_id=office_id)
        except NotAllowed:
            abort(403)
        for row in rows:
            db.expunge(row)
    forms = {row.id: DeskForm(formdata=None, prefix=f"d{row.id}", obj=row) for row in rows}
    return render_template("console/desks.html", office=office, desks=rows, forms=forms, today=today,
                           new=DeskForm(formdata=None, number=max((r.number for r in rows), default=0) + 1),
                           nearly=NearlyTurnForm(formdata=None, ahead=office.nearly_turn_ahead))


def _desk_id(raw: str) -> int | None:
    """A desk id as a form or a query gives it: ASCII digits only ('²' is a digit to str.isdigit, not to int)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None


@blueprint.post("/offices/<id:office_id>/desks")
@roles_required(Role.MANAGER)
def save_desk(office_id: int) -> BaseResponse:
    managed_office(office_id)  # another office's manager is refused before the form is read
    raw_id = request.form.get("desk_id", "")
    desk_id = _desk_id(raw_id)
    if raw_id and desk_id is None:
        abort(400)
    form = DeskForm(prefix=f"d{desk_id}" if desk_id else "")
    if not form.validate_on_submit() or form.number.data is None:
        flash_field_errors(form)
        return redirect(_listing(office_id))
    number, name, active = form.number.data, form.name.data or "", bool(form.active.data)

    def save(db: Session) -> str:
        saved = desk.save_desk(acting(db), office_id=office_id, desk_id=desk_id, number=number, name=name,
                               active=active)
        return gettext("Desk %(number)s saved.", number=saved.number)

    return apply_change(save, _listing(office_id))


@blueprint.post("/offices/<id:office_id>/nearly-turn")
@roles_required(Role.MANAGER)
def nearly_turn(office_id: int) -> BaseResponse:
    managed_office(office_id)
    form = NearlyTurnForm()
    if not form.validate_on_submit() or form.ahead.data is None:
        flash_field_errors(form)
        return redirect(_listing(office_id))
    ahead = form.ahead.data

    def save(db: Session) -> str:
        desk.set_nearly_turn(acting(db), office_id=office_id, ahead=ahead)
        return gettext("Saved.")

    return apply_change(save, _listing(office_id))


@blueprint.get("/offices/<id:office_id>/desks/<id:desk_id>")
@roles_required(Role.MANAGER)
def counter(office_id: int, desk_id: int) -> str:
    office = managed_office(office_id)
    with runtime().reading() as db:
        try:
            screen = desk.open_counter(acting(db), office_id=office_id, desk_id=desk_id)
        except NotAllowed:
            abort(403)
        except NotFound:  # the desk of another office, or none
            abort(404)
        serving = screen.serving
        procedure = serving.procedure.name if serving is not None and serving.procedure else None
        transfer = TransferForm(formdata=None)
        transfer.to_desk.choices = [(d.id, gettext("Desk %(number)s", number=d.number) + (f" · {d.name}" if d.name
                                                                                           else ""))
                                    for d in screen.others]
        return render_template("console/counter.html", office=office, screen=screen, serving=serving,
                               procedure=procedure, action=ActionForm(), transfer=transfer,
                               walk_in=WalkInForm(formdata=None))


OPERATIONS = {
    "call": lambda ctx, office_id, desk_id: desk.call_next(ctx, office_id=office_id, desk_id=desk_id),
    "recall": lambda ctx, office_id, desk_id: desk.recall(ctx, office_id=office_id, desk_id=desk_id),
    "served": lambda ctx, office_id, desk_id: desk.served_at_desk(ctx, office_id=office_id, desk_id=desk_id),
    "no-show": lambda ctx, office_id, desk_id: desk.no_show_at_desk(ctx, office_id=office_id, desk_id=desk_id),
}
DONE = {
    "call": _l("Called: %(queue)s."),
    "recall": _l("Called again: %(queue)s."),
    "served": _l("Served: %(queue)s."),
    "no-show": _l("Marked as not having come: %(queue)s."),
}


@blueprint.post("/offices/<id:office_id>/desks/<id:desk_id>/<operation>")
@roles_required(Role.MANAGER)
def counter_action(office_id: int, desk_id: int, operation: str) -> BaseResponse:
    back = url_for("console.counter", office_id=office_id, desk_id=desk_id)
    if operation == "transfer":
        form = TransferForm()
        raw = request.form.get("to_desk", "")
        to_desk = _desk_id(raw)
        if to_desk is None:
            abort(400)
        if not form.validate_on_submit():
            flash_field_errors(form)
            return redirect(back)

        def send(db: Session) -> str:
            booking = desk.transfer(acting(db), office_id=office_id, desk_id=desk_id, to_desk_id=to_desk)
            return gettext("%(queue)s sent to another desk.", queue=booking.queue_label)

        return apply_change(send, back)
    run = OPERATIONS.get(operation) or abort(404)
    if not ActionForm().validate_on_submit():
        flash(gettext("The form expired; please try again."), "error")
        return redirect(back)

    def change(db: Session) -> str:
        booking: Booking | None = run(acting(db), office_id, desk_id)
        if booking is None:
            return gettext("Nobody is waiting.")
        return str(DONE[operation]) % {"queue": booking.queue_label}

    return apply_change(change, back)


@blueprint.post("/offices/<id:office_id>/walk-ins")
@roles_required(Role.MANAGER)
def walk_in(office_id: int) -> BaseResponse:
    from_desk = _desk_id(request.form.get("desk_id", ""))
    back = (url_for("console.counter", office_id=office_id, desk_id=from_desk) if from_desk is not None
            else _listing(office_id))
    form = WalkInForm()
    if not form.validate_on_submit():
        flash_field_errors(form)
        return redirect(back)
    phone, name = form.phone.data or None, form.name.data or None
    language = "en" if request.form.get("language") == "en" else "vi"
    code = attempt(lambda db: desk.issue_walk_in(acting(db), office_id=office_id, phone=phone, name=name,
                                                 language=language).code)
    if code is None:
        return redirect(back)
    return redirect(url_for("console.ticket", office_id=office_id, code=code, desk=from_desk))


@blueprint.get("/offices/<id:office_id>/tickets/<code>")
@roles_required(Role.MANAGER)
def ticket(office_id: int, code: str) -> str:
    """The walk-in's printable ticket: number, office, time, and a QR code of the office's queue screen."""
    office = managed_office(office_id)
    with runtime().reading() as db:
        try:
            booking = booking_actions.find(acting(db), code=code)
        except NotAllowed:
            abort(403)
        except BookingError:  # no such code, or not a code at all
            abort(404)
        if booking.office_id != office_id:
            abort(404)
        screen = public_url("display.display", code=office.code)
        return render_template("console/ticket.html", office=office, booking=booking, screen=screen,
                               qr=url_qr_svg(screen), desk_id=_desk_id(request.args.get("desk", "")))
