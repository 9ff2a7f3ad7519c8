"""The SMS outbox: a message is a row written in the same transaction as the change it announces.

Nothing is sent from inside a request. A dispatcher claims due rows, sends them after its claim
has committed, and records what the provider said, so a crash or a restart loses no message.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from database.base import Base, UTCDateTime
from database.base import str_enum


class MessageKind(enum.StrEnum):
    CONFIRMATION = "confirmation"
    REMINDER = "reminder"
    CANCELLATION = "cancellation"
    MOVE = "move"
    CLOSURE = "closure"
    CALLBACK_ACK = "callback_ack"
    BROADCAST = "broadcast"
    NEARLY_TURN = "nearly_turn"  # a checked-in person: a few people are ahead of you
    WAITLIST_OFFER = "waitlist_offer"  # a seat is held for you: how to claim it before it lapses


class MessageStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for its due time
    HELD = "held"  # its broadcast is paused
    SENDING = "sending"  # claimed by a dispatcher
    SENT = "sent"  # accepted by the provider
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "due_at", postgresql_where=text("status = 'queued'"),
              sqlite_where=text("status = 'queued'")),
        Index("ix_outbox_recipient", "recipient", "created_at"),
        Index("ix_outbox_claimed", "claimed_at", postgresql_where=text("status = 'sending'"),
              sqlite_where=text("status = 'sending'")),
        Index("ix_outbox_broadcast_status", "broadcast_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[MessageKind] = mapped_column(str_enum(MessageKind))
    recipient: Mapped[str] = mapped_column(String(20))  # E.164
    body: Mapped[str] = mapped_column(Text)
    # The channel it went by (or is trying): "sms", or "zalo" for a Zalo (ZNS) template message.
    channel: Mapped[str] = mapped_column(String(8), default="sms", server_default="sms")
    # The Zalo template's parameters (code, office, date, time, queue …); the SMS reads `body`.
    params: Mapped[dict[str, str] | None] = mapped_column(JSON)
    # Why Zalo could not deliver it (its error code and message): set once, it goes by SMS from then on.
    zalo_error: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(5), default="vi")
    encoding: Mapped[str] = mapped_column(String(8))  # gsm7 or ucs2
    segments: Mapped[int]
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[MessageStatus] = mapped_column(str_enum(MessageStatus), default=MessageStatus.QUEUED)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(String(500))
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id", ondelete="SET NULL"), index=True)
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    # One message per cause: a repeated request cannot queue the same confirmation twice.
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BroadcastStatus(enum.StrEnum):
    DRAFT = "draft"  # audience chosen, count shown, not yet scheduled
    SCHEDULED = "scheduled"  # will be put in the outbox at send_at
    SENDING = "sending"  # in the outbox
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DONE = "done"


class AudienceKind(enum.StrEnum):
    OFFICE_DATES = "office_dates"  # everyone booked at an office on a date range (optionally one session)
    RECENT_BOOKERS = "recent_bookers"  # everyone who booked at any of some offices in the last N days
    UPLOAD = "upload"  # a list of numbers supplied as CSV


class Broadcast(Base):
    """A notice to many people at once, e.g. the rules for visiting, or an office's closure."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(5), default="vi")
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)  # reaches opted-out numbers, ignores quiet hours
    # BROADCAST for notices; CLOSURE for an office's closure (urgent, sent even in quiet hours).
    kind: Mapped[MessageKind] = mapped_column(str_enum(MessageKind), default=MessageKind.BROADCAST)
    audience: Mapped[AudienceKind] = mapped_column(str_enum(AudienceKind))
    # The audience's parameters: office ids, dates, session code, days.
    audience_spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The office whose manager owns it; none for a province-wide notice.
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id", ondelete="SET NULL"))
    status: Mapped[BroadcastStatus] = mapped_column(str_enum(BroadcastStatus), default=BroadcastStatus.DRAFT)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recipients: Mapped[int] = mapped_column(default=0)  # messages put in the outbox
    skipped_opted_out: Mapped[int] = mapped_column(default=0)
    skipped_not_mobile: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BroadcastNumber(Base):
    """One number of an uploaded audience, already checked and de-duplicated."""

    __tablename__ = "broadcast_numbers"

    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), primary_key=True)


class ZaloToken(Base):
    """The Official Account's ZNS access token (valid 25 hours) and the refresh token that replaces it.

    Zalo's refresh token can be used once: the one row is locked while a token is refreshed, so that
    two dispatchers never spend the same refresh token.
    """

    __tablename__ = "zalo_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    access_token: Mapped[str] = mapped_column(String(1000))
    refresh_token: Mapped[str] = mapped_column(String(1000))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
