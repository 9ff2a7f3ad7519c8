"""Outbound campaign calls: placing them (the scheduler's job) and their two signed webhooks.

The job (`place_due_calls`) claims each running campaign's due targets within its hours and rate
(`notifications.campaigns`), commits, and places each call through the waitlist's caller (Twilio's
Calls API, `hotline.waitlist_calls.make_caller`) with our webhooks: `/ivr/campaign/ID`, where the
call enters the hotline's flow engine at `campaign_call` (the campaign's office, the number we rang
as the caller, the soonest sessions with room, booked through the usual hold and confirmation, or
9 to refuse), and `/ivr/campaign/ID/status`, which on no-answer, busy or failure calls again after
the campaign's delay until its attempts are spent, and otherwise ends the call as the hotline does.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Blueprint, Flask, Response, abort
from sqlalchemy import select

from actions import campaigns as campaign_actions
from actions.context import Actor
from booking.models import CampaignTarget, TargetStatus
from hotline.ivr import webhooks
from hotline.ivr.models import Call
from hotline.runtime import runtime
from hotline.twilio_auth import verified_form
from hotline.waitlist_calls import Caller
from notifications.calls import CallRequest
from notifications.campaigns import UNANSWERED

log = logging.getLogger(__name__)
blueprint = Blueprint("campaign_calls", __name__, url_prefix="/ivr/campaign")
SYSTEM = Actor.system("system:campaigns")


def place_due_calls(app: Flask, caller: Caller | None, *, now: datetime | None = None) -> dict[str, int]:
    """Call whoever is due in each running campaign, within its hours and at its rate."""
    counts = {"placed": 0, "refused": 0}
    with app.app_context():
        rt = runtime()
        base = rt.settings.public_base_url.rstrip("/")
        if caller is None or not base:
            return counts  # no number to call from, or no address Twilio can reach (and sign) us at
        now = now or rt.now()
        with rt.transaction() as db:
            claimed = campaign_actions.claim_due(rt.context(db, SYSTEM, now=now), tz=rt.settings.tz)
        for target in claimed:
            url = f"{base}/ivr/campaign/{target.target_id}"
            result = caller.call(CallRequest(to=target.phone, url=url, status_callback=url + "/status"))
            with rt.transaction() as db:
                ctx = rt.context(db, SYSTEM, now=now)
                if result.placed and result.sid:
                    campaign_actions.call_placed(ctx, target_id=target.target_id, sid=result.sid)
                    counts["placed"] += 1
                else:
                    campaign_actions.call_not_reached(ctx, target_id=target.target_id, refused=True,
                                                      why=result.error or "refused")
                    counts["refused"] += 1
            log.info("campaign %s call %s: %s", target.campaign_id, target.target_id,
                     "placed" if result.placed else result.error,
                     extra={"event": "campaign.call", "campaign": target.campaign_id, "placed": result.placed})
    return counts


def _ours(target: CampaignTarget | None, sid: str) -> bool:
    return target is not None and target.last_call_sid is not None and sid == target.last_call_sid


@blueprint.post("/<int:target_id>")
def answered(target_id: int) -> Response:
    """The call we placed was answered: its row is stored to start at `campaign_call`, then the engine runs it."""
    form = verified_form()
    sid = form.get("CallSid", "")
    if not webhooks.CALL_SID.match(sid):
        abort(400)
    rt = runtime()
    now = rt.now()
    with rt.transaction() as db:
        target = db.get(CampaignTarget, target_id)
        if target is None or not _ours(target, sid):
            abort(404)
        if db.get(Call, sid) is None:
            db.add(Call(sid=sid, caller=target.phone, language=rt.settings.default_language, state="campaign_call",
                        retries=0, context={"campaign_target": target.id}, step=0, last_response="",
                        status="active", started_at=now, updated_at=now))
    return webhooks.start_prepared()


@blueprint.post("/<int:target_id>/status")
def status(target_id: int) -> Response:
    """The call's end: not reached → again later (or unreachable); answered without a choice → declined."""
    form = verified_form()
    sid, call_status = form.get("CallSid", ""), form.get("CallStatus", "")
    if not webhooks.CALL_SID.match(sid):
        abort(400)
    rt = runtime()
    with rt.reading() as db:
        target = db.get(CampaignTarget, target_id)
        if not _ours(target, sid) or call_status not in (*UNANSWERED, "completed"):
            return Response(status=204)
        answered_call = db.scalar(select(Call.step).where(Call.sid == sid))
    webhooks.status()  # the hotline's own end of a call: a seat still held is given back, the call counted
    with rt.transaction() as db:
        ctx = rt.context(db, SYSTEM, now=rt.now())
        if call_status in UNANSWERED or not answered_call:
            campaign_actions.call_not_reached(ctx, target_id=target_id, why=call_status, sid=sid)
        else:
            current = db.get(CampaignTarget, target_id)
            if current is not None and current.status is TargetStatus.CALLING:
                campaign_actions.declined(ctx, target_id=target_id)  # heard the offer and hung up
    return Response(status=204)


__all__ = ["blueprint", "place_due_calls"]
