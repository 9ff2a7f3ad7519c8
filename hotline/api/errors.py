"""API errors: JSON with a stable code and the message in Vietnamese and English."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask_babel import force_locale, gettext

from booking.errors import BookingError
from hotline.errors import status_for


class ApiError(Exception):
    """A request the API refuses before reaching the domain (bad JSON, missing field, no access)."""

    def __init__(self, status: int, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.params = status, code, message, params


def _both(message: str, params: dict[str, Any]) -> dict[str, str]:
    texts = {}
    for language in ("vi", "en"):
        with force_locale(language):
            texts[language] = gettext(message) % params if params else gettext(message)
    return texts


def error_response(status: int, code: str, message: str, params: dict[str, Any] | None = None,
                   field: str | None = None) -> tuple[Response, int]:
    body: dict[str, Any] = {"code": code, "message": _both(message, params or {})}
    if field:
        body["field"] = field
    return jsonify(error=body), status


def from_domain(error: BookingError) -> tuple[Response, int]:
    return error_response(status_for(error), error.code, error.message, error.params)


def from_api(error: ApiError) -> tuple[Response, int]:
    return error_response(error.status, error.code, error.message, error.params, error.params.get("field"))
