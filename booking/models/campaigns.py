"""Outbound call campaigns: a manager's list of people the system calls to offer them a session."""

from __future__ import annotations

import enum
from datetime import datetime, time

from sqlalchemy import ForeignKey, Index, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from database.base import Base, UTCDateTime
from database.base import str_enum


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"  # the list is uploaded; nobody is called yet
    RUNNING = "running"  # the job calls within the campaign's hours at its rate
    PAUSED = "paused"
    DONE = "done"  # every target has an outcome
    CANCELLED = "cancelled"


class TargetStatus(enum.StrEnum):
    PENDING = "pending"  # to be called (again) at `next_attempt_at`
    CALLING = "calling"  # a call is placed (`last_call_sid`) and its outcome not yet known
    BOOKED = "booked"  # booked a session during the call (`booking_id`)
    DECLINED = "declined"  # said no (key 9), or heard the offer and hung up
    UNREACHABLE = "unreachable"  # no answer, busy or failed on every attempt
    FAILED = "failed"  # the Calls API refused the number on every attempt


FINISHED = frozenset({TargetStatus.BOOKED, TargetStatus.DECLINED, TargetStatus.UNREACHABLE, TargetStatus.FAILED})


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(5), default="vi")
    status: Mapped[CampaignStatus] = mapped_column(str_enum(CampaignStatus), default=CampaignStatus.DRAFT)
    rate_per_minute: Mapped[int] = mapped_column(default=5)  # calls placed in any 60 seconds, across workers
    max_attempts: Mapped[int] = mapped_column(default=3)
    retry_minutes: Mapped[int] = mapped_column(default=60)  # after no answer, busy or a failure
    hours_start: Mapped[time] = mapped_column(Time)  # local time (the province's), on working days only
    hours_end: Mapped[time] = mapped_column(Time)
    file_name: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # What became of the uploaded list: numbers kept, given twice, refused.
    targets_count: Mapped[int] = mapped_column(default=0)
    duplicates_count: Mapped[int] = mapped_column(default=0)
    refused_count: Mapped[int] = mapped_column(default=0)


class CampaignTarget(Base):
    __tablename__ = "campaign_targets"
    __table_args__ = (
        UniqueConstraint("campaign_id", "phone"),
        Index("ix_campaign_targets_due", "campaign_id", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20))  # E.164, a mobile or a landline
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[TargetStatus] = mapped_column(str_enum(TargetStatus, name="campaigntargetstatus"),
                                                 default=TargetStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: as soon as the hours allow
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id", ondelete="SET NULL"))
