"""Zalo's webhook: the delivery reports of ZNS messages (`user_received_message`), signed by Zalo.

Zalo posts every event of the app to one URL, as JSON with `X-ZEvent-Signature: mac=sha256(app id +
body + timestamp + OA secret key)` (https://developers.zalo.me/docs/official-account/webhook/tong-quan).
An event without that signature is refused (403); events other than a ZNS delivery are acknowledged
and left alone. A delivery names our outbox row (`tracking_id`) and Zalo's `msg_id`, which must be
the message Zalo accepted for that row (a report may come before the dispatcher records it): the
report of a message that went by SMS instead changes nothing.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, Response, abort, request

from hotline.runtime import runtime
from notifications.dispatcher import record_delivery
from notifications.models import MessageStatus
from notifications.zalo import signed_by_zalo

log = logging.getLogger(__name__)
blueprint = Blueprint("zalo", __name__, url_prefix="/zalo")

RECEIVED = "user_received_message"
TRACKING_ID = re.compile(r"^[0-9]{1,10}$")


@blueprint.post("/events")
def events() -> Response:
    rt = runtime()
    settings = rt.settings
    event: Any = request.get_json(silent=True)
    if not isinstance(event, dict):
        abort(400)
    timestamp = event.get("timestamp")
    if not signed_by_zalo(request.headers.get("X-ZEvent-Signature"), app_id=settings.zalo_app_id,
                          body=request.get_data(cache=True), timestamp=str(timestamp or ""),
                          secret=settings.zalo_oa_secret_key) or str(event.get("app_id", "")) != settings.zalo_app_id:
        abort(403)
    if event.get("event_name") != RECEIVED:
        return Response(status=200)  # other events of the Official Account are not ours to handle
    message = event.get("message")
    fields = message if isinstance(message, dict) else {}
    tracking_id, msg_id = fields.get("tracking_id"), fields.get("msg_id")
    if isinstance(tracking_id, int) and not isinstance(tracking_id, bool):
        tracking_id = str(tracking_id)
    if not (isinstance(tracking_id, str) and isinstance(msg_id, str)):  # a list or an object is no id
        abort(400)
    # ASCII digits of a 32-bit id ('²' is a digit to isdigit(), and PostgreSQL refuses a larger number)
    if not TRACKING_ID.match(tracking_id) or int(tracking_id) >= 2**31 or not msg_id or len(msg_id) > 64:
        abort(400)
    with rt.transaction() as db:
        applied = record_delivery(db, message_id=int(tracking_id), provider_sid=msg_id, status=MessageStatus.DELIVERED,
                                  error_code=None, now=rt.now())
    log.info("zalo delivery report", extra={"event": "zalo.received", "outbox_id": int(tracking_id),
                                             "applied": applied})
    return Response(status=200)
