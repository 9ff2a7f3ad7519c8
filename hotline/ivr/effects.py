"""What the call flow's effects do: each one calls an action or reads what the caller needs to hear.

The flow says *when* (after the caller names an office, list its sessions); this table says *how*.
An effect reads and updates the call's context, which is stored with the call, and never talks
to Twilio: what it changes goes through `actions/`, which queues the SMS in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from functools import lru_cache
from itertools import groupby
from typing import Any, Protocol

from babel.dates import get_day_names
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from actions import bookings as actions
from actions import waitlist as waitlist_actions
from booking.waitlist import SessionHasRoom
from actions import campaigns as campaign_actions
from actions import citizens as citizen_actions
from actions.context import Actor
from booking.availability import SessionRoom, next_sessions_with_room, soonest_full_session
from booking.calendar import Promise, operators_promise
from booking.errors import (
    AlreadyBookedForSession, BookingError, InvalidBookingCode, InvalidPhone, NotAMobile, NotFound,
    SessionFull, TooManyBookings, WindowFull,
)
from booking.i18n import N_
from booking.models import (
    Booking, BookingStatus, Campaign, CampaignStatus, CampaignTarget, Channel, Citizen, Office, OfficeLevel, Procedure,
)
from booking.phones import PhoneKind, parse_mobile, parse_phone
from hotline.ivr.directory import SpokenOffice, directory
from hotline.ivr.models import Call
from hotline.ivr.speech import spoken_time
from hotline.localization import BabelLocalizer
from hotline.runtime import Runtime
from ivr_flows.engine import fold
from ivr_flows.understanding import OfficeName, ProcedureName, Understanding, understand

MAX_CODE_TRIES = 3  # booking codes a caller may type on one call
MAX_MISHEARD = 2  # sentences not understood before the caller is offered an operator
FEW_SEATS = 5  # below this many places a session's choice says how many are left
CHOICES = 4  # no menu reads more than four choices before "other"
SESSION_CHOICES = 3  # the soonest three sessions: a fourth cost callers four seconds and was rarely taken
REQUEST_WORDS = ("đặt lịch", "đặt lịch hẹn", "kiểm tra lịch hẹn", "đổi lịch", "hủy lịch", "giờ làm việc",
                 "địa chỉ", "tổng đài viên", "thông báo")

FEW_LEFT = N_(", only %(n)s places left")
DEFAULT_DOCUMENTS = N_("your ID card and the original papers of your dossier")
CALLBACK_TODAY = N_("before %(time)s today")
CALLBACK_LATER = N_("on the next working day")
HOURS_DAYS = N_("%(first)s to %(last)s")
HOURS_SESSION = N_("%(part)s from %(start)s to %(end)s")
PARTS = {"S": N_("morning"), "C": N_("afternoon")}
PROVINCE_CENTRE = N_("the province's public administration service centre")
AT_OFFICE = N_(" at %(office)s")  # "Sessions with places at xã Năm Căn:" when speech chose the office
# What a spoken request needs of the active procedures: to match their names and fields, and to say one is online.
PROCEDURE_NAMES = (select(Procedure.id, Procedure.name, Procedure.field, Procedure.online_url)
                   .where(Procedure.active.is_(True)))
# Lists of words that bias speech recognition, derived from the active offices: the effects put them in the
# context for the turn that needs them, and they are never stored with the call (`stored_context`); a later
# turn that asks again in a state listening with them gets them afresh (`speech_hints`).
HINT_LISTS = ("request_hints", "office_hints")


def _part(code: str) -> str:
    """The prompt key for a session's part of the day."""
    return {"S": "morning", "C": "afternoon"}.get(code, "session")


def verified_mobile(caller: str) -> str | None:
    """The caller ID as a Vietnamese mobile number (E.164), or None."""
    try:
        phone = parse_phone(caller)
    except InvalidPhone:
        return None
    return phone.number if phone.is_mobile else None


# A mobile and the language stored for it (None: none), read with the call's row (hotline/ivr/webhooks.py).
KnownLanguage = tuple[str, str | None] | None


class Effects:
    """The effect table for one webhook request: `effects(name, context)` returns an outcome."""

    def __init__(self, db: Session, rt: Runtime, call: Call, now: datetime, *,
                 offices_key: tuple[Any, ...] | None = None, known_language: KnownLanguage = None) -> None:
        self.db, self.rt, self.call, self.now = db, rt, call, now
        self._known_language = known_language  # the language stored for a mobile, when this transaction read it
        self._offices_key = offices_key  # the directory's key, when this transaction read it first
        # The active offices (hotline/ivr/directory.py: kept by the process, checked once per request).
        self._active: tuple[SpokenOffice, ...] | None = None
        self._mine: tuple[int, int | None] | None = None  # `_caller_bookings`, once read
        # Who the caller is comes from the network's caller ID alone, when it is a Vietnamese
        # mobile; a number typed during the call is where the SMS goes, never an identity.
        self.ctx = rt.context(db, Actor.caller(call.sid, verified_mobile=verified_mobile(call.caller)), now=now)

    def __call__(self, name: str, context: dict[str, Any]) -> str:
        outcome: str = getattr(self, name)(context)
        return outcome

    # -- helpers -----------------------------------------------------------------------------

    def _language(self, context: dict[str, Any]) -> str:
        return str(context.get("language", self.rt.settings.default_language))

    def _loc(self, context: dict[str, Any]) -> BabelLocalizer:
        return BabelLocalizer(self._language(context))

    def _spoken(self, office: Named, context: dict[str, Any]) -> str:
        return spoken_office(office, self._loc(context))

    def _office_view(self, office: Named, context: dict[str, Any], *, heard: bool = False) -> dict[str, Any]:
        """The office in the call's context; `heard` when speech chose it, so that it is named back to the caller."""
        name = self._spoken(office, context)
        return {"id": office.id, "name": name,
                "heard_as": self._loc(context).gettext(AT_OFFICE, office=name) if heard else ""}

    def _today(self) -> date:
        return self.now.astimezone(self.rt.settings.tz).date()

    def _offices(self) -> tuple[SpokenOffice, ...]:
        """Active offices, the province centre first, then by spoken name (checked once per request)."""
        if self._active is None:
            self._active = directory(self.rt.engine, _order).offices(self.db, self._offices_key)
        return self._active

    def _office(self, office_id: int) -> Named | None:
        """One office by id: the active ones from the directory, any other from the database."""
        found = next((o for o in self._offices() if o.id == office_id), None)
        return found if found is not None else self.db.get(Office, office_id)

    def _hints(self, name: str) -> list[str]:
        names = [o.spoken_name for o in self._offices() if o.spoken_name]
        return [*REQUEST_WORDS, *names] if name == "request_hints" else names

    def speech_hints(self, name: str | None, context: dict[str, Any]) -> list[str]:
        """The hint list `name` when the turn's context lacks it (it is never stored): [] for anything else."""
        if name not in HINT_LISTS or name in context:
            return []
        return self._hints(name)

    def _documents(self, booking: Booking, context: dict[str, Any]) -> str:
        """The short list of documents, in the caller's language when it has one; else the general advice."""
        procedure = booking.procedure
        if procedure is not None:
            short = procedure.documents_short_en if self._language(context) == "en" else procedure.documents_short
            if short:
                return short
        return self._loc(context).gettext(DEFAULT_DOCUMENTS)

    def _booking_view(self, booking: Booking, context: dict[str, Any]) -> dict[str, Any]:
        return {"id": booking.id, "code": booking.code, "queue": booking.queue_label,
                "queue_number": booking.queue_number, "date": booking.date.isoformat(),
                "part": _part(booking.session_code), "start": booking.arrival_start.isoformat("minutes"),
                "end": booking.arrival_end.isoformat("minutes"), "office": self._spoken(booking.office, context),
                "office_id": booking.office_id, "address": booking.office.address,
                "documents": self._documents(booking, context), "phone": booking.phone,
                "status": booking.status.value,
                # Said once when the procedure states a processing time: "the result is expected on …".
                "results": [{"date": booking.result_date.isoformat()}] if booking.result_date else []}

    def _gives_up(self, context: dict[str, Any]) -> bool:
        """Counts a sentence not understood; True once there were too many for one call."""
        context["misheard"] = int(context.get("misheard", 0)) + 1
        return bool(context["misheard"] > MAX_MISHEARD)

    # -- the caller and the first menu -------------------------------------------------------

    def identify_caller(self, context: dict[str, Any]) -> str:
        context.setdefault("language", self.rt.settings.default_language)
        province = min((o for o in self._offices() if o.level is OfficeLevel.PROVINCE), key=lambda o: o.id,
                       default=None)
        if province is not None:  # the greeting names the province itself: "tỉnh Cà Mau"
            context["province"] = province.spoken_name or province.name
        context["request_hints"] = self._hints("request_hints")
        self._identify(context)
        return "ok" if province is not None else "no_province"

    def _identify(self, context: dict[str, Any]) -> None:
        try:
            phone = parse_phone(self.call.caller)
        except InvalidPhone:
            context["caller"] = {"phone": None, "mobile": False}  # withheld, or not a Vietnamese number
            return
        reachable = phone.kind in (PhoneKind.MOBILE, PhoneKind.LANDLINE)
        context["caller"] = {"phone": phone.number if reachable else None, "mobile": phone.is_mobile}
        if phone.is_mobile:
            known = self._known_language
            if known is not None and known[0] == phone.number:
                language = known[1]
            else:  # not read with the call's row (a call we placed: its caller is the number we rang)
                citizen = self.db.get(Citizen, phone.number)
                language = citizen.language if citizen is not None else None
            if language in ("vi", "en"):
                context["language"] = language  # they chose it on an earlier call

    def set_language_en(self, context: dict[str, Any]) -> str:
        context["language"] = "en"
        return "ok"

    def understand_request(self, context: dict[str, Any]) -> str:
        """What the caller said at the first menu: go straight to what they asked, asking only what is missing."""
        offices = self._offices()
        # Plain columns, not ORM rows: a spoken request reads every active procedure, and needs only these.
        procedures = {p.id: p for p in self.db.execute(PROCEDURE_NAMES)}
        heard = understand(str(context.pop("request", "")), today=self._today(),
                           offices=[OfficeName(o.id, o.spoken_name or o.name,
                                               province=o.level is OfficeLevel.PROVINCE) for o in offices],
                           procedures=[ProcedureName(p.id, p.name, p.field) for p in procedures.values()])
        if heard.intent in ("check", "cancel", "reschedule"):
            return "manage"
        if heard.intent == "info":
            return "info"
        if heard.intent == "notices":
            return "notices"
        if heard.intent == "operator":
            return "operator"
        if heard.intent != "book" and heard.office is None:
            return "give_up" if self._gives_up(context) else "not_understood"
        if self.check_limit(context) == "limit":
            return "limit"
        online = False
        if heard.procedure is not None:
            context["field"] = {"name": heard.procedure.field, "field": heard.procedure.field}
            procedure = procedures.get(heard.procedure.id) if heard.procedure.id is not None else None
            if procedure is not None:  # the words named the procedure itself, not only its field
                context["procedure"] = {"id": procedure.id}
                online = procedure.online_url is not None
        context["after_online"] = self._booking_request(context, heard, offices)
        if online:
            return "online"  # said before anything is booked: the caller may rather file it online
        return self.resume_request(context)

    def _booking_request(self, context: dict[str, Any], heard: Understanding, offices: Sequence[Named]) -> str:
        """Where a spoken booking request goes: the session it named, the office's sessions, or the office asked."""
        context["wanted"] = {"date": heard.date.isoformat() if heard.date else None, "part": heard.part}
        if heard.office is None:
            return "book"
        office = next(o for o in offices if o.id == heard.office.id)
        context["office"] = self._office_view(office, context, heard=True)
        if not heard.office.sure:
            return "book_office_unsure"
        if heard.date is not None and heard.part is not None:
            rooms = self._rooms_for(context, [office.id])
            exact = [r for r in rooms if r.date == heard.date and r.code == heard.part]
            if exact:
                context["session"] = self._room_view(exact[0], context, read_back_office=True)
                return "book_ready"
        return "book_sessions"

    def resume_request(self, context: dict[str, Any]) -> str:
        """On with the booking request once the caller has heard that the procedure can be filed online."""
        after = context.pop("after_online", "book")
        return ("book_ready" if after == "book_ready" else "book_sessions" if after == "book_sessions"
                else "book_office_unsure" if after == "book_office_unsure" else "book")

    # -- booking: limit, office, field ---------------------------------------------------------

    def _caller_bookings(self, phone: str) -> tuple[int, int | None]:
        """The caller's own number: how many upcoming bookings it has, and the active office it last booked at.

        One statement for both (the booking menu asks the first, then the second, in the same request), read
        once per request.
        """
        if self._mine is None:
            upcoming = (select(func.count()).select_from(Booking)
                        .where(Booking.phone == phone, Booking.status == BookingStatus.BOOKED,
                               Booking.date >= self._today()).scalar_subquery())
            last = (select(Booking.office_id).join(Office, Booking.office_id == Office.id)
                    .where(Booking.phone == phone, Office.active.is_(True))
                    .order_by(Booking.created_at.desc()).limit(1).scalar_subquery())
            count, office_id = self.db.execute(select(upcoming, last)).one()
            self._mine = (int(count or 0), office_id)
        return self._mine

    def check_limit(self, context: dict[str, Any]) -> str:
        """A caller whose own number already has the most upcoming bookings hears it at once, not after choosing."""
        mine = self.ctx.actor.phone
        if mine is None:
            return "ok"  # the number to book for is typed later; the limit is checked when the seat is held
        upcoming, _ = self._caller_bookings(mine)
        return "limit" if upcoming >= self.rt.policy.max_future_bookings else "ok"

    def _last_office(self, context: dict[str, Any]) -> bool:
        mine = self.ctx.actor.phone
        if mine is None:
            return False
        _, office_id = self._caller_bookings(mine)
        office = self._office(office_id) if office_id is not None else None
        if office is None:
            return False
        context["last_office"] = self._office_view(office, context)
        return True

    def _ask_office(self, context: dict[str, Any]) -> None:
        context["office_hints"] = self._hints("office_hints")
        context.pop("office_page", None)

    def office_options(self, context: dict[str, Any]) -> str:
        offices = self._offices()
        if len(offices) == 1:
            context["office"] = self._office_view(offices[0], context)
            return "only"
        if self._last_office(context):
            self._ask_office(context)
            return "last"
        self._ask_office(context)
        return "ask"

    def info_office_options(self, context: dict[str, Any]) -> str:
        self._ask_office(context)
        return "last" if self._last_office(context) else "ask"

    def take_last_office(self, context: dict[str, Any]) -> str:
        context["office"] = context["last_office"]
        return "ok"

    def match_office(self, context: dict[str, Any]) -> str:
        offices = self._offices()
        heard = understand(str(context.pop("office_said", "")), today=self._today(), procedures=[],
                           offices=[OfficeName(o.id, o.spoken_name or o.name,
                                               province=o.level is OfficeLevel.PROVINCE) for o in offices])
        if heard.office is None:
            return "give_up" if self._gives_up(context) else "none"
        office = next(o for o in offices if o.id == heard.office.id)
        context["office"] = self._office_view(office, context, heard=True)
        return "sure" if heard.office.sure else "unsure"

    def province_office(self, context: dict[str, Any]) -> str:
        office = next((o for o in self._offices() if o.level is OfficeLevel.PROVINCE), None)
        if office is None:
            return "none"
        context["office"] = self._office_view(office, context)
        return "ok"

    def offices_by_letter(self, context: dict[str, Any]) -> str:
        """The offices whose place name starts with a letter on the key pressed (0: all of them)."""
        key = str(context.pop("letter", ""))
        offices: Sequence[SpokenOffice] = self._offices()
        if key != "0":
            offices = [o for o in offices if _keypad_letter(o) == key]
        context["letter_ids"] = [o.id for o in offices]
        context["office_page"] = -1
        if len(offices) == 1:
            context["office"] = self._office_view(offices[0], context)
            return "one"
        return "some" if offices else "none"

    def office_page(self, context: dict[str, Any]) -> str:
        """The next four offices in name order (the province centre first), round again after the last."""
        offices: Sequence[SpokenOffice] = self._offices()
        if context.get("letter_ids") is not None:
            wanted = set(context["letter_ids"])
            offices = [o for o in offices if o.id in wanted]
        page = int(context.get("office_page", -1)) + 1
        if page * CHOICES >= len(offices):
            page = 0
        context["office_page"] = page
        context["offices"] = [self._office_view(o, context) for o in offices[page * CHOICES:(page + 1) * CHOICES]]
        return "ok"

    # -- sessions ------------------------------------------------------------------------------

    def _rooms_for(self, context: dict[str, Any], office_ids: list[int], *, skip: tuple[Any, ...] = ()) -> list[SessionRoom]:
        """The soonest sessions with room to offer, but those the number being booked for already has an
        appointment in (read with the counters, no statement of its own) and those in `skip`."""
        wanted = context.get("wanted") or {}
        rooms = next_sessions_with_room(self.db, now=self.now, policy=self.rt.policy, limit=40,
                                        channel=Channel.IVR, office_ids=office_ids,
                                        booked_by=context.get("phone") or self.ctx.actor.phone or None)
        if wanted.get("date"):
            rooms = [r for r in rooms if r.date >= date.fromisoformat(wanted["date"])] or rooms
        if wanted.get("part"):
            rooms = [r for r in rooms if r.code == wanted["part"]] or rooms
        left_out = set(skip)
        return [r for r in rooms if not r.asker_booked and (r.office_id, r.date.isoformat(), r.code) not in left_out]

    def _room_view(self, room: SessionRoom, context: dict[str, Any], *, read_back_office: bool = False) -> dict[str, Any]:
        """A session as the flow offers it; `read_back_office` when the caller did not just choose the office."""
        office = self._office(room.office_id)
        assert office is not None  # availability offers sessions of existing offices only
        few = room.remaining <= FEW_SEATS
        name = self._spoken(office, context)
        return {"office_id": room.office_id, "office": name, "lead": f"{name}, " if read_back_office else "",
                "date": room.date.isoformat(),
                "code": room.code, "part": _part(room.code), "left": room.remaining,
                "left_note": self._loc(context).gettext(FEW_LEFT, n=room.remaining) if few else ""}

    def _offer(self, context: dict[str, Any], rooms: list[SessionRoom], *, elsewhere: bool = False) -> str:
        context["sessions"] = [self._room_view(r, context, read_back_office=elsewhere) for r in rooms[:SESSION_CHOICES]]
        return "some" if context["sessions"] else "none"

    def list_sessions(self, context: dict[str, Any]) -> str:
        return self._offer(context, self._rooms_for(context, [context["office"]["id"]]))

    def list_alternatives(self, context: dict[str, Any]) -> str:
        # Only active offices have rooms: the directory's, read with this request's key.
        others = [o.id for o in self._offices() if o.id != context["office"]["id"]]
        return self._offer(context, self._rooms_for(context, others), elsewhere=True)

    def soonest_full(self, context: dict[str, Any]) -> str:
        """The office has no room: its soonest full session, whose waitlist the caller may join instead."""
        room = soonest_full_session(self.db, now=self.now, policy=self.rt.policy, office_id=context["office"]["id"])
        if room is None:
            return "none"
        context["session"] = self._room_view(room, context)
        return "full"

    # -- the number to text, the hold, the booking -------------------------------------------

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

    def join_waitlist(self, context: dict[str, Any]) -> str:
        """The chosen session is full: wait for a place in it, at the number the SMS would go to."""
        chosen = context["session"]
        try:
            waitlist_actions.join(self.ctx, office_id=chosen["office_id"], day=date.fromisoformat(chosen["date"]),
                                  code=chosen["code"], phone=context["phone"], language=self._language(context),
                                  procedure_id=self._procedure_here(context))
        except SessionHasRoom:
            return "room"  # a seat came free meanwhile: hold it
        except BookingError:
            return "refused"
        return "joined"

    def release_hold(self, context: dict[str, Any]) -> str:
        hold_id = context.pop("hold_id", None)
        if hold_id is not None:
            actions.release(self.ctx, hold_id=hold_id)
        return "ok"

    def _procedure_here(self, context: dict[str, Any]) -> int | None:
        """The procedure the caller named, if the office of the chosen session handles it (else only its field)."""
        named = (context.get("procedure") or {}).get("id")
        procedure = self.db.get(Procedure, named) if named is not None else None
        if procedure is None:
            return None
        office = self._office(context["session"]["office_id"])
        if procedure is None or office is None or not procedure.active or not procedure.offered_at(office.level):
            return None
        return procedure.id

    def confirm_hold(self, context: dict[str, Any]) -> str:
        hold_id = context.pop("hold_id", None)
        if hold_id is None:
            return "expired"
        field = context.get("field") or {}
        try:
            booking = actions.confirm(self.ctx, hold_id=hold_id, language=self._language(context),
                                      field=field.get("field"), procedure_id=self._procedure_here(context))
        except BookingError:
            return "expired"
        context["booking"] = self._booking_view(booking, context)
        context.pop("wanted", None)
        if context.get("campaign_target") is not None:  # an outbound campaign's call: its person booked
            campaign_actions.booked(self.ctx, target_id=int(context["campaign_target"]), booking_id=booking.id)
        return "booked"

    # -- outbound campaign calls --------------------------------------------------------------

    def campaign_call(self, context: dict[str, Any]) -> str:
        """The call we placed for a campaign: its language, the number we rang as the caller, its office."""
        target = self.db.get(CampaignTarget, int(context.get("campaign_target", 0)))
        campaign = self.db.get(Campaign, target.campaign_id) if target is not None else None
        office = self.db.get(Office, campaign.office_id) if campaign is not None else None
        if campaign is None or office is None or not office.active or campaign.status is CampaignStatus.CANCELLED:
            return "over"
        context["language"] = campaign.language
        self._identify(context)
        context["office"] = self._office_view(office, context)
        return "ok"

    def campaign_declined(self, context: dict[str, Any]) -> str:
        campaign_actions.declined(self.ctx, target_id=int(context["campaign_target"]))
        return "ok"

    # -- checking, moving and cancelling -----------------------------------------------------

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

    def list_move_sessions(self, context: dict[str, Any]) -> str:
        booking = context["booking"]
        here = (booking["office_id"], booking["date"], _code_of(booking["part"]))
        return self._offer(context, self._rooms_for(context, [booking["office_id"]], skip=(here,)))

    def move_booking(self, context: dict[str, Any]) -> str:
        to = context["move_to"]
        try:
            moved = actions.move(self.ctx, code=context["booking"]["code"], office_id=to["office_id"],
                                 day=date.fromisoformat(to["date"]), session_code=to["code"])
        except BookingError:
            return "failed"
        context["booking"] = self._booking_view(moved, context)
        return "moved"

    # -- information -----------------------------------------------------------------------------

    def office_info(self, context: dict[str, Any]) -> str:
        office = self.db.scalar(select(Office).where(Office.id == context["office"]["id"])
                                .options(selectinload(Office.templates)))
        assert office is not None
        context["office"].update(address=office.address, crowd_limit=office.crowd_limit,
                                 hours=self._hours(office, context))
        return "ok"

    def _hours(self, office: Office, context: dict[str, Any]) -> str:
        """The weekly hours as people say them: "Thứ Hai đến Thứ Sáu, sáng từ 7 giờ 30 đến 11 giờ 30, …"."""
        language = self._language(context)
        loc = self._loc(context)
        days = get_day_names("wide", locale=language)
        week: dict[int, tuple[tuple[str, time, time], ...]] = {}
        for template in sorted(office.templates, key=lambda t: (t.weekday, t.start_time)):
            week[template.weekday] = (*week.get(template.weekday, ()), (template.code, template.start_time,
                                                                        template.end_time))
        said = []
        for sessions, run in groupby(sorted(week.items()), key=lambda item: item[1]):
            weekdays = [day for day, _ in run]
            when = days[weekdays[0]] if len(weekdays) == 1 else loc.gettext(
                HOURS_DAYS, first=days[weekdays[0]], last=days[weekdays[-1]])
            parts = ", ".join(loc.gettext(HOURS_SESSION, part=loc.gettext(PARTS.get(code, PARTS["S"])),
                                          start=spoken_time(start, language), end=spoken_time(end, language))
                              for code, start, end in sessions)
            said.append(f"{when}, {parts}")
        return "; ".join(said)

    # -- notices ---------------------------------------------------------------------------------

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

    # -- operators and call-backs ------------------------------------------------------------

    def _promise(self) -> Promise:
        """By when operators call back: the same rule as the promise the console shows for a call-back."""
        settings = self.rt.settings
        opens, closes = settings.operator_window
        return operators_promise(self.db, self.now, tz=settings.tz, opens=opens, closes=closes)

    def _operators_now(self) -> bool:
        """Operators are working now."""
        return self._promise().today

    def operators_open(self, context: dict[str, Any]) -> str:
        opens, closes = self.rt.settings.operator_window
        context["operator_hours"] = {"opens": opens.isoformat("minutes"), "closes": closes.isoformat("minutes")}
        return "open" if self.rt.settings.operators and self._operators_now() else "closed"

    def _callback(self, context: dict[str, Any], phone: str) -> str:
        summary = {"state": self.call.state, "office": context.get("office", {}).get("name"),
                   "session": context.get("session"), "booking": context.get("booking", {}).get("code")}
        promise = self._promise()
        citizen_actions.request_callback(self.ctx, phone=phone, language=self._language(context),
                                         call_sid=self.call.sid, summary=summary, by=promise.by)
        context["callback_phone"] = phone
        loc = self._loc(context)
        _opens, closes = self.rt.settings.operator_window
        context["callback_by"] = (loc.gettext(CALLBACK_TODAY, time=spoken_time(closes, self._language(context)))
                                  if promise.today else loc.gettext(CALLBACK_LATER))
        return "ok"

    def record_callback(self, context: dict[str, Any]) -> str:
        phone = context.get("phone") or context.get("caller", {}).get("phone")
        if not phone:
            return "no_number"
        return self._callback(context, str(phone))

    def record_typed_callback(self, context: dict[str, Any]) -> str:
        """A hidden-number caller types where to be called back: any Vietnamese number, a landline too."""
        try:
            phone = parse_phone(str(context.get("callback_typed", "")))
        except InvalidPhone:
            return "invalid"
        if phone.kind not in (PhoneKind.MOBILE, PhoneKind.LANDLINE):
            return "invalid"
        return self._callback(context, phone.number)


# The letters on each key of a phone's keypad; Vietnamese letters by their base letter (Đ on 3, Ơ on 6).
KEYPAD = {letter: key for key, letters in {"2": "abc", "3": "def", "4": "ghi", "5": "jkl", "6": "mno", "7": "pqrs",
                                           "8": "tuv", "9": "wxyz"}.items() for letter in letters}
LEVEL_WORDS = ("tỉnh", "thành phố", "xã", "phường", "đặc khu")


def spoken_office(office: Named, loc: BabelLocalizer) -> str:
    """The office as it is said on the phone: "xã Năm Căn", not the centre's whole title.

    The province's own centre is called that: "tỉnh Cà Mau" alone would sound like the whole province.
    """
    if office.level is OfficeLevel.PROVINCE:
        return loc.gettext(PROVINCE_CENTRE)
    if loc.language == "en" and office.name_en:
        return office.name_en
    return office.spoken_name or office.name


class Named(Protocol):
    """An office as far as the IVR names it: an `Office` row, or the directory's `SpokenOffice`."""

    @property
    def id(self) -> int: ...
    @property
    def level(self) -> OfficeLevel: ...
    @property
    def name(self) -> str: ...
    @property
    def name_en(self) -> str | None: ...
    @property
    def spoken_name(self) -> str: ...


def _order(office: Named) -> tuple[bool, str]:
    """The province centre first, then by place name without its level word or diacritics."""
    return office.level is not OfficeLevel.PROVINCE, _folded(_place(office))


def stored_context(context: dict[str, Any]) -> dict[str, Any]:
    """What of a turn's context is kept with the call: all but the hint lists (~2 KB with 65 offices)."""
    return {key: value for key, value in context.items() if key not in HINT_LISTS}


@lru_cache(maxsize=4096)
def _folded(text: str) -> str:
    """`fold`, once per process for each name (offices are sorted and found by their folded place names)."""
    return fold(text)


def _place(office: Named) -> str:
    """The office's place without its level word: "xã Năm Căn" → "Năm Căn" (what callers look for)."""
    name = (office.spoken_name or office.name).strip()
    for level in LEVEL_WORDS:
        if name.lower().startswith(level + " "):
            return name[len(level) + 1:]
    return name


def _keypad_letter(office: Named) -> str:
    """The key of the first letter of the office's place name ("xã Năm Căn" → "6"), "" if none."""
    return KEYPAD.get(fold(_place(office))[:1], "")


def _code_of(part: str) -> str:
    return {"morning": "S", "afternoon": "C"}.get(part, part)


__all__ = ["HINT_LISTS", "Effects", "KnownLanguage", "stored_context", "verified_mobile"]
