"""What the processes of one deployment tell each other through the database: which schedulers are alive.

Every scheduler process writes its own row every few seconds, saying whether it leads (runs the
jobs that must run once) or stands by. The readiness probe of any web server reads the leader's
row: a deployment whose last leader beat is old has nobody sending reminders or expiring holds.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from database.base import Base, UTCDateTime, str_enum


class SchedulerRole(enum.StrEnum):
    LEADER = "leader"  # holds the election lock: runs reminders, expiry, no-shows, broadcasts, recovery
    STANDBY = "standby"  # waits for the lock; may still send SMS where the database allows it


class SchedulerHeartbeat(Base):
    """One scheduler process (host and pid) and when it last said it was alive."""

    __tablename__ = "scheduler_heartbeats"
    __table_args__ = (Index("ix_scheduler_heartbeats_role_beat_at", "role", "beat_at"),)

    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # HOST:PID, or a name given at start
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int]
    role: Mapped[SchedulerRole] = mapped_column(str_enum(SchedulerRole))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    role_since: Mapped[datetime] = mapped_column(UTCDateTime)  # when it took its present role
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime)
