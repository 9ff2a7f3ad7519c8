"""A citizen's own choices and requests: notices on or off, a call back from an operator."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from actions import audit
from actions.context import Context
from actions.errors import NotAllowed
from booking.citizens import set_broadcast_opt_out
from booking.models import CallbackRequest, Citizen
from booking.phones import PhoneKind, parse_phone
from notifications import texts
from notifications.models import MessageKind
from notifications.outbox import enqueue


def _own_number(ctx: Context, phone: str | None) -> str:
    """Whose choice this is: the number the citizen proved is theirs, or (staff) the number given."""
    if ctx.actor.is_staff and phone is not None:
        return phone
    if ctx.actor.phone is None:
        raise NotAllowed()  # a typed number is not proof: nobody stops another person's notices
    return ctx.actor.phone


def receives_notices(ctx: Context, *, phone: str | None = None) -> bool:
    citizen = ctx.db.get(Citizen, _own_number(ctx, phone))
    return citizen is None or not citizen.broadcast_opt_out


def set_notices(ctx: Context, *, receive: bool, phone: str | None = None) -> Citizen:
    """Stop or restart broadcast notices for a number (never the texts about one's own appointments)."""
    number = _own_number(ctx, phone)
    citizen = set_broadcast_opt_out(ctx.db, number, opted_out=not receive, now=ctx.now)
    audit.record(ctx.db, actor=ctx.actor.name, action="citizen.notices_on" if receive else "citizen.notices_off",
                 target_type="citizen", target_id=number, now=ctx.now, after={"receives_notices": receive},
                 ip=ctx.actor.ip)
    return citizen


def request_callback(ctx: Context, *, phone: str, language: str, call_sid: str | None,
                     summary: dict[str, Any], by: datetime) -> CallbackRequest:
    """Ask an operator to call back at `phone` (a number to call, which proves nothing about the asker).

    The acknowledgement SMS goes to that number when it is a mobile, so the person knows a call is
    coming, and by when: `by`, the operators' promise (`booking.calendar.operators_promise`).
    """
    request = CallbackRequest(phone=phone, call_sid=call_sid, language=language,
                              context={k: v for k, v in summary.items() if v}, requested_at=ctx.now)
    ctx.db.add(request)
    ctx.db.flush()
    if parse_phone(phone).kind is PhoneKind.MOBILE:
        enqueue(ctx.db, kind=MessageKind.CALLBACK_ACK, recipient=phone, now=ctx.now, policy=ctx.sms,
                body=texts.callback_ack(by=by.astimezone(ctx.sms.timezone),
                                        today=ctx.now.astimezone(ctx.sms.timezone).date(), loc=ctx.loc(language)),
                language=language,
                dedupe_key=f"callback:{call_sid or request.id}")
    audit.record(ctx.db, actor=ctx.actor.name, action="callback.request", target_type="callback",
                 target_id=request.id, now=ctx.now, after={"phone": phone, "language": language}, ip=ctx.actor.ip)
    return request
