"""API endpoints: thin adapters from JSON to the booking services, and back."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from accounts.models import Role
from actions import bookings as actions
from actions import offices as office_actions
from actions import waitlist
from actions.context import Actor as StaffActor
from actions.context import Context
from actions.offices import Disposition
from booking.availability import next_sessions_with_room, office_availability
from booking.errors import BookingError, NotFound
from booking.i18n import N_
from booking.models import Channel, Office
from hotline.api import schemas as s
from hotline.api.contract import INVALID, body, operation, path, query, reply
from hotline.api.errors import ApiError, error_response, from_api, from_domain
from hotline.api.openapi import document
from hotline.auth import Principal, api_principal
from hotline.runtime import runtime

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
Reply = tuple[Response, int]

UNAUTHORISED = N_("Sign in, or send an API token in the Authorization header.")
FORBIDDEN = N_("You may not do this.")
UNAVAILABLE = N_("The service is busy for a moment. Please try again.")
JSON_REQUIRED = N_("A request signed in through the console must send its body as JSON (Content-Type: "
                   "application/json).")


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


def _office(db: Session, office_id: int) -> Office:
    if not 0 < office_id < 2**31:  # ids are 32-bit in the database; anything else names no office
        raise NotFound()
    office = db.scalar(select(Office).where(Office.id == office_id).options(selectinload(Office.templates)))
    if office is None:
        raise NotFound()
    return office


def _channel(principal: Principal) -> Channel:
    return Channel.API if principal.id.startswith("api:") else Channel.OPERATOR


def _manager_of(office_id: int) -> Principal:
    principal = _caller(Role.MANAGER)
    if not 0 < office_id < 2**31:
        raise NotFound()
    if not principal.may_manage(office_id):
        raise ApiError(403, "forbidden", FORBIDDEN)
    return principal


def _acting(db: Session, principal: Principal) -> Context:
    """The context of an action taken by this caller: a token as an integration, a console session as staff."""
    if principal.id.startswith("api:"):
        actor = StaffActor.token(principal.actor, principal.role, ip=request.remote_addr)
    else:
        actor = StaffActor.staff(principal.actor, principal.role, principal.office_ids, ip=request.remote_addr)
    return runtime().context(db, actor)


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())


@operation(blueprint, "GET", "/offices", "listOffices", responses={200: s.Offices}, errors=(401,))
def offices() -> Reply:
    """Every office, in keypad order."""
    _caller()
    with runtime().reading() as db:
        found = db.scalars(select(Office).order_by(Office.keypad_number, Office.id))
        return reply(s.Offices(offices=[s.OfficeOut.model_validate(o) for o in found]))


@operation(blueprint, "GET", "/offices/<int:office_id>/availability", "officeAvailability", path=s.OfficePath,
           query=s.AvailabilityQuery, responses={200: s.Availability}, errors=(401, 404, 422))
def availability(office_id: int) -> Reply:
    """Seats per session and arrival window, day by day."""
    principal = _caller()
    rt = runtime()
    now = rt.now()
    start, end = query(s.AvailabilityQuery).days(now.astimezone(rt.settings.tz).date())
    with rt.reading() as db:
        office = _office(db, office_id)
        days = office_availability(db, office, start, end, now=now, policy=rt.policy, channel=_channel(principal))
        return reply(s.Availability(office_id=office.id, days=[s.DayOut.model_validate(d) for d in days]))


@operation(blueprint, "GET", "/availability/next", "nextSessions", query=s.NextQuery,
           responses={200: s.NextSessions}, errors=(401, 422))
def next_available() -> Reply:
    """The soonest sessions with a seat left, across offices or among those named."""
    principal = _caller()
    asked = query(s.NextQuery)
    rt = runtime()
    with rt.reading() as db:
        rooms = next_sessions_with_room(db, now=rt.now(), policy=rt.policy, limit=asked.limit,
                                        office_ids=asked.office_id or None, channel=_channel(principal))
        return reply(s.NextSessions(sessions=[s.NextSessionOut.of(r) for r in rooms]))


@operation(blueprint, "POST", "/bookings", "createBooking", body=s.NewBooking, responses={201: s.OneBooking},
           errors=(401, 403, 404, 409, 415, 422))
def create_booking() -> Reply:
    """Book a seat for a caller; the confirmation SMS goes out with the booking."""
    principal = _caller(Role.OPERATOR, Role.MANAGER)
    new = body(s.NewBooking)
    rt = runtime()
    with rt.transaction() as db:
        booking = actions.book(_acting(db, principal), office_id=new.office_id, day=new.date, code=new.session,
                               phone=new.phone, name=new.name, procedure_id=new.procedure_id,
                               window_position=new.window, language=new.language or rt.settings.default_language)
        return reply(s.OneBooking.of(booking), 201)


@operation(blueprint, "POST", "/waitlist", "joinWaitlist", body=s.NewWaitlistEntry,
           responses={201: s.OneWaitlistEntry}, errors=(401, 403, 404, 409, 415, 422))
def join_waitlist() -> Reply:
    """Put a caller on a full session's waitlist (409 session_has_room while it has places: book instead)."""
    principal = _caller(Role.OPERATOR, Role.MANAGER)
    new = body(s.NewWaitlistEntry)
    rt = runtime()
    with rt.transaction() as db:
        joined = waitlist.join(_acting(db, principal), office_id=new.office_id, day=new.date, code=new.session,
                               phone=new.phone, name=new.name, procedure_id=new.procedure_id,
                               language=new.language or rt.settings.default_language)
        return reply(s.OneWaitlistEntry(entry=s.WaitlistEntryOut.of(joined.entry, joined.ahead)), 201)


@operation(blueprint, "GET", "/bookings", "findBookings", query=s.PhoneQuery, responses={200: s.Bookings},
           errors=(401, 403, 422))
def find_bookings() -> Reply:
    """A caller's bookings by phone number.

    An office manager gets only those at the offices they manage (the rest are not theirs to see).
    """
    principal = _caller(Role.OPERATOR, Role.MANAGER)
    phone = query(s.PhoneQuery).phone
    with runtime().reading() as db:
        found = actions.of_phone(_acting(db, principal), phone=phone)
        return reply(s.Bookings(bookings=[s.BookingOut.of(b) for b in found]))


@operation(blueprint, "GET", "/bookings/<code>", "getBooking", path=s.CodePath, responses={200: s.OneBooking},
           errors=(401, 403, 404, 422))
def get_booking(code: str) -> Reply:
    """One booking by its code."""
    principal = _caller(Role.OPERATOR, Role.MANAGER)
    with runtime().reading() as db:
        return reply(s.OneBooking.of(actions.find(_acting(db, principal), code=code)))


@operation(blueprint, "POST", "/bookings/<code>/cancel", "cancelBooking", path=s.CodePath, body=s.Cancel,
           body_required=False, responses={200: s.OneBooking}, errors=(401, 403, 404, 409, 415, 422))
def cancel_booking(code: str) -> Reply:
    """Cancel a booking; the caller is told by SMS."""
    principal = _caller(Role.OPERATOR, Role.MANAGER)
    reason = body(s.Cancel).reason
    with runtime().transaction() as db:
        return reply(s.OneBooking.of(actions.cancel(_acting(db, principal), code=code, reason=reason or "")))


@operation(blueprint, "POST", "/bookings/<code>/move", "moveBooking", path=s.CodePath, body=s.Move,
           responses={200: s.OneBooking}, errors=(401, 403, 404, 409, 415, 422))
def move_booking(code: str) -> Reply:
    """Move a booking to another session (at the same or another office); the caller is told by SMS."""
    principal = _caller(Role.OPERATOR, Role.MANAGER)
    to = body(s.Move)
    with runtime().transaction() as db:
        booking = actions.move(_acting(db, principal), code=code, office_id=to.office_id, day=to.date,
                               session_code=to.session, window_position=to.window)
        return reply(s.OneBooking.of(booking))


@operation(blueprint, "PUT", "/offices/<int:office_id>/sessions/<date>/<session>", "changeSession",
           path=s.SessionPath, body=s.SessionChange, responses={200: s.ChangedSession},
           errors=(401, 403, 404, 415, 422))
def set_session(office_id: int, date: str, session: str) -> Reply:
    """Change one session on one date: capacity and/or hours."""
    principal = _manager_of(office_id)
    where, change = path(s.SessionPath), body(s.SessionChange)
    rt = runtime()
    with rt.transaction() as db:
        override = office_actions.set_session_on_date(_acting(db, principal), office_id=office_id, day=where.date,
                                                      code=where.session, capacity=change.capacity,
                                                      start=change.start, end=change.end)
        return reply(s.ChangedSession(session=s.SessionSettings.of(override)))


def _closure(asked: s.NewClosure) -> dict[str, Any]:
    """The closure asked for, as the closure actions take it."""
    return dict(start=asked.start, end=asked.end, reason=asked.reason, disposition=Disposition(asked.chosen()))


@operation(blueprint, "POST", "/offices/<int:office_id>/closures/preview", "previewClosure", path=s.OfficePath,
           body=s.NewClosure, responses={200: s.ClosurePlan}, errors=(401, 403, 404, 415, 422))
def preview_closure(office_id: int) -> Reply:
    """What closing the office would do now, changing nothing: who is booked, who would go where."""
    principal = _manager_of(office_id)
    asked = body(s.NewClosure)
    with runtime().transaction() as db:
        outcome = office_actions.preview_closure(_acting(db, principal), office_id=office_id, **_closure(asked))
        return reply(s.ClosurePlan.of(outcome))


@operation(blueprint, "POST", "/offices/<int:office_id>/closures", "closeOffice", path=s.OfficePath,
           body=s.NewClosure, responses={201: s.Closed}, errors=(401, 403, 404, 409, 415, 422))
def close_office(office_id: int) -> Reply:
    """Close an office for a date range; leave, cancel or move the people booked, each told by SMS."""
    principal = _manager_of(office_id)
    asked = body(s.NewClosure)
    with runtime().transaction() as db:
        outcome = office_actions.close_office(_acting(db, principal), office_id=office_id, expect=asked.expect,
                                              **_closure(asked))
        return reply(s.Closed.made(outcome), 201)
