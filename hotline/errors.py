"""Error responses: a clear message in the user's language, never a stack trace, never a 500 for bad input."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, abort, jsonify, render_template, request
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.exceptions import HTTPException

from actions.errors import NotAllowed
from actions.offices import PlanChanged
from booking import errors as domain
from booking import waitlist
from booking.i18n import N_
from booking.plain_text import TextRefused, clean, xml_safe

log = logging.getLogger(__name__)

# Which HTTP status tells a client what went wrong with a refused booking.
STATUS = {
    NotAllowed: 403,
    PlanChanged: 409,  # a closure confirmed from a preview that no longer holds
    domain.NotFound: 404,
    domain.SessionFull: 409,
    domain.WindowFull: 409,
    domain.AlreadyBookedForSession: 409,
    domain.TooManyBookings: 409,
    domain.HoldExpired: 409,
    domain.InvalidTransition: 409,
    waitlist.SessionHasRoom: 409,  # book instead
    waitlist.AlreadyWaiting: 409,
    waitlist.OfferGone: 409,
}


# Twilio's webhooks answer every signed request as a call or an SMS would expect: `verified_form` puts their
# parameters through the same gate once the signature over what was sent holds, leaving out what it would refuse.
TWILIO_BLUEPRINTS = ("ivr", "sms", "waitlist_calls")
# More characters than any field holds (the longest, a broadcast's or an SMS's text, is 1,600): forms and API
# fields keep their own smaller bounds; this one bounds the rest (query arguments, JSON that no view reads).
FIELD_LIMIT = 4000
# The fields whose text has lines: a broadcast's (console), an SMS's (Twilio) and a procedure's documents, one a
# line (console and API). Every other field is one line.
MULTILINE_FIELDS = frozenset({"body", "Body", "documents", "documents_en"})
CHARACTER_REFUSED = N_("“%(field)s” contains a character that cannot be stored (%(character)s); please type it "
                       "again.")
TOO_LONG = N_("“%(field)s” is longer than %(limit)s characters.")


def status_for(error: domain.BookingError) -> int:
    return next((code for cls, code in STATUS.items() if isinstance(error, cls)), 422)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


class FieldRefused(Exception):
    """A field (form or query name, JSON path, "path" for the URL) whose text the gate refuses, and why."""

    def __init__(self, field: str, refused: TextRefused) -> None:
        self.field = xml_safe(field)[:100]  # shown on a page or in JSON: nothing there may be refused again
        self.refused = refused
        super().__init__(f"{self.field}: {refused}")

    @property
    def message(self) -> tuple[str, dict[str, Any]]:
        """The untranslated message and its parameters."""
        if self.refused.reason == "too_long":
            return TOO_LONG, {"field": self.field, "limit": self.refused.limit}
        return CHARACTER_REFUSED, {"field": self.field, "character": self.refused.code_point}


def _through_gate(field: str, value: str, *, multiline: bool = False, drop: bool = False) -> str:
    try:
        return clean(value, limit=FIELD_LIMIT, multiline=multiline, drop=drop)
    except TextRefused as refused:
        raise FieldRefused(field, refused) from None


def clean_params(params: MultiDict[str, str], *, drop: bool = False) -> ImmutableMultiDict[str, str]:
    """A form or a query string with every name and value through `clean`; `drop` leaves out what it refuses."""
    cleaned = []
    for key, value in params.items(multi=True):
        name = _through_gate(key, key, drop=drop)
        cleaned.append((name, _through_gate(key, value, multiline=name in MULTILINE_FIELDS, drop=drop)))
    return ImmutableMultiDict(cleaned)


def _clean_json(document: Any) -> Any:
    """`document`, parsed from this request and so ours to change, with every string and key through `clean`.

    Fields are named by their path ("name", "extra.notes[1]"). Walked with a stack, not recursion: the
    document comes from anyone, nested as deep as they like.
    """
    root = [document]
    # (path, the key holding the value, its container, where in the container)
    stack: list[tuple[str, str, Any, Any]] = [("", "", root, 0)]
    while stack:
        path, key, container, at = stack.pop()
        value = container[at]
        if isinstance(value, str):
            container[at] = _through_gate(path or "body", value, multiline=key in MULTILINE_FIELDS)
        elif isinstance(value, dict):
            items = list(value.items())
            value.clear()
            for name, item in items:
                where = f"{path}.{name}" if path else str(name)
                name = _through_gate(where, name)
                value[name] = item
                stack.append((where, name, value, name))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", key, value, i) for i in range(len(value)))
    return root[0]


def _text_gate() -> tuple[Response, int] | None:
    """Every field, query argument and JSON string (and key) of a request through `clean` before any view.

    Views read the cleaned text (composed; one line where a field is one line). Text no database or TwiML
    can hold (a NUL, a lone surrogate, another control character), or longer than any field may be, is
    refused here naming the field, instead of a 500 wherever it would reach the database.
    """
    if request.blueprint in TWILIO_BLUEPRINTS:
        return None
    try:
        _through_gate("path", request.path)
        request.args = clean_params(request.args)
        request.form = clean_params(request.form)
        for key, upload in request.files.items(multi=True):
            _through_gate(key, key)
            upload.filename = _through_gate(key, upload.filename or "") or None
        if not request.is_json:
            return None
        try:
            document = request.get_json(silent=True)
        except RecursionError:
            abort(400)  # nested deeper than the JSON parser goes: no real request is
        if document is not None:  # else malformed: left for the view to refuse as it does
            cleaned = _clean_json(document)
            request._cached_json = (cleaned, cleaned)  # what get_json() gives every view from now on
    except FieldRefused as refused:
        message, params = refused.message
        if request.path.startswith("/api/"):
            from hotline.api.errors import error_response

            return error_response(422, "invalid_input", message, params, refused.field)
        abort(400, description=gettext(message, **params))
    return None


# What a person is told for each error status, in their language. Werkzeug's own descriptions are
# English; a description our code gave (`abort(400, description=gettext(...))`) is already translated.
PAGE_MESSAGES = {
    400: N_("The request could not be understood. Please go back and try again."),
    401: N_("Please sign in to continue."),
    403: N_("You do not have permission to open this page. Sign in with an account that does, or go back."),
    404: N_("The page was not found."),
    405: N_("This page cannot be used that way. Please go back and try again."),
    413: N_("What was sent is too large."),
    429: N_("Too many attempts in a short time. Please wait a minute and try again."),
    500: N_("Something went wrong on our side. Please try again; if it happens again, tell the administrator."),
}
CSRF_EXPIRED = N_("The form has expired or was opened in another session. Please go back, reload the page and "
                  "try again.")


def page_message(error: HTTPException) -> str:
    """The translated sentence shown for `error`: ours if our code gave one, else the status's own."""
    if isinstance(error, CSRFError):
        return gettext(CSRF_EXPIRED)
    status = error.code or 500
    if error.description and error.description != type(error).description:
        return error.description
    generic = PAGE_MESSAGES.get(status) or PAGE_MESSAGES[400 if status < 500 else 500]
    return gettext(generic)


def register(app: Flask) -> None:
    app.before_request(_text_gate)

    @app.errorhandler(domain.BookingError)
    def booking_error(error: domain.BookingError) -> tuple[Response | str, int]:
        message = error.render(gettext)
        status = status_for(error)
        if _wants_json():
            return jsonify(error={"code": error.code, "message": message}), status
        return render_template("error.html", status=status, message=message), status

    @app.errorhandler(OperationalError)
    def database_unavailable(error: OperationalError) -> tuple[Response | str, int, dict[str, str]]:
        # The database is restarting, unreachable or busy. Almost always the transaction rolled
        # back; if the connection broke after COMMIT was sent, it may have landed, so a retry can
        # meet its own booking (409 "already booked"), never a second seat.
        log.warning("database unavailable: %s", error.orig)
        message = gettext("The service is busy for a moment. Please try again.")
        headers = {"Retry-After": "5"}
        if _wants_json():
            return jsonify(error={"code": "unavailable", "message": message}), 503, headers
        return render_template("error.html", status=503, message=message), 503, headers

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response | str, int]:
        status = error.code or 500
        if request.path.startswith("/api/"):
            # Outside any API view (no such route, wrong method): still the API's error format.
            from hotline.api.errors import error_response
            from hotline.api.views import INVALID

            return error_response(status, error.name.lower().replace(" ", "_"), INVALID,
                                  {"detail": error.name.lower()})
        message = page_message(error)
        if _wants_json():
            return jsonify(error={"code": error.name.lower().replace(" ", "_"), "message": message}), status
        return render_template("error.html", status=status, message=message), status
