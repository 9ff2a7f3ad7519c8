"""Putting messages in the outbox, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from notifications.models import MessageKind, MessageStatus, OutboxMessage
from notifications.policy import SmsPolicy
from notifications.sms import size_of


def enqueue(session: Session, *, kind: MessageKind, recipient: str, body: str, language: str, now: datetime,
            policy: SmsPolicy, due_at: datetime | None = None, urgent: bool | None = None,
            booking_id: int | None = None, dedupe_key: str | None = None,
            params: dict[str, str] | None = None) -> OutboxMessage | None:
    """Queue one SMS; with a `dedupe_key` already queued, queue nothing and return None.

    The row commits or rolls back with the change it announces: no booking without its
    confirmation, and no confirmation of a booking that was rolled back. The policy adds the
    brandname, chooses diacritics or plain letters, and holds non-urgent texts past quiet hours.
    `params` are the Zalo template's parameters, for a sender that tries Zalo first; the SMS is `body`.
    """
    urgent = policy.is_urgent(kind) if urgent is None else urgent
    body = policy.text(body)
    due_at = policy.due(due_at or now, urgent=urgent)
    size = size_of(body)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(OutboxMessage).values(
        kind=kind, recipient=recipient, body=body, language=language, encoding=size.encoding,
        segments=size.segments, urgent=urgent, status=MessageStatus.QUEUED, due_at=due_at, attempts=0,
        booking_id=booking_id, dedupe_key=dedupe_key, created_at=now, updated_at=now, channel="sms", params=params,
    )
    if dedupe_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["dedupe_key"])
    return session.scalars(stmt.returning(OutboxMessage)).one_or_none()

