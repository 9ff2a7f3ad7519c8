"""Call campaign pages (managers): the list, a new campaign with its uploaded list, one campaign's outcomes
and the buttons that start, pause, resume or cancel it. The pages parse the forms and call
`actions.campaigns`, which decides who may do what and writes the audit entries."""

from __future__ import annotations

from datetime import time

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse
from wtforms import IntegerField, SelectField, StringField, TimeField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; types-WTForms 3.2 lacks it
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from accounts.models import Role
from actions import campaigns as actions
from booking.errors import BookingError, NotFound
from booking.models import CampaignStatus, Office, TargetStatus
from hotline.auth import roles_required
from hotline.console.broadcasts import SteerForm, _flash_report, _read_upload
from hotline.console.common import acting, apply_change, blueprint, flash_error, flash_field_errors, me, valid_id
from hotline.runtime import runtime

CAMPAIGN_STATES = {
    CampaignStatus.DRAFT: _l("Draft"), CampaignStatus.RUNNING: _l("Calling"), CampaignStatus.PAUSED: _l("Paused"),
    CampaignStatus.DONE: _l("Done"), CampaignStatus.CANCELLED: _l("Cancelled"),
}
TARGET_STATES = {
    TargetStatus.PENDING: _l("To call"), TargetStatus.CALLING: _l("Being called"),
    TargetStatus.BOOKED: _l("Booked"), TargetStatus.DECLINED: _l("Declined"),
    TargetStatus.UNREACHABLE: _l("Unreachable"), TargetStatus.FAILED: _l("Number refused by the provider"),
}
CHANGED = {"start": _l("Calling started."), "pause": _l("Calling paused."), "resume": _l("Calling resumed."),
           "cancel": _l("Campaign cancelled: nobody else will be called.")}


class CampaignForm(FlaskForm):
    title = StringField(_l("Title (for the console only)"), validators=[Optional(), Length(max=200)])
    office = SelectField(_l("Office"), choices=[], validate_choice=False)
    language = SelectField(_l("Language of the call"), choices=[SelectChoice("vi", _l("Vietnamese")),
                                                                SelectChoice("en", _l("English"))])
    rate = IntegerField(_l("Calls a minute at most"), default=5, validators=[InputRequired(), NumberRange(1, 60)])
    attempts = IntegerField(_l("Attempts for each number"), default=3,
                            validators=[InputRequired(), NumberRange(1, 10)])
    retry = IntegerField(_l("Minutes before calling again"), default=60,
                         validators=[InputRequired(), NumberRange(1, 1440)])
    hours_start = TimeField(_l("Call from (Vietnam time)"), default=time(8), validators=[InputRequired()])
    hours_end = TimeField(_l("Call until"), default=time(17), validators=[InputRequired()])
    numbers = FileField(_l("List of numbers (CSV or text, one number a line)"),
                        validators=[FileRequired(_l("Choose the file with the numbers.")),
                                    FileAllowed(["csv", "txt"], _l("Upload a .csv or .txt file."))])


@blueprint.get("/campaigns", endpoint="campaigns")
@roles_required(Role.MANAGER)
def campaign_list() -> str:
    with runtime().reading() as db:
        shown, counts = actions.listing(acting(db))
        offices = {o.id: o.name for o in db.scalars(select(Office))}
    return render_template("console/campaigns.html", campaigns=shown, counts=counts, offices=offices,
                           states=CAMPAIGN_STATES, outcomes=TARGET_STATES)


def _form_page(form: CampaignForm, status: int = 200) -> tuple[str, int]:
    return render_template("console/campaign_new.html", form=form), status


@blueprint.route("/campaigns/new", methods=["GET", "POST"])
@roles_required(Role.MANAGER)
def campaign_new() -> tuple[str, int] | BaseResponse:
    rt = runtime()
    with rt.reading() as db:
        offices = [o for o in db.scalars(select(Office).where(Office.active.is_(True)).order_by(Office.name))
                   if me().may_manage(o.id)]
    form = CampaignForm()
    form.office.choices = [SelectChoice(str(o.id), o.name) for o in offices]
    if request.method != "POST":
        return _form_page(form)
    try:
        office_id = valid_id(int(form.office.data or ""))
    except ValueError:
        abort(400)
    if office_id is None:
        abort(404)
    if not me().may_manage(office_id):
        abort(403)
    if not form.validate_on_submit():
        flash_field_errors(form)
        return _form_page(form, 422)
    assert form.hours_start.data is not None and form.hours_end.data is not None
    try:
        with rt.transaction() as db:
            created = actions.create(
                acting(db), office_id=office_id, title=form.title.data or "", language=form.language.data or "vi",
                rate_per_minute=form.rate.data or 0, max_attempts=form.attempts.data or 0,
                retry_minutes=form.retry.data or 0, hours_start=form.hours_start.data,
                hours_end=form.hours_end.data, numbers=_read_upload(form),
                file_name=form.numbers.data.filename or "")
            campaign_id = created.campaign.id
    except BookingError as exc:
        if exc.code in ("forbidden", "not_found"):
            raise
        flash_error(exc)
        return _form_page(form, 422)
    _flash_report(created.report)
    flash(gettext("Campaign saved. Check it, then start calling."), "ok")
    return redirect(url_for("console.campaign_detail", campaign_id=campaign_id))


@blueprint.get("/campaigns/<id:campaign_id>")
@roles_required(Role.MANAGER)
def campaign_detail(campaign_id: int) -> str:
    with runtime().reading() as db:
        campaign, counts = actions.show(acting(db), campaign_id=campaign_id)
        office = db.get(Office, campaign.office_id)
    return render_template("console/campaign_detail.html", c=campaign, counts=counts, office=office,
                           states=CAMPAIGN_STATES, outcomes=TARGET_STATES, steer=SteerForm(),
                           total=sum(counts.values()))


@blueprint.post("/campaigns/<id:campaign_id>/start", endpoint="campaign_start", defaults={"change": "start"})
@blueprint.post("/campaigns/<id:campaign_id>/pause", endpoint="campaign_pause", defaults={"change": "pause"})
@blueprint.post("/campaigns/<id:campaign_id>/resume", endpoint="campaign_resume", defaults={"change": "resume"})
@blueprint.post("/campaigns/<id:campaign_id>/cancel", endpoint="campaign_cancel", defaults={"change": "cancel"})
@roles_required(Role.MANAGER)
def campaign_change(campaign_id: int, change: str) -> BaseResponse:
    if not SteerForm().validate_on_submit():
        abort(400)

    def work(db: Session) -> str:
        try:
            actions.change(acting(db), campaign_id=campaign_id, to=change)
        except NotFound:
            abort(404)
        return str(CHANGED[change])

    return apply_change(work, url_for("console.campaign_detail", campaign_id=campaign_id))

