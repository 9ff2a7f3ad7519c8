"""Staff accounts (operators, office managers and administrators), API tokens, and failed logins.

Passwords arrive already hashed: hashing belongs to the edge that receives them.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from booking.models.offices import Office
from database.base import Base, UTCDateTime, str_enum


class Role(enum.StrEnum):
    OPERATOR = "operator"
    MANAGER = "manager"
    ADMIN = "admin"


user_offices = Table(
    "user_offices",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("office_id", ForeignKey("offices.id", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Every console session names the version it was issued under; raising it ends them all.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    offices: Mapped[list[Office]] = relationship(secondary=user_offices)

    def may_manage(self, office_id: int) -> bool:
        """Administrators manage every office; managers only those assigned to them."""
        if self.role is Role.ADMIN:
            return True
        return self.role is Role.MANAGER and any(o.id == office_id for o in self.offices)

    def end_sessions(self) -> None:
        """Sign this user out everywhere: sessions issued before now are refused from the next request.

        Called at sign-out, password reset and deactivation; whatever comes to change a user's role
        should call it too (the role itself is read afresh on every request, so it is not needed now).

        Incremented in SQL, so that two changes at once cannot lose one of the increments.
        """
        self.session_version = User.session_version + 1


class ApiToken(Base):
    """A per-integration API token; only its SHA-256 is stored, the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # the first characters, to recognise it in lists
    role: Mapped[Role] = mapped_column(str_enum(Role))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginAttempt(Base):
    """A failed login, counted per user name and per address to slow down guessing."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_username_at", "username", "at"), Index("ix_login_attempts_ip_at", "ip", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
