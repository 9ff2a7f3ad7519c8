"""Reading the SMS outbox in tests, each read in a session of its own (so it sees what others committed)."""

from __future__ import annotations

from datetime import date, time
from typing import Any

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


class PlainLocalizer:
    """The English texts with their parameters filled in, without Flask (what the notices need of a localizer)."""

    language = "en"

    def __init__(self, language: str = "en") -> None:
        """Takes the language a job would localize for; the texts stay English."""

    def gettext(self, message: str, **params: Any) -> str:
        return message % params if params else message

    def day(self, value: date) -> str:
        return value.strftime("%a %d/%m")

    def date(self, value: date) -> str:
        return value.strftime("%d/%m/%Y")

    def time(self, value: time) -> str:
        return value.strftime("%H:%M")
