"""Citizens, seat holds, bookings and their history."""

from __future__ import annotations

from datetime import date, datetime, time
from datetime import date as calendar_date
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, String, Time, UniqueConstraint, func, literal, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.models.enums import BookingStatus, Channel
from booking.models.offices import Office
from booking.models.procedures import Procedure
from database.base import Base, UTCDateTime
from database.base import str_enum

# A phone holds at most one live booking per session; cancelled ones do not count, nor walk-ins who
# gave no number (their phone is empty).
_LIVE = text("status <> 'cancelled' AND phone <> ''")


class Citizen(Base):
    """A phone number we have dealt with, and the choices its owner made (language, opt-out).

    The row is also what serialises one phone's concurrent bookings: it is locked before the
    future-bookings limit is counted.
    """

    __tablename__ = "citizens"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)  # E.164
    name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(5))
    broadcast_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Hold(Base):
    """A seat kept for a caller who is still confirming; it lapses at `expires_at`.

    A hold belongs to whoever took it (`owner`: the call, or the console user), never to the phone
    number it is for: that number may have been typed by somebody else. Only its owner may confirm
    or release it. Ids are never reused (AUTOINCREMENT on SQLite, a sequence on PostgreSQL), so a
    call that kept the id of a hold that has since gone cannot reach another caller's.
    """

    __tablename__ = "holds"
    __table_args__ = (
        UniqueConstraint("session_id", "phone"),
        Index("ix_holds_expires_at", "expires_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("office_sessions.id", ondelete="CASCADE"))
    window_id: Mapped[int] = mapped_column(ForeignKey("arrival_windows.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20), index=True)
    owner: Mapped[str] = mapped_column(String(80), index=True, server_default="")
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    # The channel whose reserve the seat came from, if any, so that a release refills it.
    reserve_channel: Mapped[Channel | None] = mapped_column(str_enum(Channel, name="reserve_channel"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Booking(Base):
    """An appointment: who comes, where, in which session and arrival window, with which number."""

    __tablename__ = "bookings"
    __table_args__ = (
        UniqueConstraint("session_id", "queue_number"),
        Index("uq_bookings_live_phone_per_session", "session_id", "phone", unique=True,
              postgresql_where=_LIVE, sqlite_where=_LIVE),
        Index("ix_bookings_phone_date", "phone", "date"),
        Index("ix_bookings_office_date", "office_id", "date"),
        # Cancelled seats still cooling off before they go back on sale.
        Index("ix_bookings_cooling", "session_id", "cancelled_at",
              postgresql_where=text("status = 'cancelled' AND seat_released_at IS NULL"),
              sqlite_where=text("status = 'cancelled' AND seat_released_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    session_id: Mapped[int] = mapped_column(ForeignKey("office_sessions.id"))
    window_id: Mapped[int] = mapped_column(ForeignKey("arrival_windows.id"))
    date: Mapped[date] = mapped_column(Date)
    session_code: Mapped[str] = mapped_column(String(1))
    arrival_start: Mapped[time] = mapped_column(Time)
    arrival_end: Mapped[time] = mapped_column(Time)
    queue_number: Mapped[int]
    phone: Mapped[str] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(200))
    procedure_id: Mapped[int | None] = mapped_column(ForeignKey("procedures.id"))
    # The kind of dossier (lĩnh vực) when the caller named one but no procedure, so the office can prepare.
    field: Mapped[str | None] = mapped_column(String(120))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    reserve_channel: Mapped[Channel | None] = mapped_column(str_enum(Channel, name="reserve_channel"))
    created_by: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(5), default="vi")
    status: Mapped[BookingStatus] = mapped_column(str_enum(BookingStatus), default=BookingStatus.BOOKED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seat_released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    served_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    no_show_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the result is expected back: the date plus the procedure's working days (booking.calendar.result_date).
    result_date: Mapped[calendar_date | None] = mapped_column(Date)
    # The live queue: the desk that called the person (kept once served), when it last called, and
    # how many times (a recall calls again). Called and still checked in = being served at that desk.
    desk_id: Mapped[int | None] = mapped_column(ForeignKey("desks.id", ondelete="SET NULL"))
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    call_count: Mapped[int] = mapped_column(default=0, server_default="0")

    office: Mapped[Office] = relationship()
    procedure: Mapped[Procedure | None] = relationship()
    events: Mapped[list[BookingEvent]] = relationship(
        back_populates="booking", order_by="BookingEvent.id", cascade="all, delete-orphan"
    )

    @property
    def queue_label(self) -> str:
        """The number a citizen is called by, e.g. S-012 (buổi sáng) or C-007 (buổi chiều)."""
        return f"{self.session_code}-{self.queue_number:03d}"

    @staticmethod
    def queue_label_sql(session_code: Any, queue_number: Any) -> Any:
        """`queue_label` computed by the database (for the history a single statement writes)."""
        digits = func.cast(queue_number, String)
        return session_code + literal("-") + func.lpad(digits, func.greatest(3, func.length(digits)), "0")


class BookingEvent(Base):
    """One change in a booking's life, for the history shown to operators and auditors."""

    __tablename__ = "booking_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    booking: Mapped[Booking] = relationship(back_populates="events")
