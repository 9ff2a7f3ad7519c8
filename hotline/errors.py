"""Error responses: a clear message in the user's language, never a stack trace, never a 500 for bad input."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, abort, jsonify, render_template, request
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from booking import errors as domain
from booking.i18n import N_

log = logging.getLogger(__name__)

# Which HTTP status tells a client what went wrong with a refused booking.
STATUS = {
    domain.NotFound: 404,
    domain.SessionFull: 409,
    domain.WindowFull: 409,
    domain.AlreadyBookedForSession: 409,
    domain.TooManyBookings: 409,
    domain.HoldExpired: 409,
    domain.InvalidTransition: 409,
}


# Twilio's webhooks answer every signed request as a call or an SMS would expect; `verified_form` drops NULs.
TWILIO_BLUEPRINTS = ("ivr", "sms")
NUL_REFUSED = N_("The text sent contains a character that cannot be stored (NUL). Please type it again.")


def status_for(error: domain.BookingError) -> int:
    return next((code for cls, code in STATUS.items() if isinstance(error, cls)), 422)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _nul_in_json(document: Any) -> str | None:
    """Where in a JSON document a string (or a key) holds a NUL: "name", "extra.notes[1]"; None if nowhere.

    Walked with a stack, not recursion: the document comes from anyone, nested as deep as they like.
    """
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path or "body"
        elif isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                if "\x00" in where:
                    return where
                stack.append((where, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None


def nul_field() -> str | None:
    """The field, query argument or JSON path of the request that holds a NUL character ("path" for the URL).

    PostgreSQL cannot store NUL in text and fails the whole statement, so such input is refused
    before any view sees it, rather than turning into a 500 wherever it reaches the database.
    """
    if "\x00" in request.path:
        return "path"
    for source in (request.args, request.form):
        for key, value in source.items(multi=True):
            if "\x00" in key or "\x00" in value:
                return key
    for key, upload in request.files.items(multi=True):
        if "\x00" in key or "\x00" in (upload.filename or ""):
            return key
    if not request.is_json:
        return None
    try:
        document = request.get_json(silent=True)
    except RecursionError:
        abort(400)  # nested deeper than the JSON parser goes: no real request is
    return _nul_in_json(document)


def _refuse_nul() -> tuple[Response, int] | None:
    if request.blueprint in TWILIO_BLUEPRINTS:
        return None
    field = nul_field()
    if field is None:
        return None
    if request.path.startswith("/api/"):
        from hotline.api.errors import error_response
        from hotline.api.views import INVALID

        return error_response(422, "invalid_input", INVALID, {"detail": f"{field} must not contain a NUL character"},
                              field)
    abort(400, description=gettext(NUL_REFUSED))


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
    app.before_request(_refuse_nul)

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
