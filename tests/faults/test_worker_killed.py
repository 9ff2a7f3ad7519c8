"""A gunicorn worker is killed in the middle of a call; the call goes on through another worker.

Everything about a call lives in its database row, so the next webhook may reach any worker.
Here the worker that has just put a seat on hold for the caller is killed with SIGKILL (no
clean-up of any kind); the caller's confirmation, served by another worker, must book that seat
once and queue one confirmation SMS.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Mapping
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from booking.models import Booking, BookingStatus, Hold
from hotline.simulator import DEFAULT_CALLER, CallSimulator, HttpTransport
from notifications.models import MessageKind, OutboxMessage
from tests.faults.processes import AUTH_TOKEN, Children, child_pids, server_env, wait_healthy, wait_until

pytestmark = pytest.mark.slow

QUEUE_NUMBER = re.compile(r"Số thứ tự của quý vị là số \d+")  # read out once the booking is made
# With the demo's 65 offices: book, the province centre, its first field, the first session with room, confirm.
BOOK_AT_THE_FIRST_OFFICE = ["1", "1", "1", "1"]  # book, the province centre, its first session, confirm
HOLDING_ANSWER = 3  # the answer after which the seat is held and the caller is asked to confirm


class AccessLog:
    """gunicorn's access log (`PID METHOD PATH STATUS`): which worker answered each request."""

    FORMAT = "%(p)s %(m)s %(U)s %(s)s"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen = 0

    def options(self) -> tuple[str, ...]:
        """gunicorn's options that write this log."""
        return "--access-logfile", str(self.path), "--access-logformat", self.FORMAT

    def lines(self) -> list[str]:
        return self.path.read_text().splitlines() if self.path.exists() else []

    def worker_for(self, path: str) -> int:
        """The pid that answered the next logged request for `path` (gunicorn logs after answering)."""
        found: list[int] = []

        def logged() -> bool:
            for line in self.lines()[self.seen:]:
                self.seen += 1
                pid, _method, logged_path, _status = line.split(" ", 3)
                if logged_path == path:
                    found.append(int(pid.strip("<>")))
                    return True
            return False

        wait_until(logged, 5, f"gunicorn's access log line for {path}")
        return found[0]


def test_a_call_goes_on_when_the_worker_that_answered_is_killed(demo_database: tuple[str, Session], tmp_path: Path) -> None:
    url, db = demo_database
    env = server_env(url, tmp_path / "instance")
    with Children(tmp_path) as children:
        access = AccessLog(tmp_path / "gunicorn.access.log")
        server = children.gunicorn("gunicorn", env, workers=2, options=access.options())
        wait_healthy(server, children)
        transport = HttpTransport(timeout=20)
        answered_by: list[tuple[str, int]] = []  # (path, worker pid), in order
        answers = 0
        killed: list[tuple[int, int]] = []  # (worker pid, index in answered_by)
        holds_at_kill: list[int] = []

        def post(url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[int, str]:
            nonlocal answers
            status, body = transport(url, params, headers)
            pid = access.worker_for(url.removeprefix(server.base_url).split("?")[0])
            answered_by.append((url.removeprefix(server.base_url), pid))
            answers += "Digits" in params
            if answers == HOLDING_ANSWER and not killed:
                holds_at_kill.append(_count(db, Hold))
                os.kill(pid, signal.SIGKILL)
                killed.append((pid, len(answered_by) - 1))
            return status, body

        spoken: list[str] = []
        call = CallSimulator(post=post, token=AUTH_TOKEN, base_url=server.base_url,
                             answers=BOOK_AT_THE_FIRST_OFFICE, out=spoken.append)
        result = call.run()

        assert killed, f"no worker was killed; the call went: {answered_by}"
        dead, at = killed[0]
        assert holds_at_kill == [1], "the killed worker had put a seat on hold"
        after = answered_by[at + 1:]
        assert after and all(pid != dead for _path, pid in after), answered_by
        assert any(QUEUE_NUMBER.search(text) for text in result.spoken), "\n".join(spoken)
        assert all(r.status in (200, 204) for r in result.requests), [(r.url, r.status) for r in result.requests]
        assert server.alive() and dead not in child_pids(server.pid)

    db.rollback()
    booked = db.scalars(select(Booking).where(Booking.phone == DEFAULT_CALLER)).all()
    assert [b.status for b in booked] == [BookingStatus.BOOKED]
    assert _count(db, Hold) == 0
    confirmations = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.CONFIRMATION)).all()
    assert [(m.recipient, m.booking_id) for m in confirmations] == [(DEFAULT_CALLER, booked[0].id)]


def _count(db: Session, model: type) -> int:
    db.rollback()  # see what the server committed; end the read at once (SQLite's write lock)
    try:
        return db.scalar(select(func.count()).select_from(model)) or 0
    finally:
        db.rollback()
