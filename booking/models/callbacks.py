"""Call-back requests: a caller asked to be called back when no operator could answer.

`call_sid` points at the call they asked from, in `calls` (`hotline.ivr.models.Call`): whatever writes a
request runs with the hotline's models registered (the app, the migrations and the tests import them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from database.base import Base, UTCDateTime


class CallbackRequest(Base):
    """A caller asked to be called back when no operator could answer."""

    __tablename__ = "callback_requests"
    __table_args__ = (Index("ix_callback_requests_open", "done_at", "requested_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    call_sid: Mapped[str | None] = mapped_column(ForeignKey("calls.sid", ondelete="SET NULL"))
    language: Mapped[str] = mapped_column(String(5), default="vi")
    # What the caller was doing, for the operator who calls back (e.g. booking at an office).
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(String(500), default="")
