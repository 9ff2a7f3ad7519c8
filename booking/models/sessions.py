"""A session on a given date, with its seat counters: the rows that booking locks and updates.

A session row is created the first time anybody holds a seat in it; until then its availability
is read from the office's plan. Counters live on the row so that availability never counts
bookings, and so that a conditional UPDATE on one row decides who gets the last seat.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.models.enums import Channel
from database.base import Base, UTCDateTime
from database.base import str_enum

_COUNTERS_NOT_NEGATIVE = "booked >= 0 AND held >= 0 AND cooling >= 0"


class OfficeSession(Base):
    """One session of one office on one date.

    Seats are `booked` (confirmed), `held` (a caller is confirming), `cooling` (cancelled, kept
    off sale for the re-offer delay) or reserved for a channel (`reserve_left`, not yet used nor
    released); the rest are free. `next_queue` is the last queue number given out.
    """

    __tablename__ = "office_sessions"
    __table_args__ = (
        UniqueConstraint("office_id", "date", "code"),
        CheckConstraint(_COUNTERS_NOT_NEGATIVE + " AND reserve_left >= 0", name="counters_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"))
    date: Mapped[date] = mapped_column(Date)
    code: Mapped[str] = mapped_column(String(1))
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    capacity: Mapped[int]
    booked: Mapped[int] = mapped_column(default=0)
    held: Mapped[int] = mapped_column(default=0)
    cooling: Mapped[int] = mapped_column(default=0)
    reserve_left: Mapped[int] = mapped_column(default=0)
    next_queue: Mapped[int] = mapped_column(default=0)
    # Set when the office closes this session after bookings were made; no new bookings.
    closed: Mapped[bool] = mapped_column(Boolean, default=False)

    windows: Mapped[list[ArrivalWindow]] = relationship(
        back_populates="session", order_by="ArrivalWindow.position", cascade="all, delete-orphan"
    )
    reserves: Mapped[list[SessionReserve]] = relationship(cascade="all, delete-orphan")

    @property
    def taken(self) -> int:
        return self.booked + self.held + self.cooling


class ArrivalWindow(Base):
    """A slice of a session (e.g. 08:00-08:30) that admits at most the office's crowd limit."""

    __tablename__ = "arrival_windows"
    __table_args__ = (
        UniqueConstraint("session_id", "position"),
        CheckConstraint(_COUNTERS_NOT_NEGATIVE, name="counters_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("office_sessions.id", ondelete="CASCADE"))
    position: Mapped[int]
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    capacity: Mapped[int]
    booked: Mapped[int] = mapped_column(default=0)
    held: Mapped[int] = mapped_column(default=0)
    cooling: Mapped[int] = mapped_column(default=0)

    session: Mapped[OfficeSession] = relationship(back_populates="windows")

    @property
    def taken(self) -> int:
        return self.booked + self.held + self.cooling


class SessionReserve(Base):
    """A channel's reserve in one session: how many seats, how many used, when it lapses."""

    __tablename__ = "session_reserves"
    __table_args__ = (
        UniqueConstraint("session_id", "channel"),
        CheckConstraint("used >= 0 AND used <= seats", name="used_within_seats"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("office_sessions.id", ondelete="CASCADE"))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    seats: Mapped[int]
    used: Mapped[int] = mapped_column(default=0)
    release_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released: Mapped[bool] = mapped_column(Boolean, default=False)
