"""Broadcast SMS pages: compose, preview, schedule or send, and steer notices to many people.

Every rule (who is in an audience, what the text costs, quiet hours, the brandname) lives in
`notifications`; these views only decide who may see or steer which broadcast. A manager's
broadcasts are those whose whole audience lies within the offices they manage; anything wider
(the whole province, several offices, a list owned by no office) belongs to administrators.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse
from wtforms import BooleanField, DateField, DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; types-WTForms 3.2 lacks it
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from booking.audit import snapshot
from booking.errors import BookingError
from booking.models import Office, Role
from hotline.auth import roles_required
from hotline.console.common import (apply_change, audit_change, blueprint, flash_error, flash_field_errors, me,
                                    requested_office, valid_id)
from hotline.console.forms import in_range
from hotline.console.labels import MESSAGE_STATES, SESSION_CHOICES
from hotline.runtime import runtime
from notifications import broadcasts
from notifications.broadcasts import UploadReport
from notifications.models import AudienceKind, Broadcast, BroadcastStatus, MessageStatus
from notifications.sms import SmsSize, size_of

PAGE = 50  # broadcasts a list page shows
SHOWN_REFUSALS = 5  # refused lines of an uploaded list named one by one (the flash lives in the cookie)
STEERED = ("status", "send_at", "recipients")  # what an audit entry records before and after a change

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

def _audience_offices(broadcast: Broadcast) -> set[int] | None:
    """The offices whose people the audience is drawn from; None when it is not limited to any."""
    spec = broadcast.audience_spec or {}
    try:
        if broadcast.audience is AudienceKind.OFFICE_DATES:
            return {int(spec["office_id"])}
        if broadcast.audience is AudienceKind.RECENT_BOOKERS:
            return {int(i) for i in spec["office_ids"]}
    except (KeyError, TypeError, ValueError):
        return None
    return {broadcast.office_id} if broadcast.office_id is not None else None  # a list belongs to its owner


def may_see(broadcast: Broadcast) -> bool:
    """Administrators see everything; a manager, what reaches only people of their offices.

    A broadcast made from the shell has no owning office, yet one to the people booked at one
    office is still that office's manager's business.
    """
    if me().role is Role.ADMIN:
        return True
    mine = me().office_ids
    offices = _audience_offices(broadcast)
    return offices is not None and offices <= mine and (broadcast.office_id is None or broadcast.office_id in mine)


def _visible(db: Session, broadcast_id: int, *, lock: bool = False) -> Broadcast:
    """The broadcast, locked for a change when asked (so the scheduler cannot enqueue it meanwhile)."""
    query = select(Broadcast).where(Broadcast.id == broadcast_id)
    broadcast = db.scalar(query.with_for_update() if lock else query)
    if broadcast is None:
        abort(404)
    if not may_see(broadcast):
        abort(403)
    return broadcast


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
        shown, more = _visible_page(db, before)
        offices = _office_names(db)
        counts = broadcasts.progress_of(db, [b.id for b in shown])
        rows = [Row(b, describe(b, offices), progress_rows(counts.get(b.id, {}))) for b in shown]
    older = shown[-1].id if more else None
    return render_template("console/broadcasts.html", rows=rows, older=older, states=BROADCAST_STATES)


def _visible_page(db: Session, before: int | None) -> tuple[list[Broadcast], bool]:
    """The newest PAGE broadcasts older than `before` that the user may see, and whether more are left.

    Who may see a broadcast depends on its audience (JSON), so the rows are read in chunks and
    sifted until the page is full: sifting a single LIMIT would hand a manager a short page.
    """
    query = select(Broadcast).order_by(Broadcast.id.desc())
    if me().role is not Role.ADMIN:
        query = query.where(or_(Broadcast.office_id.in_(me().office_ids), Broadcast.office_id.is_(None)))
    shown: list[Broadcast] = []
    while True:
        chunk = list(db.scalars((query.where(Broadcast.id < before) if before else query).limit(PAGE + 1)))
        for broadcast in chunk[:PAGE]:
            if may_see(broadcast):
                if len(shown) == PAGE:
                    return shown, True
                shown.append(broadcast)
        if len(chunk) <= PAGE:
            return shown, False
        before = chunk[PAGE - 1].id


# -- compose -----------------------------------------------------------------------------------------

class _Refused(Exception):
    """The form is complete but says something impossible; the message is already translated."""


def _office_choices(offices: dict[int, Office]) -> list[SelectChoice]:
    mine = [SelectChoice(str(o.id), o.name) for o in offices.values() if o.active and me().may_manage(o.id)]
    if me().role is Role.ADMIN:
        return [SelectChoice("", _l("Whole province (every office)")), *mine]
    return mine


def _chosen_office(raw: str) -> int | None:
    """The office the broadcast belongs to, None for the whole province; 403 beyond the user's reach."""
    if not raw.strip():
        if me().role is not Role.ADMIN:
            abort(403)
        return None
    return requested_office(raw).id


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
    name = form.numbers.data.filename if form.numbers.data else ""
    return kind, {"file": (name or "")[:200]}


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


def _create(form: ComposeForm, kind: AudienceKind, spec: dict[str, Any],
            office_id: int | None) -> tuple[int, UploadReport | None]:
    rt = runtime()
    now = rt.now()
    with rt.transaction() as db:
        broadcast = broadcasts.create(db, body=form.body.data or "", audience=kind, spec=spec, created_by=me().actor,
                                      now=now, urgent=bool(form.urgent.data), office_id=office_id,
                                      title=form.title.data or "", language=rt.settings.default_language)
        report = None
        if kind is AudienceKind.UPLOAD:
            report = broadcasts.upload(db, broadcast, broadcasts.text_lines(_read_upload(form)),
                                       keep_errors=SHOWN_REFUSALS)
        after = snapshot(broadcast, "title", "body", "audience", "audience_spec", "urgent", "status")
        if report is not None:
            after.update(kept=report.kept, duplicates=report.duplicates, refused=report.refused)
        audit_change(db, "broadcast.create", "broadcast", broadcast.id, office_id=office_id, after=after)
        return broadcast.id, report


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
    if form.urgent.data and me().role is not Role.ADMIN:
        abort(403)  # urgency overrides opt-outs and quiet hours: the province's decision
    if not form.validate_on_submit():
        flash_field_errors(form)
        return _compose_page(form, 422)
    previewing = request.form.get("action") == "preview"
    try:
        kind, spec = _spec(form, office_id, offices, creating=not previewing)
        if previewing:
            return _compose_page(form, **_compose_preview(form, kind, spec, office_id))
        broadcast_id, report = _create(form, kind, spec, office_id)
    except _Refused as refused:
        flash(str(refused), "error")
        return _compose_page(form, 422)
    except BookingError as exc:
        flash_error(exc)
        return _compose_page(form, 422)
    if report is not None:
        _flash_report(report)
    flash(gettext("Draft saved. Check the preview, then schedule it or send it now."), "ok")
    return redirect(url_for("console.broadcast_detail", broadcast_id=broadcast_id))


def _compose_preview(form: ComposeForm, kind: AudienceKind, spec: dict[str, Any],
                     office_id: int | None) -> dict[str, Any]:
    """The size of the text and, for audiences that are queries, who would get it: nothing is saved."""
    rt = runtime()
    shown = None
    if kind is not AudienceKind.UPLOAD:
        # A broadcast that is never added to the session: the service counts its audience as it would a saved one.
        draft = Broadcast(body=form.body.data or "", audience=kind, audience_spec=spec, office_id=office_id,
                          urgent=bool(form.urgent.data))
        with rt.reading() as db:
            shown = broadcasts.preview(db, draft, now=rt.now(), policy=rt.sms,
                                       price_per_segment=rt.settings.sms_price_per_segment)
    return {"sizing": _sizing(form.body.data or ""), "shown": shown}


# -- one broadcast -----------------------------------------------------------------------------------

@blueprint.get("/broadcasts/<id:broadcast_id>")
@roles_required(Role.MANAGER)
def broadcast_detail(broadcast_id: int) -> str:
    rt = runtime()
    now = rt.now()
    with rt.reading() as db:
        broadcast = _visible(db, broadcast_id)
        audience = describe(broadcast, _office_names(db))
        counts = broadcasts.progress(db, broadcast_id)
        shown = None
        if broadcast.status in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED):
            shown = broadcasts.preview(db, broadcast, now=now, policy=rt.sms,
                                       price_per_segment=rt.settings.sms_price_per_segment)
    waits_until = rt.sms.due(now, urgent=broadcast.urgent)
    return render_template(
        "console/broadcast_detail.html", b=broadcast, audience=audience, states=BROADCAST_STATES,
        progress=progress_rows(counts), total=sum(counts.values()), shown=shown, sizing=_sizing(broadcast.body),
        currency=rt.settings.sms_price_currency, policy=rt.sms, waits_until=waits_until if waits_until > now else None,
        schedule=ScheduleForm(send_at=_local(broadcast.send_at)), steer=SteerForm(), upload=UploadForm())


def _local(moment: datetime | None) -> datetime | None:
    """A stored instant as the wall-clock time the date-time field shows (Vietnam time, no zone)."""
    return moment.astimezone(runtime().settings.tz).replace(tzinfo=None) if moment else None


def _change(broadcast_id: int, action: str, work: Any, done: str) -> BaseResponse:
    """Lock the broadcast, let `work(db, broadcast, now)` change it through the service, audit, report."""
    now = runtime().now()

    def change(db: Session) -> str:
        broadcast = _visible(db, broadcast_id, lock=True)
        before = snapshot(broadcast, *STEERED)
        moved = work(db, broadcast, now)
        audit_change(db, f"broadcast.{action}", "broadcast", broadcast.id, office_id=broadcast.office_id,
                     before=before, after={**snapshot(broadcast, *STEERED), "messages": moved})
        return done % {"n": moved}

    return apply_change(change, url_for("console.broadcast_detail", broadcast_id=broadcast_id))


def _steer_form() -> None:
    if not SteerForm().validate_on_submit():
        abort(400)


@blueprint.post("/broadcasts/<id:broadcast_id>/schedule")
@roles_required(Role.MANAGER)
def broadcast_schedule(broadcast_id: int) -> BaseResponse:
    form = ScheduleForm()
    rt = runtime()
    if not form.validate_on_submit() or form.send_at.data is None:
        flash_field_errors(form)
        return redirect(url_for("console.broadcast_detail", broadcast_id=broadcast_id))
    send_at: datetime = form.send_at.data.replace(tzinfo=rt.settings.tz)
    if send_at <= rt.now():
        flash(gettext("Choose a time in the future, or send it now."), "error")
        return redirect(url_for("console.broadcast_detail", broadcast_id=broadcast_id))

    def work(db: Session, broadcast: Broadcast, now: datetime) -> int:
        broadcasts.schedule(db, broadcast, send_at=send_at, now=now)
        return 0

    return _change(broadcast_id, "schedule", work, gettext("Scheduled."))


@blueprint.post("/broadcasts/<id:broadcast_id>/send")
@roles_required(Role.MANAGER)
def broadcast_send(broadcast_id: int) -> BaseResponse:
    _steer_form()
    rt = runtime()

    def work(db: Session, broadcast: Broadcast, now: datetime) -> int:
        broadcasts.schedule(db, broadcast, send_at=now, now=now)
        return broadcasts.enqueue(db, broadcast, now=now, policy=rt.sms)

    return _change(broadcast_id, "send", work, gettext("%(n)s messages put in the outbox."))


# Buttons that only steer the outbox rows through the service of the same name, and what each says it did.
STEERING = {
    "pause": (broadcasts.pause, _l("Paused: %(n)s messages held.")),
    "resume": (broadcasts.resume, _l("Resumed: %(n)s messages queued again.")),
    "cancel": (broadcasts.cancel, _l("Cancelled: %(n)s messages will not be sent.")),
}


@blueprint.post("/broadcasts/<id:broadcast_id>/pause", endpoint="broadcast_pause", defaults={"action": "pause"})
@blueprint.post("/broadcasts/<id:broadcast_id>/resume", endpoint="broadcast_resume", defaults={"action": "resume"})
@blueprint.post("/broadcasts/<id:broadcast_id>/cancel", endpoint="broadcast_cancel", defaults={"action": "cancel"})
@roles_required(Role.MANAGER)
def broadcast_steer(broadcast_id: int, action: str) -> BaseResponse:
    _steer_form()
    service, done = STEERING[action]
    return _change(broadcast_id, action, lambda db, b, now: service(db, b, now=now), str(done))


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

    def work(db: Session, broadcast: Broadcast, now: datetime) -> int:
        report = broadcasts.upload(db, broadcast, broadcasts.text_lines(_read_upload(form)),
                                   keep_errors=SHOWN_REFUSALS)
        reports.append(report)
        return report.kept

    response = _change(broadcast_id, "upload", work, gettext("%(n)s numbers added."))
    if reports:
        _flash_report(reports[0])
    return response
