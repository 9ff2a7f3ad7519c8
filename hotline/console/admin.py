"""Administrators' pages: offices, staff accounts, the procedure catalogue and API tokens.

Every page is for administrators only (`roles_required()` with no roles), every change goes
through a service in `booking/` and is audited with the state before and after it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from babel.numbers import format_decimal
from flask import Response, abort, flash, make_response, redirect, render_template, url_for
from flask_babel import format_date, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from werkzeug.security import generate_password_hash
from werkzeug.wrappers import Response as BaseResponse
from wtforms import (BooleanField, Field, IntegerField, PasswordField, SelectField, SelectMultipleField, StringField,
                     TextAreaField)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; types-WTForms 3.2 lacks it
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget, TextInput

from accounts import users as accounts
from accounts.models import ApiToken, Role, User
from accounts.tokens import issue_token, revoke_token
from actions.audit import snapshot
from booking import offices as office_admin
from booking import procedures as catalogue
from booking.errors import InvalidSettings
from booking.models import Office, OfficeLevel, Procedure
from hotline.auth import roles_required
from hotline.console.common import apply_change, attempt, audit_change, blueprint, me
from hotline.runtime import runtime

VND_SUFFIX = re.compile(r"(₫|đồng|đ|vnđ|vnd)$", re.IGNORECASE)
VND_GROUPING = re.compile(r"[.,\s\u00a0\u202f]")
OFFICE_FIELDS = ("code", "name", "name_en", "level", "keypad_number", "address", "phone", "active")
PROCEDURE_FIELDS = ("code", "name", "name_en", "field", "field_en", "at_province", "at_commune", "active",
                    "documents", "documents_en", "documents_short", "documents_short_en", "fee_vnd", "fee_note",
                    "processing_days", "online_url", "by_post", "national_code")
# A Monday, to name weekdays through Babel (weekday 0 is Monday, as in date.weekday()).
MONDAY = date(2024, 1, 1)

ROLE_LABELS = {Role.OPERATOR: _l("Operator"), Role.MANAGER: _l("Office manager"), Role.ADMIN: _l("Administrator")}
LEVEL_LABELS = {OfficeLevel.COMMUNE: _l("Commune or ward"), OfficeLevel.PROVINCE: _l("Province")}


class CheckboxesField(SelectMultipleField):
    """A list of checkboxes: easier with the keyboard and on a phone than a multiple select."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


# -- forms -----------------------------------------------------------------------------------------

class OfficeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)])
    name = StringField(_l("Office name"), validators=[DataRequired(), Length(max=200)])
    name_en = StringField(_l("Name in English"), validators=[Optional(), Length(max=200)])
    level = SelectField(_l("Level"), choices=[SelectChoice(level.value, label) for level, label in LEVEL_LABELS.items()])
    keypad_number = IntegerField(_l("Number in the phone menu"), validators=[Optional(), NumberRange(min=1, max=999)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=20)])
    active = BooleanField(_l("Takes appointments"), default=True)


class NewOfficeForm(OfficeForm):
    morning = StringField(_l("Morning hours, Monday to Friday (e.g. 07:00-11:30)"),
                          validators=[Optional(), Length(max=20)])
    morning_capacity = IntegerField(_l("Morning seats"), validators=[Optional(), NumberRange(min=1, max=10_000)])
    afternoon = StringField(_l("Afternoon hours, Monday to Friday (e.g. 13:30-17:00)"),
                            validators=[Optional(), Length(max=20)])
    afternoon_capacity = IntegerField(_l("Afternoon seats"), validators=[Optional(), NumberRange(min=1, max=10_000)])


class UserForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=64)])
    display_name = StringField(_l("Display name"), validators=[Optional(), Length(max=200)])
    role = SelectField(_l("Role"), choices=[SelectChoice(role.value, label) for role, label in ROLE_LABELS.items()])
    offices = CheckboxesField(_l("Offices (for a manager)"), choices=[])
    password = PasswordField(_l("Initial password (at least 10 characters)"),
                             validators=[DataRequired(), Length(min=10, max=200)])


class PasswordForm(FlaskForm):
    password = PasswordField(_l("New password (at least 10 characters)"),
                             validators=[DataRequired(), Length(min=10, max=200)])


class UserOfficesForm(FlaskForm):
    offices = CheckboxesField(_l("Offices this manager runs"), choices=[])


class VndField(Field):
    """An amount in dong, shown grouped as Vietnamese write it (2.000: dong have no decimals) and read back in
    any grouping: "2.000", "2,000", "2 000", "2000 đ". Empty is no amount."""

    widget = TextInput()

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return format_decimal(self.data, locale="vi") if self.data is not None else ""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        text = str(valuelist[0]).strip() if valuelist else ""
        text = VND_SUFFIX.sub("", text).strip()
        if not text:
            return
        digits = VND_GROUPING.sub("", text)
        if not digits.isascii() or not digits.isdigit() or len(digits) > 10:
            raise ValueError(gettext("Type the fee in dong, e.g. 2.000, or 0 when it is free."))
        self.data = int(digits)


class ProcedureForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    field = StringField(_l("Field"), validators=[DataRequired(), Length(max=120)])
    name = StringField(_l("Procedure name"), validators=[DataRequired(), Length(max=300)])
    field_en = StringField(_l("Field in English"), validators=[Optional(), Length(max=120)])
    name_en = StringField(_l("Name in English"), validators=[Optional(), Length(max=300)])
    at_province = BooleanField(_l("Handled at the provincial centre"))
    at_commune = BooleanField(_l("Handled at commune offices"))
    active = BooleanField(_l("Offered for booking"), default=True)
    documents = TextAreaField(_l("Documents to bring, one per line"),
                              validators=[Optional(), Length(max=catalogue.DOCUMENTS_LIMIT)])
    documents_en = TextAreaField(_l("Documents in English, one per line"),
                                 validators=[Optional(), Length(max=catalogue.DOCUMENTS_LIMIT)])
    documents_short = StringField(_l("Documents in short (said by the hotline, sent by SMS)"),
                                  validators=[Optional(), Length(max=120)])
    documents_short_en = StringField(_l("Documents in short, in English"), validators=[Optional(), Length(max=120)])
    fee_vnd = VndField(_l("Fee (VND; 0 = free, empty = not stated)"))
    fee_note = StringField(_l("About the fee"), validators=[Optional(), Length(max=200)])
    processing_days = IntegerField(_l("Processing time in working days (0 = the same day)"), validators=[
        Optional(), NumberRange(min=0, max=catalogue.MAX_PROCESSING_DAYS)])
    online_url = StringField(_l("Address where it can be filed online (https://…)"),
                             validators=[Optional(), Length(max=300)])
    by_post = BooleanField(_l("Can be filed and returned by post"))
    national_code = StringField(_l("National procedure code"), validators=[Optional(), Length(max=40)])


class TokenForm(FlaskForm):
    name = StringField(_l("Name of the integration"), validators=[DataRequired(), Length(max=100)])
    role = SelectField(_l("Role"), choices=[SelectChoice(Role.OPERATOR.value, _l("Operator: bookings")),
                                            SelectChoice(Role.ADMIN.value, _l("Administrator: also office settings"))])


class ButtonForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


def _form_errors(form: FlaskForm) -> None:
    """Tell the user at the top of the page too: the messages next to the fields may be off screen."""
    if form.errors:
        flash(gettext("Please correct the marked fields."), "error")


def _save(form: FlaskForm, work: Callable[[Session], tuple[str, str]]) -> BaseResponse | None:
    """An edit page's POST: `work` saves a valid form and returns what to flash and where to go next.

    None, with what was wrong flashed, when the page is to be shown again (a GET, an invalid form, a broken rule).
    """
    if form.validate_on_submit():
        done = attempt(work)
        if done is not None:
            message, url = done
            flash(message, "ok")
            return redirect(url)
    _form_errors(form)
    return None


def _office_choices() -> list[SelectChoice]:
    with runtime().reading() as db:
        return [SelectChoice(o.code, f"{o.code} — {o.name}") for o in db.scalars(select(Office).order_by(Office.code))]


@blueprint.app_template_global("role_label")
def role_label(role: Role) -> str:
    return str(ROLE_LABELS.get(role, role.value))


@blueprint.app_template_global("level_label")
def level_label(level: OfficeLevel) -> str:
    return str(LEVEL_LABELS.get(level, level.value))


def _days(weekdays: tuple[int, ...]) -> str:
    """Weekdays in the page's language, runs folded: "Mon–Fri", "Mon, Wed, Sat"."""
    runs: list[list[int]] = []
    for day in weekdays:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(_day(r[0]) if len(r) == 1 else f"{_day(r[0])}–{_day(r[-1])}" for r in runs)


def _day(weekday: int) -> str:
    return format_date(MONDAY + timedelta(days=weekday), "EEE")


@blueprint.app_template_global("week_text")
def week_text(rows: list[office_admin.WeekRow]) -> str:
    """An office's usual week on one line, e.g. "Mon–Fri S 07:00–11:30 (40); Sat S 07:30–11:00 (30)"."""
    return "; ".join(f"{_days(r.weekdays)} {r.code} {r.start:%H:%M}–{r.end:%H:%M} ({r.capacity})" for r in rows)


# -- offices ---------------------------------------------------------------------------------------

def _office_details(form: OfficeForm) -> office_admin.OfficeDetails:
    return office_admin.OfficeDetails(
        code=form.code.data or "", name=form.name.data or "", level=OfficeLevel(form.level.data),
        name_en=form.name_en.data or None, keypad_number=form.keypad_number.data, address=form.address.data or "",
        phone=form.phone.data or None, active=bool(form.active.data))


def _week(form: NewOfficeForm) -> tuple[office_admin.WeeklyHours, ...]:
    """The weekday sessions asked for: hours and seats together, or neither."""
    week = []
    for code, hours, seats in (("S", form.morning, form.morning_capacity), ("C", form.afternoon,
                                                                          form.afternoon_capacity)):
        if not hours.data and seats.data is None:
            continue
        if not hours.data or seats.data is None:
            raise InvalidSettings(detail="give a session both its hours and its seats")
        start, end = office_admin.parse_hours(hours.data)
        week.append(office_admin.WeeklyHours(code, start, end, seats.data))
    return tuple(week)


@blueprint.get("/admin/offices")
@roles_required()
def admin_offices() -> str:
    with runtime().reading() as db:
        found = list(db.scalars(select(Office).options(selectinload(Office.templates))
                                .order_by(Office.keypad_number.is_(None), Office.keypad_number, Office.code)))
        weeks = {office.id: office_admin.week_summary(office) for office in found}
    return render_template("console/admin_offices.html", offices=found, weeks=weeks)


@blueprint.route("/admin/offices/new", methods=["GET", "POST"])
@roles_required()
def admin_office_new() -> str | BaseResponse:
    form = NewOfficeForm()

    def create(db: Session) -> tuple[str, str]:
        week = _week(form)
        office = office_admin.create_office(db, details=_office_details(form), week=week)
        after = snapshot(office, *OFFICE_FIELDS) | {"week": [
            {"session": hours.code, "start": hours.start, "end": hours.end, "capacity": hours.capacity}
            for hours in week]}
        audit_change(db, "office.create", "office", office.id, office_id=office.id, after=after)
        return (gettext("Office %(code)s created.", code=office.code),
                url_for("console.admin_office_edit", office_id=office.id))

    return _save(form, create) or render_template("console/admin_office.html", form=form, office=None)


@blueprint.route("/admin/offices/<id:office_id>", methods=["GET", "POST"])
@roles_required()
def admin_office_edit(office_id: int) -> str | BaseResponse:
    with runtime().reading() as db:
        office = db.scalar(select(Office).where(Office.id == office_id).options(selectinload(Office.templates)))
        if office is None:
            abort(404)
        week = office_admin.week_summary(office)
    form = OfficeForm(obj=office)

    def update(db: Session) -> tuple[str, str]:
        before = snapshot(db.get(Office, office_id), *OFFICE_FIELDS)
        changed = office_admin.update_office(db, office_id=office_id, details=_office_details(form))
        audit_change(db, "office.update", "office", office_id, office_id=office_id, before=before,
                     after=snapshot(changed, *OFFICE_FIELDS))
        return gettext("Saved."), url_for("console.admin_offices")

    return _save(form, update) or render_template("console/admin_office.html", form=form, office=office, week=week)


# -- users -----------------------------------------------------------------------------------------

def _user_after(user: User) -> dict[str, Any]:
    """What the audit log keeps of an account: never the password hash."""
    return snapshot(user, "username", "display_name", "role", "active") | {
        "offices": sorted(o.code for o in user.offices)}


@blueprint.get("/admin/users")
@roles_required()
def admin_users() -> str:
    with runtime().reading() as db:
        found = list(db.scalars(select(User).options(selectinload(User.offices))
                                .order_by(User.active.desc(), User.username)))
    return render_template("console/admin_users.html", users=found, action=ButtonForm(), me_name=me().name)


@blueprint.route("/admin/users/new", methods=["GET", "POST"])
@roles_required()
def admin_user_new() -> str | BaseResponse:
    form = UserForm()
    form.offices.choices = _office_choices()

    def create(db: Session) -> tuple[str, str]:
        role = Role(form.role.data)
        user = accounts.create_user(
            db, username=form.username.data or "", password_hash=generate_password_hash(form.password.data or ""),
            role=role, now=runtime().now(), display_name=(form.display_name.data or "").strip(),
            office_codes=tuple(form.offices.data or ()) if role is Role.MANAGER else ())
        audit_change(db, "user.create", "user", user.username, after=_user_after(user))
        return (gettext("User %(name)s created.", name=user.username),
                url_for("console.admin_user_edit", user_id=user.id))

    return _save(form, create) or render_template("console/admin_user_new.html", form=form)


def _load_user(user_id: int) -> User:
    with runtime().reading() as db:
        user = db.scalar(select(User).where(User.id == user_id).options(selectinload(User.offices)))
    if user is None:
        abort(404)
    return user


def _user_page(user_id: int, password: PasswordForm) -> str:
    user = _load_user(user_id)
    offices = UserOfficesForm(data={"offices": [o.code for o in user.offices]})
    offices.offices.choices = _office_choices()
    return render_template("console/admin_user.html", user=user, password=password, offices=offices,
                           action=ButtonForm(), me_name=me().name)


@blueprint.get("/admin/users/<id:user_id>")
@roles_required()
def admin_user_edit(user_id: int) -> str:
    return _user_page(user_id, PasswordForm())


def _set_active(user_id: int, active: bool) -> BaseResponse:
    if not ButtonForm().validate_on_submit():
        abort(400)

    def change(db: Session) -> str:
        user = db.get(User, user_id) or abort(404)
        before = _user_after(user)
        accounts.set_active(db, user_id=user_id, active=active, by_username=me().name)
        audit_change(db, "user.reactivate" if active else "user.deactivate", "user", user.username,
                     before=before, after=_user_after(user))
        return (gettext("%(name)s may sign in again.", name=user.username) if active
                else gettext("%(name)s can no longer sign in.", name=user.username))

    return apply_change(change, url_for("console.admin_users"))


@blueprint.post("/admin/users/<id:user_id>/deactivate")
@roles_required()
def admin_user_deactivate(user_id: int) -> BaseResponse:
    return _set_active(user_id, False)


@blueprint.post("/admin/users/<id:user_id>/reactivate")
@roles_required()
def admin_user_reactivate(user_id: int) -> BaseResponse:
    return _set_active(user_id, True)


@blueprint.post("/admin/users/<id:user_id>/password")
@roles_required()
def admin_user_password(user_id: int) -> tuple[str, int] | BaseResponse:
    form = PasswordForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _user_page(user_id, form), 422

    def change(db: Session) -> str:
        user = db.get(User, user_id) or abort(404)
        accounts.set_password_hash(db, user_id=user_id, password_hash=generate_password_hash(form.password.data or ""))
        # The hash is no one's business, not even the auditor's: the entry says only that it changed.
        audit_change(db, "user.password_reset", "user", user.username, before={"password": "…"},
                     after={"password": "reset"})
        return gettext("Password changed.")

    return apply_change(change, url_for("console.admin_user_edit", user_id=user_id))


@blueprint.post("/admin/users/<id:user_id>/offices")
@roles_required()
def admin_user_offices(user_id: int) -> BaseResponse:
    form = UserOfficesForm()
    form.offices.choices = _office_choices()
    back = url_for("console.admin_user_edit", user_id=user_id)
    if not form.validate_on_submit():
        _form_errors(form)
        return redirect(back)

    def change(db: Session) -> None:
        user = db.scalar(select(User).where(User.id == user_id).options(selectinload(User.offices))) or abort(404)
        before = _user_after(user)
        accounts.set_offices(db, user_id=user_id, office_codes=tuple(form.offices.data or ()))
        audit_change(db, "user.offices", "user", user.username, before=before, after=_user_after(user))

    return apply_change(change, back)


# -- procedures ------------------------------------------------------------------------------------

def _procedure_details(form: ProcedureForm) -> catalogue.ProcedureDetails:
    return catalogue.ProcedureDetails(
        code=form.code.data or "", name=form.name.data or "", field=form.field.data or "",
        name_en=form.name_en.data or None, field_en=form.field_en.data or None,
        at_province=bool(form.at_province.data), at_commune=bool(form.at_commune.data), active=bool(form.active.data),
        documents=form.documents.data or "", documents_en=form.documents_en.data or None,
        documents_short=form.documents_short.data or "", documents_short_en=form.documents_short_en.data or None,
        fee_vnd=form.fee_vnd.data, fee_note=form.fee_note.data or None, processing_days=form.processing_days.data,
        online_url=form.online_url.data or None, by_post=bool(form.by_post.data),
        national_code=form.national_code.data or None)


@blueprint.get("/admin/procedures")
@roles_required()
def admin_procedures() -> str:
    with runtime().reading() as db:
        found = list(db.scalars(select(Procedure).order_by(Procedure.field, Procedure.name)))
    return render_template("console/admin_procedures.html", procedures=found)


@blueprint.route("/admin/procedures/new", methods=["GET", "POST"])
@roles_required()
def admin_procedure_new() -> str | BaseResponse:
    form = ProcedureForm()

    def create(db: Session) -> tuple[str, str]:
        procedure = catalogue.create_procedure(db, details=_procedure_details(form))
        audit_change(db, "procedure.create", "procedure", procedure.code, after=snapshot(procedure, *PROCEDURE_FIELDS))
        return gettext("Saved."), url_for("console.admin_procedures")

    return _save(form, create) or render_template("console/admin_procedure.html", form=form, procedure=None)


@blueprint.route("/admin/procedures/<id:procedure_id>", methods=["GET", "POST"])
@roles_required()
def admin_procedure_edit(procedure_id: int) -> str | BaseResponse:
    with runtime().reading() as db:
        procedure = db.get(Procedure, procedure_id) or abort(404)
    form = ProcedureForm(obj=procedure)

    def update(db: Session) -> tuple[str, str]:
        before = snapshot(db.get(Procedure, procedure_id), *PROCEDURE_FIELDS)
        changed = catalogue.update_procedure(db, procedure_id=procedure_id, details=_procedure_details(form))
        audit_change(db, "procedure.update", "procedure", changed.code, before=before,
                     after=snapshot(changed, *PROCEDURE_FIELDS))
        return gettext("Saved."), url_for("console.admin_procedures")

    return _save(form, update) or render_template("console/admin_procedure.html", form=form, procedure=procedure)


# -- API tokens ------------------------------------------------------------------------------------

def _tokens_page(form: TokenForm, secret: str | None = None, status: int = 200) -> Response:
    with runtime().reading() as db:
        found = list(db.scalars(select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.name)))
    response = make_response(render_template("console/admin_tokens.html", tokens=found, form=form, secret=secret,
                                             action=ButtonForm()), status)
    if secret is not None:
        # The secret is on this page only: no cache, no history copy to find it again.
        response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/admin/tokens")
@roles_required()
def admin_tokens() -> Response:
    return _tokens_page(TokenForm())


@blueprint.post("/admin/tokens")
@roles_required()
def admin_token_create() -> Response:
    form = TokenForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _tokens_page(form, status=422)

    def issue(db: Session) -> str:
        token, secret = issue_token(db, name=form.name.data or "", role=Role(form.role.data), created_by=me().actor,
                                    now=runtime().now())
        audit_change(db, "token.create", "api_token", token.name, after=snapshot(token, "name", "role", "prefix"))
        return secret

    secret = attempt(issue)
    if secret is None:
        return _tokens_page(form, status=422)
    return _tokens_page(TokenForm(formdata=None), secret=secret)


@blueprint.post("/admin/tokens/<id:token_id>/revoke")
@roles_required()
def admin_token_revoke(token_id: int) -> BaseResponse:
    if not ButtonForm().validate_on_submit():
        abort(400)

    def change(db: Session) -> str:
        token = db.get(ApiToken, token_id) or abort(404)
        before = snapshot(token, "name", "revoked_at")
        revoke_token(db, token_id=token_id, now=runtime().now())
        audit_change(db, "token.revoke", "api_token", token.name, before=before,
                     after=snapshot(token, "name", "revoked_at"))
        return gettext("Token %(name)s revoked.", name=token.name)

    return apply_change(change, url_for("console.admin_tokens"))
