"""Which scheduler process leads: an election lock held for as long as the process lives, and heartbeats.

Several scheduler processes may run against one database, so that one can die without the jobs
stopping. Jobs that must run once at a time (reminders, expiry, no-shows, broadcasts, recovery of
stale claims) run only in the leader; the others stand by and poll for the lock.

- PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a connection of its own,
  outside the pool, kept open for as long as the process leads. When the process dies, the kernel
  closes the socket, the server ends the session and the lock is free at once; the standby's next
  poll takes it. The leader checks its lock on every poll: a lost connection is lost leadership.
  The client gives up on a silent server (tcp_user_timeout, statement_timeout) sooner than the
  server gives up on a silent client (its TCP keepalives), so that after a network split the old
  leader has stopped leading before the lock can be granted to another.
- SQLite: an exclusive `flock` on a file in the instance folder. The kernel releases it when the
  process dies; a lock file deleted or replaced under a leader counts as lost.

Leadership is an economy, not the only safeguard: every job is safe to run twice at once (row
locks, SKIP LOCKED claims, dedupe keys), so the short overlap a failure can cause does no harm.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, delete, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from database.engine import make_engine
from hotline.heartbeats import SchedulerHeartbeat, SchedulerRole

log = logging.getLogger(__name__)

# The advisory lock's key: "hotline" in ASCII. Advisory locks are per database, so deployments on
# other databases of the same server do not contend.
LOCK_KEY = 0x686F746C696E65
LOCK_FILE = "scheduler-leader.lock"
# Rows of schedulers silent this long are removed by the leader (restarts leave one row per pid).
FORGET_AFTER = timedelta(days=1)
# The dedicated connection: fail fast on a silent server; the server drops a silent client later.
_CLIENT_TIMEOUT_MS = 5000
_SERVER_OPTIONS = ("-c statement_timeout=5000 -c lock_timeout=5000 -c idle_session_timeout=0 "
                   "-c idle_in_transaction_session_timeout=0 -c tcp_keepalives_idle=10 "
                   "-c tcp_keepalives_interval=5 -c tcp_keepalives_count=3")


class Elector(Protocol):
    """One process's side of the election."""

    @property
    def leading(self) -> bool: ...

    def poll(self) -> bool:
        """Take the lock if it is free, or check that it is still ours; True while leading."""

    def resign(self) -> None:
        """Let go of the lock (a standby takes it at its next poll) and of what held it."""


class PostgresElector:
    """The leader holds a session-level advisory lock on a connection of its own."""

    def __init__(self, url: str, *, key: int = LOCK_KEY, application_name: str = "hotline-scheduler") -> None:
        self.key = key
        # NullPool: closing the connection really closes it (a pooled one would keep the lock).
        self._engine = make_engine(url, poolclass=NullPool, connect_args={
            "connect_timeout": 5, "application_name": application_name, "options": _SERVER_OPTIONS,
            "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2,
            "tcp_user_timeout": _CLIENT_TIMEOUT_MS})
        self._connection: Connection | None = None
        self._leading = False
        self._lock = threading.Lock()  # polls come from the scheduler's threads

    @property
    def leading(self) -> bool:
        return self._leading

    def poll(self) -> bool:
        with self._lock:
            try:
                if self._connection is None:
                    self._connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                if self._leading:
                    self._leading = bool(self._connection.execute(text(
                        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                        " AND pid = pg_backend_pid() AND objsubid = 1"
                        " AND ((classid::bigint << 32) | objid::bigint) = :key)"), {"key": self.key}).scalar())
                    if not self._leading:
                        log.error("the scheduler's election lock is gone from its connection")
                else:
                    self._leading = bool(self._connection.execute(
                        text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar())
            except SQLAlchemyError as exc:
                if self._leading:
                    log.error("lost the database connection that holds the scheduler's leadership: %s", exc)
                else:
                    log.warning("cannot reach the database to stand for leadership: %s", exc)
                self._leading = False
                self._close()
            return self._leading

    def resign(self) -> None:
        with self._lock:
            if self._connection is not None and self._leading:
                with contextlib.suppress(SQLAlchemyError):
                    self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            self._leading = False
            self._close()
        self._engine.dispose()

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.invalidate()  # never back to any pool: the socket is closed
            with contextlib.suppress(Exception):
                self._connection.close()
        self._connection = None


class FileElector:
    """The leader holds an exclusive flock on a file (one machine, SQLite)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._leading = False
        self._lock = threading.Lock()

    @property
    def leading(self) -> bool:
        return self._leading

    def poll(self) -> bool:
        with self._lock:
            try:
                if self._leading:
                    self._leading = self._still_ours()
                    if not self._leading:
                        log.error("the scheduler's lock file %s was removed or replaced", self.path)
                        self._close()
                    return self._leading
                if self._fd is not None and not self._still_ours():
                    self._close()  # the file was replaced while we stood by: contend for the new one
                if self._fd is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False
                if not self._still_ours():  # replaced between our open and our lock
                    self._close()
                    return False
                os.ftruncate(self._fd, 0)
                os.pwrite(self._fd, f"{socket.gethostname()} {os.getpid()}\n".encode(), 0)
                self._leading = True
            except OSError as exc:
                log.warning("cannot use the scheduler's lock file %s: %s", self.path, exc)
                self._leading = False
                self._close()
            return self._leading

    def _still_ours(self) -> bool:
        assert self._fd is not None
        try:
            on_disk, held = os.stat(self.path), os.fstat(self._fd)
            return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)
        except FileNotFoundError:
            return False

    def resign(self) -> None:
        with self._lock:
            self._leading = False
            self._close()

    def _close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing the last descriptor releases the flock
        self._fd = None


def elector_for(engine: Engine, instance_path: Path) -> Elector:
    """The election that suits the database: an advisory lock on PostgreSQL, a file lock otherwise."""
    if engine.dialect.name == "postgresql":
        return PostgresElector(engine.url.render_as_string(hide_password=False))
    return FileElector(instance_path / LOCK_FILE)


# -- heartbeats -----------------------------------------------------------------------------------

def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(session: Session, *, name: str, role: SchedulerRole, now: datetime, started_at: datetime,
         role_since: datetime) -> None:
    """Record that the scheduler `name` is alive in `role` (one row per scheduler, updated in place)."""
    values = {"host": socket.gethostname(), "pid": os.getpid(), "role": role, "beat_at": now, "role_since": role_since}
    updated = session.execute(update(SchedulerHeartbeat).where(SchedulerHeartbeat.name == name)
                              .values(**values).returning(SchedulerHeartbeat.name)).first()
    if updated is None:
        session.add(SchedulerHeartbeat(name=name, started_at=started_at, **values))


def forget(session: Session, *, name: str | None = None, before: datetime | None = None) -> int:
    """Remove one scheduler's row (it stopped cleanly), or the rows of those silent since `before`."""
    query = delete(SchedulerHeartbeat)
    if name is not None:
        query = query.where(SchedulerHeartbeat.name == name)
    if before is not None:
        query = query.where(SchedulerHeartbeat.beat_at < before)
    return len(session.execute(query.returning(SchedulerHeartbeat.name)).all())


def leader_heartbeat_age(session: Session, now: datetime) -> float | None:
    """Seconds since a leader last said it was alive; None when no scheduler ever led."""
    last = session.scalar(select(SchedulerHeartbeat.beat_at).where(SchedulerHeartbeat.role == SchedulerRole.LEADER)
                          .order_by(SchedulerHeartbeat.beat_at.desc()).limit(1))
    return None if last is None else max(0.0, (now - last).total_seconds())


class Leadership:
    """One scheduler's election and heartbeat, polled every few seconds.

    `on_elected` runs once each time this process becomes the leader (the scheduler uses it to
    run the once-only jobs at once instead of after their intervals).
    """

    def __init__(self, elector: Elector, sessions: sessionmaker[Session], *, clock: Callable[[], datetime],
                 name: str | None = None, on_elected: Callable[[], None] | None = None) -> None:
        self.elector = elector
        self.sessions = sessions
        self.clock = clock
        self.name = name or process_name()
        self.on_elected = on_elected
        self.started_at = clock()
        self.role = SchedulerRole.STANDBY
        self.role_since = self.started_at
        self._last_prune: datetime | None = None
        self._ticked = False

    @property
    def leading(self) -> bool:
        return self.elector.leading

    def tick(self) -> bool:
        """Poll the election, then write the heartbeat; True while this process leads."""
        leading = self.elector.poll()
        first, self._ticked = not self._ticked, True
        role = SchedulerRole.LEADER if leading else SchedulerRole.STANDBY
        now = self.clock()
        if role is not self.role:
            # Taking over or losing the lead is news; leading from the start is not.
            (log.info if first else log.warning)("scheduler %s is now %s", self.name, role.value)
            self.role, self.role_since = role, now
            if leading and self.on_elected is not None:
                self.on_elected()
        try:
            with self.sessions.begin() as session:
                beat(session, name=self.name, role=role, now=now, started_at=self.started_at,
                     role_since=self.role_since)
                if leading and (self._last_prune is None or now - self._last_prune > timedelta(hours=1)):
                    forget(session, before=now - FORGET_AFTER)
                    self._last_prune = now
        except SQLAlchemyError as exc:
            log.warning("cannot write the scheduler's heartbeat: %s", exc)
        return leading

    def resign(self) -> None:
        """Stop leading and remove this process's row: a clean stop, the standby takes over at its next poll."""
        self.elector.resign()
        try:
            with self.sessions.begin() as session:
                forget(session, name=self.name)
        except SQLAlchemyError as exc:
            log.warning("cannot remove the scheduler's heartbeat: %s", exc)


__all__ = ["Elector", "FileElector", "Leadership", "PostgresElector", "beat", "elector_for", "forget",
           "leader_heartbeat_age", "process_name"]
