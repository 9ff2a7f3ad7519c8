"""Console forms: every one carries Flask-WTF's CSRF token."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from flask_babel import format_date, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (DateField, Field, HiddenField, IntegerField, PasswordField, RadioField, SelectField,
                     StringField)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; types-WTForms 3.2 lacks it
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from booking.calendar import EARLIEST, LATEST
from hotline.console.common import MAX_ID, in_calendar
from hotline.console.labels import SESSION_CHOICES


def stripped(value: str | None) -> str | None:
    """A name as the caller gave it, without the spaces around it (the API strips them too)."""
    return value.strip() if isinstance(value, str) else value


def in_range(form: FlaskForm, field: Field) -> None:
    """Every console date (or date-time) field: a date the hotline deals in (`in_calendar`)."""
    day = field.data.date() if isinstance(field.data, datetime) else field.data
    if isinstance(day, date) and not in_calendar(day):
        raise ValidationError(gettext("Choose a date from %(first)s to %(last)s.",
                                      first=format_date(EARLIEST, "dd/MM/yyyy"),
                                      last=format_date(LATEST, "dd/MM/yyyy")))


def not_before(other: str) -> Callable[[FlaskForm, Field], None]:
    """The last date of a range, which may be its first but not earlier."""

    def check(form: FlaskForm, field: Field) -> None:
        first = form[other].data
        if isinstance(first, date) and isinstance(field.data, date) and field.data < first:
            raise ValidationError(gettext("The last date is before the first."))

    return check


class LoginForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class LookupForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField(_l("Phone number, booking code or name"), validators=[DataRequired(), Length(max=200)])


class BookForm(FlaskForm):
    office_id = IntegerField(validators=[DataRequired()])
    day = DateField(validators=[DataRequired(), in_range])
    session = StringField(validators=[DataRequired(), Length(min=1, max=1)])
    phone = StringField(_l("Caller's phone"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("Name"), filters=[stripped], validators=[Optional(), Length(max=200)])
    procedure_id = SelectField(_l("Procedure"), coerce=int, validators=[Optional()], choices=[])
    window = SelectField(_l("Arrival window"), validators=[Optional()], choices=[])  # "": the earliest with room
    language = SelectField(_l("Language of the SMS"),
                           choices=[SelectChoice("vi", "Tiếng Việt"), SelectChoice("en", "English")])


class ActionForm(FlaskForm):
    """A button that changes something (cancel, mark done): only the CSRF token."""


class CheckInForm(FlaskForm):
    code = StringField(_l("Booking code"), validators=[DataRequired(), Length(max=20)])


DISPOSITIONS = [
    SelectChoice("cancel_and_notify", _l("Cancel the appointments and send everyone affected an SMS")),
    SelectChoice("move", _l("Move each appointment to the soonest later session with room, with an SMS (anyone who "
                            "cannot be moved is cancelled and told)")),
    SelectChoice("leave", _l("Leave the appointments as they are and tell nobody yet")),
]


class ClosureForm(FlaskForm):
    """A closure and what becomes of those booked; sent once for the preview, then again with `confirm`."""

    start = DateField(_l("From"), validators=[DataRequired(), in_range])
    end = DateField(_l("To"), validators=[DataRequired(), in_range, not_before("start")])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=300)])
    disposition = RadioField(_l("What becomes of the appointments on those days"), choices=DISPOSITIONS,
                             default="cancel_and_notify")
    confirm = HiddenField()  # set by the preview's button: apply it
    expect = HiddenField(validators=[Optional(), Length(max=64)])  # the preview's fingerprint


class OverCapacityForm(FlaskForm):
    """The people booked beyond one session's capacity, moved or cancelled: a preview, then `confirm`."""

    day = DateField(_l("Date"), validators=[DataRequired(), in_range])
    code = SelectField(_l("Session"), choices=list(SESSION_CHOICES))
    reason = StringField(_l("Reason given in the SMS"), validators=[Optional(), Length(max=300)])
    disposition = RadioField(_l("What becomes of them"), choices=DISPOSITIONS[1::-1], default="move")
    confirm = HiddenField()
    expect = HiddenField(validators=[Optional(), Length(max=64)])


class CapacityForm(FlaskForm):
    day = DateField(_l("Date"), validators=[DataRequired(), in_range])
    session = SelectField(_l("Session"), choices=list(SESSION_CHOICES))
    capacity = IntegerField(_l("Capacity"), validators=[DataRequired(), NumberRange(min=0, max=10_000)])


class MoveForm(FlaskForm):
    """The session a booking moves to; each offered session is a form of its own with these hidden fields."""

    office_id = IntegerField(validators=[DataRequired(), NumberRange(min=1, max=MAX_ID)])
    day = DateField(validators=[DataRequired(), in_range])
    session = StringField(validators=[DataRequired(), Length(min=1, max=1)])
