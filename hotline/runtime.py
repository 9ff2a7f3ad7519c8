"""What one app instance owns: its settings, its engine and session factory, its booking policy."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask, current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from actions.context import Actor, Context
from booking.policy import BookingPolicy
from config import Settings
from database.base import utcnow
from hotline.localization import BabelLocalizer
from notifications.policy import SmsPolicy


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    readers: sessionmaker[Session]
    policy: BookingPolicy
    sms: SmsPolicy
    clock: Callable[[], datetime] = field(default=utcnow)  # tests set a fixed time

    def now(self) -> datetime:
        return self.clock()

    def context(self, db: Session, actor: Actor, *, now: datetime | None = None) -> Context:
        """What an action is given: this app's policies and localiser, the actor, the clock."""
        return Context(db=db, actor=actor, now=now or self.clock(), policy=self.policy, sms=self.sms,
                       localizer=BabelLocalizer)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work for a request or a job: commit on success, roll back on any error."""
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A transaction that only reads: a consistent view without taking SQLite's write lock."""
        with self.readers.begin() as session:
            yield session


def runtime(app: Flask | None = None) -> Runtime:
    return (app or current_app).extensions["hotline"]
