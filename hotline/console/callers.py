"""The operator's path: find a caller (by number, booking code or name), book, move or cancel for them, call back.

Each page parses, calls the actions of `actions.bookings` and renders; a change (book, move, cancel) is
a POST with the CSRF token that only a confirming page or the booking form sends, never one click
from a list.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.wrappers import Response as BaseResponse
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; types-WTForms 3.2 lacks it

from accounts.models import Role
from actions import bookings as actions
from actions.errors import NotAllowed
from booking.availability import SessionRoom, availability, next_sessions_with_room, office_availability
from booking.calendar import Promise, operators_promise
from booking.codes import normalise_code, spoken_groups
from booking.errors import BookingError, NotFound
from booking.models import (
    Booking, BookingStatus, CallbackRequest, Channel, Office, OfficeLevel, Procedure, WaitlistEntry,
)
from booking.phones import parse_contact
from hotline.auth import roles_required
from hotline.console.broadcasts import may_see
from actions import waitlist as waitlist_actions
from hotline.console import waitlist as console_waitlist
from hotline.console.common import (ANY_STAFF, acting, attempt, audit_change, blueprint, calendar_date, local_today,
                                    me)
from hotline.console.forms import ActionForm, BookForm, LookupForm, MoveForm
from hotline.console.labels import SESSION_PARTS
from hotline.ivr.models import Call
from hotline.runtime import runtime
from ivr_flows.engine import fold
from notifications.models import Broadcast, OutboxMessage

MOVE_CHOICES = 10  # sessions offered on the move page: enough to choose from, few enough to read out
SOONEST = 4  # sessions offered to book at the caller's usual office, and as many elsewhere
NAMES_SINCE = timedelta(days=365)  # a search by name reads the bookings of the last year and after

# The step of the call where the caller asked to be called back, as the operator reads it.
CALL_STATES = {
    "offer_callback": _l("No operator answered"),
    "operators_closed": _l("Outside working hours"),
    "code_tries_exceeded": _l("Could not give a valid booking code"),
    "ask_callback_phone": _l("Number withheld: typed a number to be called back on"),
    "record_typed_callback": _l("Number withheld: typed a number to be called back on"),
    "dial_operator": _l("No operator answered"),
}


# -- lookup ----------------------------------------------------------------------------------------

def _as_code(text: str) -> str | None:
    try:
        return normalise_code(text)
    except BookingError:
        return None


def _as_phone(text: str) -> str | None:
    try:
        return parse_contact(text).number
    except BookingError:
        return None


def _usual_office(found: list[Booking]) -> int | None:
    """The office of the caller's last booking (the one made last), if the signed-in user handles it."""
    mine = [b for b in found if me().may_handle(b.office_id)]
    return max(mine, key=lambda b: (b.created_at, b.id)).office_id if mine else None


def _sessions_for(db: Session, usual: int | None) -> list[SessionRoom]:
    """The soonest sessions with room at the usual office first, then the soonest elsewhere."""
    rt = runtime()
    mine = None if me().role is not Role.MANAGER else sorted(me().office_ids)
    rooms: list[SessionRoom] = []
    if usual is not None:
        rooms = next_sessions_with_room(db, now=rt.now(), policy=rt.policy, limit=SOONEST, channel=Channel.OPERATOR,
                                        office_ids=[usual])
    others = [o for o in mine if o != usual] if mine is not None else None
    if others != []:
        elsewhere = next_sessions_with_room(db, now=rt.now(), policy=rt.policy, limit=SOONEST + len(rooms),
                                            channel=Channel.OPERATOR, office_ids=others)
        rooms += [r for r in elsewhere if r.office_id != usual][:SOONEST]
    return rooms


@blueprint.get("/lookup")
@roles_required(*ANY_STAFF)
def lookup() -> str:
    """One box: a phone number as the caller says it, a booking code (spaces, dashes) or a name without diacritics."""
    text = (request.args.get("q") or request.args.get("phone") or "").strip()
    form = LookupForm(q=text)
    found: list[Booking] = []
    named: list[Booking] = []
    messages: list[OutboxMessage] = []
    rooms: list[SessionRoom] = []
    names: dict[int, str] = {}
    phone = code = caller_name = None
    usual = None
    waiting: list[WaitlistEntry] = []
    if text:
        with runtime().reading() as db:
            ctx = acting(db)
            code = _as_code(text)
            if code is not None:
                with suppress(NotFound, NotAllowed):  # none of theirs: perhaps a phone number after all
                    phone = actions.find(ctx, code=code).phone
            phone = phone or _as_phone(text)
            if phone is None and any(c.isalpha() for c in text):
                wanted = fold(text)
                named = actions.named(ctx, matches=lambda name: wanted in fold(name),
                                      since=local_today() - NAMES_SINCE)
                if len({b.phone for b in named}) == 1:
                    phone, named = named[0].phone, []
            if phone is not None:
                found = sorted(actions.of_phone(ctx, phone=phone), key=lambda b: (b.date, b.id), reverse=True)
                messages = _texts_to(db, phone, found)
                caller_name = next((b.name for b in sorted(found, key=lambda b: b.created_at, reverse=True)
                                    if b.name), None)
                usual = _usual_office(found)
                waiting = waitlist_actions.of_phone(ctx, phone=phone)
                rooms = _sessions_for(db, usual)
                names = {o.id: o.name for o in db.scalars(select(Office).where(
                    Office.id.in_({r.office_id for r in rooms})))}
            for b in [*found, *named]:
                b.office  # noqa: B018  # loaded while the session is open, for the page
        if phone is None and not named:
            flash(gettext("No caller found for “%(text)s”: type a phone number, a booking code or a name.",
                          text=text), "error")
    return render_template("console/lookup.html", form=form, phone=phone, code=code, bookings=found, named=named,
                           messages=messages, rooms=rooms, names=names, usual=usual, caller_name=caller_name,
                           action=ActionForm(), waiting=waiting)


def _texts_to(db: Session, phone: str, shown: list[Booking]) -> list[OutboxMessage]:
    """The latest texts sent to `phone` that the signed-in user may read.

    Operators and administrators serve any caller and read them all. A manager reads those about the
    bookings `shown` (the ones at offices they handle) and the notices whose whole audience lies within
    their offices, as on the broadcast pages; a text tied to neither, such as a call-back's
    acknowledgement, belongs to no office and so to no manager.
    """
    query = select(OutboxMessage).where(OutboxMessage.recipient == phone)
    if me().role is Role.MANAGER:
        notices = db.scalars(select(Broadcast).where(Broadcast.id.in_(
            select(OutboxMessage.broadcast_id).where(OutboxMessage.recipient == phone))))
        query = query.where(or_(OutboxMessage.booking_id.in_([b.id for b in shown]),
                                OutboxMessage.broadcast_id.in_([b.id for b in notices if may_see(b)])))
    return list(db.scalars(query.order_by(OutboxMessage.id.desc()).limit(50)))


# -- seats and booking -----------------------------------------------------------------------------

def office_matches(office: Office, wanted: str) -> bool:
    """The grid's filter: a part of the office's name, spoken name or code, typed with or without diacritics."""
    return any(wanted in fold(text) for text in (office.name, office.spoken_name or "", office.code))


@blueprint.get("/grid")
@roles_required(*ANY_STAFF)
def grid() -> str:
    rt = runtime()
    now = rt.now()
    today = now.astimezone(rt.settings.tz).date()
    name = request.args.get("q", "").strip()
    phone = _as_phone(request.args.get("phone", ""))  # booking for a caller found by lookup: carried along
    level = request.args.get("level", "")
    query = select(Office).where(Office.active.is_(True))
    if level in {lv.value for lv in OfficeLevel}:
        query = query.where(Office.level == OfficeLevel(level))
    else:
        level = ""
    with rt.reading() as db:
        offices = [o for o in db.scalars(query.options(selectinload(Office.templates))
                                         .order_by(Office.keypad_number, Office.id))
                   if not name or office_matches(o, fold(name))]
        days = availability(db, offices, today, today + timedelta(days=6), now=now, policy=rt.policy,
                            channel=Channel.OPERATOR)
    return render_template("console/grid.html", offices=offices, days=days, q=name, level=level, levels=list(OfficeLevel),
                           dates=[today + timedelta(days=i) for i in range(7)], phone=phone)


def _window_choices(room: SessionRoom | None) -> list[SelectChoice]:
    choices = [SelectChoice("", gettext("Assign the earliest window with room"))]
    for w in room.windows if room is not None else ():
        left = w.capacity - w.taken
        label = gettext("%(start)s–%(end)s (%(left)s left)", start=w.start.strftime("%H:%M"),
                        end=w.end.strftime("%H:%M"), left=left) if left > 0 else gettext(
            "%(start)s–%(end)s (full)", start=w.start.strftime("%H:%M"), end=w.end.strftime("%H:%M"))
        choices.append(SelectChoice(str(w.position), label))
    return choices


@blueprint.route("/book/<id:office_id>/<day>/<session>", methods=["GET", "POST"])
@roles_required(*ANY_STAFF)
def book(office_id: int, day: str, session: str) -> str | BaseResponse:
    """The booking form; from the lookup it comes with the caller's number (and name) filled in."""
    rt = runtime()
    when = calendar_date(day) or abort(404)
    if not me().may_handle(office_id):
        abort(403)
    with rt.reading() as db:
        office = db.get(Office, office_id) or abort(404)
        column = Procedure.at_province if office.level is OfficeLevel.PROVINCE else Procedure.at_commune
        procedures = [SelectChoice("0", "—")] + [SelectChoice(str(p.id), f"{p.field}: {p.name}") for p in db.scalars(
            select(Procedure).where(column.is_(True), Procedure.active.is_(True)).order_by(Procedure.field))]
        room = next((r for d in office_availability(db, office, when, when, now=rt.now(), policy=rt.policy,
                                                    channel=Channel.OPERATOR) for r in d.sessions if r.code == session),
                    None)
    prefilled = {key: request.args[key][:200] for key in ("phone", "name") if request.args.get(key)}
    form = BookForm(office_id=office_id, day=when, session=session, **prefilled)
    form.procedure_id.choices = procedures
    form.window.choices = _window_choices(room)
    if form.validate_on_submit() and request.form.get("waitlist"):
        # The session is full: the caller waits for a freed place, called (then texted) when one comes.
        joined = attempt(lambda db: console_waitlist.join(
            db, office_id=office_id, day=when, code=session, phone=form.phone.data or "", name=form.name.data or None,
            procedure_id=form.procedure_id.data or None, language=form.language.data or "vi"))
        if joined is not None:
            flash(joined, "ok")
            return redirect(request.path)
    elif form.validate_on_submit():
        window = int(form.window.data) if form.window.data else None

        def book_seat(db: Session) -> str:
            return actions.book(acting(db), office_id=office_id, day=when, code=session, phone=form.phone.data or "",
                                name=form.name.data or None, procedure_id=form.procedure_id.data or None,
                                language=form.language.data or "vi", window_position=window).code

        code = attempt(book_seat)
        if code is not None:
            flash(gettext("Booked: code %(code)s.", code=code), "ok")
            return redirect(url_for("console.booking_detail", code=code))
    with rt.reading() as db:
        waiting = console_waitlist.waiting(db, office_id=office_id, day=when, code=session)
    return render_template("console/book.html", form=form, office=office, day=when, session=session, room=room,
                           prefilled=bool(prefilled.get("phone")), waiting=waiting, action=ActionForm())


# -- cancelling and moving, each confirmed on a page of its own -------------------------------------

@blueprint.route("/bookings/<code>/cancel", methods=["GET", "POST"])
@roles_required(*ANY_STAFF)
def cancel(code: str) -> str | BaseResponse:
    """GET: the appointment and "cancel it?"; POST (from that page, with the CSRF token): cancel it."""
    if request.method == "GET":
        with runtime().reading() as db:
            booking = actions.find(acting(db), code=code)
            return render_template("console/confirmation.html", booking=booking, office=booking.office,
                                   procedure=booking.procedure, cancelling=True, action=ActionForm())
    if not ActionForm().validate_on_submit():
        abort(400)

    def cancel_booking(db: Session) -> str:
        return actions.cancel(acting(db), code=code, reason=request.form.get("reason", "")[:300]).phone

    phone = attempt(cancel_booking)
    if phone is None:
        return redirect(url_for("console.booking_detail", code=code))
    flash(gettext("Cancelled."), "ok")
    return redirect(url_for("console.lookup", q=phone))


def _move_targets(booking: Booking) -> tuple[list[Office], int]:
    """The offices a booking may move to, and the one asked for (default: where it is now)."""
    with runtime().reading() as db:
        query = select(Office).where(Office.active.is_(True)).order_by(Office.keypad_number, Office.id)
        if me().role is Role.MANAGER:
            query = query.where(Office.id.in_(me().office_ids))
        offices = list(db.scalars(query))
    wanted = request.args.get("office_id", type=int) or booking.office_id
    if wanted not in {o.id for o in offices} | {booking.office_id}:
        abort(403 if me().role is Role.MANAGER else 404)
    return offices, wanted


def _move_choices(booking: Booking, office_id: int) -> list[SessionRoom]:
    """The next sessions with room at `office_id`, apart from the one the booking already has."""
    rt = runtime()
    with rt.reading() as db:
        rooms = next_sessions_with_room(db, now=rt.now(), policy=rt.policy, limit=MOVE_CHOICES + 1,
                                        channel=Channel.OPERATOR, office_ids=[office_id])
    here = (booking.office_id, booking.date, booking.session_code)
    return [r for r in rooms if (r.office_id, r.date, r.code) != here][:MOVE_CHOICES]


@blueprint.route("/bookings/<code>/move", methods=["GET", "POST"])
@roles_required(*ANY_STAFF)
def move(code: str) -> str | BaseResponse:
    """GET: the sessions to move to, each a link to the confirming page; POST (from that page): move."""
    rt = runtime()
    with rt.reading() as db:
        booking = actions.find(acting(db), code=code)
        here = booking.office.name
    form = MoveForm()
    if form.validate_on_submit() and form.day.data is not None and form.office_id.data is not None:
        target, day = form.office_id.data, form.day.data

        def move_booking(db: Session) -> str:
            return actions.move(acting(db), code=code, office_id=target, day=day,
                                session_code=(form.session.data or "").upper()).queue_label

        queue = attempt(move_booking)
        if queue is not None:
            flash(gettext("Moved: now %(queue)s.", queue=queue), "ok")
            return redirect(url_for("console.booking_detail", code=booking.code))
    elif form.errors:
        flash(gettext("Choose one of the sessions offered."), "error")
    offices, office_id = _move_targets(booking)
    rooms = _move_choices(booking, office_id) if booking.status is BookingStatus.BOOKED else []
    # The move page is the confirmation page with the sessions to choose from instead of the QR code.
    return render_template("console/confirmation.html", booking=booking, office=booking.office, moving=True,
                           offices=offices, office_id=office_id, rooms=rooms, form=form,
                           names={o.id: o.name for o in offices} | {booking.office_id: here})


@blueprint.get("/bookings/<code>/move/confirm")
@roles_required(*ANY_STAFF)
def move_confirm(code: str) -> str | BaseResponse:
    """The chosen session next to the booking's own, and the button that moves it (a POST to `move`)."""
    office_id = request.args.get("office_id", type=int)
    day = calendar_date(request.args.get("day", ""))
    session = request.args.get("session", "").upper()
    if office_id is None or day is None or session not in ("S", "C"):
        abort(400)
    if not me().may_handle(office_id):
        abort(403)
    with runtime().reading() as db:
        booking = actions.find(acting(db), code=code)
        target = db.get(Office, office_id) or abort(404)
        return render_template("console/confirmation.html", booking=booking, office=booking.office,
                               procedure=booking.procedure, confirming_move=True, target=target, target_day=day,
                               target_session=session, form=MoveForm(formdata=None))


# -- call-backs -----------------------------------------------------------------------------------

def callback_promise(db: Session, requested_at: datetime) -> Promise:
    """The IVR's promise to a caller who asked at `requested_at`, worked out by the same rule the IVR used."""
    settings = runtime().settings
    opens, closes = settings.operator_window
    return operators_promise(db, requested_at, tz=settings.tz, opens=opens, closes=closes)


def _collected(context: dict[str, Any]) -> list[tuple[str, str]]:
    """What the call had collected, as labelled facts: the office, the session tried, the booking code."""
    facts = []
    if context.get("office"):
        facts.append((gettext("Office"), str(context["office"])))
    session = context.get("session")
    if isinstance(session, dict):
        when = calendar_date(str(session.get("date", "")))
        part = str(SESSION_PARTS.get(str(session.get("code")), ""))
        where = f"{session['office']}, " if session.get("office") and session.get("office") != context.get(
            "office") else ""
        facts.append((gettext("Session tried"), where + " ".join(
            p for p in (format_date(when, "EEEE dd/MM/yyyy") if when else "", part) if p)))
    if context.get("booking"):
        facts.append((gettext("Booking code"), " ".join(spoken_groups(str(context["booking"])))))
    return facts


def _reason(entry: CallbackRequest, promise: Promise) -> str:
    state = str(entry.context.get("state", ""))
    if state == "offer_callback" and not promise.today:
        state = "operators_closed"  # offered after the hours were said: nobody was there to answer
    return str(CALL_STATES.get(state, _l("Asked to be called back")))


@blueprint.get("/callbacks")
@roles_required(*ANY_STAFF)
def callbacks() -> str:
    rt = runtime()
    rows = []
    with rt.reading() as db:
        for entry in db.scalars(select(CallbackRequest).where(CallbackRequest.done_at.is_(None))
                                .order_by(CallbackRequest.requested_at)):
            promise = callback_promise(db, entry.requested_at)
            rows.append({"entry": entry, "requested": entry.requested_at.astimezone(rt.settings.tz),
                         "promise": promise, "late": rt.now() > promise.by, "reason": _reason(entry, promise),
                         "collected": _collected(entry.context or {})})
    return render_template("console/callbacks.html", rows=rows, action=ActionForm())


@blueprint.post("/callbacks/<id:request_id>/done")
@roles_required(*ANY_STAFF)
def callback_done(request_id: int) -> BaseResponse:
    if not ActionForm().validate_on_submit():
        abort(400)
    rt = runtime()
    with rt.transaction() as db:
        entry = db.get(CallbackRequest, request_id) or abort(404)
        if entry.done_at is None:
            entry.done_at, entry.done_by = rt.now(), me().actor
            entry.note = request.form.get("note", "")[:500]
            audit_change(db, "callback.done", "callback", request_id, after={"note": entry.note})
    return redirect(url_for("console.callbacks"))


TRANSFER_WINDOW = timedelta(minutes=15)  # a call still "being put through" after this was never finished


def _summary(context: dict[str, Any]) -> dict[str, Any]:
    """A live call's context in the words of a call-back request's (`_collected` reads either)."""
    office, booking = context.get("office"), context.get("booking")
    return {"office": office.get("name") if isinstance(office, dict) else office, "session": context.get("session"),
            "booking": booking.get("code") if isinstance(booking, dict) else booking}


@blueprint.get("/transfers")
@roles_required(*ANY_STAFF)
def transfers() -> str:
    """Calls the hotline is putting through to operators now, each with what it collected, so that the
    operator who answers knows the office, the session tried and the number without asking again."""
    rt = runtime()
    with rt.reading() as db:
        calls = db.scalars(select(Call).where(Call.status == "active", Call.state == "dial_operator",
                                              Call.updated_at >= rt.now() - TRANSFER_WINDOW)
                           .order_by(Call.updated_at))
        rows = [{"since": call.updated_at.astimezone(rt.settings.tz),
                 "number": (call.context.get("caller") or {}).get("phone") or call.context.get("phone"),
                 "language": call.context.get("language", call.language),
                 "collected": _collected(_summary(call.context))} for call in calls]
    return render_template("console/transfers.html", rows=rows)
