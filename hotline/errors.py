"""Error responses: a clear message in the user's language, never a stack trace, never a 500 for bad input."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from booking import errors as domain

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


def status_for(error: domain.BookingError) -> int:
    return next((code for cls, code in STATUS.items() if isinstance(error, cls)), 422)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def register(app: Flask) -> None:
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
        message = gettext("The page was not found.") if status == 404 else (error.description or error.name)
        if _wants_json():
            return jsonify(error={"code": error.name.lower().replace(" ", "_"), "message": message}), status
        return render_template("error.html", status=status, message=message), status
