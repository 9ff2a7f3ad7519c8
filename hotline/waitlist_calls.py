"""The waitlist's calls: placing the call that offers a freed seat, and the short flow it runs.

The scheduler places a call for each new offer (`place_offer_calls`) through a caller (Twilio's
Calls API; a stand-in in tests) with two signed webhooks of ours: the flow, which says the office,
date, session and arrival window and takes key 1 (accept) or 2 (decline), and the status callback,
which on no-answer, busy or failure sends one SMS saying how to claim the seat before it lapses.
A person who rings the hotline from the number an offer is held for hears the same flow first.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, abort, request
from sqlalchemy import CursorResult, select, update
from twilio.twiml.voice_response import Gather, VoiceResponse
from werkzeug.exceptions import HTTPException

from actions import waitlist as waitlist_actions
from actions.context import Actor, Proof
from booking import waitlist
from booking.errors import BookingError, InvalidPhone
from booking.models import ArrivalWindow, Booking, Channel, Hold, Office, OfferCall, WaitlistEntry, WaitlistStatus
from booking.phones import parse_phone
from booking.plain_text import xml_safe
from config import Settings
from hotline.ivr.effects import spoken_office
from hotline.ivr.speech import spoken_date, spoken_time
from hotline.localization import BabelLocalizer
from hotline.runtime import Runtime, runtime
from hotline.twilio_auth import verified_form
from notifications.calls import CallRequest, LogCaller, TwilioCaller
from ivr_flows.prompts import PROMPTS
from notifications.texts import N_, part_of_day

log = logging.getLogger(__name__)
blueprint = Blueprint("waitlist_calls", __name__, url_prefix="/ivr/offer")
SYSTEM = Actor.system("system:waitlist")
UNREACHED = {"no-answer", "busy", "failed", "canceled"}
TWILIO_LANGUAGE = {"vi": "vi-VN", "en": "en-US"}

OFFER = N_("A place has come free for you at %(office)s, %(date)s, %(part)s, arriving from %(start)s to %(end)s. "
           "To take it, press 1. To refuse it, press 2.")
OFFER_AGAIN = N_("Please press 1 to take the place, or 2 to refuse it.")
BOOKED = N_("Your appointment is booked: queue number %(queue)s, arriving from %(start)s to %(end)s. A text with "
            "the details will follow. Goodbye.")
DECLINED = N_("Thank you. The place goes to the next person waiting. Goodbye.")
GONE = N_("Sorry, this place is no longer held for you. Goodbye.")
NO_ANSWER = N_("We did not hear your answer. The place stays held for you until %(until)s: to take it, call the "
               "hotline from this number. Goodbye.")
WRONG_KEYS_AT_MOST = 3
MAX_ID = 2**31  # ids are 32-bit in the database: a larger one names no entry


Caller = TwilioCaller | LogCaller


def make_caller(settings: Settings) -> Caller | None:
    """Twilio's Calls API when a number to call from and the account are set; None: offers go by SMS only."""
    if not (settings.waitlist_call_from and settings.twilio_account_sid):
        return None
    return TwilioCaller(account_sid=settings.twilio_account_sid, auth_token=settings.twilio_auth_token,
                        from_=settings.waitlist_call_from, base_url=settings.twilio_api_base_url)


def _urls(settings: Settings, entry_id: int) -> tuple[str, str] | None:
    base = settings.public_base_url.rstrip("/")
    if not base:
        return None  # Twilio must reach (and sign) our webhooks at the public address
    return f"{base}/ivr/offer/{entry_id}", f"{base}/ivr/offer/{entry_id}/status"


CLAIM_LEASE = timedelta(minutes=5)  # a call claimed this long ago with no SID: its scheduler died before calling


def _claim(rt: Runtime, limit: int) -> list[tuple[int, str, int]]:
    """Offers whose call is due, each taken by one scheduler (a conditional UPDATE), committed before calling.

    A claim whose scheduler died before Twilio took the call is put back, once: the SMS then goes instead.
    """
    claimed = []
    now = rt.now()
    with rt.transaction() as db:
        db.execute(update(WaitlistEntry).where(
            WaitlistEntry.status == WaitlistStatus.OFFERED, WaitlistEntry.call_status == OfferCall.PLACED,
            WaitlistEntry.call_sid.is_(None), WaitlistEntry.updated_at <= now - CLAIM_LEASE)
            .values(call_status=OfferCall.DUE, updated_at=now))
        for entry_id, phone, attempts in db.execute(select(WaitlistEntry.id, WaitlistEntry.phone,
                                                           WaitlistEntry.attempts).where(
                WaitlistEntry.status == WaitlistStatus.OFFERED, WaitlistEntry.call_status == OfferCall.DUE)
                .order_by(WaitlistEntry.id).limit(limit)).all():
            done = cast(CursorResult[Any], db.execute(
                update(WaitlistEntry).where(WaitlistEntry.id == entry_id, WaitlistEntry.call_status == OfferCall.DUE)
                .values(call_status=OfferCall.PLACED, attempts=WaitlistEntry.attempts + 1, updated_at=now)))
            if done.rowcount:
                claimed.append((entry_id, phone, attempts + 1))
    return claimed


def _unreached(rt: Runtime, entry_id: int, why: str) -> None:
    """The call could not tell the person: the SMS goes instead."""
    with rt.transaction() as db:
        db.execute(update(WaitlistEntry).where(WaitlistEntry.id == entry_id)
                   .values(call_status=OfferCall.UNANSWERED))
        waitlist_actions.unanswered(rt.context(db, SYSTEM), entry_id=entry_id)
    log.info("waitlist offer %s not reached by call: %s", entry_id, why,
             extra={"event": "waitlist.call_unreached", "entry": entry_id})


def place_offer_calls(app: Flask, caller: Caller | None, *, limit: int = 20) -> dict[str, int]:
    """Call each person just offered a seat; without a caller (or a public URL), text them at once."""
    counts = {"placed": 0, "texted": 0}
    with app.app_context():
        rt = runtime()
        if rt.sms.in_quiet_hours(rt.now()):
            return counts  # nobody is rung at night: the offers made then are held until the morning's calls
        for entry_id, phone, attempts in _claim(rt, limit):
            urls = _urls(rt.settings, entry_id)
            if caller is None or urls is None or not _mobile(phone) or attempts > 1:
                _unreached(rt, entry_id, "no caller" if caller is None else "no public URL or not a mobile")
                counts["texted"] += 1
                continue
            result = caller.call(CallRequest(to=phone, url=urls[0], status_callback=urls[1]))
            if not result.placed:
                _unreached(rt, entry_id, result.error or "refused")
                counts["texted"] += 1
                continue
            with rt.transaction() as db:
                db.execute(update(WaitlistEntry).where(WaitlistEntry.id == entry_id).values(call_sid=result.sid))
            counts["placed"] += 1
    return counts


def sweep(app: Flask) -> int:
    """Offer what is free to those waiting and pass lapsed offers on (the scheduled job)."""
    with app.app_context():
        rt = runtime()
        with rt.reading() as db:
            session_ids = waitlist_actions.sessions_to_offer(rt.context(db, SYSTEM))
        made = 0
        for session_id in session_ids:  # one transaction a session: its row lock is held only while it is offered
            with rt.transaction() as db:
                made += len(waitlist_actions.offer_freed_seats(rt.context(db, SYSTEM), session_id=session_id).offered)
        return made


def _mobile(phone: str) -> bool:
    try:
        return parse_phone(phone).is_mobile
    except InvalidPhone:
        return False


# -- the offer flow -------------------------------------------------------------------------------

def _xml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


def _say(parent: VoiceResponse | Gather, text: str, language: str, settings: Settings) -> None:
    voice = settings.ivr_voice_en if language == "en" else settings.ivr_voice_vi
    parent.say(xml_safe(text), voice=voice, language=TWILIO_LANGUAGE.get(language, "vi-VN"))


def _offer_words(db: Any, entry: WaitlistEntry, loc: BabelLocalizer) -> str:
    office = db.get(Office, entry.office_id)
    hold = db.get(Hold, entry.hold_id) if entry.hold_id is not None else None
    window = db.get(ArrivalWindow, hold.window_id) if hold is not None else None
    language = loc.language
    name, part = spoken_office(office, loc), part_of_day(entry.session_code, loc)
    start, end = (window.start_time, window.end_time) if window is not None else (None, None)
    return loc.gettext(OFFER, office=name, date=spoken_date(entry.date, language), part=part,
                       start=spoken_time(start, language) if start else "", end=spoken_time(end, language) if end else "")


def _ask(response: VoiceResponse, entry_id: int, n: int, k: int, text: str, language: str,
         settings: Settings) -> None:
    """Say `text` and wait for one key; `n` silences and `k` wrong keys so far ride along in the URL."""
    action = f"/ivr/offer/{entry_id}?n={n}&k={k}"
    gather = Gather(action=action, method="POST", input="dtmf", num_digits=1, timeout=6,
                    language=TWILIO_LANGUAGE.get(language, "vi-VN"))
    _say(gather, text, language, settings)
    response.append(gather)
    response.redirect(f"{action}&silence=1", method="POST")


def _the_callers(entry: WaitlistEntry, form: Any) -> bool:
    """This call is the offer's own (we placed it), or the person rang from the number it is held for."""
    sid = form.get("CallSid", "")
    if entry.call_sid is not None and sid == entry.call_sid:
        return True
    try:
        caller = parse_phone(form.get("From", ""))
    except InvalidPhone:
        return False
    return caller.is_mobile and caller.number == entry.phone and form.get("Direction", "inbound") == "inbound"


@blueprint.post("/<int:entry_id>")
def offer(entry_id: int) -> Response:
    form = verified_form()
    if not 0 < entry_id < MAX_ID:
        abort(404)
    try:
        return _offer(entry_id, form)
    except HTTPException:
        raise
    except Exception:
        # A fault of ours (the database gone, a bug) still leaves the person with valid TwiML; the seat stays held.
        log.exception("waitlist offer webhook failed", extra={"call_sid": form.get("CallSid", "")})
        response = VoiceResponse()
        sorry = PROMPTS["error"]  # translated with the hotline's prompts
        _say(response, BabelLocalizer("vi").gettext(sorry), "vi", runtime().settings)
        response.hangup()
        return _xml(response)


def _offer(entry_id: int, form: Any) -> Response:
    rt = runtime()
    now = rt.now()
    try:
        n, k = (max(0, min(int(request.args.get(name, "0")), 10)) for name in ("n", "k"))
    except ValueError:
        abort(400)
    digits = form.get("Digits", "").strip()
    silence = bool(request.args.get("silence")) or ("n" in request.args and not digits)
    with rt.transaction() as db:
        entry = db.get(WaitlistEntry, entry_id)
        if entry is None or not _the_callers(entry, form):
            abort(404)
        language = entry.language if entry.language in TWILIO_LANGUAGE else "vi"
        loc = BabelLocalizer(language)
        response = VoiceResponse()
        if entry.status is WaitlistStatus.ACCEPTED and entry.booking_id is not None:
            _say(response, _booked_words(db, entry.booking_id, loc), language, rt.settings)
            response.hangup()
            return _xml(response)
        if entry.status is not WaitlistStatus.OFFERED or (entry.offer_expires_at or now) <= now:
            _say(response, loc.gettext(GONE), language, rt.settings)
            response.hangup()
            return _xml(response)
        actor = Actor(f"ivr:{form.get('CallSid', '')}", Channel.IVR, Proof.CALLER_ID, phone=entry.phone)
        ctx = rt.context(db, actor, now=now)
        if "n" not in request.args:  # the call's first request: it was answered
            if entry.call_sid is not None and form.get("CallSid") == entry.call_sid:
                entry.call_status = OfferCall.ANSWERED
            _ask(response, entry_id, 0, 0, _offer_words(db, entry, loc), language, rt.settings)
        elif digits == "1":
            try:
                booking = waitlist_actions.accept(ctx, entry_id=entry_id)
            except waitlist.OfferGone:
                _say(response, loc.gettext(GONE), language, rt.settings)
            except BookingError as refused:  # a rule of booking (too many upcoming appointments, say): said as it is
                _say(response, refused.render(loc.gettext), language, rt.settings)
            else:
                _say(response, _booked_words(db, booking.id, loc), language, rt.settings)
            response.hangup()
        elif digits == "2":
            waitlist_actions.decline(ctx, entry_id=entry_id)
            _say(response, loc.gettext(DECLINED), language, rt.settings)
            response.hangup()
        elif (silence and n >= 1) or (not silence and k + 1 >= WRONG_KEYS_AT_MOST):
            # No answer twice (or keys that are no choice): the seat stays held until it lapses; the SMS says how.
            until = (entry.offer_expires_at or now).astimezone(ZoneInfo(rt.settings.timezone)).time()
            _say(response, loc.gettext(NO_ANSWER, until=spoken_time(until, language)), language, rt.settings)
            response.hangup()
            waitlist_actions.unanswered(ctx, entry_id=entry_id)
        elif silence:  # no input: the offer once more
            _ask(response, entry_id, n + 1, k, _offer_words(db, entry, loc), language, rt.settings)
        else:  # a key that is no choice: asked again
            _ask(response, entry_id, n, k + 1, loc.gettext(OFFER_AGAIN), language, rt.settings)
        return _xml(response)


def _booked_words(db: Any, booking_id: int, loc: BabelLocalizer) -> str:
    booking = db.get(Booking, booking_id)
    language = loc.language
    return loc.gettext(BOOKED, queue=" ".join(booking.queue_label.replace("-", "")),
                       start=spoken_time(booking.arrival_start, language), end=spoken_time(booking.arrival_end, language))


@blueprint.post("/<int:entry_id>/status")
def status(entry_id: int) -> Response:
    """The offer call's status callback: not answered, busy or failed → the SMS instead."""
    form = verified_form()
    if not 0 < entry_id < MAX_ID:
        return Response(status=204)
    rt = runtime()
    call_status = form.get("CallStatus", "")
    with rt.transaction() as db:
        entry = db.get(WaitlistEntry, entry_id)
        if entry is None or entry.call_sid is None or form.get("CallSid") != entry.call_sid:
            return Response(status=204)
        if call_status not in UNREACHED and call_status != "completed":
            return Response(status=204)
        if entry.call_status is OfferCall.PLACED:  # never reached the flow: not answered, busy or failed
            db.execute(update(WaitlistEntry).where(WaitlistEntry.id == entry_id)
                       .values(call_status=OfferCall.UNANSWERED))
        # Whoever hung up without deciding (or never answered) is texted how to claim the place, once.
        waitlist_actions.unanswered(rt.context(db, SYSTEM, now=rt.now()), entry_id=entry_id)
    return Response(status=204)


def to_offer(entry_id: int) -> Response:
    """A call to the hotline from a number a seat is held for starts with the offer.

    `/ivr/voice` finds the live offer (`booking.waitlist.live_offer`) in the call's own upsert and, when there is
    one, sends the call here instead of into the flow.
    """
    response = VoiceResponse()
    response.redirect(f"/ivr/offer/{entry_id}", method="POST")
    return _xml(response)


__all__ = ["blueprint", "make_caller", "place_offer_calls", "sweep", "to_offer"]
