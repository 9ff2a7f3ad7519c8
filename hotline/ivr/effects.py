"""What the call flow's effects do: each one calls the booking services and names an outcome.

The flow says *when* (after the caller picks a session, hold a seat); this table says *how*. An
effect reads and updates the call's context, which is stored with the call, and never talks to
Twilio: the SMS it asks for is written to the outbox in the same transaction.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from actions import bookings as actions
from actions import citizens as citizen_actions
from actions.context import Actor
from booking.availability import next_sessions_with_room, office_availability
from booking.calendar import ProvinceCalendar
from booking.errors import (
    AlreadyBookedForSession, BookingError, InvalidBookingCode, InvalidPhone, NotAMobile, NotFound,
    SessionFull, TooManyBookings, WindowFull,
)
from booking.models import Booking, BookingStatus, Channel, Citizen, Office, Procedure
from booking.phones import PhoneKind, parse_mobile, parse_phone
from hotline.ivr.models import Call
from hotline.runtime import Runtime

PREFIX = "Trung tâm Phục vụ hành chính công"
MAX_CODE_TRIES = 3  # booking codes a caller may type on one call


def _part(code: str) -> str:
    """The prompt key for a session's part of the day."""
    return {"S": "morning", "C": "afternoon"}.get(code, "session")


def _say_as(office: Office) -> list[str]:
    """What callers may say to pick an office: its name without the long common prefix."""
    short = office.name.removeprefix(PREFIX).strip()
    words = [short]
    for level in ("tỉnh ", "xã ", "phường ", "đặc khu "):
        if short.startswith(level):
            words.append(short.removeprefix(level))
    return words


def _verified_mobile(caller: str) -> str | None:
    try:
        phone = parse_phone(caller)
    except InvalidPhone:
        return None
    return phone.number if phone.is_mobile else None


class Effects:
    """The effect table for one webhook request: `effects(name, context)` returns an outcome."""

    def __init__(self, db: Session, rt: Runtime, call: Call, now: datetime) -> None:
        self.db, self.rt, self.call, self.now = db, rt, call, now
        # Who the caller is comes from the network's caller ID alone, when it is a Vietnamese
        # mobile; a number typed during the call is where the SMS goes, never an identity.
        self.ctx = rt.context(db, Actor.caller(call.sid, verified_mobile=_verified_mobile(call.caller)), now=now)

    def __call__(self, name: str, context: dict[str, Any]) -> str:
        outcome: str = getattr(self, name)(context)
        return outcome

    # -- helpers -----------------------------------------------------------------------------

    def _language(self, context: dict[str, Any]) -> str:
        return str(context.get("language", self.rt.settings.default_language))

    def _office_name(self, office: Office, context: dict[str, Any]) -> str:
        return office.name_en if self._language(context) == "en" and office.name_en else office.name

    def _today(self) -> date:
        return self.now.astimezone(self.rt.settings.tz).date()

    def _booking_view(self, booking: Booking, context: dict[str, Any]) -> dict[str, Any]:
        return {"id": booking.id, "code": booking.code, "queue": booking.queue_label, "date": booking.date.isoformat(),
                "part": _part(booking.session_code), "start": booking.arrival_start.isoformat("minutes"),
                "end": booking.arrival_end.isoformat("minutes"), "office": self._office_name(booking.office, context),
                "phone": booking.phone, "status": booking.status.value}



    # -- effects -----------------------------------------------------------------------------

    def identify_caller(self, context: dict[str, Any]) -> str:
        context.setdefault("language", self.rt.settings.default_language)
        try:
            phone = parse_phone(self.call.caller)
        except InvalidPhone:
            context["caller"] = {"phone": None, "mobile": False}  # withheld, or not a Vietnamese number
            return "ok"
        reachable = phone.kind in (PhoneKind.MOBILE, PhoneKind.LANDLINE)
        context["caller"] = {"phone": phone.number if reachable else None, "mobile": phone.is_mobile}
        if phone.is_mobile:
            citizen = self.db.get(Citizen, phone.number)
            if citizen is not None and citizen.language in ("vi", "en"):
                context["language"] = citizen.language  # they chose it on an earlier call
        return "ok"

    def set_language_en(self, context: dict[str, Any]) -> str:
        context["language"] = "en"
        return "ok"

    def list_offices(self, context: dict[str, Any]) -> str:
        offices = self.db.scalars(select(Office).where(Office.active.is_(True))
                                  .order_by(Office.keypad_number.is_(None), Office.keypad_number, Office.id)
                                  .limit(self.rt.settings.ivr_menu_offices))
        context["offices"] = [{"id": o.id, "name": self._office_name(o, context), "say_as": _say_as(o)}
                              for o in offices]
        return "ok"

    def find_office(self, context: dict[str, Any]) -> str:
        number = int(context.get("office_number", "0") or 0)
        office = self.db.scalar(select(Office).where(Office.keypad_number == number, Office.active.is_(True)))
        if office is None:
            return "unknown"
        context["office"] = {"id": office.id, "name": self._office_name(office, context), "say_as": _say_as(office)}
        return "found"

    def list_fields(self, context: dict[str, Any]) -> str:
        office = self.db.get(Office, context["office"]["id"])
        assert office is not None
        column = Procedure.at_province if office.level.value == "province" else Procedure.at_commune
        name = Procedure.field_en if self._language(context) == "en" else Procedure.field
        rows = self.db.execute(select(Procedure.field, name).where(column.is_(True), Procedure.active.is_(True))
                               .distinct().order_by(Procedure.field)).all()
        context["fields"] = [{"name": shown or field, "field": field} for field, shown in rows]
        context.pop("field", None)
        return "some" if len(rows) > 1 else "none"

    def _rooms(self, context: dict[str, Any], office_ids: list[int]) -> str:
        rooms = next_sessions_with_room(self.db, now=self.now, policy=self.rt.policy, limit=5,
                                        channel=Channel.IVR, office_ids=office_ids)
        # The offices are in this session already (availability loaded them): get_one() asks nothing more.
        context["sessions"] = [
            {"office_id": r.office_id, "office": self._office_name(self.db.get_one(Office, r.office_id), context),
             "date": r.date.isoformat(), "code": r.code, "part": _part(r.code), "left": r.remaining,
             "say_as": []}
            for r in rooms]
        return "some" if context["sessions"] else "none"

    def list_sessions(self, context: dict[str, Any]) -> str:
        return self._rooms(context, [context["office"]["id"]])

    def list_alternatives(self, context: dict[str, Any]) -> str:
        others = list(self.db.scalars(select(Office.id).where(Office.id != context["office"]["id"])))
        return self._rooms(context, others)  # next_sessions_with_room keeps only the active ones

    def caller_mobile(self, context: dict[str, Any]) -> str:
        if context.get("phone"):
            return "mobile"
        caller = context.get("caller", {})
        if caller.get("mobile"):
            context["phone"] = caller["phone"]
            return "mobile"
        return "missing"

    def check_typed_phone(self, context: dict[str, Any]) -> str:
        try:
            context["typed_mobile"] = parse_mobile(str(context.get("typed_phone", ""))).number
        except (InvalidPhone, NotAMobile):
            return "invalid"
        return "ok"

    def accept_typed_phone(self, context: dict[str, Any]) -> str:
        context["phone"] = context["typed_mobile"]
        return "ok"

    def hold_seat(self, context: dict[str, Any]) -> str:
        self.release_hold(context)
        chosen = context["session"]
        try:
            hold = actions.hold(self.ctx, office_id=chosen["office_id"], day=date.fromisoformat(chosen["date"]),
                                code=chosen["code"], contact=context["phone"])
        except (SessionFull, WindowFull):
            return "full"
        except TooManyBookings:
            return "limit"
        except AlreadyBookedForSession:
            return "already"
        except BookingError:
            return "closed"  # closed, past its cut-off, or no longer held that day
        context["hold_id"] = hold.id
        return "held"

    def release_hold(self, context: dict[str, Any]) -> str:
        hold_id = context.pop("hold_id", None)
        if hold_id is not None:
            actions.release(self.ctx, hold_id=hold_id)
        return "ok"

    def confirm_hold(self, context: dict[str, Any]) -> str:
        hold_id = context.pop("hold_id", None)
        if hold_id is None:
            return "expired"
        field = context.get("field") or {}
        try:
            booking = actions.confirm(self.ctx, hold_id=hold_id, language=self._language(context),
                                      field=field.get("field"))
        except BookingError:
            return "expired"
        context["booking"] = self._booking_view(booking, context)
        return "booked"

    def caller_bookings(self, context: dict[str, Any]) -> str:
        """The caller's own upcoming bookings: only those of the number the network says is calling."""
        if self.ctx.actor.phone is None:
            return "unknown_caller"
        found = actions.of_phone(self.ctx, since=self._today(), live_only=True)
        context["bookings"] = [self._booking_view(b, context) for b in found]
        return "some" if found else "none"

    def find_by_code(self, context: dict[str, Any]) -> str:
        tries = int(context.get("code_tries", 0)) + 1
        context["code_tries"] = tries
        if tries > MAX_CODE_TRIES:
            return "too_many"  # nine digits are guessable only by many tries: a call gets a few
        try:
            booking = actions.find(self.ctx, code=str(context.get("typed_code", "")))  # it normalises the code
        except InvalidBookingCode:
            return "invalid"
        except NotFound:
            return "unknown"
        context["booking"] = self._booking_view(booking, context)
        return "found"

    def booking_is_active(self, context: dict[str, Any]) -> str:
        booking = self.db.get(Booking, context["booking"]["id"])
        active = booking is not None and booking.status is BookingStatus.BOOKED and booking.date >= self._today()
        return "active" if active else "past"

    def cancel_booking(self, context: dict[str, Any]) -> str:
        try:
            actions.cancel(self.ctx, code=context["booking"]["code"], reason="cancelled by the caller on the hotline")
        except BookingError:
            return "failed"
        return "cancelled"

    def office_info(self, context: dict[str, Any]) -> str:
        office = self.db.scalar(select(Office).where(Office.id == context["office"]["id"])
                                .options(selectinload(Office.templates)))
        assert office is not None
        context["office"].update(address=office.address, crowd_limit=office.crowd_limit)
        days = office_availability(self.db, office, self._today(), self._today() + timedelta(days=6), now=self.now,
                                   policy=self.rt.policy)
        context["office_days"] = [
            {"date": room.date.isoformat(), "part": _part(room.code), "start": room.start.isoformat("minutes"),
             "end": room.end.isoformat("minutes")}
            for day in days for room in day.sessions][:6]
        return "ok"

    def notice_status(self, context: dict[str, Any]) -> str:
        """Notices are the caller's own mobile's to stop: a typed number is somebody else's choice."""
        if self.ctx.actor.phone is None:
            return "no_mobile"
        return "receiving" if citizen_actions.receives_notices(self.ctx) else "stopped"

    def opt_out(self, context: dict[str, Any]) -> str:
        citizen_actions.set_notices(self.ctx, receive=False)
        return "ok"

    def opt_in(self, context: dict[str, Any]) -> str:
        citizen_actions.set_notices(self.ctx, receive=True)
        return "ok"

    def operators_open(self, context: dict[str, Any]) -> str:
        settings = self.rt.settings
        opens, closes = settings.operator_window
        context["operator_hours"] = {"opens": opens.isoformat("minutes"), "closes": closes.isoformat("minutes")}
        local = self.now.astimezone(settings.tz)
        # Tết and bridge days are off, a make-up Saturday works as the weekday it stands in for.
        weekday = ProvinceCalendar.load(self.db, local.date(), local.date()).rule(local.date()).template_weekday
        working = weekday is not None and weekday < 5 and opens <= local.time() < closes
        return "open" if settings.operators and working else "closed"

    def record_callback(self, context: dict[str, Any]) -> str:
        phone = context.get("phone") or context.get("caller", {}).get("phone")
        if not phone:
            return "no_number"
        summary = {"state": self.call.state, "office": context.get("office", {}).get("name"),
                   "session": context.get("session"), "booking": context.get("booking", {}).get("code")}
        citizen_actions.request_callback(self.ctx, phone=phone, language=self._language(context),
                                         call_sid=self.call.sid, summary=summary)
        context["callback_phone"] = phone
        return "ok"


__all__ = ["Effects"]
