"""The waitlist of a full session, and the offers of freed seats made from it."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from booking.models.enums import Channel
from database.base import Base, UTCDateTime
from database.base import str_enum


class WaitlistStatus(enum.StrEnum):
    WAITING = "waiting"  # in line for a seat
    OFFERED = "offered"  # a freed seat is held for them (`hold_id`) until `offer_expires_at`
    ACCEPTED = "accepted"  # the hold became `booking_id`
    DECLINED = "declined"  # said no (key 2, or an operator for them); the seat went to the next
    EXPIRED = "expired"  # the hold lapsed unclaimed, or the session passed while waiting
    CANCELLED = "cancelled"  # left the waitlist


class OfferCall(enum.StrEnum):
    """Where the call that tells an offered person stands."""

    DUE = "due"  # to be placed by the job
    PLACED = "placed"  # Twilio took it (`call_sid`)
    ANSWERED = "answered"  # the offer flow ran
    UNANSWERED = "unanswered"  # no-answer, busy or failed: the SMS went instead


# One live entry per phone per session.
_LIVE = text("status IN ('waiting', 'offered')")


class WaitlistEntry(Base):
    """A person waiting for a seat in a full session, in the order they joined (`id`)."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        Index("uq_waitlist_live_phone_per_session", "session_id", "phone", unique=True,
              postgresql_where=_LIVE, sqlite_where=_LIVE),
        Index("ix_waitlist_session_status", "session_id", "status"),
        Index("ix_waitlist_call", "call_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("office_sessions.id", ondelete="CASCADE"))
    date: Mapped[date] = mapped_column(Date)
    session_code: Mapped[str] = mapped_column(String(1))
    phone: Mapped[str] = mapped_column(String(20), index=True)  # E.164: where we call and text
    language: Mapped[str] = mapped_column(String(5), default="vi")
    name: Mapped[str | None] = mapped_column(String(200))
    procedure_id: Mapped[int | None] = mapped_column(ForeignKey("procedures.id", ondelete="SET NULL"))
    field: Mapped[str | None] = mapped_column(String(120))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    created_by: Mapped[str] = mapped_column(String(100))
    # The number is the caller's own (caller ID) rather than typed in for somebody.
    phone_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[WaitlistStatus] = mapped_column(str_enum(WaitlistStatus), default=WaitlistStatus.WAITING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    offer_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hold_id: Mapped[int | None] = mapped_column()  # the hold's owner is `waitlist:<id>`
    call_status: Mapped[OfferCall | None] = mapped_column(str_enum(OfferCall))
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id", ondelete="SET NULL"))

    @property
    def hold_owner(self) -> str:
        return f"waitlist:{self.id}"
