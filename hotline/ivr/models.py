"""Calls in progress: the hotline's state lives here, not in a process.

Any web worker can serve a call's next webhook because everything about the call (where the
caller is in the flow, what they chose, the last answer sent) is in its row, keyed by the
telephony provider's call id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from database.base import Base, UTCDateTime


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_status_updated", "status", "updated_at"),)

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
