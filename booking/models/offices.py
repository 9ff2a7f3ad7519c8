"""Offices and the rules they publish: weekly sessions, per-date changes, closures, reserves."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Time, UniqueConstraint
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.models.enums import CalendarDayKind, Channel, OfficeLevel
from database.base import Base, UTCDateTime
from database.base import str_enum


# What an office's name says before the unit it serves: "Trung tâm Phục vụ hành chính công xã Năm Căn".
NAME_PREFIXES = ("Trung tâm Phục vụ hành chính công ", "Bộ phận tiếp nhận và trả kết quả ", "Bộ phận Một cửa ")


def spoken_name_of(name: str) -> str:
    """The unit an office serves, as a caller hears it: "xã Năm Căn" for its centre, "tỉnh Cà Mau" for the province's."""
    name = " ".join(name.split())
    for prefix in NAME_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix):]
    return name


def _spoken_name_default(context: DefaultExecutionContext) -> str:
    # SQLAlchemy leaves this method unannotated; it returns the row's parameters as a dict.
    parameters: dict[str, object] = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return spoken_name_of(str(parameters.get("name") or ""))


class Office(Base):
    """A one-stop office that receives dossiers by appointment.

    `code` is ours: short, typed by staff and other systems (users' offices, the API, the command
    line), editable. `official_code` is the register's (vietnam-provinces) code of the ward,
    commune or province the office serves, set by the province import and never typed; an office
    outside the register (a branch desk) has none.
    """

    __tablename__ = "offices"
    __table_args__ = (
        CheckConstraint("crowd_limit > 0", name="crowd_limit_positive"),
        CheckConstraint("window_minutes BETWEEN 5 AND 240", name="window_minutes_range"),
        CheckConstraint("horizon_days >= 0", name="horizon_not_negative"),
        CheckConstraint("cutoff_minutes >= 0", name="cutoff_not_negative"),
        CheckConstraint("nearly_turn_ahead BETWEEN 0 AND 50", name="nearly_turn_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    # The number a caller types on the keypad to pick this office in the IVR.
    keypad_number: Mapped[int | None] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    # What the IVR says instead of the whole name; derived from the name when not given.
    spoken_name: Mapped[str] = mapped_column(String(200), default=_spoken_name_default, server_default="")
    official_code: Mapped[str | None] = mapped_column(String(8), unique=True)
    # The register's province the office lies in, so that an import knows which of its offices the
    # register has dropped (a dropped ward's code is no longer listed under any province).
    province_code: Mapped[str | None] = mapped_column(String(4), index=True)
    level: Mapped[OfficeLevel] = mapped_column(str_enum(OfficeLevel))
    address: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str | None] = mapped_column(String(20))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Ho_Chi_Minh")
    crowd_limit: Mapped[int] = mapped_column(default=10)
    window_minutes: Mapped[int] = mapped_column(default=30)
    horizon_days: Mapped[int] = mapped_column(default=14)
    cutoff_minutes: Mapped[int] = mapped_column(default=60)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # "Nearly your turn": an SMS to a checked-in person when this many people are ahead (0: none).
    nearly_turn_ahead: Mapped[int] = mapped_column(default=3, server_default="3")
    # Set by the database on every write of the row, larger than any it holds (migration 0015): a process may
    # keep what it derived from the offices until (count, sum of versions) changes (hotline/ivr/directory.py).
    version: Mapped[int] = mapped_column(BigInteger, server_default="0")

    templates: Mapped[list[SessionTemplate]] = relationship(
        back_populates="office", cascade="all, delete-orphan", order_by="SessionTemplate.weekday, SessionTemplate.start_time"
    )
    reserves: Mapped[list[ChannelReserve]] = relationship(cascade="all, delete-orphan")


class SessionTemplate(Base):
    """One session of the office's usual week, e.g. Monday morning 07:30-11:30, 40 dossiers.

    `code` is one letter (S for buổi sáng, C for buổi chiều) that prefixes queue numbers.
    """

    __tablename__ = "session_templates"
    __table_args__ = (
        UniqueConstraint("office_id", "weekday", "code"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("start_time < end_time", name="starts_before_end"),
        CheckConstraint("capacity >= 0", name="capacity_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"))
    weekday: Mapped[int]  # Monday = 0, as datetime.date.weekday()
    code: Mapped[str] = mapped_column(String(1))
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    capacity: Mapped[int]

    office: Mapped[Office] = relationship(back_populates="templates")


class SessionOverride(Base):
    """A change to one session on one date: other hours, other capacity, cancelled, or added."""

    __tablename__ = "session_overrides"
    __table_args__ = (UniqueConstraint("office_id", "date", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"))
    date: Mapped[date] = mapped_column(Date)
    code: Mapped[str] = mapped_column(String(1))
    start_time: Mapped[time | None] = mapped_column(Time)
    end_time: Mapped[time | None] = mapped_column(Time)
    capacity: Mapped[int | None]
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(String(300), default="")


class Closure(Base):
    """The office (or, with no office, every office) is closed for a date range, with a reason."""

    __tablename__ = "closures"
    __table_args__ = (CheckConstraint("start_date <= end_date", name="range_ordered"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100), default="")


class CalendarDay(Base):
    """A province-wide correction to the public-holiday calendar.

    The `holidays` package computes the fixed and lunar holidays, but the government announces
    bridge days and make-up Saturdays year by year; administrators record them here.
    """

    __tablename__ = "calendar_days"

    date: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[CalendarDayKind] = mapped_column(str_enum(CalendarDayKind))
    # For a make-up working day: whose weekly template applies (Monday = 0).
    works_as_weekday: Mapped[int | None]
    note: Mapped[str] = mapped_column(String(300), default="")


class ChannelReserve(Base):
    """Seats of a session kept for one channel until a set time before the session starts.

    For instance four seats of every morning session that only operators may give (for people
    who cannot use the keypad), released to everyone two hours before the session.
    """

    __tablename__ = "channel_reserves"
    __table_args__ = (
        UniqueConstraint("office_id", "session_code", "channel"),
        CheckConstraint("seats >= 0", name="seats_not_negative"),
        CheckConstraint("release_minutes_before >= 0", name="release_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"))
    session_code: Mapped[str] = mapped_column(String(1))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    seats: Mapped[int]
    release_minutes_before: Mapped[int] = mapped_column(default=120)
