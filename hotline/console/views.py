"""Console pages. Each view: check access, call the same services as the IVR and the API, audit, answer."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response as BaseResponse
from wtforms.fields.choices import SelectChoice

from booking import bookings, office_settings
from booking.audit import record
from booking.availability import availability
from booking.bookings import Actor
from booking.errors import BookingError
from booking.models import AuditEntry, Booking, BookingStatus, CallbackRequest, Channel, Office, Procedure, Role
from booking.phones import parse_contact
from hotline.auth import Principal, check_password, roles_required
from hotline.console.forms import ActionForm, BookForm, CapacityForm, CheckInForm, ClosureForm, LoginForm, LookupForm
from hotline.localization import BabelLocalizer
from hotline.runtime import runtime
from notifications import notices
from notifications.models import OutboxMessage

blueprint = Blueprint("console", __name__, url_prefix="/console")

ANY_STAFF = (Role.OPERATOR, Role.MANAGER)


def _me() -> Principal:
    return current_user._get_current_object()  # type: ignore[no-any-return]


def _actor() -> Actor:
    return Actor(_me().actor, Channel.OPERATOR)


def _audit(db: Any, action: str, target_type: str, target_id: object, *, office_id: int | None = None,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    record(db, actor=_me().actor, action=action, target_type=target_type, target_id=target_id,
           office_id=office_id, before=before, after=after, now=runtime().now(), ip=request.remote_addr)


def _fail(error: BookingError) -> None:
    flash(error.render(gettext), "error")


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
    if _me().role is Role.MANAGER and _me().office_ids:
        return redirect(url_for("console.roster", office_id=min(_me().office_ids)))
    return redirect(url_for("console.grid"))


# -- operators ------------------------------------------------------------------------------------

@blueprint.get("/lookup")
@roles_required(*ANY_STAFF)
def lookup() -> str:
    form = LookupForm(request.args)
    found: list[Booking] = []
    messages: list[OutboxMessage] = []
    phone = None
    if request.args.get("phone"):
        try:
            phone = parse_contact(request.args["phone"]).number
        except BookingError as exc:
            _fail(exc)
        else:
            with runtime().reading() as db:
                found = list(db.scalars(select(Booking).where(Booking.phone == phone)
                                        .options(selectinload(Booking.office)).order_by(Booking.date.desc())))
                messages = list(db.scalars(select(OutboxMessage).where(OutboxMessage.recipient == phone)
                                           .order_by(OutboxMessage.id.desc()).limit(50)))
    return render_template("console/lookup.html", form=form, phone=phone, bookings=found, messages=messages,
                           action=ActionForm())


@blueprint.get("/grid")
@roles_required(*ANY_STAFF)
def grid() -> str:
    rt = runtime()
    now = rt.now()
    today = now.astimezone(rt.settings.tz).date()
    name = request.args.get("q", "").strip().lower()
    with rt.reading() as db:
        offices = [o for o in db.scalars(select(Office).where(Office.active.is_(True))
                                         .options(selectinload(Office.templates))
                                         .order_by(Office.keypad_number, Office.id))
                   if not name or name in o.name.lower() or name in o.code.lower()]
        days = availability(db, offices, today, today + timedelta(days=6), now=now, policy=rt.policy,
                            channel=Channel.OPERATOR)
    return render_template("console/grid.html", offices=offices, days=days, q=name,
                           dates=[today + timedelta(days=i) for i in range(7)])


@blueprint.route("/book/<int:office_id>/<day>/<session>", methods=["GET", "POST"])
@roles_required(*ANY_STAFF)
def book(office_id: int, day: str, session: str) -> str | BaseResponse:
    rt = runtime()
    try:
        when = date.fromisoformat(day)
    except ValueError:
        abort(404)
    with rt.reading() as db:
        office = db.get(Office, office_id) or abort(404)
        column = Procedure.at_province if office.level.value == "province" else Procedure.at_commune
        procedures = [SelectChoice("0", "—")] + [SelectChoice(str(p.id), f"{p.field}: {p.name}") for p in db.scalars(
            select(Procedure).where(column.is_(True), Procedure.active.is_(True)).order_by(Procedure.field))]
    form = BookForm(office_id=office_id, day=when, session=session)
    form.procedure_id.choices = procedures
    if form.validate_on_submit():
        now = rt.now()
        try:
            with rt.transaction() as db:
                booking = bookings.book(db, office_id=office_id, day=when, code=session, phone=form.phone.data or "",
                                        actor=_actor(), now=now, policy=rt.policy, name=form.name.data or None,
                                        procedure_id=form.procedure_id.data or None,
                                        language=form.language.data or "vi")
                notices.confirmed(db, booking, now=now, policy=rt.sms, loc=BabelLocalizer(booking.language))
                _audit(db, "booking.create", "booking", booking.code, office_id=office_id,
                       after={"queue": booking.queue_label, "phone": booking.phone, "date": booking.date})
                code = booking.code
        except BookingError as exc:
            _fail(exc)
        else:
            flash(gettext("Booked: code %(code)s.", code=code), "ok")
            return redirect(url_for("console.lookup", phone=form.phone.data))
    return render_template("console/book.html", form=form, office=office, day=when, session=session)


@blueprint.post("/bookings/<code>/cancel")
@roles_required(*ANY_STAFF)
def cancel(code: str) -> BaseResponse:
    if not ActionForm().validate_on_submit():
        abort(400)
    rt = runtime()
    now = rt.now()
    try:
        with rt.transaction() as db:
            found = bookings.find_booking(db, code)
            if _me().role is Role.MANAGER and not _me().may_manage(found.office_id):
                abort(403)
            booking = bookings.cancel(db, booking_id=found.id, actor=_actor(), now=now, policy=rt.policy,
                                      reason=request.form.get("reason", "")[:300])
            notices.cancelled(db, booking, now=now, policy=rt.sms, loc=BabelLocalizer(booking.language))
            _audit(db, "booking.cancel", "booking", code, office_id=booking.office_id,
                   before={"status": "booked"}, after={"status": booking.status})
            phone = booking.phone
    except BookingError as exc:
        _fail(exc)
        return redirect(request.referrer or url_for("console.grid"))
    flash(gettext("Cancelled."), "ok")
    return redirect(url_for("console.lookup", phone=phone))


@blueprint.get("/callbacks")
@roles_required(*ANY_STAFF)
def callbacks() -> str:
    with runtime().reading() as db:
        waiting = list(db.scalars(select(CallbackRequest).where(CallbackRequest.done_at.is_(None))
                                  .order_by(CallbackRequest.requested_at)))
    return render_template("console/callbacks.html", requests=waiting, action=ActionForm())


@blueprint.post("/callbacks/<int:request_id>/done")
@roles_required(*ANY_STAFF)
def callback_done(request_id: int) -> BaseResponse:
    if not ActionForm().validate_on_submit():
        abort(400)
    rt = runtime()
    with rt.transaction() as db:
        entry = db.get(CallbackRequest, request_id) or abort(404)
        if entry.done_at is None:
            entry.done_at, entry.done_by = rt.now(), _me().actor
            entry.note = request.form.get("note", "")[:500]
            _audit(db, "callback.done", "callback", request_id, after={"note": entry.note})
    return redirect(url_for("console.callbacks"))


# -- managers --------------------------------------------------------------------------------------

def _managed_office(office_id: int) -> Office:
    if not _me().may_manage(office_id):
        abort(403)
    with runtime().reading() as db:
        office = db.get(Office, office_id)
    if office is None:
        abort(404)
    return office


def _roster_rows(office_id: int, day: date, session: str | None) -> list[Booking]:
    with runtime().reading() as db:
        query = select(Booking).where(Booking.office_id == office_id, Booking.date == day,
                                      Booking.status != BookingStatus.CANCELLED)
        if session:
            query = query.where(Booking.session_code == session)
        return list(db.scalars(query.options(selectinload(Booking.procedure))
                               .order_by(Booking.session_code.desc(), Booking.queue_number)))


@blueprint.get("/offices/<int:office_id>/roster")
@roles_required(Role.MANAGER)
def roster(office_id: int) -> str | Response:
    office = _managed_office(office_id)
    rt = runtime()
    try:
        day = date.fromisoformat(request.args.get("date") or rt.now().astimezone(rt.settings.tz).date().isoformat())
    except ValueError:
        abort(400)
    session = request.args.get("session") or None
    rows = _roster_rows(office_id, day, session)
    if request.args.get("format") == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["queue", "code", "arrival_start", "arrival_end", "name", "phone", "procedure", "field",
                         "channel", "status"])
        for b in rows:
            writer.writerow([b.queue_label, b.code, b.arrival_start.strftime("%H:%M"), b.arrival_end.strftime("%H:%M"),
                             b.name or "", b.phone, b.procedure.name if b.procedure else "", b.field or "",
                             b.channel.value, b.status.value])
        return Response("\ufeff" + out.getvalue(), mimetype="text/csv", headers={
            "Content-Disposition": f"attachment; filename=roster-{office.code}-{day.isoformat()}.csv"})
    return render_template("console/roster.html", office=office, day=day, session=session, rows=rows,
                           checkin=CheckInForm(), closure=ClosureForm(), capacity=CapacityForm(day=day),
                           action=ActionForm())


@blueprint.post("/offices/<int:office_id>/checkin")
@roles_required(Role.MANAGER)
def checkin(office_id: int) -> BaseResponse:
    _managed_office(office_id)
    form = CheckInForm()
    if form.validate_on_submit():
        rt = runtime()
        try:
            with rt.transaction() as db:
                booking = bookings.check_in(db, code=form.code.data or "", actor=_actor(), now=rt.now(),
                                            office_id=office_id)
                _audit(db, "booking.check_in", "booking", booking.code, office_id=office_id,
                       after={"status": booking.status})
                flash(gettext("Checked in: %(queue)s.", queue=booking.queue_label), "ok")
        except BookingError as exc:
            _fail(exc)
    return redirect(url_for("console.roster", office_id=office_id, date=request.form.get("date")))


@blueprint.post("/offices/<int:office_id>/capacity")
@roles_required(Role.MANAGER)
def capacity(office_id: int) -> BaseResponse:
    _managed_office(office_id)
    form = CapacityForm()
    if form.validate_on_submit() and form.day.data is not None:
        rt = runtime()
        try:
            with rt.transaction() as db:
                office_settings.set_session_for_date(db, office_id=office_id, day=form.day.data,
                                                     code=form.session.data or "S", capacity=form.capacity.data)
                _audit(db, "session.change", "office", office_id, office_id=office_id,
                       after={"date": form.day.data, "session": form.session.data, "capacity": form.capacity.data})
            flash(gettext("Saved."), "ok")
        except BookingError as exc:
            _fail(exc)
    return redirect(url_for("console.roster", office_id=office_id, date=form.day.data))


@blueprint.post("/offices/<int:office_id>/closures")
@roles_required(Role.MANAGER)
def close(office_id: int) -> BaseResponse:
    office = _managed_office(office_id)
    form = ClosureForm()
    if form.validate_on_submit() and form.start.data and form.end.data:
        rt = runtime()
        now = rt.now()
        try:
            with rt.transaction() as db:
                _, affected = office_settings.close(db, office_id=office_id, start=form.start.data,
                                                    end=form.end.data, reason=form.reason.data or "",
                                                    actor=_me().actor, now=now)
                if form.notify.data and affected:
                    notices.closure_broadcast(db, office=office, start=form.start.data, end=form.end.data,
                                              reason=form.reason.data or "", created_by=_me().actor, now=now,
                                              policy=rt.sms, loc=BabelLocalizer(rt.settings.default_language))
                    for booking in affected:
                        bookings.cancel(db, booking_id=booking.id, actor=_actor(), now=now, policy=rt.policy,
                                        reason=form.reason.data or "")
                _audit(db, "office.close", "office", office_id, office_id=office_id,
                       after={"start": form.start.data, "end": form.end.data, "reason": form.reason.data,
                              "notify": form.notify.data, "affected": len(affected)})
            flash(gettext("Closed; %(n)s appointments affected.", n=len(affected)), "ok")
        except BookingError as exc:
            _fail(exc)
    return redirect(url_for("console.roster", office_id=office_id))


# -- administrators -----------------------------------------------------------------------------

@blueprint.get("/audit")
@roles_required()
def audit() -> str:
    with runtime().reading() as db:
        entries = list(db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(200)))
    return render_template("console/audit.html", entries=entries)
