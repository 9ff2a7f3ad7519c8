"""Twilio's voice webhooks: thin adapters from HTTP to the flow engine and back to TwiML.

Each request is one transaction: lock the call's row, let the engine (with its effects) decide
the next step, store where the call now is together with the answer, commit, answer. A repeated
request (Twilio retries a failed connection with the same I-Twilio-Idempotency-Token, or posts
for a step that has already been taken) gets the stored answer again, so nothing is done twice.

What a call comes to is read off the states of the flow it enters (`OUTCOME_STATES`) and the
result of a transfer, never off the prompts: the call's row keeps its outcome, the time of its
first booking and, when it ends, the state it ended in and its duration; the counters in
`hotline.metrics` count it once its transaction has committed.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, abort, request, send_from_directory, url_for
from sqlalchemy import String, bindparam, literal_column, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import ExecutableReturnsRows
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.datastructures import MultiDict

from database.base import UTCDateTime
from hotline import metrics
from hotline.ivr.directory import OFFICES_KEY
from booking.models import Citizen
from booking.waitlist import live_offer
from hotline.ivr.effects import Effects, KnownLanguage, stored_context, verified_mobile
from hotline.ivr.models import Call, CallOutcome
from hotline.ivr.speech import say_value
from hotline.ivr.twiml import Urls, Voice, apology, render_turn
from hotline.localization import BabelLocalizer
from hotline.runtime import Runtime, runtime
from hotline.twilio_auth import verified_form
from ivr_flows.engine import Engine, Event, Spoken, Turn
from ivr_flows.hotline import ENTRIES, HOTLINE
from ivr_flows.model import State
from ivr_flows.prompts import PROMPTS

log = logging.getLogger(__name__)
blueprint = Blueprint("ivr", __name__, url_prefix="/ivr")

CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
ENDED = {"completed", "busy", "failed", "no-answer", "canceled"}
ANSWERED = {"completed", "answered"}

# Entering one of these states of ivr_flows/hotline.py means the caller has got somewhere.
OUTCOME_STATES: Mapping[str, CallOutcome] = {
    "booked": CallOutcome.BOOKED, "cancelled": CallOutcome.CANCELLED, "moved": CallOutcome.RESCHEDULED,
    "booking_detail": CallOutcome.CHECKED, "choose_booking": CallOutcome.CHECKED,
    "callback_recorded": CallOutcome.CALLBACK,
}


class _Entered(Mapping[str, State]):
    """The flow's states, noting each one looked up: the engine looks up every state it enters."""

    def __init__(self, states: Mapping[str, State]) -> None:
        self._states = states
        self.names: list[str] = []

    def __getitem__(self, name: str) -> State:
        state = self._states[name]
        self.names.append(name)
        return state

    def __iter__(self) -> Iterator[str]:
        return iter(self._states)

    def __len__(self) -> int:
        return len(self._states)


def _dials(state: str) -> bool:
    found = HOTLINE.states.get(state)
    return found is not None and found.dial


def _record_outcomes(call: Call, event: Event, entered: list[str], now: datetime) -> None:
    """What this turn came to: an operator who answered the transfer, and the states entered."""
    if event.kind == "dial" and event.value == "answered" and _dials(call.state):
        call.record(CallOutcome.TRANSFERRED, now)
    for name in entered:
        if name in OUTCOME_STATES:
            call.record(OUTCOME_STATES[name], now)


def _add_stored_hints(turn: Turn, effects: Effects, context: dict[str, Any]) -> None:
    """The speech hints of a state that listens with a list never stored with the call (the office names):
    read again when this turn did not put it in the context, as the engine would have found it there."""
    state = HOTLINE.states.get(turn.state)
    if turn.wait is None or state is None or state.listen is None:
        return
    extra = effects.speech_hints(state.listen.hints, context)
    if extra:
        turn.wait = dataclasses.replace(turn.wait, speech_hints=(*turn.wait.speech_hints, *extra))


def _xml(body: str) -> Response:
    return Response(body, mimetype="text/xml")


def _voice(rt: Runtime) -> Voice:
    settings = rt.settings
    return Voice(voices={"vi": settings.ivr_voice_vi, "en": settings.ivr_voice_en}, audio_dir=settings.ivr_audio_dir,
                 audio_url=lambda lang, key: url_for("ivr.audio", language=lang, key=key, _external=True),
                 speech=settings.ivr_speech)


def _render_spoken(spoken: Spoken, language: str) -> str:
    loc = BabelLocalizer(language)
    params = {name: say_value(kind, value, language, lambda key: loc.gettext(PROMPTS[key]))
              for name, (kind, value) in spoken.params.items()}
    return loc.gettext(PROMPTS[spoken.key], **params)


@dataclasses.dataclass(frozen=True)
class _Locked:
    call: Call
    offices_key: tuple[Any, ...]
    known_language: KnownLanguage  # the language stored for the caller's mobile (first requests only)
    offer: int | None  # the live waitlist offer held for the caller's mobile (first requests only)


def _lock_call(db: Session, sid: str, caller: str, now: datetime, *, first: bool) -> _Locked:
    """The call's row, created on the first request and locked for the rest of this one, the offices' key, and
    on a call's first request what the caller's mobile already has: a language, and a waitlist offer.

    One upsert does it all: ON CONFLICT DO UPDATE takes the row lock, so two requests for the
    same call (a retry racing the original) are served one after the other. Its RETURNING also
    reads (count, sum of versions) of the offices (hotline/ivr/directory.py), as the first thing
    the transaction reads, so that the process's list of offices is checked without a statement;
    and, when `first`, the language the mobile chose on an earlier call, which the greeting needs
    (`Effects._identify`), and the live offer of a seat held for it (hotline/waitlist_calls.py), so
    that the first request asks for neither apart.
    """
    stmt = _upsert_call(db.get_bind().dialect.name)
    mobile = verified_mobile(caller) if first else None
    call, *key, language, offer = db.execute(
        stmt, {"sid": sid, "caller": caller[:40], "mobile": mobile, "language": runtime().settings.default_language,
               "now": now}, execution_options={"populate_existing": True}).one()
    return _Locked(call, tuple(key), (mobile, language) if mobile is not None else None, offer)


@functools.cache
def _upsert_call(dialect: str) -> ExecutableReturnsRows:
    """The upsert of `_lock_call`, built once per process and dialect (its values are parameters)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    now = bindparam("now", type_=UTCDateTime())
    stmt = insert(Call).values(sid=bindparam("sid"), caller=bindparam("caller"), language=bindparam("language"),
                               state=HOTLINE.start, retries=0, context={}, step=0, last_response="",
                               status="active", started_at=now, updated_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=["sid"], set_={"updated_at": stmt.excluded.updated_at})
    count, version = (select(column).scalar_subquery().label(name) for column, name in OFFICES_KEY)
    mobile = bindparam("mobile", type_=String())
    language = select(Citizen.language).where(Citizen.phone == mobile).scalar_subquery().label("caller_language")
    offer = live_offer(mobile, now).scalar_subquery().label("waitlist_offer")
    return select(Call, *(literal_column(name) for _, name in OFFICES_KEY), literal_column("caller_language"),
                  literal_column("waitlist_offer")
                  ).from_statement(stmt.returning(*Call.__table__.c, count, version, language, offer))


def _event(form: MultiDict[str, str]) -> Event:
    if request.args.get("silence"):
        return Event("silence")
    speech = form.get("SpeechResult", "").strip()
    if speech:
        return Event("speech", speech[:200])
    keys = form.get("Digits", "").strip()
    if keys and re.fullmatch(r"[0-9*#]{1,32}", keys):
        return Event("keys", keys)
    return Event("keys", "?") if keys else Event("silence")  # garbage is a wrong key, never a crash


class _Offered(Exception):
    """A seat is held for the caller: the call goes to its offer, and its row is not kept (rolled back)."""

    def __init__(self, entry_id: int) -> None:
        super().__init__(entry_id)
        self.entry_id = entry_id


def _serve(step: int | None, event: Event, *, claim: bool = False) -> Response:
    """Serve one request of a call; `claim`: the number's first request, which a waitlist offer held for the
    caller's mobile answers instead (hotline/waitlist_calls.py)."""
    form = verified_form()
    sid = form.get("CallSid", "")
    if not CALL_SID.match(sid):
        abort(400)
    rt = runtime()
    now = rt.now()
    language = rt.settings.default_language
    try:
        with rt.transaction() as db:
            locked = _lock_call(db, sid, form.get("From", ""), now, first=step is None)
            call = locked.call
            if claim and locked.offer is not None and call.step == 0:
                raise _Offered(locked.offer)
            language = call.language
            xml, finished = _answer(db, rt, call, step, event, now, locked.offices_key, locked.known_language)
    except _Offered as offered:
        from hotline.waitlist_calls import to_offer

        return to_offer(offered.entry_id)
    except Exception:
        # A fault of ours (the database gone, a bug) must still leave the caller with valid TwiML.
        log.exception("voice webhook failed", extra={"call_sid": sid})
        return _xml(apology(language, _voice(rt), _render_spoken))
    if finished:
        metrics.count_call(call)
    return _xml(xml)


def _answer(db: Session, rt: Runtime, call: Call, step: int | None, event: Event, now: datetime,
            offices_key: tuple[Any, ...] | None = None, known: KnownLanguage = None) -> tuple[str, bool]:
    """The answer to this request, and whether it finished the call's figures (to count after commit)."""
    token = request.headers.get("I-Twilio-Idempotency-Token")
    repeated = (token is not None and token == call.last_token) or (
        call.step > 0 and (step is None or step != call.step))
    if repeated and call.last_response:
        return call.last_response, False
    if call.status == "ended":
        # A late or retried request after the hang-up: the caller is gone, so nothing may be held
        # or booked for them any more. Only a transfer's result still counts: Twilio may report
        # the end of the call before the end of the <Dial> the caller hung up in.
        if event.kind != "dial" or not _dials(call.state):
            return _ended(), False
        _record_outcomes(call, event, [], now)
        call.step += 1  # its retry is a repeat, and counts nothing again
        call.last_token, call.last_response = token, _ended()
        return call.last_response, True
    context = copy.deepcopy(call.context)
    states = _Entered(HOTLINE.states)
    effects = Effects(db, rt, call, now, offices_key=offices_key, known_language=known)
    # A call whose row was prepared before its first request (an outbound campaign's) starts where the row says.
    start = call.state if call.step == 0 and call.state in ENTRIES else HOTLINE.start
    engine = Engine(dataclasses.replace(HOTLINE, states=states, start=start), effects)
    turn = engine.start(context) if call.step == 0 else engine.handle(call.state, call.retries, context, event)
    _add_stored_hints(turn, effects, context)
    # Answering in a state looks it up first without entering it.
    entered = states.names[1:] if call.step > 0 and states.names[:1] == [call.state] else states.names
    _record_outcomes(call, event, entered, now)
    language = str(context.get("language", call.language))
    call.step += 1
    urls = Urls(action=url_for("ivr.step", n=call.step), silence=url_for("ivr.step", n=call.step, silence=1),
                dial=url_for("ivr.dial", n=call.step))
    xml = render_turn(turn, language=language, urls=urls, voice=_voice(rt), render=_render_spoken,
                      operators=rt.settings.operators, operator_timeout=rt.settings.operator_timeout)
    call.state, call.retries, call.context, call.language = turn.state, turn.retries, stored_context(context), language
    call.last_token, call.last_response, call.updated_at = token, xml, now
    log.info("call step %d: %s", call.step, turn.state, extra={"event": "ivr.turn", "state": turn.state})
    return xml, False


def _ended() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


@blueprint.post("/voice")
def voice() -> Response:
    """The number's voice webhook: the first request of every call (a seat held for the caller is offered first)."""
    return _serve(None, Event("start"), claim=True)


def start_prepared() -> Response:
    """The first request of a call whose row is already stored with its start state (hotline/campaign_calls.py)."""
    return _serve(None, Event("start"))


@blueprint.post("/step/<int:n>")
def step(n: int) -> Response:
    return _serve(n, _event(request.form))


@blueprint.post("/dial/<int:n>")
def dial(n: int) -> Response:
    status = request.form.get("DialCallStatus", "")
    return _serve(n, Event("dial", "answered" if status in ANSWERED else "unanswered"))


@blueprint.post("/status")
def status() -> Response:
    """The call-status callback: a caller who hangs up mid-flow gives back any seat held at once."""
    form = verified_form()
    sid = form.get("CallSid", "")
    if not CALL_SID.match(sid):
        abort(400)
    if form.get("CallStatus", "") not in ENDED:
        return Response(status=204)
    rt = runtime()
    now = rt.now()
    with rt.transaction() as db:
        call = db.execute(select(Call).where(Call.sid == sid).with_for_update()).scalar_one_or_none()
        if call is None or call.status == "ended":
            return Response(status=204)
        context = dict(call.context)
        held = "hold_id" in context
        Effects(db, rt, call, now).release_hold(context)
        call.context = context
        call.end(now)
        # Hung up during a transfer: its result is still to come (the dial webhook counts the call).
        dialling = _dials(call.state)
        log.info("call ended", extra={"event": "ivr.ended", "call_status": form.get("CallStatus"),
                                      "released_hold": held, "outcome": call.outcome, "state": call.ended_in,
                                      "duration_s": call.duration_seconds})
    if not dialling:
        metrics.count_call(call)
    return Response(status=204)


@blueprint.get("/audio/<language>/<key>.mp3")
def audio(language: str, key: str) -> Response:
    if language not in ("vi", "en") or key not in PROMPTS:
        abort(404)
    return send_from_directory(runtime().settings.ivr_audio_dir / language, f"{key}.mp3", mimetype="audio/mpeg")
