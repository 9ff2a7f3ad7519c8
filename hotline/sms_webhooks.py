"""Twilio's SMS webhooks: delivery reports, and replies where a provider delivers them."""

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
from notifications.dispatcher import record_status
from hotline.sms_replies import answer

log = logging.getLogger(__name__)
blueprint = Blueprint("sms", __name__, url_prefix="/sms")

MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")


@blueprint.post("/status")
def status() -> Response:
    """A delivery report for the outbox message named in the callback URL (`?m=ID`)."""
    form = verified_form()
    message_id = request.args.get("m", "")
    sid = form.get("MessageSid", "")
    if not message_id.isdigit() or not MESSAGE_SID.match(sid):
        abort(400)
    rt = runtime()
    with rt.transaction() as db:
        record_status(db, message_id=int(message_id), provider_sid=sid,
                      provider_status=form.get("MessageStatus", form.get("SmsStatus", "")),
                      error_code=form.get("ErrorCode") or None, now=rt.now())
    log.info("delivery report", extra={"event": "sms.status", "outbox_id": int(message_id),
                                       "provider_status": form.get("MessageStatus", form.get("SmsStatus", ""))})
    return Response(status=204)


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
