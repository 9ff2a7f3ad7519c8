"""Personal data kept only as long as its purpose needs (Law 91/2025/QH15): the nightly purge, and the erasures it shares with a citizen's own request.

Records are anonymised rather than deleted wherever a report counts them: a booking keeps its office,
date, session, status, channel and procedure; a message its kind, status, segments and dates; a call
its outcome, states and durations. What identifies a person (names, numbers, what they typed or said,
texts sent to them) goes. Every step selects only rows it has not yet changed, so running it twice
changes nothing the second time, and it works in batches, each committed on its own, so that a first
run over years of records never holds the tables locked for long.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, String, Table, Text, cast, case, delete, exists, literal, null, select, update
from sqlalchemy.orm import Session

from accounts.models import LoginAttempt
from actions.models import AuditEntry
from booking.models import (Booking, BookingEvent, CallbackRequest, Campaign, CampaignStatus, CampaignTarget, Citizen,
                            WaitlistEntry, WaitlistStatus)
from database.base import Base
from notifications.models import Broadcast, BroadcastNumber, BroadcastStatus, MessageStatus, OutboxMessage

ERASED = "erased"  # what stands where a number or a name was
SMS_ACTOR = "sms:"  # an SMS sender's actor name carries their number (actions.context.Actor.sms_sender)
# Messages whose outcome is known; one still to be sent keeps its text and recipient until it has gone.
FINISHED = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.UNDELIVERED, MessageStatus.FAILED,
            MessageStatus.CANCELLED)
_E164 = re.compile(r"^\+\d{6,15}$")
BATCH = 500

Begin = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class Retention:
    """Days each kind of record keeps personal data (the RETENTION_* settings explain the defaults)."""

    booking_days: int = 365
    sms_days: int = 90
    call_days: int = 30
    login_attempt_days: int = 90
    audit_days: int = 1825


def calls_table() -> Table:
    """The calls (`hotline.ivr.models.Call`), through the metadata: the application layer does not import the
    edge that owns them, and whatever runs this has the hotline's models registered, as for
    `callback_requests.call_sid`."""
    return Base.metadata.tables["calls"]


def mask(phone: str) -> str:
    """A number as the audit log may keep it: its last three digits, which tell two requests apart but
    name nobody."""
    return "…" + phone[-3:]


def _batches(db: Session, ids: Select[Any], size: int) -> Iterator[list[Any]]:
    """Ids of rows still to change, `size` at a time; each batch must stop matching `ids` once changed."""
    while found := list(db.scalars(ids.limit(size))):
        yield found


def _sms_actor(column: Any) -> Any:
    return case((column.like(SMS_ACTOR + "%"), literal(SMS_ACTOR + ERASED)), else_=column)


# -- one kind of record each: shared by the purge (what has expired) and an erasure (one number) -----

def anonymise_bookings(db: Session, where: ColumnElement[bool], *, size: int = BATCH) -> int:
    """Bookings lose their name and number, their history its free-text reasons and SMS senders' numbers.

    The number becomes `erased:ID`, unique per booking: a phone holds one live booking per session, and
    the reports still count every row.
    """
    done = 0
    query = select(Booking.id).where(where, Booking.phone.not_like(ERASED + ":%")).order_by(Booking.id)
    for ids in _batches(db, query, size):
        db.execute(update(Booking).where(Booking.id.in_(ids)).values(
            phone=literal(ERASED + ":") + cast(Booking.id, String), name=None, created_by=_sms_actor(Booking.created_by)),
            execution_options={"synchronize_session": False})
        db.execute(update(BookingEvent).where(BookingEvent.booking_id.in_(ids)).values(actor=_sms_actor(BookingEvent.actor)),
                   execution_options={"synchronize_session": False})
        db.execute(update(BookingEvent).where(BookingEvent.booking_id.in_(ids), BookingEvent.action == "cancelled")
                   .values(detail={}), execution_options={"synchronize_session": False})
        done += len(ids)
    return done


LIVE_WAITLIST = (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)


def anonymise_waitlist(db: Session, where: ColumnElement[bool], *, size: int = BATCH) -> int:
    """Waitlist entries that are over (accepted, declined, expired, left) lose their name and number, as
    bookings do; one still waiting or offered a seat is left alone, since it may still call or text."""
    done = 0
    query = (select(WaitlistEntry.id).where(where, WaitlistEntry.status.not_in(LIVE_WAITLIST),
                                            WaitlistEntry.phone.not_like(ERASED + ":%")).order_by(WaitlistEntry.id))
    for ids in _batches(db, query, size):
        db.execute(update(WaitlistEntry).where(WaitlistEntry.id.in_(ids)).values(
            phone=literal(ERASED + ":w") + cast(WaitlistEntry.id, String), name=None,
            created_by=_sms_actor(WaitlistEntry.created_by)), execution_options={"synchronize_session": False})
        done += len(ids)
    return done


def anonymise_campaign_targets(db: Session, where: ColumnElement[bool], *, size: int = BATCH) -> int:
    """Campaign targets lose their name and number (`erased:ID`, as an erasure leaves them); their outcome,
    attempts and last call's time stay, which the campaign reports count."""
    done = 0
    query = (select(CampaignTarget.id).where(where, CampaignTarget.phone.not_like(ERASED + ":%")
                                             | CampaignTarget.name.is_not(None)).order_by(CampaignTarget.id))
    for ids in _batches(db, query, size):
        db.execute(update(CampaignTarget).where(CampaignTarget.id.in_(ids)).values(
            phone=literal(ERASED + ":") + cast(CampaignTarget.id, String), name=None),
            execution_options={"synchronize_session": False})
        done += len(ids)
    return done


def anonymise_messages(db: Session, where: ColumnElement[bool], *, size: int = BATCH) -> int:
    """Sent (or given up) messages lose their text, recipient, Zalo template parameters (the text again) and
    the providers' error texts (SMS and Zalo); a broadcast's de-duplication key, which carries the number,
    goes too."""
    done = 0
    query = (select(OutboxMessage.id).where(where, OutboxMessage.status.in_(FINISHED), OutboxMessage.recipient != ERASED)
             .order_by(OutboxMessage.id))
    for ids in _batches(db, query, size):
        db.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(
            recipient=ERASED, body="", error_message=None, params=None,
            # The SMS report counts the messages sent after Zalo could not deliver: that it failed stays.
            zalo_error=case((OutboxMessage.zalo_error.is_not(None), literal(ERASED)), else_=null()),
            dedupe_key=case((OutboxMessage.dedupe_key.like("broadcast:%"), null()), else_=OutboxMessage.dedupe_key)),
            execution_options={"synchronize_session": False})
        done += len(ids)
    return done


def anonymise_calls(db: Session, where: Callable[[Table], ColumnElement[bool]], *, size: int = BATCH) -> int:
    """Calls lose the caller's number, what they collected (spoken words included) and the last answer sent."""
    calls = calls_table()
    done = 0
    query = select(calls.c.sid).where(where(calls), calls.c.caller != ERASED).order_by(calls.c.sid)
    for sids in _batches(db, query, size):
        db.execute(update(calls).where(calls.c.sid.in_(sids)).values(
            caller=ERASED, context={}, last_response="", last_token=None))
        done += len(sids)
    return done


def anonymise_callbacks(db: Session, where: ColumnElement[bool], *, size: int = BATCH) -> int:
    done = 0
    query = select(CallbackRequest.id).where(where, CallbackRequest.phone != ERASED).order_by(CallbackRequest.id)
    for ids in _batches(db, query, size):
        db.execute(update(CallbackRequest).where(CallbackRequest.id.in_(ids)).values(phone=ERASED, context={}, note=""),
                   execution_options={"synchronize_session": False})
        done += len(ids)
    return done


def _redacted(value: Any, personal: Callable[[str], bool]) -> Any:
    if isinstance(value, dict):
        return {k: _redacted(v, personal) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, personal) for v in value]
    if isinstance(value, str) and personal(value):
        return ERASED
    return value


def redact_audit(db: Session, where: ColumnElement[bool], personal: Callable[[str], bool], *,
                 size: int = BATCH) -> int:
    """Audit entries keep who did what and when; the numbers they name (in the state before and after, the
    target, an SMS sender's actor name) become `erased`. `where` narrows the entries read, `personal` says
    which values go. Read by id, a page at a time: an entry matched but left as it was is not read again."""
    done, last = 0, 0
    while entries := list(db.scalars(select(AuditEntry).where(where, AuditEntry.id > last)
                                      .order_by(AuditEntry.id).limit(size))):
        for entry in entries:
            before, after = _redacted(entry.before, personal), _redacted(entry.after, personal)
            target = ERASED if personal(entry.target_id) else entry.target_id
            actor = SMS_ACTOR + ERASED if entry.actor.startswith(SMS_ACTOR) and personal(
                entry.actor[len(SMS_ACTOR):]) else entry.actor
            if (before, after, target, actor) != (entry.before, entry.after, entry.target_id, entry.actor):
                entry.before, entry.after, entry.target_id, entry.actor = before, after, target, actor
                done += 1
        last = entries[-1].id
        db.flush()
    return done


def mentions(text: str) -> ColumnElement[bool]:
    """Audit entries whose text anywhere contains `text` (a narrowing for `redact_audit`, read as JSON text)."""
    pattern = f"%{text}%"
    return (cast(AuditEntry.before, Text).like(pattern) | cast(AuditEntry.after, Text).like(pattern)
            | AuditEntry.target_id.like(pattern) | AuditEntry.actor.like(pattern))


def forget_citizens(db: Session, where: ColumnElement[bool], *, size: int = BATCH) -> int:
    """Citizens with nothing left under their number are deleted, unless they asked for no notices: that
    choice is kept (without their name), since forgetting it would send them notices again."""
    still_used = (exists().where(Booking.phone == Citizen.phone) | exists().where(WaitlistEntry.phone == Citizen.phone)
                  | exists().where(CallbackRequest.phone == Citizen.phone, CallbackRequest.done_at.is_(None)))
    done = 0
    gone = select(Citizen.phone).where(where, ~still_used, Citizen.broadcast_opt_out.is_(False))
    for phones in _batches(db, gone, size):
        db.execute(delete(Citizen).where(Citizen.phone.in_(phones)), execution_options={"synchronize_session": False})
        done += len(phones)
    nameless = select(Citizen.phone).where(where, ~still_used, Citizen.broadcast_opt_out.is_(True),
                                           Citizen.name.is_not(None))
    for phones in _batches(db, nameless, size):
        db.execute(update(Citizen).where(Citizen.phone.in_(phones)).values(name=None),
                   execution_options={"synchronize_session": False})
        done += len(phones)
    return done


def _delete(db: Session, table: Any, where: ColumnElement[bool], *, size: int) -> int:
    done = 0
    for ids in _batches(db, select(table.id).where(where).order_by(table.id), size):
        db.execute(delete(table).where(table.id.in_(ids)), execution_options={"synchronize_session": False})
        done += len(ids)
    return done


# -- the nightly purge -------------------------------------------------------------------------------

def _e164(value: str) -> bool:
    return bool(_E164.match(value))


def purge(begin: Begin, *, now: datetime, tz: ZoneInfo, retention: Retention, size: int = BATCH) -> dict[str, int]:
    """Anonymise or delete what has outlived its retention; returns how many rows each step changed.

    `begin` opens a transaction (`Runtime.transaction`, `sessionmaker.begin`): each kind is purged in one
    of its own, batch after batch.
    """
    today = now.astimezone(tz).date()
    booking_cutoff = today - timedelta(days=retention.booking_days)
    booking_instant = now - timedelta(days=retention.booking_days)
    sms_cutoff = now - timedelta(days=retention.sms_days)
    call_cutoff = now - timedelta(days=retention.call_days)
    steps: dict[str, Callable[[Session], int]] = {
        "bookings": lambda db: anonymise_bookings(db, Booking.date < booking_cutoff, size=size),
        "waitlist": lambda db: anonymise_waitlist(db, WaitlistEntry.date < booking_cutoff, size=size),
        "messages": lambda db: anonymise_messages(db, OutboxMessage.created_at < sms_cutoff, size=size),
        "broadcast_numbers": lambda db: _forget_broadcast_numbers(db, sms_cutoff),
        # A campaign's list is kept as long as bookings are, counted from the day the campaign ended.
        "campaign_targets": lambda db: anonymise_campaign_targets(db, CampaignTarget.campaign_id.in_(
            select(Campaign.id).where(Campaign.status.in_(CAMPAIGN_OVER), Campaign.updated_at < booking_instant)),
            size=size),
        "calls": lambda db: anonymise_calls(db, lambda calls: calls.c.started_at < call_cutoff, size=size),
        "callbacks": lambda db: anonymise_callbacks(
            db, CallbackRequest.done_at.is_not(None) & (CallbackRequest.done_at < call_cutoff), size=size),
        "citizens": lambda db: forget_citizens(db, Citizen.created_at < booking_instant, size=size),
        "login_attempts": lambda db: _delete(
            db, LoginAttempt, LoginAttempt.at < now - timedelta(days=retention.login_attempt_days), size=size),
        # A JSON string starting with "+" is a number in E.164: only those entries are read.
        "audit_redacted": lambda db: redact_audit(db, (AuditEntry.at < booking_instant) & (
            mentions('"+') | AuditEntry.target_id.like("+%") | AuditEntry.actor.like(SMS_ACTOR + "+%")), _e164,
            size=size),
        "audit_deleted": lambda db: _delete(
            db, AuditEntry, AuditEntry.at < now - timedelta(days=retention.audit_days), size=size),
    }
    counts = {}
    for name, step in steps.items():
        with begin() as db:
            counts[name] = step(db)
    return counts


CAMPAIGN_OVER = (CampaignStatus.DONE, CampaignStatus.CANCELLED)
# Broadcasts whose uploaded list has no more use once old: over, or a draft nobody sent in all that time.
LIST_UNUSED = (BroadcastStatus.DONE, BroadcastStatus.CANCELLED, BroadcastStatus.DRAFT)


def _forget_broadcast_numbers(db: Session, cutoff: datetime) -> int:
    """An uploaded audience's numbers go once its broadcast is over, or has stayed a draft (unchanged) since
    `cutoff`; the broadcast keeps how many it reached."""
    over = select(Broadcast.id).where(Broadcast.status.in_(LIST_UNUSED),
                                      Broadcast.updated_at < cutoff,
                                      exists().where(BroadcastNumber.broadcast_id == Broadcast.id))
    done = 0
    for broadcast_id in list(db.scalars(over)):
        result = db.execute(delete(BroadcastNumber).where(BroadcastNumber.broadcast_id == broadcast_id),
                            execution_options={"synchronize_session": False})
        done += getattr(result, "rowcount", 0) or 0
    return done
