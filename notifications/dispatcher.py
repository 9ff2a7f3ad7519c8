"""The dispatcher: takes due messages from the outbox and sends them, in as many processes as run.

Delivery is *at least once*. A batch is claimed (status `sending`) and committed before anything
is sent, so two dispatchers never claim the same message: PostgreSQL's `FOR UPDATE SKIP LOCKED`
lets each take different rows without waiting, and SQLite runs one writer at a time. Results are
recorded after the sends. If a process dies between sending and recording, its claims outlive
their lease and go back to the queue: nothing is lost, but a message that had reached the
provider may be sent a second time. Twilio offers no idempotency key that would let us promise
exactly once, and a duplicate appointment text is less harmful than a missing one. eSMS does
(notifications.esms): each send carries the outbox id as its RequestId, the gateway refuses a
RequestId it has seen, and the sender takes that refusal for the acceptance it is, so through
eSMS each outbox row is one SMS however often it is handed over.

A live dispatcher keeps its claims however slowly the provider answers: every half lease, while
a batch is still in flight, it records the answers already in and renews the claims on the rest.
So a claim lapses only when its dispatcher stopped renewing it, because it died (or was frozen,
or cut off from the database, for longer than a lease), and only then does a message go twice.
"""

from __future__ import annotations

import logging
import threading
import time as clock
from collections import Counter
from collections.abc import Callable, Collection
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, joinedload, sessionmaker

from booking.models import Booking, BookingStatus, Citizen, OfficeSession
from booking.phones import PhoneKind, parse_phone
from booking.errors import InvalidPhone
from notifications import reminders
from notifications.models import Broadcast, BroadcastStatus, MessageKind, MessageStatus, OutboxMessage
from notifications.policy import SmsPolicy
from notifications.senders import Outgoing, Sender, SendResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DispatchConfig:
    batch: int = 50
    rate: float = 10.0  # messages a second, for this process
    concurrency: int = 4  # sends in flight at once
    max_attempts: int = 6
    backoff: timedelta = timedelta(seconds=30)
    backoff_cap: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(minutes=5)  # a claim not renewed for this long is taken back


class RateLimiter:
    """Spaces calls evenly at `rate` a second across threads."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = clock.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = clock.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            clock.sleep(start - now)


def claim(session: Session, *, now: datetime, policy: SmsPolicy, limit: int, worker: str) -> list[OutboxMessage]:
    """Mark up to `limit` due messages as being sent by `worker`; in quiet hours only urgent ones."""
    due = select(OutboxMessage.id).where(OutboxMessage.status == MessageStatus.QUEUED, OutboxMessage.due_at <= now)
    if policy.in_quiet_hours(now):
        due = due.where(OutboxMessage.urgent.is_(True))
    due = due.order_by(OutboxMessage.due_at, OutboxMessage.id).limit(limit).with_for_update(skip_locked=True)
    ids = session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(due.scalar_subquery()))
        .values(status=MessageStatus.SENDING, attempts=OutboxMessage.attempts + 1, claimed_at=now,
                claimed_by=worker, updated_at=now)
        .returning(OutboxMessage.id)
    ).scalars().all()
    if not ids:
        return []
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))
                                .order_by(OutboxMessage.due_at, OutboxMessage.id)
                                .execution_options(populate_existing=True)))


def renew(session: Session, *, ids: Collection[int], worker: str, now: datetime) -> set[int]:
    """Extend `worker`'s claims on these messages from `now`; return the ones it still holds.

    A claim taken back meanwhile (its lease ran out before this renewal) belongs to whoever holds
    the message now, and is left alone.
    """
    if not ids:
        return set()
    return set(session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.status == MessageStatus.SENDING,
                                    OutboxMessage.claimed_by == worker)
        .values(claimed_at=now).returning(OutboxMessage.id)).scalars())


def _refuse(session: Session, messages: list[OutboxMessage], now: datetime) -> list[OutboxMessage]:
    """Settle what must not be sent at all, or not yet; return the rest.

    SMS reaches mobiles only; a broadcast that is not urgent skips people who opted out after it
    was queued (their own confirmations and urgent notices still go); a message of a broadcast
    paused or cancelled since it was queued waits or ends with it, even one whose claim was taken
    back after its lease. A reminder is dropped when its booking was cancelled, has moved (the
    text tells of the old appointment, whichever way the move was made), is in a session closed
    since, or when its arrival time has come and it can no longer help.
    """
    notices = [m.recipient for m in messages if m.kind is MessageKind.BROADCAST and not m.urgent]
    opted_out = set(session.scalars(select(Citizen.phone).where(
        Citizen.phone.in_(notices), Citizen.broadcast_opt_out.is_(True)))) if notices else set()
    stopped = _stopped(session, {m.broadcast_id for m in messages if m.broadcast_id is not None})
    reminded = [m.booking_id for m in messages if m.kind is MessageKind.REMINDER and m.booking_id is not None]
    live = {booking.id: (booking, closed) for booking, closed in session.execute(
        select(Booking, OfficeSession.closed).join(OfficeSession, OfficeSession.id == Booking.session_id)
        .where(Booking.id.in_(reminded), Booking.status == BookingStatus.BOOKED)
        .options(joinedload(Booking.office)))} if reminded else {}
    sendable = []
    for message in messages:
        try:
            mobile = parse_phone(message.recipient).kind is PhoneKind.MOBILE
        except InvalidPhone:
            mobile = False
        stop = stopped.get(message.broadcast_id or 0)
        if not mobile:
            _settle(message, MessageStatus.FAILED, now, "not_mobile", "SMS goes to mobile numbers only")
        elif message.kind is MessageKind.BROADCAST and not message.urgent and message.recipient in opted_out:
            _settle(message, MessageStatus.CANCELLED, now, "opted_out", "the recipient opted out of notices")
        elif stop is BroadcastStatus.CANCELLED:
            _settle(message, MessageStatus.CANCELLED, now, "cancelled", "the broadcast was cancelled")
        elif stop is BroadcastStatus.PAUSED:
            _settle(message, MessageStatus.HELD, now, None, None)
            message.attempts -= 1  # claimed, not tried
        elif message.kind is not MessageKind.REMINDER or message.booking_id is None \
                or _remind(message, live.get(message.booking_id), now):
            sendable.append(message)
    return sendable


def _remind(message: OutboxMessage, live: tuple[Booking, bool] | None, now: datetime) -> bool:
    """Whether a reminder may go; if not, it is settled here.

    One dropped because its appointment moved or its session closed gives its key back: should the
    booking come back to that appointment, or the session open again, the reminder job may queue
    it anew.
    """
    booking, closed = live or (None, False)
    if booking is None:
        problem = ("booking_gone", "the booking is no longer booked")
    elif not reminders.is_current(message.dedupe_key, booking):
        problem = reminders.MOVED_AWAY
    elif closed:
        problem = ("session_closed", "the session has been closed")
    elif now >= reminders.arrival(booking):
        problem = ("too_late", "the arrival time has come")
    else:
        return True
    _settle(message, MessageStatus.CANCELLED, now, *problem)
    if problem[0] in (reminders.MOVED_AWAY[0], "session_closed"):
        message.dedupe_key = None
    return False


def _stopped(session: Session, broadcast_ids: set[int]) -> dict[int, BroadcastStatus]:
    """The broadcasts among these that are paused or cancelled."""
    if not broadcast_ids:
        return {}
    return {broadcast_id: status for broadcast_id, status in session.execute(
        select(Broadcast.id, Broadcast.status).where(
            Broadcast.id.in_(broadcast_ids),
            Broadcast.status.in_([BroadcastStatus.PAUSED, BroadcastStatus.CANCELLED])))}


def _settle(message: OutboxMessage, status: MessageStatus, now: datetime, code: str | None, reason: str | None) -> None:
    message.status, message.error_code, message.error_message, message.updated_at = status, code, reason, now
    message.claimed_at = message.claimed_by = None


def _record_all(session: Session, results: list[tuple[int, SendResult]], now: datetime,
                config: DispatchConfig, worker: str) -> Counter[str]:
    """Write a batch's outcomes: the accepted ones in one executemany UPDATE, the rest one by one."""
    counts: Counter[str] = Counter()
    accepted = [(message_id, result) for message_id, result in results if result.outcome == "accepted"]
    if accepted:
        table = OutboxMessage.__table__
        # The provider has it, whatever became of our claim: taken back after its lease (queued,
        # held or cancelled with its broadcast) or even claimed again by another dispatcher, the
        # message is sent, and saying so stops a further send (the other dispatcher's failure is
        # then no reason to retry). Only what the provider itself reported (a status callback may
        # come first) is left as it is; and the first send recorded keeps its sid, which the
        # callbacks are matched on.
        unsent = or_(*[table.c.status == s.value for s in (MessageStatus.QUEUED, MessageStatus.HELD,
                                                            MessageStatus.SENDING, MessageStatus.CANCELLED)])
        session.execute(
            table.update().where(table.c.id == bindparam("message_id")).values(
                provider_sid=func.coalesce(table.c.provider_sid, bindparam("sid")), sent_at=now, updated_at=now,
                claimed_at=None, claimed_by=None, error_code=None, error_message=None,
                channel=bindparam("channel"), zalo_error=func.coalesce(bindparam("zalo_error"), table.c.zalo_error),
                status=case((unsent, MessageStatus.SENT.value), else_=table.c.status)),
            [{"message_id": message_id, "sid": result.provider_sid, "channel": result.channel,
              "zalo_error": result.zalo_error} for message_id, result in accepted])
        counts["sent"] = len(accepted)
    failed = {message_id: result for message_id, result in results if result.outcome != "accepted"}
    if not failed:
        return counts
    messages = list(session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(failed))))
    stopped = _stopped(session, {m.broadcast_id for m in messages if m.broadcast_id is not None})
    for message in messages:
        result = failed[message.id]
        if message.status is not MessageStatus.SENDING or message.claimed_by != worker:
            counts["skipped"] += 1  # taken back after its lease: settled, or claimed again, elsewhere
            continue
        # Zalo's refusal is kept whatever became of the SMS sent instead, so that a retry goes by SMS alone.
        message.channel, message.zalo_error = result.channel, result.zalo_error or message.zalo_error
        if result.outcome == "transient" and message.attempts < config.max_attempts:
            delay = min(config.backoff_cap, config.backoff * (2 ** (message.attempts - 1)))
            # A retry of a broadcast paused or cancelled meanwhile waits with it, or ends with it.
            stop = stopped.get(message.broadcast_id or 0)
            state = MessageStatus.QUEUED if stop is None else {
                BroadcastStatus.PAUSED: MessageStatus.HELD, BroadcastStatus.CANCELLED: MessageStatus.CANCELLED}[stop]
            _settle(message, state, now, result.error_code, result.error_message)
            message.due_at = now + delay
            counts["retry"] += 1
        else:
            _settle(message, MessageStatus.FAILED, now, result.error_code, result.error_message)
            counts["failed"] += 1
    return counts


def dispatch_once(sessions: sessionmaker[Session], sender: Sender, *, now: Callable[[], datetime],
                  policy: SmsPolicy, config: DispatchConfig, worker: str,
                  status_callback: Callable[[int], str] | None = None,
                  limiter: RateLimiter | None = None, pool: Executor | None = None) -> Counter[str]:
    """Claim one batch, send it, record the outcomes. Returns counts by outcome.

    A long-running dispatcher passes its own `pool` (and `limiter`), so that sending threads,
    and the connections each keeps to the provider, last from batch to batch.
    """
    counts: Counter[str] = Counter()
    claimed_from = clock.monotonic()
    with sessions.begin() as session:
        claimed = claim(session, now=now(), policy=policy, limit=config.batch, worker=worker)
        sendable = _refuse(session, claimed, now())
        counts["refused"] = len(claimed) - len(sendable)
        outgoing = [Outgoing(m.id, m.recipient, m.body, status_callback(m.id) if status_callback else None,
                             kind=m.kind.value, params=m.params, attempt=m.attempts, sms_only=m.zalo_error is not None)
                    for m in sendable]
        claimed_ids = {m.id for m in claimed}
        if not outgoing:
            _finish_broadcasts(session, claimed_ids, now())
    if not outgoing:
        return counts
    limiter = limiter or RateLimiter(config.rate)

    def send(message: Outgoing) -> tuple[int, SendResult]:
        limiter.wait()
        try:
            return message.id, sender.send(message)
        except Exception as exc:  # a sender bug must not lose the batch: retry it later
            log.exception("sender failed", extra={"outbox_id": message.id})
            return message.id, SendResult("transient", error_code="error", error_message=str(exc)[:500])

    batch = _Batch(sessions, now=now, config=config, worker=worker, renewed=claimed_from, counts=counts)
    if pool is None:
        with ThreadPoolExecutor(max_workers=max(1, config.concurrency)) as own:
            results = batch.send(own, send, outgoing)
    else:
        results = batch.send(pool, send, outgoing)
    with sessions.begin() as session:
        counts.update(_record_all(session, results, now(), config, worker))
        _finish_broadcasts(session, claimed_ids, now())
    return counts


class _Batch:
    """A claimed batch in flight: its claims are renewed every half lease until the last answer is in."""

    def __init__(self, sessions: sessionmaker[Session], *, now: Callable[[], datetime], config: DispatchConfig,
                 worker: str, renewed: float, counts: Counter[str]) -> None:
        self._sessions, self._now, self._config, self._worker = sessions, now, config, worker
        self._interval = config.lease.total_seconds() / 2
        self._due = renewed + self._interval  # monotonic time of the next renewal
        self._counts = counts

    def send(self, pool: Executor, send: Callable[[Outgoing], tuple[int, SendResult]],
             outgoing: list[Outgoing]) -> list[tuple[int, SendResult]]:
        """Send every message; return the outcomes not recorded yet."""
        futures = {pool.submit(send, message): message.id for message in outgoing}
        pending: set[Future[tuple[int, SendResult]]] = set(futures)
        answered: list[tuple[int, SendResult]] = []
        while pending:
            done, pending = wait(pending, timeout=max(0.0, self._due - clock.monotonic()))
            answered += [future.result() for future in done]
            if not pending:
                break
            held = self._renew(answered, [futures[future] for future in pending])
            if held is None:
                continue  # the database did not answer: try again soon, the lease still runs
            answered = []
            # A message whose claim was taken back goes out from whoever holds it now; one being
            # sent already cannot be stopped, and its outcome is recorded as a late one.
            lost = {future for future in pending if futures[future] not in held and future.cancel()}
            self._counts["skipped"] += len(lost)
            pending -= lost
        return answered

    def _renew(self, answered: list[tuple[int, SendResult]], in_flight: list[int]) -> set[int] | None:
        """Record the answers in so far and renew the claims on the rest; None if the database failed."""
        started = clock.monotonic()
        try:
            with self._sessions.begin() as session:
                recorded = _record_all(session, answered, self._now(), self._config, self._worker)
                held = renew(session, ids=in_flight, worker=self._worker, now=self._now())
        except SQLAlchemyError:
            log.warning("could not renew the claims of a batch in flight", exc_info=True)
            self._due = clock.monotonic() + min(self._interval / 4, 5.0)
            return None
        self._counts.update(recorded)
        self._due = started + self._interval
        return held


def _finish_broadcasts(session: Session, message_ids: set[int], now: datetime) -> None:
    """A broadcast is done when none of its messages waits any more."""
    if not message_ids:
        return  # an idle poll: nothing was claimed, so no broadcast can have finished
    ids = set(session.scalars(select(OutboxMessage.broadcast_id).where(
        OutboxMessage.id.in_(message_ids), OutboxMessage.broadcast_id.is_not(None))))
    for broadcast_id in ids:
        waiting = session.scalar(select(OutboxMessage.id).where(
            OutboxMessage.broadcast_id == broadcast_id,
            OutboxMessage.status.in_([MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.HELD])).limit(1))
        if waiting is None:
            session.execute(update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status == "sending")
                            .values(status="done", updated_at=now))


def recover_stale_claims(session: Session, *, now: datetime, lease: timedelta) -> int:
    """Claims older than the lease belong to a dispatcher that died: put them back in the queue.

    A message of a broadcast paused or cancelled meanwhile (pausing and cancelling leave claimed
    messages alone) is held or cancelled with it instead.
    """
    broadcast = select(Broadcast.status).where(Broadcast.id == OutboxMessage.broadcast_id).scalar_subquery()
    status = case((broadcast == BroadcastStatus.PAUSED.value, MessageStatus.HELD.value),
                  (broadcast == BroadcastStatus.CANCELLED.value, MessageStatus.CANCELLED.value),
                  else_=MessageStatus.QUEUED.value)
    return len(session.execute(
        update(OutboxMessage).where(OutboxMessage.status == MessageStatus.SENDING,
                                    OutboxMessage.claimed_at < now - lease)
        .values(status=status, due_at=now, claimed_at=None, claimed_by=None, updated_at=now)
        .returning(OutboxMessage.id)).all())


# Our message states, ranked: a delivery report may only move a message forward.
_RANK = {MessageStatus.QUEUED: 0, MessageStatus.HELD: 0, MessageStatus.SENDING: 1, MessageStatus.SENT: 2,
         MessageStatus.DELIVERED: 3, MessageStatus.UNDELIVERED: 3, MessageStatus.FAILED: 3,
         MessageStatus.CANCELLED: 3}
_FROM_TWILIO = {"accepted": MessageStatus.SENT, "queued": MessageStatus.SENT, "sending": MessageStatus.SENT,
                "sent": MessageStatus.SENT, "delivered": MessageStatus.DELIVERED,
                "undelivered": MessageStatus.UNDELIVERED, "failed": MessageStatus.FAILED}


def record_status(session: Session, *, message_id: int, provider_sid: str, provider_status: str,
                  error_code: str | None, now: datetime) -> bool:
    """Apply a delivery report of Twilio's; duplicates and reports that arrive out of order change nothing."""
    new = _FROM_TWILIO.get(provider_status)
    if new is None:
        return False
    return record_delivery(session, message_id=message_id, provider_sid=provider_sid, status=new,
                           error_code=error_code, now=now)


def record_delivery(session: Session, *, message_id: int, provider_sid: str, status: MessageStatus,
                    error_code: str | None, now: datetime) -> bool:
    """Apply a delivery report, in our states, from any provider; it only ever moves a message forward.

    A report names the message by our id and the provider's; one for another provider id than the
    one recorded changes nothing, and the first report of a message whose send was never recorded
    (or was recorded without an id) gives it the id.
    """
    lower = [earlier for earlier, rank in _RANK.items() if rank < _RANK[status]]
    query = update(OutboxMessage).where(OutboxMessage.id == message_id, OutboxMessage.status.in_(lower),
                                        (OutboxMessage.provider_sid.is_(None))
                                        | (OutboxMessage.provider_sid == provider_sid))
    values: dict[str, object] = {"status": status, "updated_at": now, "provider_sid": provider_sid,
                                 "claimed_at": None}
    if error_code:
        values["error_code"] = error_code[:16]
    return len(session.execute(query.values(values).returning(OutboxMessage.id)).all()) == 1
