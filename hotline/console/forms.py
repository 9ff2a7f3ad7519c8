"""Console forms: every one carries Flask-WTF's CSRF token."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from hotline.console.labels import SESSION_CHOICES


class LoginForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class LookupForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    phone = StringField(_l("Phone number"), validators=[DataRequired(), Length(max=40)])


class BookForm(FlaskForm):
    office_id = IntegerField(validators=[DataRequired()])
    day = DateField(validators=[DataRequired()])
    session = StringField(validators=[DataRequired(), Length(min=1, max=1)])
    phone = StringField(_l("Caller's phone"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    procedure_id = SelectField(_l("Procedure"), coerce=int, validators=[Optional()], choices=[])
    language = SelectField(_l("Language of the SMS"),
                           choices=[SelectChoice("vi", "Tiếng Việt"), SelectChoice("en", "English")])


class ActionForm(FlaskForm):
    """A button that changes something (cancel, mark done): only the CSRF token."""


class CheckInForm(FlaskForm):
    code = StringField(_l("Booking code"), validators=[DataRequired(), Length(max=20)])


class ClosureForm(FlaskForm):
    start = DateField(_l("From"), validators=[DataRequired()])
    end = DateField(_l("To"), validators=[DataRequired()])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=300)])
    notify = BooleanField(_l("Cancel the appointments and send everyone affected an SMS"))
    move = BooleanField(_l("Move them instead to the soonest session with room, each with an SMS (anyone who "
                           "cannot be moved is cancelled and told)"))


class CapacityForm(FlaskForm):
    day = DateField(_l("Date"), validators=[DataRequired()])
    session = SelectField(_l("Session"), choices=list(SESSION_CHOICES))
    capacity = IntegerField(_l("Capacity"), validators=[DataRequired(), NumberRange(min=0, max=10_000)])


class MoveForm(FlaskForm):
    """The session a booking moves to; each offered session is a form of its own with these hidden fields."""

    office_id = IntegerField(validators=[DataRequired(), NumberRange(min=1, max=2**31 - 1)])
    day = DateField(validators=[DataRequired()])
    session = StringField(validators=[DataRequired(), Length(min=1, max=1)])
