"""The audit log page for administrators: who changed what, in words and local time, filtered and in pages."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import Select, func, select
from wtforms import DateField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; types-WTForms 3.2 lacks it
from wtforms.validators import Length, NumberRange, Optional

from actions.models import AuditEntry
from booking.models import Office
from hotline.auth import roles_required
from hotline.console.common import blueprint
from hotline.console.forms import in_range
from hotline.runtime import runtime

PAGE_SIZE = 50
# The actions every actor writes (`actions.audit.record`), as words; an action not listed shows as it is stored.
AUDIT_ACTIONS = {
    "booking.create": _l("Booking"),
    "booking.cancel": _l("Cancellation"),
    "booking.move": _l("Appointment moved"),
    "booking.check_in": _l("Check-in"),
    "booking.served": _l("Served"),
    "booking.no_show": _l("Marked as not having come"),
    "campaign.create": _l("Call campaign created"),
    "campaign.start": _l("Call campaign started"),
    "campaign.pause": _l("Call campaign paused"),
    "campaign.resume": _l("Call campaign resumed"),
    "campaign.cancel": _l("Call campaign cancelled"),
    "campaign.done": _l("Call campaign finished"),
    "campaign.call": _l("Campaign call placed"),
    "campaign.not_reached": _l("Campaign call not answered"),
    "campaign.booked": _l("Booked during a campaign call"),
    "campaign.declined": _l("Declined during a campaign call"),
    "booking.called": _l("Called to a desk"),
    "booking.recalled": _l("Called again at a desk"),
    "booking.transferred": _l("Sent to another desk"),
    "booking.walk_in": _l("Walk-in ticket issued"),
    "desk.saved": _l("Desk saved"),
    "office.nearly_turn": _l("“Nearly your turn” SMS setting changed"),
    "broadcast.create": _l("Notice written"),
    "callback.request": _l("Call-back requested"),
    "callback.done": _l("Call-back done"),
    "citizen.notices_off": _l("SMS notices turned off"),
    "citizen.notices_on": _l("SMS notices turned on"),
    "calendar.set": _l("Calendar day set"),
    "calendar.remove": _l("Calendar day removed"),
    "office.create": _l("Office created"),
    "office.update": _l("Office changed"),
    "office.close": _l("Office closed"),
    "office.reopen": _l("Office reopened"),
    "office.crowd_limit": _l("Crowd limit changed"),
    "procedure.create": _l("Procedure created"),
    "procedure.update": _l("Procedure changed"),
    "privacy.export": _l("A citizen's personal data viewed or downloaded"),
    "privacy.erase": _l("A citizen's personal data erased"),
    "reserve.set": _l("Channel reserve set"),
    "session.change": _l("Session changed on a date"),
    "session.cancel": _l("Session cancelled on a date"),
    "session.over_capacity": _l("People over a session's capacity moved or cancelled"),
    "template.set": _l("Weekly session set"),
    "template.remove": _l("Weekly session removed"),
    "token.create": _l("API token issued"),
    "token.revoke": _l("API token revoked"),
    "user.create": _l("Account created"),
    "user.deactivate": _l("Account deactivated"),
    "user.reactivate": _l("Account reactivated"),
    "user.offices": _l("Account's offices changed"),
    "user.password_reset": _l("Password reset"),
    "waitlist.join": _l("Put on a session's waitlist"),
    "waitlist.offer": _l("Freed place held for the next on the waitlist"),
    "waitlist.offer_sms": _l("Waitlist offer sent by SMS (call not answered)"),
    "waitlist.accept": _l("Waitlist place taken"),
    "waitlist.decline": _l("Waitlist place refused"),
    "waitlist.expire": _l("Waitlist place not claimed in time"),
    "waitlist.leave": _l("Left a session's waitlist"),
}


# What an entry is about, as the Target column names it ("Lịch hẹn 123456789", not "booking 123456789").
AUDIT_TARGETS = {
    "api_token": _l("API token"),
    "booking": _l("Appointment"),
    "broadcast": _l("Notice"),
    "calendar_day": _l("Calendar day"),
    "callback": _l("Call-back"),
    "campaign": _l("Call campaign"),
    "campaign_target": _l("Person called by a campaign"),
    "citizen": _l("Citizen"),
    "closure": _l("Closure"),
    "desk": _l("Desk"),
    "office": _l("Office"),
    "procedure": _l("Procedure"),
    "role": _l("Role"),
    "user": _l("Account"),
    "waitlist": _l("Waitlist entry"),
}


@blueprint.app_template_filter("audit_action")
def audit_action(action: str) -> str:
    return str(AUDIT_ACTIONS.get(action, action))


@blueprint.app_template_filter("audit_target")
def audit_target(target_type: str) -> str:
    return str(AUDIT_TARGETS.get(target_type, target_type))


class AuditFilter(FlaskForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    actor = StringField(_l("Who"), validators=[Optional(), Length(max=100)])
    action = SelectField(_l("What"), choices=[], validate_choice=False)
    office_id = SelectField(_l("Office"), choices=[], validate_choice=False)
    start = DateField(_l("From"), validators=[Optional(), in_range])
    end = DateField(_l("To"), validators=[Optional(), in_range])
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100_000)])


def _filtered(form: AuditFilter) -> Select[AuditEntry]:
    """The entries the filter asks for; dates are local days (the office's time zone), stored times are UTC."""
    query = select(AuditEntry)
    if form.actor.data:
        query = query.where(AuditEntry.actor.contains(form.actor.data.strip(), autoescape=True))
    if form.action.data:
        query = query.where(AuditEntry.action == form.action.data)
    if form.office_id.data and form.office_id.data.isdigit():
        query = query.where(AuditEntry.office_id == int(form.office_id.data))
    tz = runtime().settings.tz
    if form.start.data:
        query = query.where(AuditEntry.at >= datetime.combine(form.start.data, time(0), tz))
    if form.end.data:
        query = query.where(AuditEntry.at < datetime.combine(form.end.data + timedelta(days=1), time(0), tz))
    return query


@blueprint.get("/audit")
@roles_required()
def audit() -> tuple[str, int]:
    form = AuditFilter(request.args)
    with runtime().reading() as db:
        offices = db.execute(select(Office.id, Office.name).order_by(Office.name)).all()
        form.office_id.choices = [SelectChoice("", "—")] + [SelectChoice(str(o.id), o.name) for o in offices]
        form.action.choices = [SelectChoice("", "—")] + [SelectChoice(key, str(label))
                                                         for key, label in AUDIT_ACTIONS.items()]
        if not form.validate():
            return render_template("console/audit.html", form=form, entries=[], page=1, pages=1, total=0), 400
        query = _filtered(form)
        total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(form.page.data or 1, pages)
        entries = list(db.scalars(query.order_by(AuditEntry.id.desc()).offset((page - 1) * PAGE_SIZE)
                                  .limit(PAGE_SIZE)))
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("console/audit.html", form=form, entries=entries, page=page, pages=pages, total=total,
                           args=args), 200
