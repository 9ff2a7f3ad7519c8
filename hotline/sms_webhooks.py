"""SMS webhooks: Twilio's delivery reports and replies (where a provider delivers them), and eSMS's delivery reports."""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, abort, request
from twilio.twiml.messaging_response import MessagingResponse

from actions.context import Actor
from booking.citizens import lock_citizen
from booking.errors import BookingError
from booking.phones import PhoneKind, parse_phone
from booking.plain_text import xml_safe
from hotline.localization import BabelLocalizer
from hotline.runtime import runtime
from hotline.twilio_auth import verified_form
from notifications.dispatcher import record_delivery, record_status
from notifications.esms import delivery_state, token_matches
from hotline.sms_replies import answer

log = logging.getLogger(__name__)
blueprint = Blueprint("sms", __name__, url_prefix="/sms")

MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")
ESMS_SMSID = re.compile(r"^[0-9A-Za-z-]{8,64}$")  # e.g. d533459ee42b2b9525ba9eabf6a8156, or a UUID and digits
COUNT = re.compile(r"^[0-9]{1,6}$")
OUTBOX_ID = re.compile(r"^[0-9]{1,10}$")


@blueprint.post("/status")
def status() -> Response:
    """A delivery report for the outbox message named in the callback URL (`?m=ID`)."""
    form = verified_form()
    message_id = request.args.get("m", "")
    sid = form.get("MessageSid", "")
    if not OUTBOX_ID.match(message_id) or int(message_id) >= 2**31 or not MESSAGE_SID.match(sid):
        abort(400)
    rt = runtime()
    with rt.transaction() as db:
        record_status(db, message_id=int(message_id), provider_sid=sid,
                      provider_status=form.get("MessageStatus", form.get("SmsStatus", "")),
                      error_code=form.get("ErrorCode") or None, now=rt.now())
    log.info("delivery report", extra={"event": "sms.status", "outbox_id": int(message_id),
                                       "provider_status": form.get("MessageStatus", form.get("SmsStatus", ""))})
    return Response(status=204)


@blueprint.get("/esms/status/<message_id>/<token>")
def esms_status(message_id: str, token: str) -> Response:
    """eSMS's delivery report (an HTTP GET with SMSID, SendStatus, SendSuccess, SendFailed…).

    eSMS signs nothing: the URL it was given holds the outbox id and a token made from it with
    SECRET_KEY, compared in constant time; anything else is refused before the database is read.
    A report may come up to five times and in any order; each only ever moves the message forward.
    """
    if not OUTBOX_ID.match(message_id) or int(message_id) >= 2**31:  # ASCII digits: '²' is a digit to isdigit()
        abort(404)
    rt = runtime()
    if not token_matches(rt.settings.secret_key, int(message_id), token):
        abort(403)
    sms_id, send_status = request.args.get("SMSID", ""), request.args.get("SendStatus", "")
    succeeded, failed = request.args.get("SendSuccess") or "0", request.args.get("SendFailed") or "0"
    if not ESMS_SMSID.match(sms_id) or not COUNT.match(send_status) or not COUNT.match(succeeded) \
            or not COUNT.match(failed):
        abort(400)
    state = delivery_state(send_status, succeeded=int(succeeded), failed=int(failed))
    if state is not None:
        with rt.transaction() as db:
            record_delivery(db, message_id=int(message_id), provider_sid=sms_id, status=state[0],
                            error_code=state[1], now=rt.now())
    log.info("delivery report", extra={"event": "sms.status", "outbox_id": int(message_id),
                                       "provider_status": f"esms:{send_status}"})
    return Response("OK", status=200, mimetype="text/plain")


@blueprint.post("/inbound")
def inbound() -> Response:
    """A reply to one of our texts: HUY <code>, LICH, STOP/START and their Vietnamese words."""
    form = verified_form()
    rt = runtime()
    reply = MessagingResponse()
    try:
        sender = parse_phone(form.get("From", ""))
    except BookingError:
        return Response(str(reply), mimetype="text/xml")  # not a number we can answer
    if sender.kind is not PhoneKind.MOBILE:
        return Response(str(reply), mimetype="text/xml")
    now = rt.now()
    with rt.transaction() as db:
        language = lock_citizen(db, sender.number, now=now).language or rt.settings.default_language
        text = answer(rt.context(db, Actor.sms_sender(sender.number), now=now), body=form.get("Body", "")[:1600],
                      today=now.astimezone(rt.settings.tz).date(), loc=BabelLocalizer(language))
    reply.message(xml_safe(text))  # names stored before the text gate may hold what XML forbids
    return Response(str(reply), mimetype="text/xml")
