"""Error responses: a clear message in the user's language, never a stack trace, never a 500 for bad input."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext
from werkzeug.exceptions import HTTPException

from booking import errors as domain

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

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response | str, int]:
        status = error.code or 500
        message = gettext("The page was not found.") if status == 404 else (error.description or error.name)
        if _wants_json():
            return jsonify(error={"code": error.name.lower().replace(" ", "_"), "message": message}), status
        return render_template("error.html", status=status, message=message), status
