"""Office managers' settings screens: the weekly sessions, per-date changes, crowd limit, reserves, closures,
and the administrators' province calendar.

Every change is one POST that calls an action of `actions.offices` (which authorises it and audits the
state before and after; the province calendar still calls `booking.office_settings` and audits here) in
its own transaction, flashes a broken rule instead of failing, and goes back to the page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, time, timedelta
from typing import Any, TypeVar

from babel.dates import get_day_names
from flask import abort, redirect, render_template, request, url_for
from flask_babel import format_decimal, get_locale, gettext, ngettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.wrappers import Response as BaseResponse
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TimeField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; types-WTForms 3.2 lacks it
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp

from accounts.models import Role
from actions import offices as office_actions
from actions.audit import snapshot
from actions.offices import Disposition
from booking import office_settings as services
from booking.availability import office_availability
from booking.calendar import LATEST, national_holiday
from booking.lookup import get_or_not_found
from booking.models import CalendarDay, CalendarDayKind, Channel, Closure, Office, SessionOverride
from hotline.auth import roles_required
from hotline.console import views
from hotline.console.common import (acting, apply_change, attempt, audit_change, blueprint, calendar_date,
                                    flash_field_errors, local_today, managed_office, me,
                                    over_capacity_notice)
from hotline.console.forms import ActionForm, ClosureForm, OverCapacityForm, in_range
from hotline.console.labels import CHANNELS, SESSION_CHOICES
from hotline.runtime import runtime

# Transport bounds only, so that a typo cannot overflow a database integer; the services own the rules
# (a capacity of 0 or more, windows of 5 to 240 minutes, …) and their messages.
MAX_NUMBER = 100_000
KIND_NAMES = {
    CalendarDayKind.DAY_OFF: _l("Day off"),
    CalendarDayKind.WORKING_DAY: _l("Make-up working day"),
}
TIME_FORMATS = ["%H:%M", "%H:%M:%S"]  # browsers send seconds when the time input has a step


def _optional_weekday(value: str | int | None) -> int | None:
    return None if value is None or value == "" else int(value)


def _weekday_choices(blank: str | None = None) -> list[SelectChoice]:
    names = get_day_names("wide", locale=get_locale())
    choices = [SelectChoice(day, names[day]) for day in range(7)]
    return ([SelectChoice("", blank)] if blank is not None else []) + choices


# -- forms ------------------------------------------------------------------------------------------

class TemplateForm(FlaskForm):
    weekday = SelectField(_l("Weekday"), coerce=int, choices=[])
    code = SelectField(_l("Session"), choices=list(SESSION_CHOICES))
    start = TimeField(_l("Starts"), format=TIME_FORMATS, validators=[InputRequired()])
    end = TimeField(_l("Ends"), format=TIME_FORMATS, validators=[InputRequired()])
    capacity = IntegerField(_l("Capacity"), validators=[InputRequired(), NumberRange(max=MAX_NUMBER)])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.weekday.choices = _weekday_choices()


class RemoveTemplateForm(FlaskForm):
    weekday = IntegerField(validators=[InputRequired(), NumberRange(min=0, max=6)])
    code = StringField(validators=[InputRequired(), Regexp(r"^[A-Z]$")])


class SessionDateForm(FlaskForm):
    """One date's session: other capacity and/or hours; all empty holds a cancelled session again."""

    day = DateField(_l("Date"), validators=[InputRequired(), in_range])
    code = SelectField(_l("Session"), choices=list(SESSION_CHOICES))
    capacity = IntegerField(_l("Capacity"), validators=[Optional(), NumberRange(max=MAX_NUMBER)])
    start = TimeField(_l("Starts"), format=TIME_FORMATS, validators=[Optional()])
    end = TimeField(_l("Ends"), format=TIME_FORMATS, validators=[Optional()])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=300)])


class CancelDateForm(FlaskForm):
    day = DateField(_l("Date"), validators=[InputRequired(), in_range])
    code = SelectField(_l("Session"), choices=list(SESSION_CHOICES))
    note = StringField(_l("Reason"), validators=[Optional(), Length(max=300)])
    notify = BooleanField(_l("Cancel the appointments and send everyone affected an SMS"))


class CrowdForm(FlaskForm):
    crowd_limit = IntegerField(_l("People on the premises at once"),
                               validators=[InputRequired(), NumberRange(max=MAX_NUMBER)])
    window_minutes = IntegerField(_l("Arrival window (minutes)"), validators=[Optional(), NumberRange(max=MAX_NUMBER)])


class ReserveForm(FlaskForm):
    code = SelectField(_l("Session"), choices=list(SESSION_CHOICES))
    channel = SelectField(_l("Channel"), choices=[SelectChoice(c.value, name) for c, name in CHANNELS.items()])
    seats = IntegerField(_l("Seats kept"), validators=[InputRequired(), NumberRange(max=MAX_NUMBER)])
    # Managers think of a reserve as "kept until the day before", not "1440 minutes": hours in the form and on
    # the page, minutes in the database (the rule and the API keep minutes).
    release_hours = IntegerField(_l("Released to everyone this many hours before the session"),
                                 default=2, validators=[InputRequired(), NumberRange(max=MAX_NUMBER // 60)])


class CalendarDayForm(FlaskForm):
    day = DateField(_l("Date"), validators=[InputRequired(), in_range])
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k.value, name) for k, name in KIND_NAMES.items()])
    works_as = SelectField(_l("Follows the sessions of"), coerce=_optional_weekday, choices=[],
                           validators=[Optional()])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=300)])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.works_as.choices = _weekday_choices(blank=gettext("its own weekday"))


# -- helpers ----------------------------------------------------------------------------------------

F = TypeVar("F", bound=FlaskForm)


def _apply(form: FlaskForm, change: Callable[[Session], str | None], back: str) -> BaseResponse:
    """Run one change in a transaction of its own; invalid input and broken rules are flashed, never a 500."""
    if not form.validate_on_submit():
        flash_field_errors(form)
        return redirect(back)
    return apply_change(change, back)


def _back(office_id: int, anchor: str) -> str:
    return url_for("console.office_settings", office_id=office_id, _anchor=anchor)


def _office_setting(path: str, endpoint: str, form_class: type[F], *,
                    anchor: str) -> Callable[[Callable[..., str | None]], Callable[..., str | None]]:
    """Makes `change(db, form, office_id, **rest)` the POST at /offices/<office_id>/settings/`path`.

    Only a manager of that office (or an administrator) gets that far; the form is checked, the change
    made by `_apply`, and the answer goes back to the section `anchor` of the settings page.
    """
    def register(change: Callable[..., str | None]) -> Callable[..., str | None]:
        @blueprint.post(f"/offices/<id:office_id>/settings/{path}", endpoint=endpoint)
        @roles_required(Role.MANAGER)
        @functools.wraps(change)
        def view(office_id: int, **rest: Any) -> BaseResponse:
            managed_office(office_id)
            form = form_class()
            return _apply(form, lambda db: change(db, form, office_id, **rest), _back(office_id, anchor))

        return change

    return register


def _office_in(db: Session, office_id: int) -> Office:
    return get_or_not_found(db, Office, office_id)


# -- the settings page ------------------------------------------------------------------------------

@blueprint.get("/offices/<id:office_id>/settings", endpoint="office_settings")
@roles_required(Role.MANAGER)
def settings_page(office_id: int) -> str:
    managed_office(office_id)
    rt = runtime()
    now, today = rt.now(), local_today()
    weeks = max(1, min(8, request.args.get("weeks", default=3, type=int) or 3))
    end = today + timedelta(days=7 * weeks - 1)
    with rt.reading() as db:
        office = db.scalar(select(Office).where(Office.id == office_id)
                           .options(selectinload(Office.templates), selectinload(Office.reserves)))
        if office is None:
            abort(404)
        days = office_availability(db, office, today, end, now=now, policy=rt.policy, channel=Channel.OPERATOR)
        overrides = {(o.date, o.code): o for o in db.scalars(select(SessionOverride).where(
            SessionOverride.office_id == office_id, SessionOverride.date.between(today, end)))}
        closures = list(db.scalars(select(Closure).where(
            or_(Closure.office_id == office_id, Closure.office_id.is_(None)), Closure.end_date >= today)
            .order_by(Closure.start_date, Closure.id)))
        over = {key: len(extras) for key, extras in services.beyond_capacity(
            db, office_id=office_id, start=today, end=LATEST).items()}
    cancelled: dict[date, list[SessionOverride]] = {}
    for change in sorted(overrides.values(), key=lambda o: o.code, reverse=True):
        if change.cancelled:
            cancelled.setdefault(change.date, []).append(change)
    session_form, cancel_form, closure_form = _prefilled_date_forms(days)
    return render_template(
        "console/office_settings.html", office=office, today=today, weeks=weeks, days=days, overrides=overrides,
        cancelled=cancelled, over=over, over_form=OverCapacityForm(formdata=None),
        closures=closures, day_names=get_day_names("wide", locale=get_locale()),
        templates=sorted(office.templates, key=lambda t: (t.weekday, t.start_time)),
        reserves=sorted(office.reserves, key=lambda r: (r.session_code, r.channel.value)),
        template_form=TemplateForm(formdata=None), session_form=session_form, cancel_form=cancel_form,
        crowd_form=CrowdForm(formdata=None, crowd_limit=office.crowd_limit, window_minutes=office.window_minutes),
        reserve_form=ReserveForm(formdata=None), closure_form=closure_form, action=ActionForm(),
        is_admin=me().role is Role.ADMIN,
    )


def _prefilled_date_forms(days: list[Any]) -> tuple[SessionDateForm, CancelDateForm, ClosureForm]:
    """The per-date forms and the closure form, filled in from the session the manager picked (?day=&code=)."""
    try:
        day = date.fromisoformat(request.args.get("day", ""))
    except ValueError:
        return SessionDateForm(formdata=None), CancelDateForm(formdata=None), ClosureForm(formdata=None)
    code = request.args.get("code", "S")
    room = next((s for d in days if d.date == day for s in d.sessions if s.code == code), None)
    values: dict[str, Any] = {"day": day, "code": code}
    if room is not None:
        values.update(capacity=room.capacity, start=room.start, end=room.end)
    return (SessionDateForm(formdata=None, **values), CancelDateForm(formdata=None, day=day, code=code),
            ClosureForm(formdata=None, start=day, end=day))


# -- the weekly template ----------------------------------------------------------------------------

@_office_setting("template", "office_template_set", TemplateForm, anchor="template")
def template_set(db: Session, form: TemplateForm, office_id: int) -> None:
    office_actions.set_template(acting(db), office_id=office_id, weekday=form.weekday.data, code=form.code.data or "",
                                start=form.start.data or time(0), end=form.end.data or time(0),
                                capacity=form.capacity.data or 0)


@_office_setting("template/remove", "office_template_remove", RemoveTemplateForm, anchor="template")
def template_remove(db: Session, form: RemoveTemplateForm, office_id: int) -> str:
    stranded = office_actions.remove_template(acting(db), office_id=office_id, weekday=form.weekday.data or 0,
                                              code=form.code.data or "")
    if stranded:
        return ngettext("Removed. %(num)s person booked on those dates keeps the appointment until you cancel "
                        "and notify or move them: close the office on that date to do so.",
                        "Removed. %(num)s people booked on those dates keep their appointments until you cancel "
                        "and notify or move them: close the office on those dates to do so.", len(stranded))
    return gettext("Removed.")


# -- one date ---------------------------------------------------------------------------------------

@_office_setting("date", "office_date_set", SessionDateForm, anchor="dates")
def date_set(db: Session, form: SessionDateForm, office_id: int) -> str | None:
    day, code = form.day.data or date.min, form.code.data or ""
    office_actions.set_session_on_date(acting(db), office_id=office_id, day=day, code=code,
                                       capacity=form.capacity.data, start=form.start.data,
                                       end=form.end.data, note=form.note.data or "")
    return over_capacity_notice(db, office_id=office_id, start=day, code=code)


@_office_setting("date/cancel", "office_date_cancel", CancelDateForm, anchor="dates")
def date_cancel(db: Session, form: CancelDateForm, office_id: int) -> str:
    disposition = Disposition.CANCEL_AND_NOTIFY if form.notify.data else Disposition.LEAVE
    fates = office_actions.cancel_session_on_date(acting(db), office_id=office_id, day=form.day.data or date.min,
                                                  code=form.code.data or "", note=form.note.data or "",
                                                  disposition=disposition)
    if fates and disposition is Disposition.LEAVE:
        return gettext("Cancelled; %(n)s appointments are still booked in it: move or cancel them.",
                       n=len(fates))
    return gettext("Cancelled; %(n)s appointments affected.", n=len(fates))


# -- crowd limit and reserves -----------------------------------------------------------------------

@_office_setting("crowd", "office_crowd", CrowdForm, anchor="crowd")
def crowd(db: Session, form: CrowdForm, office_id: int) -> str | None:
    office_actions.set_crowd_limit(acting(db), office_id=office_id, crowd_limit=form.crowd_limit.data or 0,
                                   window_minutes=form.window_minutes.data)
    return over_capacity_notice(db, office_id=office_id, start=local_today(), end=LATEST)


@_office_setting("reserve", "office_reserve", ReserveForm, anchor="reserves")
def reserve(db: Session, form: ReserveForm, office_id: int) -> None:
    office_actions.set_channel_reserve(acting(db), office_id=office_id, session_code=form.code.data or "",
                                       channel=Channel(form.channel.data), seats_kept=form.seats.data or 0,
                                       release_minutes_before=(form.release_hours.data or 0) * 60)


# -- people booked beyond what a session now holds ---------------------------------------------------

def _settled_message(outcome: office_actions.OverCapacity) -> str:
    return gettext("Done: %(moved)s moved, %(cancelled)s cancelled; each is sent an SMS.",
                   moved=len(outcome.moved), cancelled=len(outcome.cancelled))


@blueprint.post("/offices/<id:office_id>/settings/over", endpoint="office_over_capacity")
@roles_required(Role.MANAGER)
def over_capacity(office_id: int) -> str | BaseResponse | tuple[str, int]:
    """Move or cancel the people booked beyond one session's capacity: a preview first, then the confirmation.

    As a closure (`views.closure_page`): the form's POST shows who would move where or be cancelled
    (the action's own code, rolled back); the preview's button posts the fields again with `confirm`
    and the preview's fingerprint. If the extras would now fare otherwise, the new preview is shown
    with 409 and nothing changes.
    """
    office = managed_office(office_id)
    back = _back(office_id, "over")
    form = OverCapacityForm()
    if not form.validate_on_submit() or form.day.data is None:
        flash_field_errors(form)
        return redirect(back)
    day, code, reason = form.day.data, form.code.data or "", form.reason.data or ""
    disposition = Disposition(form.disposition.data)
    status = 200
    if form.confirm.data:
        done = views.confirmed(lambda db: office_actions.settle_over_capacity(
            acting(db), office_id=office_id, day=day, code=code, reason=reason, disposition=disposition,
            expect=form.expect.data or None), _settled_message, back)
        if done is not None:
            return done
        status = 409  # and the new preview
    preview = attempt(lambda db: office_actions.preview_over_capacity(
        acting(db), office_id=office_id, day=day, code=code, reason=reason, disposition=disposition))
    if preview is None:
        return redirect(back)
    page = render_template("console/over_capacity_preview.html", office=office, preview=preview,
                           action=request.path, back=back, Outcome=office_actions.Outcome, Disposition=Disposition)
    return page, status


# -- closures ---------------------------------------------------------------------------------------

@blueprint.post("/offices/<id:office_id>/settings/closures", endpoint="office_close")
@roles_required(Role.MANAGER)
def close(office_id: int) -> tuple[str, int] | BaseResponse:
    """The roster's closure form and its preview, coming back to this page."""
    return views.closure_page(office_id, _back(office_id, "closures"))


@_office_setting("closures/<id:closure_id>/reopen", "office_reopen", ActionForm, anchor="closures")
def reopen(db: Session, form: ActionForm, office_id: int, closure_id: int) -> str:
    office_actions.reopen(acting(db), closure_id=closure_id, office_id=office_id)
    return gettext("Reopened.")


# -- the province calendar (administrators) ---------------------------------------------------------

@blueprint.get("/calendar", endpoint="calendar_days")
@roles_required()
def calendar_page() -> str:
    today = local_today()
    start = date(today.year, 1, 1)
    with runtime().reading() as db:
        entries = list(db.scalars(select(CalendarDay).where(CalendarDay.date >= start).order_by(CalendarDay.date)))
    language = str(get_locale())
    horizon = [today + timedelta(days=i) for i in range(366)]
    holidays = [(day, name) for day in horizon if (name := national_holiday(day, language)) is not None]
    return render_template("console/office_calendar.html", entries=entries, holidays=holidays,
                           day_names=get_day_names("wide", locale=get_locale()), kind_names=KIND_NAMES,
                           form=CalendarDayForm(formdata=None), action=ActionForm())


def _calendar_state(entry: CalendarDay | None) -> dict[str, Any] | None:
    return None if entry is None else snapshot(entry, "date", "kind", "works_as_weekday", "note")


@blueprint.post("/calendar", endpoint="calendar_day_set")
@roles_required()
def calendar_set() -> BaseResponse:
    form = CalendarDayForm()

    def change(db: Session) -> str | None:
        day = form.day.data or date.min
        before = _calendar_state(db.get(CalendarDay, day))
        entry = services.set_calendar_day(db, day=day, kind=CalendarDayKind(form.kind.data),
                                          works_as_weekday=form.works_as.data, note=form.note.data or "")
        audit_change(db, "calendar.set", "calendar_day", day.isoformat(), before=before, after=_calendar_state(entry))
        stranded = services.stranded_bookings(db, start=day, end=day)
        if stranded:
            return ngettext("Saved. %(num)s person is booked on this day: close the office for the day to cancel "
                            "and notify or move them.",
                            "Saved. %(num)s people are booked on this day (at %(offices)s offices): close those "
                            "offices for the day to cancel and notify or move them.", len(stranded),
                            offices=format_decimal(len({b.office_id for b in stranded})))
        return None

    return _apply(form, change, url_for("console.calendar_days"))


@blueprint.post("/calendar/<day>/remove", endpoint="calendar_day_remove")
@roles_required()
def calendar_remove(day: str) -> BaseResponse:
    when = calendar_date(day) or abort(404)
    form = ActionForm()

    def change(db: Session) -> str:
        entry = get_or_not_found(db, CalendarDay, when)
        before = _calendar_state(entry)
        services.remove_calendar_day(db, day=when)
        audit_change(db, "calendar.remove", "calendar_day", when.isoformat(), before=before, after=None)
        return gettext("Removed.")

    return _apply(form, change, url_for("console.calendar_days"))
