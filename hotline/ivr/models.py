"""Calls in progress: the hotline's state lives here, not in a process.

Any web worker can serve a call's next webhook because everything about the call (where the
caller is in the flow, what they chose, the last answer sent) is in its row, keyed by the
telephony provider's call id. The row also keeps what the call came to (its outcome, when a
booking was made, where in the flow it ended, how long it lasted) for the call centre's figures
(`hotline/ivr/call_reports.py`, `/metrics`).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from database.base import Base, UTCDateTime, str_enum


class CallOutcome(enum.StrEnum):
    """What a call came to. The webhooks derive it from the states of the flow the call entered."""

    CHECKED = "checked"  # heard their bookings or one booking's details
    BOOKED = "booked"
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"
    CALLBACK = "callback"  # asked an operator to call back
    TRANSFERRED = "transferred"  # an operator answered
    HUNG_UP = "hung_up"  # ended with none of the above; `ended_in` says where


# What the caller did by themselves, without an operator: the call was "contained".
SELF_SERVICE = frozenset({CallOutcome.CHECKED, CallOutcome.BOOKED, CallOutcome.CANCELLED, CallOutcome.RESCHEDULED})

# A later outcome replaces the first only when it weighs more: a caller must hear a booking
# before cancelling it, and cancelled; one who booked and then reached an operator was not
# contained. Between changes of equal weight (booked, then moved) the first stands.
_WEIGHT = {CallOutcome.HUNG_UP: 0, CallOutcome.CHECKED: 1, CallOutcome.BOOKED: 2, CallOutcome.CANCELLED: 2,
           CallOutcome.RESCHEDULED: 2, CallOutcome.CALLBACK: 3, CallOutcome.TRANSFERRED: 4}


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_status_updated", "status", "updated_at"),
                      Index("ix_calls_started_at", "started_at"))

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    caller: Mapped[str] = mapped_column(String(40), default="")  # as the network gave it, maybe withheld
    language: Mapped[str] = mapped_column(String(5), default="vi")
    state: Mapped[str] = mapped_column(String(64))
    retries: Mapped[int] = mapped_column(default=0)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Each answer names the step its follow-up must carry; a request for another step is a
    # repeat (or stale) and gets the last answer again instead of being acted on twice.
    step: Mapped[int] = mapped_column(default=0)
    last_token: Mapped[str | None] = mapped_column(String(200))
    last_response: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="active")  # active, ended
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # None while nothing has been done yet; HUNG_UP once a call ends that way.
    outcome: Mapped[CallOutcome | None] = mapped_column(str_enum(CallOutcome))
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    booked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the call's first booking
    ended_in: Mapped[str | None] = mapped_column(String(64))  # the state of the flow at the hang-up
    duration_seconds: Mapped[int | None] = mapped_column()

    def record(self, outcome: CallOutcome, at: datetime) -> None:
        """The caller got somewhere: keep the outcome that says most about the call."""
        if outcome is CallOutcome.BOOKED and self.booked_at is None:
            self.booked_at = at
        if self.outcome is None or _WEIGHT[outcome] > _WEIGHT[self.outcome]:
            self.outcome, self.outcome_at = outcome, at

    def end(self, at: datetime) -> None:
        """The call is over (the status callback): where it was, how long it took, what it came to."""
        self.status, self.ended_at, self.updated_at = "ended", at, at
        self.ended_in = self.state
        self.duration_seconds = max(0, round((at - self.started_at).total_seconds()))
        if self.outcome is None:
            self.outcome, self.outcome_at = CallOutcome.HUNG_UP, at

    @property
    def contained(self) -> bool:
        return self.outcome in SELF_SERVICE

    @property
    def seconds_to_book(self) -> float | None:
        return None if self.booked_at is None else (self.booked_at - self.started_at).total_seconds()
