"""The OpenAPI 3 description of /api/v1, served at /api/v1/openapi.json and checked by schemathesis."""

from __future__ import annotations

from typing import Any

_TEXT = {"type": "string"}
_DATE = {"type": "string", "format": "date", "example": "2027-03-02"}
_TIME = {"type": "string", "pattern": r"^\d{2}:\d{2}$", "example": "07:30"}
_ID = {"type": "integer", "minimum": 1}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    meaning = {400: "Malformed request", 401: "Not signed in and no valid token", 403: "Not allowed",
               404: "Not found", 409: "The seat or the booking is no longer available",
               415: "Signed in through the console, but the body is not JSON", 422: "Invalid input",
               503: "The database is unavailable for a moment; retry after Retry-After seconds"}
    answers = {str(s): _json(_ref("Error"), meaning[s]) for s in (*statuses, 503)}
    # The HTTP server itself refuses request lines over its limit before the app sees them.
    answers["414"] = {"description": "Request line too long"}
    return answers


def _wrapped(key: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": [key], "properties": {key: schema}}


SCHEMAS: dict[str, Any] = {
    "Error": _wrapped("error", {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": _TEXT, "field": _TEXT,
                       "message": {"type": "object", "required": ["vi", "en"],
                                   "properties": {"vi": _TEXT, "en": _TEXT}}}}),
    "Office": {"type": "object", "required": ["id", "code", "name", "level", "crowd_limit"], "properties": {
        "id": _ID, "code": _TEXT, "name": _TEXT, "name_en": {"type": "string", "nullable": True},
        "level": {"type": "string", "enum": ["province", "commune"]}, "address": _TEXT,
        "phone": {"type": "string", "nullable": True}, "keypad_number": {"type": "integer", "nullable": True},
        "crowd_limit": {"type": "integer"}, "window_minutes": {"type": "integer"},
        "horizon_days": {"type": "integer"}, "cutoff_minutes": {"type": "integer"}, "active": {"type": "boolean"}}},
    "Window": {"type": "object", "required": ["position", "start", "end", "capacity", "remaining"], "properties": {
        "position": {"type": "integer"}, "start": _TIME, "end": _TIME, "capacity": {"type": "integer"},
        "remaining": {"type": "integer"}}},
    "SessionRoom": {"type": "object", "required": ["code", "start", "end", "capacity", "remaining", "bookable"],
                    "properties": {"code": _TEXT, "start": _TIME, "end": _TIME, "capacity": {"type": "integer"},
                                   "booked": {"type": "integer"}, "held": {"type": "integer"},
                                   "remaining": {"type": "integer"}, "bookable": {"type": "boolean"},
                                   "windows": {"type": "array", "items": _ref("Window")}}},
    "Day": {"type": "object", "required": ["date", "sessions"], "properties": {
        "date": _DATE, "closed_reason": {"type": "string", "nullable": True},
        "sessions": {"type": "array", "items": _ref("SessionRoom")}}},
    "Booking": {"type": "object", "required": ["code", "office_id", "date", "session", "queue", "status"],
                "properties": {"code": {"type": "string", "pattern": r"^\d{9}$"}, "office_id": _ID, "date": _DATE,
                               "session": _TEXT, "queue": _TEXT, "arrival_start": _TIME, "arrival_end": _TIME,
                               "phone": _TEXT, "name": {"type": "string", "nullable": True},
                               "procedure_id": {"type": "integer", "nullable": True},
                               "channel": {"type": "string", "enum": ["ivr", "operator", "web", "api", "walkin"]},
                               "status": {"type": "string",
                                          "enum": ["booked", "cancelled", "checked_in", "served", "no_show"]},
                               "created_at": {"type": "string", "format": "date-time"}}},
    "NewBooking": {"type": "object", "required": ["office_id", "date", "session", "phone"], "properties": {
        "office_id": _ID, "date": _DATE, "session": {"type": "string", "example": "S"},
        "phone": {"type": "string", "example": "0912 345 678"}, "name": {"type": "string", "maxLength": 200},
        "procedure_id": _ID, "window": {"type": "integer", "minimum": 0},
        "language": {"type": "string", "enum": ["vi", "en"]}}},
    "Move": {"type": "object", "required": ["office_id", "date", "session"], "properties": {
        "office_id": _ID, "date": _DATE, "session": _TEXT, "window": {"type": "integer", "minimum": 0}}},
}

_CODE = {"name": "code", "in": "path", "required": True, "schema": _TEXT, "description": "Booking code (9 digits)"}
_OFFICE = {"name": "office_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def document() -> dict[str, Any]:
    booking_out = _json(_wrapped("booking", _ref("Booking")), "The booking")
    return {
        "openapi": "3.0.3",
        "info": {"title": "Hotline booking API", "version": "1",
                 "description": "Appointments at one-stop public administration offices. Errors carry a stable "
                                "code and a message in Vietnamese and English."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"token": []}, {"session": []}],
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"},
                                "session": {"type": "apiKey", "in": "cookie", "name": "session"}},
            "schemas": SCHEMAS,
        },
        "paths": {
            "/offices": {"get": {"operationId": "listOffices", "responses": {
                "200": _json(_wrapped("offices", {"type": "array", "items": _ref("Office")}), "Offices"),
                **_errors(401)}}},
            "/offices/{office_id}/availability": {"get": {
                "operationId": "officeAvailability",
                "parameters": [_OFFICE,
                               {"name": "from", "in": "query", "schema": _DATE},
                               {"name": "to", "in": "query", "schema": _DATE}],
                "responses": {"200": _json({"type": "object", "required": ["office_id", "days"], "properties": {
                    "office_id": {"type": "integer"}, "days": {"type": "array", "items": _ref("Day")}}},
                    "Seats per session and window"), **_errors(401, 404, 422)}}},
            "/availability/next": {"get": {
                "operationId": "nextSessions",
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                             "maximum": 50}},
                               {"name": "office_id", "in": "query", "schema": {"type": "array",
                                                                                "items": {"type": "integer"}},
                                "style": "form", "explode": True}],
                "responses": {"200": _json(_wrapped("sessions", {"type": "array", "items": {
                    "type": "object", "properties": {"office_id": {"type": "integer"}, "date": _DATE,
                                                     "session": _TEXT, "start": _TIME, "end": _TIME,
                                                     "remaining": {"type": "integer"}}}}), "Soonest sessions"),
                              **_errors(401, 422)}}},
            "/bookings": {
                "post": {"operationId": "createBooking",
                         "requestBody": {"required": True,
                                         "content": {"application/json": {"schema": _ref("NewBooking")}}},
                         "responses": {"201": booking_out, **_errors(401, 403, 404, 409, 415, 422)}},
                "get": {"operationId": "findBookings",
                        "description": "A caller's bookings by phone number; an office manager gets only those "
                                       "at the offices they manage.",
                        "parameters": [{"name": "phone", "in": "query", "required": True, "schema": _TEXT}],
                        "responses": {"200": _json(_wrapped("bookings", {"type": "array",
                                                                          "items": _ref("Booking")}), "Bookings"),
                                      **_errors(401, 403, 422)}}},
            "/bookings/{code}": {"get": {"operationId": "getBooking", "parameters": [_CODE],
                                         "responses": {"200": booking_out, **_errors(401, 403, 404, 422)}}},
            "/bookings/{code}/cancel": {"post": {
                "operationId": "cancelBooking", "parameters": [_CODE],
                "requestBody": {"required": False, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"reason": {"type": "string", "maxLength": 300}}}}}},
                "responses": {"200": booking_out, **_errors(401, 403, 404, 409, 415, 422)}}},
            "/bookings/{code}/move": {"post": {
                "operationId": "moveBooking", "parameters": [_CODE],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Move")}}},
                "responses": {"200": booking_out, **_errors(401, 403, 404, 409, 415, 422)}}},
            "/offices/{office_id}/sessions/{date}/{session}": {"put": {
                "operationId": "changeSession",
                "parameters": [_OFFICE, {"name": "date", "in": "path", "required": True, "schema": _DATE},
                               {"name": "session", "in": "path", "required": True, "schema": _TEXT}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"capacity": {"type": "integer", "minimum": 0},
                                                     "start": _TIME, "end": _TIME}}}}},
                "responses": {"200": _json(_wrapped("session", {"type": "object"}), "The session's new settings"),
                              **_errors(401, 403, 404, 415, 422)}}},
            "/offices/{office_id}/closures": {"post": {
                "operationId": "closeOffice", "parameters": [_OFFICE],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["start", "end", "reason"],
                    "properties": {"start": _DATE, "end": _DATE, "reason": {"type": "string", "maxLength": 300},
                                   "notify": {"type": "boolean"}}}}}},
                "responses": {"201": _json({"type": "object", "required": ["closure", "affected"], "properties": {
                    "closure": {"type": "object"}, "affected": {"type": "integer"},
                    "broadcast_id": {"type": "integer", "nullable": True}}}, "The closure"),
                    **_errors(401, 403, 404, 415, 422)}}},
        },
    }
