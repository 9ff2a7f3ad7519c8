"""Administrators' pages for a citizen's data (Law 91/2025/QH15): everything kept under a number, as a page or
a JSON file, and its erasure after a confirmation step.

The number travels in POST bodies only, never in a URL, so that it stays out of access logs and browser
history. Both reading and erasing are actions (`actions.privacy`), authorised and audited there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from flask import Response, abort, flash, make_response, redirect, render_template, url_for
from flask_babel import format_date, format_datetime, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import DataRequired, Length

from actions import privacy
from actions.errors import NotAllowed
from booking.errors import BookingError
from booking.models import Booking
from hotline.auth import roles_required
from hotline.console.common import acting, attempt, blueprint, flash_error, local_today
from hotline.runtime import runtime


class NumberForm(FlaskForm):
    phone = StringField(_l("Phone number (any spelling)"), validators=[DataRequired(), Length(max=40)])


class EraseForm(FlaskForm):
    phone = HiddenField(validators=[DataRequired(), Length(max=40)])
    confirmed = HiddenField()
    cancel_upcoming = BooleanField(_l("Cancel these appointments first (the person is told by SMS)"))


def when(value: str | None) -> str:
    """An instant of the export as people read it, in the offices' time: 08:05 02/03/2027."""
    return format_datetime(datetime.fromisoformat(value), "HH:mm dd/MM/yyyy") if value else "—"


def day(value: str) -> str:
    return format_date(date.fromisoformat(value), "dd/MM/yyyy")


def _retention() -> dict[str, int]:
    settings = runtime().settings
    return {"bookings": settings.retention_booking_days, "sms": settings.retention_sms_days,
            "calls": settings.retention_call_days, "logins": settings.retention_login_attempts_days,
            "audit": settings.retention_audit_days}


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"  # a person's data: no copy in a cache or the history
    return response


def _start(form: NumberForm, status: int = 200) -> Response:
    """The first page; no-store too, since a number refused is shown again in its field."""
    return _no_store(make_response(render_template("console/admin_privacy.html", form=form,
                                                   retention=_retention()), status))


@blueprint.get("/admin/privacy")
@roles_required()
def admin_privacy() -> Response:
    return _start(NumberForm())


def _exported(answer: Callable[[dict[str, Any]], Response]) -> Response:
    """The number's data through `answer`, after the form and the action (which audits it) have agreed; else
    the first page again, 422."""
    form = NumberForm()
    if not form.validate_on_submit():
        return _start(form, 422)
    data = attempt(lambda db: privacy.export(acting(db), phone=form.phone.data or ""))
    return _start(form, 422) if data is None else _no_store(answer(data))


@blueprint.post("/admin/privacy")
@roles_required()
def admin_privacy_show() -> Response:
    """Everything kept under the number, on a page (audited as an export: it is the same reading)."""
    return _exported(lambda data: make_response(render_template(
        "console/admin_privacy_data.html", data=data, erase=EraseForm(formdata=None, phone=data["phone"]),
        when=when, day=day)))


@blueprint.post("/admin/privacy/export")
@roles_required()
def admin_privacy_export() -> Response:
    def download(data: dict[str, Any]) -> Response:
        name = f"personal-data-{data['phone'][-3:]}-{local_today().isoformat()}.json"
        return Response(json.dumps(data, ensure_ascii=False, indent=2), mimetype="application/json",
                        headers={"Content-Disposition": f"attachment; filename={name}"})

    return _exported(download)


def _confirm_page(form: EraseForm, upcoming: list[Booking], status: int = 200) -> Response:
    page = render_template("console/admin_privacy_erase.html", form=form, upcoming=upcoming)
    return _no_store(make_response(page, status))


@blueprint.post("/admin/privacy/erase")
@roles_required()
def admin_privacy_erase() -> Response | BaseResponse:
    """First the confirmation (what will go, which appointments would be cancelled); then, confirmed, the erasure."""
    form = EraseForm()
    if not form.validate_on_submit():
        return _start(NumberForm(formdata=None), 422)
    phone = form.phone.data or ""
    if form.confirmed.data != "yes":
        upcoming = attempt(lambda db: privacy.upcoming(acting(db), phone=phone))
        if upcoming is None:
            return _start(NumberForm(formdata=None), 422)
        form.confirmed.data = "yes"
        return _confirm_page(form, upcoming)
    try:
        with runtime().transaction() as db:
            erased = privacy.erase(acting(db), phone=phone, cancel_upcoming=bool(form.cancel_upcoming.data))
    except privacy.UpcomingBookings as exc:
        flash_error(exc)
        with runtime().reading() as db:
            upcoming = privacy.upcoming(acting(db), phone=phone)
        return _confirm_page(form, upcoming, 409)
    except NotAllowed:
        abort(403)
    except BookingError as exc:  # a number that is no number
        flash_error(exc)
        return _start(NumberForm(formdata=None), 422)
    flash(gettext("The data of this number has been erased: %(bookings)s appointment(s) anonymised, "
                  "%(cancelled)s cancelled first.", bookings=erased.counts["bookings"],
                  cancelled=len(erased.cancelled)), "ok")
    return redirect(url_for("console.admin_privacy"))
