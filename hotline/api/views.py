"""API endpoints: thin adapters from JSON to the booking services, and back."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from booking import bookings, office_settings
from booking.audit import record, snapshot
from booking.calendar import EARLIEST, LATEST
from booking.availability import DayRoom, next_sessions_with_room, office_availability
from booking.bookings import Actor
from booking.errors import BookingError, NotFound
from booking.i18n import N_
from booking.models import Booking, Channel, Office, Role
from hotline.api.errors import ApiError, error_response, from_api, from_domain
from hotline.api.openapi import document
from hotline.auth import Principal, api_principal
from hotline.localization import BabelLocalizer
from hotline.runtime import runtime
from notifications import notices

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")

INVALID = N_("The request is not valid: %(detail)s.")
UNAUTHORISED = N_("Sign in, or send an API token in the Authorization header.")
FORBIDDEN = N_("You may not do this.")
UNAVAILABLE = N_("The service is busy for a moment. Please try again.")
JSON_REQUIRED = N_("A request signed in through the console must send its body as JSON (Content-Type: "
                   "application/json).")
MAX_RANGE_DAYS = 62


@blueprint.errorhandler(BookingError)
def _domain(error: BookingError) -> tuple[Response, int]:
    return from_domain(error)


@blueprint.errorhandler(ApiError)
def _api(error: ApiError) -> tuple[Response, int]:
    return from_api(error)


@blueprint.errorhandler(OperationalError)
def _unavailable(error: OperationalError) -> tuple[Response, int]:
    response, status = error_response(503, "unavailable", UNAVAILABLE)
    response.headers["Retry-After"] = "5"
    return response, status


@blueprint.errorhandler(HTTPException)
def _http(error: HTTPException) -> tuple[Response, int]:
    code = error.name.lower().replace(" ", "_")
    return error_response(error.code or 500, code, INVALID, {"detail": error.name.lower()})


@blueprint.before_request
def _no_cross_site_writes() -> None:
    """Writes that ride on the console's cookie must be JSON.

    Another site's form can make a browser send the cookie, but not a JSON body: that needs a CORS
    preflight, which this API never grants. Token callers send no cookie, so they are not asked.
    """
    if request.method in ("GET", "HEAD", "OPTIONS") or request.headers.get("Authorization", "").startswith("Bearer "):
        return
    if current_user.is_authenticated and not request.is_json:
        raise ApiError(415, "json_required", JSON_REQUIRED)


def _caller(*roles: Role) -> Principal:
    principal = api_principal()
    if principal is None:
        raise ApiError(401, "unauthorised", UNAUTHORISED)
    if roles and principal.role is not Role.ADMIN and principal.role not in roles:
        raise ApiError(403, "forbidden", FORBIDDEN)
    return principal


def _handling(principal: Principal, *office_ids: int) -> None:
    if not all(principal.may_handle(office_id) for office_id in office_ids):
        raise ApiError(403, "forbidden", FORBIDDEN)


def _invalid(field: str, detail: str) -> ApiError:
    return ApiError(422, "invalid_input", INVALID, detail=detail, field=field)


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise _invalid("body", "a JSON object is expected")
    return data




def _date(value: Any, field: str) -> date:
    try:
        parsed = date.fromisoformat(str(value))
    except ValueError as exc:
        raise _invalid(field, f"{field} must be a date YYYY-MM-DD") from exc
    if not EARLIEST <= parsed <= LATEST:
        raise _invalid(field, f"{field} must be between {EARLIEST} and {LATEST}")
    return parsed


def _time(value: Any, field: str) -> time:
    try:
        parsed = time.fromisoformat(str(value))
    except ValueError as exc:
        raise _invalid(field, f"{field} must be a time HH:MM") from exc
    if parsed.tzinfo is not None:
        # Session hours are the office's wall clock; an offset ("07:00+07:00", "07:00Z") says something else.
        raise _invalid(field, f"{field} must be a local time HH:MM without a UTC offset")
    return parsed


def _int(value: Any, field: str, *, low: int = 0, high: int = 10**9) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _invalid(field, f"{field} must be a whole number")
    try:
        number = int(value)
    except ValueError as exc:
        raise _invalid(field, f"{field} must be a whole number") from exc
    if not low <= number <= high:
        raise _invalid(field, f"{field} must be between {low} and {high}")
    return number


def _text(data: dict[str, Any], field: str, *, required: bool = True, limit: int = 200) -> str | None:
    value = data.get(field)
    if value is None:
        if required:
            raise _invalid(field, f"{field} is required")
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _invalid(field, f"{field} must be text of at most {limit} characters")
    return value.strip()


def _session_code(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 1 or not value.isalpha():
        raise _invalid("session", "session must be one letter such as S or C")
    return value.upper()


def _office_json(office: Office) -> dict[str, Any]:
    return {"id": office.id, "code": office.code, "name": office.name, "name_en": office.name_en,
            "level": office.level.value, "address": office.address, "phone": office.phone,
            "keypad_number": office.keypad_number, "crowd_limit": office.crowd_limit,
            "window_minutes": office.window_minutes, "horizon_days": office.horizon_days,
            "cutoff_minutes": office.cutoff_minutes, "active": office.active}


def _booking_json(booking: Booking) -> dict[str, Any]:
    return {"code": booking.code, "office_id": booking.office_id, "date": booking.date.isoformat(),
            "session": booking.session_code, "queue": booking.queue_label,
            "arrival_start": booking.arrival_start.isoformat("minutes"),
            "arrival_end": booking.arrival_end.isoformat("minutes"), "phone": booking.phone, "name": booking.name,
            "procedure_id": booking.procedure_id, "channel": booking.channel.value, "status": booking.status.value,
            "created_at": booking.created_at.isoformat()}


def _days_json(days: list[DayRoom]) -> list[dict[str, Any]]:
    return [{"date": d.date.isoformat(), "closed_reason": d.closed_reason,
             "sessions": [{"code": r.code, "start": r.start.isoformat("minutes"), "end": r.end.isoformat("minutes"),
                           "capacity": r.capacity, "booked": r.booked, "held": r.held, "remaining": r.remaining,
                           "bookable": r.bookable,
                           "windows": [{"position": w.position, "start": w.start.isoformat("minutes"),
                                        "end": w.end.isoformat("minutes"), "capacity": w.capacity,
                                        "remaining": w.remaining} for w in r.windows]}
                          for r in d.sessions]} for d in days]


def _office(db: Session, office_id: int) -> Office:
    if not 0 < office_id < 2**31:  # ids are 32-bit in the database; anything else names no office
        raise NotFound()
    office = db.scalar(select(Office).where(Office.id == office_id).options(selectinload(Office.templates)))
    if office is None:
        raise NotFound()
    return office


def _channel(principal: Principal) -> Channel:
    return Channel.API if principal.id.startswith("api:") else Channel.OPERATOR


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())


@blueprint.get("/offices")
def offices() -> Response:
    _caller()
    with runtime().reading() as db:
        found = db.scalars(select(Office).order_by(Office.keypad_number, Office.id))
        return jsonify(offices=[_office_json(o) for o in found])


@blueprint.get("/offices/<int:office_id>/availability")
def availability(office_id: int) -> Response:
    principal = _caller()
    rt = runtime()
    now = rt.now()
    today = now.astimezone(rt.settings.tz).date()
    start = _date(request.args.get("from", today.isoformat()), "from")
    end = _date(request.args.get("to", (start + timedelta(days=6)).isoformat()), "to")
    if end < start or (end - start).days > MAX_RANGE_DAYS:
        raise _invalid("to", f"to must be on or after from, at most {MAX_RANGE_DAYS} days later")
    with rt.reading() as db:
        office = _office(db, office_id)
        days = office_availability(db, office, start, end, now=now, policy=rt.policy, channel=_channel(principal))
        return jsonify(office_id=office.id, days=_days_json(days))


@blueprint.get("/availability/next")
def next_available() -> Response:
    principal = _caller()
    rt = runtime()
    limit = _int(request.args.get("limit", "5"), "limit", low=1, high=50)
    ids = [_int(v, "office_id", low=1) for v in request.args.getlist("office_id")] or None
    with rt.reading() as db:
        rooms = next_sessions_with_room(db, now=rt.now(), policy=rt.policy, limit=limit, office_ids=ids,
                                        channel=_channel(principal))
        return jsonify(sessions=[{"office_id": r.office_id, "date": r.date.isoformat(), "session": r.code,
                                  "start": r.start.isoformat("minutes"), "end": r.end.isoformat("minutes"),
                                  "remaining": r.remaining} for r in rooms])


@blueprint.post("/bookings")
def create_booking() -> tuple[Response, int]:
    principal = _caller(Role.OPERATOR, Role.MANAGER)
    data = _body()
    office_id = _int(data.get("office_id"), "office_id", low=1)
    day = _date(data.get("date"), "date")
    code = _session_code(data.get("session"))
    phone = _text(data, "phone", limit=40) or ""
    name = _text(data, "name", required=False)
    procedure_id = _int(data["procedure_id"], "procedure_id", low=1) if data.get("procedure_id") is not None else None
    window = _int(data["window"], "window", high=100) if data.get("window") is not None else None
    language = data.get("language", runtime().settings.default_language)
    if language not in ("vi", "en"):
        raise _invalid("language", "language must be vi or en")
    _handling(principal, office_id)
    rt = runtime()
    now = rt.now()
    with rt.transaction() as db:
        booking = bookings.book(db, office_id=office_id, day=day, code=code, phone=phone,
                                actor=Actor(principal.actor, _channel(principal)), now=now, policy=rt.policy,
                                name=name, procedure_id=procedure_id, window_position=window, language=language)
        notices.confirmed(db, booking, now=now, policy=rt.sms, loc=BabelLocalizer(booking.language))
        record(db, actor=principal.actor, action="booking.create", target_type="booking", target_id=booking.code,
               office_id=booking.office_id, after=_booking_json(booking), now=now, ip=request.remote_addr)
        return jsonify(booking=_booking_json(booking)), 201


@blueprint.get("/bookings")
def find_bookings() -> Response:
    """A caller's bookings: for a manager, only those at offices they handle (the rest are not theirs to see)."""
    principal = _caller(Role.OPERATOR, Role.MANAGER)
    phone = request.args.get("phone", "")
    if not phone:
        raise _invalid("phone", "phone is required")
    with runtime().reading() as db:
        return jsonify(bookings=[_booking_json(b) for b in bookings.bookings_for_phone(db, phone)
                                 if principal.may_handle(b.office_id)])


@blueprint.get("/bookings/<code>")
def get_booking(code: str) -> Response:
    principal = _caller(Role.OPERATOR, Role.MANAGER)
    with runtime().reading() as db:
        found = bookings.find_booking(db, code)
        _handling(principal, found.office_id)
        return jsonify(booking=_booking_json(found))


@blueprint.post("/bookings/<code>/cancel")
def cancel_booking(code: str) -> Response:
    principal = _caller(Role.OPERATOR, Role.MANAGER)
    data = request.get_json(silent=True) or {}
    reason = _text(data, "reason", required=False, limit=300) if isinstance(data, dict) else None
    rt = runtime()
    now = rt.now()
    with rt.transaction() as db:
        found = bookings.find_booking(db, code)
        _handling(principal, found.office_id)
        before = _booking_json(found)
        booking = bookings.cancel(db, booking_id=found.id, actor=Actor(principal.actor, _channel(principal)),
                                  now=now, policy=rt.policy, reason=reason or "")
        notices.cancelled(db, booking, now=now, policy=rt.sms, loc=BabelLocalizer(booking.language))
        record(db, actor=principal.actor, action="booking.cancel", target_type="booking", target_id=booking.code,
               office_id=booking.office_id, before=before, after=_booking_json(booking), now=now,
               ip=request.remote_addr)
        return jsonify(booking=_booking_json(booking))


@blueprint.post("/bookings/<code>/move")
def move_booking(code: str) -> Response:
    principal = _caller(Role.OPERATOR, Role.MANAGER)
    data = _body()
    office_id = _int(data.get("office_id"), "office_id", low=1)
    day = _date(data.get("date"), "date")
    session_code = _session_code(data.get("session"))
    window = _int(data["window"], "window", high=100) if data.get("window") is not None else None
    rt = runtime()
    now = rt.now()
    with rt.transaction() as db:
        found = bookings.find_booking(db, code)
        _handling(principal, found.office_id, office_id)
        before = _booking_json(found)
        booking = bookings.move(db, booking_id=found.id, office_id=office_id, day=day, code=session_code,
                                actor=Actor(principal.actor, _channel(principal)), now=now, policy=rt.policy,
                                window_position=window)
        notices.moved(db, booking, now=now, policy=rt.sms, loc=BabelLocalizer(booking.language))
        record(db, actor=principal.actor, action="booking.move", target_type="booking", target_id=booking.code,
               office_id=booking.office_id, before=before, after=_booking_json(booking), now=now,
               ip=request.remote_addr)
        return jsonify(booking=_booking_json(booking))


def _manager_of(office_id: int) -> Principal:
    principal = _caller(Role.MANAGER)
    if not 0 < office_id < 2**31:
        raise NotFound()
    if not principal.may_manage(office_id):
        raise ApiError(403, "forbidden", FORBIDDEN)
    return principal


@blueprint.put("/offices/<int:office_id>/sessions/<date>/<session>")
def set_session(office_id: int, date: str, session: str) -> Response:
    """Change one session on one date: capacity and/or hours."""
    principal = _manager_of(office_id)
    when, session_code, data = _date(date, "date"), _session_code(session), _body()
    capacity = _int(data["capacity"], "capacity", high=10_000) if data.get("capacity") is not None else None
    start = _time(data["start"], "start") if data.get("start") is not None else None
    end = _time(data["end"], "end") if data.get("end") is not None else None
    if capacity is None and start is None and end is None:
        raise _invalid("body", "give capacity, start or end")
    rt = runtime()
    now = rt.now()
    with rt.transaction() as db:
        _office(db, office_id)
        override = office_settings.set_session_for_date(db, office_id=office_id, day=when, code=session_code,
                                                        capacity=capacity, start=start, end=end)
        after = snapshot(override, "date", "code", "capacity", "start_time", "end_time")
        record(db, actor=principal.actor, action="session.change", target_type="office", target_id=office_id,
               office_id=office_id, after=after, now=now, ip=request.remote_addr)
        return jsonify(session=after)


@blueprint.post("/offices/<int:office_id>/closures")
def close_office(office_id: int) -> tuple[Response, int]:
    """Close an office for a date range; with notify, cancel the bookings and text everyone affected."""
    principal = _manager_of(office_id)
    data = _body()
    start, end = _date(data.get("start"), "start"), _date(data.get("end"), "end")
    reason = _text(data, "reason", limit=300) or ""
    notify = data.get("notify", False)
    if not isinstance(notify, bool):
        raise _invalid("notify", "notify must be true or false")
    rt = runtime()
    now = rt.now()
    with rt.transaction() as db:
        office = _office(db, office_id)
        closure, affected = office_settings.close(db, office_id=office_id, start=start, end=end, reason=reason,
                                                  actor=principal.actor, now=now)
        broadcast_id = None
        if notify and affected:
            broadcast_id = notices.closure_broadcast(db, office=office, start=start, end=end, reason=reason,
                                                     created_by=principal.actor, now=now, policy=rt.sms,
                                                     loc=BabelLocalizer(rt.settings.default_language)).id
            actor = Actor(principal.actor, _channel(principal))
            for booking in affected:
                bookings.cancel(db, booking_id=booking.id, actor=actor, now=now, policy=rt.policy, reason=reason)
        record(db, actor=principal.actor, action="office.close", target_type="office", target_id=office_id,
               office_id=office_id, after={"start": start, "end": end, "reason": reason, "notify": notify,
                                           "affected": len(affected)}, now=now, ip=request.remote_addr)
        return jsonify(closure={"id": closure.id, "start": start.isoformat(), "end": end.isoformat(),
                                "reason": reason}, affected=len(affected), broadcast_id=broadcast_id), 201

