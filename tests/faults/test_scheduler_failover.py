"""The leading scheduler is killed in the middle of a broadcast; the standby takes over and finishes it.

Two `flask scheduler run` processes share one PostgreSQL database and send through the Twilio
stand-in. Both send SMS (SKIP LOCKED claims); only the leader enqueues the broadcast and takes
back stale claims. The leader is killed with SIGKILL while messages are going out: its claimed
batch is stuck in `sending` until the lease runs out, when the new leader puts it back in the
queue. Delivery is at least once: a message the dead leader had handed to Twilio but not yet
recorded goes out a second time. Every duplicate must be one of those claims, and none may be
sent three times.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from database.engine import make_session_factory
from hotline.heartbeats import SchedulerHeartbeat, SchedulerRole
from hotline.leader import LOCK_KEY
from notifications import broadcasts
from notifications.models import AudienceKind, Broadcast, BroadcastStatus, MessageStatus, OutboxMessage
from tests.faults.processes import Children, server_env, wait_until
from tests.twilio_standin import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn

pytestmark = pytest.mark.slow

NUMBERS = 2000
LEASE_SECONDS = 6  # a dead dispatcher's claims come back after this (300 in production)
POLL_SECONDS = 2  # LEADER_POLL_SECONDS' default
FINAL = {MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.UNDELIVERED, MessageStatus.FAILED,
         MessageStatus.CANCELLED}


@pytest.fixture
def twilio() -> Iterator[TwilioStandIn]:
    with TwilioStandIn() as standin:
        standin.latency = 0.01  # sends overlap, as against the real API
        yield standin


def _numbers() -> list[str]:
    return [f"+8498{n:07d}" for n in range(NUMBERS)]


def _roles(sessions: sessionmaker[Session]) -> dict[str, SchedulerRole]:
    with sessions() as db:
        return {b.name: b.role for b in db.scalars(select(SchedulerHeartbeat))}


def _statuses(sessions: sessionmaker[Session]) -> Counter[MessageStatus]:
    with sessions() as db:
        return Counter({status: n for status, n in db.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))})


def test_the_standby_finishes_a_broadcast_when_the_leader_is_killed(
        pg_engine: Engine, twilio: TwilioStandIn, tmp_path: Path, record_property: Callable[[str, object], None]) -> None:
    sessions = make_session_factory(pg_engine)
    now = datetime.now(UTC)  # the schedulers run on the real clock
    with sessions.begin() as db:
        notice = broadcasts.create(db, body="Thong bao: Bo phan Mot cua nghi chieu thu Sau.", urgent=True,
                                   audience=AudienceKind.UPLOAD, spec={}, created_by="user:lan", now=now)
        assert broadcasts.upload(db, notice, _numbers()).kept == NUMBERS
        broadcasts.schedule(db, notice, send_at=now, now=now)
        broadcast_id = notice.id
    env = server_env(pg_engine.url.render_as_string(hide_password=False), tmp_path / "instance",
                     SMS_SENDER="twilio", TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                     TWILIO_API_BASE_URL=twilio.base_url, TWILIO_FROM="UBND CA MAU", SMS_RATE="1000",
                     SMS_CONCURRENCY="8", SMS_BATCH="50", SMS_LEASE_SECONDS=str(LEASE_SECONDS),
                     LEADER_POLL_SECONDS=str(POLL_SECONDS))
    started = time.monotonic()
    with Children(tmp_path) as children:
        first, second = children.scheduler("scheduler-1", env), children.scheduler("scheduler-2", env)
        wait_until(lambda: sorted(_roles(sessions).values()) == [SchedulerRole.LEADER, SchedulerRole.STANDBY],
                   60, "one leader and one standby", interval=0.2, children=children)
        ready = time.monotonic() - started
        leader, standby = (first, second) if _roles(sessions)[first.name] is SchedulerRole.LEADER else (second, first)
        worker = f"{socket.gethostname()}:{leader.pid}"  # how the dispatcher signs its claims

        def leader_is_sending() -> bool:
            with sessions() as db:
                claimed = db.scalar(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.status == MessageStatus.SENDING, OutboxMessage.claimed_by == worker))
            return len(twilio.accepted) >= NUMBERS // 5 and bool(claimed)

        wait_until(leader_is_sending, 60, "the leader sending the broadcast", interval=0.01, children=children)
        os.kill(leader.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        sending = killed_at - started - ready
        leader.proc.wait(timeout=10)
        sent_before = len(twilio.accepted)
        # What the dead leader had claimed stays claimed until its lease runs out: read it now.
        with sessions() as db:
            orphans = set(db.scalars(select(OutboxMessage.recipient).where(
                OutboxMessage.status == MessageStatus.SENDING, OutboxMessage.claimed_by == worker)))
        # (Almost always a whole batch: the leader is killed while it holds one, unless it had just
        # recorded it; then nothing may go twice.)

        wait_until(lambda: _roles(sessions).get(standby.name) is SchedulerRole.LEADER, 30,
                   "the standby taking over", interval=0.05, children=children)
        takeover = time.monotonic() - killed_at
        assert takeover < POLL_SECONDS + 5, f"takeover took {takeover:.1f} s"  # one poll, and slack for a busy CI

        wait_until(lambda: set(_statuses(sessions)) <= FINAL and sum(_statuses(sessions).values()) == NUMBERS,
                   60, "every message settled", interval=0.25, children=children)
        finished = time.monotonic() - killed_at

        # A clean stop hands the lock on and removes the scheduler's row.
        os.kill(standby.pid, signal.SIGTERM)
        assert standby.proc.wait(timeout=20) == 0, children.tails()
        assert _roles(sessions) == {leader.name: SchedulerRole.LEADER}  # the dead one's last beat, ageing
        with pg_engine.connect() as conn:
            assert conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 "
                "AND ((classid::bigint << 32) | objid::bigint) = :key"), {"key": LOCK_KEY}).scalar() == 0

    sent = Counter(request.get("To") for request in twilio.accepted)
    duplicates = {number: n for number, n in sent.items() if n > 1}
    record_property("takeover_seconds", round(takeover, 2))
    record_property("duplicates", len(duplicates))
    print(f"\nschedulers up in {ready:.1f} s; leader killed {sending:.1f} s later, after {sent_before} of {NUMBERS} "
          f"sent; standby led after {takeover:.2f} s; "
          f"all settled {finished:.1f} s after the kill; {len(orphans)} claims orphaned, "
          f"{len(duplicates)} sent twice")
    assert set(sent) == set(_numbers())  # everyone got it
    assert set(duplicates) <= orphans  # only what the dead leader had claimed went twice
    assert set(duplicates.values()) <= {2}
    assert _statuses(sessions) == Counter({MessageStatus.SENT: NUMBERS})
    with sessions() as db:
        assert db.get_one(Broadcast, broadcast_id).status is BroadcastStatus.DONE
