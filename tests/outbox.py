"""Reading the SMS outbox in tests, each read in a session of its own (so it sees what others committed)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from notifications.models import OutboxMessage


def fetch(sessions: sessionmaker[Session], message_id: int) -> OutboxMessage:
    with sessions() as session:
        message = session.get(OutboxMessage, message_id)
        assert message is not None
        return message


def fetch_all(sessions: sessionmaker[Session]) -> list[OutboxMessage]:
    with sessions() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
