"""Broadcast SMS pages: compose, preview, schedule or send, and steer notices to many people.

The pages parse the forms, call `actions.broadcasts` (which decides who may see or steer which
broadcast, applies `notifications` and writes the audit entry) and render what comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse
from wtforms import BooleanField, DateField, DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; types-WTForms 3.2 lacks it
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from accounts.models import Role
from actions import broadcasts as actions
from actions.context import Actor, Context
from actions.errors import NotAllowed
from booking.errors import BookingError, NotFound
from booking.models import Office
from hotline.auth import roles_required
from hotline.console.common import acting, apply_change, blueprint, flash_error, flash_field_errors, me, valid_id
from hotline.console.forms import in_range
from hotline.console.labels import MESSAGE_STATES, SESSION_CHOICES
from hotline.runtime import runtime
from notifications.broadcasts import UploadReport
from notifications.models import AudienceKind, Broadcast, BroadcastStatus, MessageStatus
from notifications.sms import SmsSize, size_of

PAGE = 50  # broadcasts a list page shows
SHOWN_REFUSALS = 5  # refused lines of an uploaded list named one by one (the flash lives in the cookie)

BROADCAST_STATES = {
    BroadcastStatus.DRAFT: _l("Draft"), BroadcastStatus.SCHEDULED: _l("Scheduled"),
    BroadcastStatus.SENDING: _l("Sending"), BroadcastStatus.PAUSED: _l("Paused"),
    BroadcastStatus.CANCELLED: _l("Cancelled"), BroadcastStatus.DONE: _l("Done"),
}
REFUSALS = {"invalid": _l("not a valid phone number"), "not_mobile": _l("not a mobile number")}


# -- forms ------------------------------------------------------------------------------------------

class ComposeForm(FlaskForm):
    title = StringField(_l("Title (for the console only)"), validators=[Optional(), Length(max=200)])
    body = TextAreaField(_l("Text of the message"), validators=[DataRequired(), Length(max=1600)])
    audience = SelectField(_l("Who receives it"), choices=[
        SelectChoice(AudienceKind.OFFICE_DATES.value, _l("People booked at an office on some dates")),
        SelectChoice(AudienceKind.RECENT_BOOKERS.value, _l("Everyone who booked at an office recently")),
        SelectChoice(AudienceKind.UPLOAD.value, _l("An uploaded list of numbers")),
    ])
    # Checked by hand against what the user manages, so that another office is a 403, not a form error.
    office = SelectField(_l("Office"), choices=[], validate_choice=False)
    start = DateField(_l("From"), validators=[Optional(), in_range])
    end = DateField(_l("To (leave empty for one day)"), validators=[Optional(), in_range])
    session = SelectField(_l("Session"), default="", choices=[
        SelectChoice("", _l("All")), *SESSION_CHOICES])
    days = IntegerField(_l("Booked in the last N days"), validators=[Optional(), NumberRange(min=1, max=366)])
    numbers = FileField(_l("List of numbers (CSV or text, one number a line)"),
                        validators=[FileAllowed(["csv", "txt"], _l("Upload a .csv or .txt file."))])
    urgent = BooleanField(_l("Urgent: also to people who opted out, and during quiet hours"))


class UploadForm(FlaskForm):
    numbers = FileField(_l("More numbers (CSV or text)"),
                        validators=[FileAllowed(["csv", "txt"], _l("Upload a .csv or .txt file."))])


class ScheduleForm(FlaskForm):
    # InputRequired, not DataRequired: the latter would hide "not a valid date" behind "required".
    send_at = DateTimeLocalField(_l("Send at (Vietnam time)"), validators=[InputRequired(), in_range],
                                 format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"])


class SteerForm(FlaskForm):
    """Send now, pause, resume, cancel: a button and its CSRF token."""


# -- who may see what ---------------------------------------------------------------------------------

def may_see(broadcast: Broadcast) -> bool:
    """Whether the signed-in user may see this broadcast (the rule of `actions.broadcasts.may_see`)."""
    user = me()
    return actions.may_see(Actor.staff(user.actor, user.role, user.office_ids), broadcast)


def _office_names(db: Session) -> dict[int, Office]:
    return {o.id: o for o in db.scalars(select(Office).order_by(Office.name))}


def describe(broadcast: Broadcast, offices: dict[int, Office]) -> str:
    """The audience in words, for the list and the detail page."""
    spec = broadcast.audience_spec or {}

    def name(office_id: Any) -> str:
        office = offices.get(int(office_id))
        return office.name if office else f"#{office_id}"

    if broadcast.audience is AudienceKind.OFFICE_DATES:
        text = gettext("Booked at %(office)s from %(start)s to %(end)s", office=name(spec["office_id"]),
                       start=format_date(date.fromisoformat(spec["start"]), "dd/MM/yyyy"),
                       end=format_date(date.fromisoformat(spec["end"]), "dd/MM/yyyy"))
        if spec.get("session_code"):
            text += " (" + (gettext("morning") if spec["session_code"] == "S" else gettext("afternoon")) + ")"
        return text
    if broadcast.audience is AudienceKind.RECENT_BOOKERS:
        where = (gettext("every office") if broadcast.office_id is None
                 else ", ".join(name(i) for i in spec["office_ids"]))
        return gettext("Booked at %(offices)s in the last %(days)s days", offices=where, days=spec["days"])
    owner = gettext("whole province") if broadcast.office_id is None else name(broadcast.office_id)
    return gettext("Uploaded list (%(owner)s)", owner=owner)


@dataclass(frozen=True)
class Row:
    broadcast: Broadcast
    audience: str
    progress: list[tuple[str, int]]


def progress_rows(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Counts by message state in the order a message moves through them, with translated names."""
    return [(str(MESSAGE_STATES[status]), counts[status.value]) for status in MessageStatus if status.value in counts]


# -- list --------------------------------------------------------------------------------------------

@blueprint.get("/broadcasts", endpoint="broadcasts")
@roles_required(Role.MANAGER)
def broadcast_list() -> str:
    rt = runtime()
    before = valid_id(request.args.get("before", type=int))  # a cursor no id can be: the newest page
    with rt.reading() as db:
        ctx = acting(db)
        shown, more = actions.listing(ctx, before=before, size=PAGE)
        offices = _office_names(db)
        counts = actions.progress_of(ctx, shown)
        rows = [Row(b, describe(b, offices), progress_rows(counts.get(b.id, {}))) for b in shown]
    older = shown[-1].id if more else None
    return render_template("console/broadcasts.html", rows=rows, older=older, states=BROADCAST_STATES)


# -- compose -----------------------------------------------------------------------------------------

class _Refused(Exception):
    """The form is complete but says something impossible; the message is already translated."""


def _office_choices(offices: dict[int, Office]) -> list[SelectChoice]:
    mine = [SelectChoice(str(o.id), o.name) for o in offices.values() if o.active and me().may_manage(o.id)]
    if me().role is Role.ADMIN:
        return [SelectChoice("", _l("Whole province (every office)")), *mine]
    return mine


def _chosen_office(raw: str) -> int | None:
    """The office the form names by its id, None for the whole province; 400 for anything but an id."""
    if not raw.strip():
        return None
    try:
        office_id = valid_id(int(raw))
    except ValueError:
        abort(400)
    if office_id is None:
        abort(404)
    return office_id


def _spec(form: ComposeForm, office_id: int | None, offices: dict[int, Office], *,
          creating: bool) -> tuple[AudienceKind, dict[str, Any]]:
    kind = AudienceKind(form.audience.data)
    if kind is AudienceKind.OFFICE_DATES:
        if office_id is None:
            raise _Refused(gettext("Choose one office for people booked on some dates."))
        start: date | None = form.start.data
        if start is None:
            raise _Refused(gettext("Choose the first date."))
        end: date = form.end.data or start
        if end < start:
            raise _Refused(gettext("The last date is before the first."))
        return kind, {"office_id": office_id, "start": start.isoformat(), "end": end.isoformat(),
                      "session_code": form.session.data or None}
    if kind is AudienceKind.RECENT_BOOKERS:
        if form.days.data is None:
            raise _Refused(gettext("Give the number of days."))
        ids = [office_id] if office_id is not None else [o.id for o in offices.values() if o.active]
        return kind, {"office_ids": ids, "days": form.days.data}
    if creating and not form.numbers.data:
        raise _Refused(gettext("Choose the file with the numbers."))
    upload = form.numbers.data
    return kind, actions.list_spec((upload.filename or "") if upload else "")


def _flash_report(report: UploadReport) -> None:
    flash(gettext("List: %(kept)s numbers kept, %(duplicates)s duplicates, %(refused)s lines refused.",
                  kept=report.kept, duplicates=report.duplicates, refused=report.refused),
          "error" if report.refused else "ok")
    for line, text, reason in report.errors[:SHOWN_REFUSALS]:
        flash(gettext("Line %(line)s: “%(text)s” is %(reason)s.", line=line, text=text[:40],
                      reason=REFUSALS.get(reason, reason)), "error")
    if report.refused > SHOWN_REFUSALS:
        flash(gettext("… and %(n)s more refused lines.", n=report.refused - SHOWN_REFUSALS), "error")


def _read_upload(form: FlaskForm) -> bytes:
    return form.numbers.data.read() if form.numbers.data else b""  # bounded by MAX_CONTENT_LENGTH


@dataclass(frozen=True)
class Sizing:
    """The text as the policy will send it, and what one message of it costs in segments."""

    text: str
    size: SmsSize


def _sizing(body: str) -> Sizing:
    text = runtime().sms.text(body)
    return Sizing(text, size_of(text))


def _compose_page(form: ComposeForm, status: int = 200, **extra: Any) -> tuple[str, int]:
    rt = runtime()
    return render_template("console/broadcast_new.html", form=form, admin=me().role is Role.ADMIN,
                           currency=rt.settings.sms_price_currency, **extra), status


def _draft(form: ComposeForm, kind: AudienceKind, spec: dict[str, Any], office_id: int | None) -> dict[str, Any]:
    """What the form asks for, as `create` and `preview_draft` take it."""
    return {"body": form.body.data or "", "audience": kind, "spec": spec, "office_id": office_id,
            "urgent": bool(form.urgent.data)}


@blueprint.route("/broadcasts/new", methods=["GET", "POST"])
@roles_required(Role.MANAGER)
def broadcast_new() -> tuple[str, int] | BaseResponse:
    rt = runtime()
    with rt.reading() as db:
        offices = _office_names(db)
    form = ComposeForm()
    form.office.choices = _office_choices(offices)
    if request.method != "POST":
        return _compose_page(form)
    office_id = _chosen_office(form.office.data or "")
    with rt.reading() as db:
        # Another office, the whole province or urgency is a 403 before anything else the form lacks.
        actions.authorise_compose(acting(db), office_id=office_id, urgent=bool(form.urgent.data))
    if not form.validate_on_submit():
        flash_field_errors(form)
        return _compose_page(form, 422)
    previewing = request.form.get("action") == "preview"
    try:
        kind, spec = _spec(form, office_id, offices, creating=not previewing)
        draft = _draft(form, kind, spec, office_id)
        if previewing:
            with rt.reading() as db:
                shown = actions.preview_draft(acting(db), **draft,
                                              price_per_segment=rt.settings.sms_price_per_segment)
            return _compose_page(form, sizing=_sizing(draft["body"]), shown=shown)
        with rt.transaction() as db:
            created = actions.create(acting(db), **draft, title=form.title.data or "",
                                     language=rt.settings.default_language,
                                     numbers=_read_upload(form) if kind is AudienceKind.UPLOAD else None,
                                     keep_errors=SHOWN_REFUSALS)
            broadcast_id = created.broadcast.id
    except _Refused as refused:
        flash(str(refused), "error")
        return _compose_page(form, 422)
    except (NotAllowed, NotFound):
        raise  # a 403 or a 404 page, not a form to correct
    except BookingError as exc:
        flash_error(exc)
        return _compose_page(form, 422)
    if created.report is not None:
        _flash_report(created.report)
    flash(gettext("Draft saved. Check the preview, then schedule it or send it now."), "ok")
    return redirect(url_for("console.broadcast_detail", broadcast_id=broadcast_id))


# -- one broadcast -----------------------------------------------------------------------------------

@blueprint.get("/broadcasts/<id:broadcast_id>")
@roles_required(Role.MANAGER)
def broadcast_detail(broadcast_id: int) -> str:
    rt = runtime()
    now = rt.now()
    with rt.reading() as db:
        found = actions.show(acting(db), broadcast_id=broadcast_id,
                             price_per_segment=rt.settings.sms_price_per_segment)
        audience = describe(found.broadcast, _office_names(db))
    broadcast, counts = found.broadcast, found.progress
    waits_until = rt.sms.due(now, urgent=broadcast.urgent)
    return render_template(
        "console/broadcast_detail.html", b=broadcast, audience=audience, states=BROADCAST_STATES,
        progress=progress_rows(counts), total=sum(counts.values()), shown=found.preview,
        sizing=_sizing(broadcast.body), currency=rt.settings.sms_price_currency, policy=rt.sms,
        waits_until=waits_until if waits_until > now else None,
        schedule=ScheduleForm(send_at=_local(broadcast.send_at)), steer=SteerForm(), upload=UploadForm())


def _local(moment: datetime | None) -> datetime | None:
    """A stored instant as the wall-clock time the date-time field shows (Vietnam time, no zone)."""
    return moment.astimezone(runtime().settings.tz).replace(tzinfo=None) if moment else None


def _change(broadcast_id: int, change: Callable[[Context], int | None], done: str) -> BaseResponse:
    """Call `change(ctx)` (an action) in a transaction, then back to the broadcast saying what it did.

    A broadcast that is not there is a 404, as its page would be; one the user may not steer a 403.
    """

    def work(db: Session) -> str:
        try:
            moved = change(acting(db))
        except NotFound:
            abort(404)
        return done % {"n": moved}

    return apply_change(work, url_for("console.broadcast_detail", broadcast_id=broadcast_id))


def _steer_form() -> None:
    if not SteerForm().validate_on_submit():
        abort(400)


@blueprint.post("/broadcasts/<id:broadcast_id>/schedule")
@roles_required(Role.MANAGER)
def broadcast_schedule(broadcast_id: int) -> BaseResponse:
    form = ScheduleForm()
    if not form.validate_on_submit() or form.send_at.data is None:
        flash_field_errors(form)
        return redirect(url_for("console.broadcast_detail", broadcast_id=broadcast_id))
    send_at: datetime = form.send_at.data.replace(tzinfo=runtime().settings.tz)
    return _change(broadcast_id, lambda ctx: actions.schedule(ctx, broadcast_id=broadcast_id, send_at=send_at),
                   gettext("Scheduled."))


@blueprint.post("/broadcasts/<id:broadcast_id>/send")
@roles_required(Role.MANAGER)
def broadcast_send(broadcast_id: int) -> BaseResponse:
    _steer_form()
    return _change(broadcast_id, lambda ctx: actions.send_now(ctx, broadcast_id=broadcast_id),
                   gettext("%(n)s messages put in the outbox."))


# Buttons that only steer the outbox rows through the action of the same name, and what each says it did.
STEERING = {
    "pause": (actions.pause, _l("Paused: %(n)s messages held.")),
    "resume": (actions.resume, _l("Resumed: %(n)s messages queued again.")),
    "cancel": (actions.cancel, _l("Cancelled: %(n)s messages will not be sent.")),
}


@blueprint.post("/broadcasts/<id:broadcast_id>/pause", endpoint="broadcast_pause", defaults={"action": "pause"})
@blueprint.post("/broadcasts/<id:broadcast_id>/resume", endpoint="broadcast_resume", defaults={"action": "resume"})
@blueprint.post("/broadcasts/<id:broadcast_id>/cancel", endpoint="broadcast_cancel", defaults={"action": "cancel"})
@roles_required(Role.MANAGER)
def broadcast_steer(broadcast_id: int, action: str) -> BaseResponse:
    _steer_form()
    steer, done = STEERING[action]
    return _change(broadcast_id, lambda ctx: steer(ctx, broadcast_id=broadcast_id), str(done))


@blueprint.post("/broadcasts/<id:broadcast_id>/numbers")
@roles_required(Role.MANAGER)
def broadcast_numbers(broadcast_id: int) -> BaseResponse:
    form = UploadForm()
    if not form.validate_on_submit() or not form.numbers.data:
        flash_field_errors(form)
        if not form.errors:
            flash(gettext("Choose the file with the numbers."), "error")
        return redirect(url_for("console.broadcast_detail", broadcast_id=broadcast_id))
    reports: list[UploadReport] = []

    def add(ctx: Context) -> int:
        reports.append(actions.add_numbers(ctx, broadcast_id=broadcast_id, numbers=_read_upload(form),
                                           keep_errors=SHOWN_REFUSALS))
        return reports[0].kept

    response = _change(broadcast_id, add, gettext("%(n)s numbers added."))
    if reports:
        _flash_report(reports[0])
    return response
