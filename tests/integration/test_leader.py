"""Leader election between schedulers, their heartbeats, and the readiness probe, on both engines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from booking import bookings
from booking.models import Channel, Hold
from config import Settings
from database.engine import make_engine
from database.schema import downgrade, head_revision, upgrade
from hotline import create_app
from hotline.heartbeats import SchedulerHeartbeat, SchedulerRole
from hotline.leader import LOCK_FILE, LOCK_KEY, Elector, FileElector, Leadership, PostgresElector, elector_for
from hotline.scheduler import build, leadership_for, shared_dispatch
from tests.factories import NOW, POLICY, make_office, phone

POLL_SECONDS = 2  # LEADER_POLL_SECONDS' default: a standby must take over within one poll
TUESDAY = date(2027, 3, 2)


@pytest.fixture
def electors(engine: Engine, tmp_path: Path) -> Iterator[Callable[[], Elector]]:
    """Makes electors for the test's database that stand against each other; all resign at the end."""
    made: list[Elector] = []

    def make() -> Elector:
        elector = elector_for(engine, tmp_path)
        made.append(elector)
        return elector

    yield make
    for elector in made:
        elector.resign()


def _takes_over_within(elector: Elector, seconds: float) -> float:
    """Poll as a standby does until `elector` leads; how long it took."""
    started = time.monotonic()
    while not elector.poll():
        assert time.monotonic() - started < seconds, f"no takeover within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


def test_only_one_of_two_electors_leads(electors: Callable[[], Elector]) -> None:
    first, second = electors(), electors()
    assert first.poll() is True
    for _ in range(3):
        assert (second.poll(), first.poll()) == (False, True)
    assert (first.leading, second.leading) == (True, False)


def test_a_resigning_leader_hands_over_at_the_next_poll(electors: Callable[[], Elector]) -> None:
    first, second = electors(), electors()
    assert first.poll() and not second.poll()
    first.resign()
    assert second.poll() is True
    assert first.poll() is False  # the old leader now stands by


_HOLD_LOCK = """
import sys, time
from pathlib import Path
from hotline.leader import FileElector, PostgresElector
target = sys.argv[1]
elector = PostgresElector(target) if target.startswith("postgresql") else FileElector(Path(target))
while not elector.poll():
    time.sleep(0.05)
print("leading", flush=True)
time.sleep(120)
"""


def test_the_standby_takes_over_within_a_poll_when_the_leader_process_dies(
        engine: Engine, electors: Callable[[], Elector], tmp_path: Path) -> None:
    """The leader is another process, killed by SIGKILL: no clean-up runs, the kernel frees the lock."""
    target = (engine.url.render_as_string(hide_password=False) if engine.dialect.name == "postgresql"
              else str(tmp_path / LOCK_FILE))
    leader = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, target], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    try:
        assert leader.stdout is not None and leader.stdout.readline().strip() == "leading"
        standby = electors()
        assert standby.poll() is False
        os.kill(leader.pid, signal.SIGKILL)
        leader.wait(timeout=10)
        assert _takes_over_within(standby, POLL_SECONDS) < POLL_SECONDS
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait(timeout=10)
        if leader.stdout is not None:
            leader.stdout.close()


def test_a_leader_whose_connection_is_cut_stops_leading_and_the_standby_takes_over(postgres_url: str) -> None:
    first, second = PostgresElector(postgres_url), PostgresElector(postgres_url)
    admin = make_engine(postgres_url, poolclass=NullPool)
    try:
        assert first.poll() and not second.poll()
        with admin.connect() as conn:  # the server ends the leader's session, as after a network failure
            holder = conn.execute(text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
                "AND ((classid::bigint << 32) | objid::bigint) = :key AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"), {"key": LOCK_KEY}).scalar_one()
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder}).scalar() is True
        assert _takes_over_within(second, POLL_SECONDS) < POLL_SECONDS
        assert first.poll() is False  # its next check finds the connection gone: it stands by
        assert second.poll() is True and first.poll() is False
    finally:
        first.resign()
        second.resign()
        admin.dispose()


def test_a_lock_file_removed_under_the_leader_ends_its_leadership(tmp_path: Path) -> None:
    """Otherwise a new file would let a second process lead beside the first."""
    first, second = FileElector(tmp_path / LOCK_FILE), FileElector(tmp_path / LOCK_FILE)
    try:
        assert first.poll() and not second.poll()
        assert (tmp_path / LOCK_FILE).read_text().split()[1] == str(os.getpid())
        (tmp_path / LOCK_FILE).unlink()
        assert first.poll() is False
        assert second.poll() is True
        assert first.poll() is False
    finally:
        first.resign()
        second.resign()


def test_heartbeats_say_who_leads_and_a_clean_stop_removes_the_row(
        electors: Callable[[], Elector], sessions: sessionmaker[Session], db: Session) -> None:
    now = [NOW]
    elected: list[str] = []
    first = Leadership(electors(), sessions, clock=lambda: now[0], name="sched-1",
                       on_elected=lambda: elected.append("sched-1"))
    second = Leadership(electors(), sessions, clock=lambda: now[0], name="sched-2",
                        on_elected=lambda: elected.append("sched-2"))
    assert first.tick() and not second.tick()

    def rows() -> dict[str, tuple[SchedulerRole, datetime, datetime, int]]:
        found = {r.name: (r.role, r.beat_at, r.role_since, r.pid) for r in db.scalars(select(SchedulerHeartbeat))}
        db.rollback()  # end the read: on SQLite it holds the write lock the schedulers need
        return found

    assert rows() == {"sched-1": (SchedulerRole.LEADER, NOW, NOW, os.getpid()),
                      "sched-2": (SchedulerRole.STANDBY, NOW, NOW, os.getpid())}
    now[0] = NOW + timedelta(seconds=2)
    assert first.tick() and not second.tick()
    assert {name: beat for name, (_, beat, _, _) in rows().items()} == {"sched-1": now[0], "sched-2": now[0]}

    first.resign()
    now[0] = NOW + timedelta(seconds=4)
    assert second.tick() is True
    assert rows() == {"sched-2": (SchedulerRole.LEADER, now[0], now[0], os.getpid())}
    assert elected == ["sched-1", "sched-2"]


def test_the_leader_forgets_schedulers_silent_for_a_day(electors: Callable[[], Elector],
                                                          sessions: sessionmaker[Session], db: Session) -> None:
    db.add(SchedulerHeartbeat(name="gone:1", host="gone", pid=1, role=SchedulerRole.LEADER,
                              started_at=NOW - timedelta(days=3), role_since=NOW - timedelta(days=3),
                              beat_at=NOW - timedelta(days=2)))
    db.add(SchedulerHeartbeat(name="recent:2", host="recent", pid=2, role=SchedulerRole.STANDBY,
                              started_at=NOW - timedelta(hours=3), role_since=NOW - timedelta(hours=3),
                              beat_at=NOW - timedelta(hours=2)))
    db.commit()
    assert Leadership(electors(), sessions, clock=lambda: NOW, name="new").tick()
    db.rollback()
    assert set(db.scalars(select(SchedulerHeartbeat.name))) == {"recent:2", "new"}


# -- the scheduler --------------------------------------------------------------------------------

def test_a_standby_scheduler_skips_the_once_only_jobs(make_app: Callable[..., Flask], engine: Engine,
                                                       electors: Callable[[], Elector]) -> None:
    app = make_app()
    holder = electors()
    assert holder.poll()  # another scheduler leads
    scheduler = build(app, leadership_for(app, "standby"))
    for job_id in ("reminders", "broadcasts", "lapsed_seats", "no_shows", "stale_claims"):
        assert scheduler.get_job(job_id).func() is None, job_id
    sent = scheduler.get_job("dispatch").func()
    # PostgreSQL: every scheduler sends (SKIP LOCKED); SQLite: only the leader.
    assert shared_dispatch(app) is (engine.dialect.name == "postgresql")
    assert (sent is not None) is shared_dispatch(app)


def test_a_scheduler_that_becomes_leader_runs_the_once_only_jobs_at_once(
        make_app: Callable[..., Flask], db: Session) -> None:
    """A lapsed hold is freed on election, not up to 30 s later when its job's interval comes round."""
    app = make_app()
    office = make_office(db, morning=3)
    bookings.hold_seat(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), owner=phone(1), channel=Channel.IVR,
                       now=NOW - timedelta(minutes=10), policy=POLICY)
    db.commit()
    leadership = leadership_for(app, "solo")
    scheduler = build(app, leadership)
    runner = threading.Thread(target=scheduler.start, daemon=True)
    runner.start()
    started = time.monotonic()

    def holds() -> int:
        count = len(db.scalars(select(Hold.id)).all())
        db.rollback()  # end each read at once: on SQLite it holds the write lock the scheduler needs
        return count

    try:
        while holds() and time.monotonic() - started < 10:
            time.sleep(0.1)
        assert holds() == 0
        assert time.monotonic() - started < 5  # the job's interval is 30 s
        beat = db.scalars(select(SchedulerHeartbeat)).one()
        assert (beat.name, beat.role) == ("solo", SchedulerRole.LEADER)
        db.rollback()
    finally:
        scheduler.shutdown(wait=True)
        leadership.resign()
        runner.join(timeout=10)


# -- /readyz --------------------------------------------------------------------------------------

def _beat(db: Session, role: SchedulerRole, age: float) -> None:
    at = NOW - timedelta(seconds=age)
    db.add(SchedulerHeartbeat(name=f"host:{role.value}", host="host", pid=1, role=role, started_at=at,
                              role_since=at, beat_at=at))
    db.commit()


def test_readyz_needs_a_leader_heartbeat_younger_than_the_limit(make_app: Callable[..., Flask],
                                                                 db: Session) -> None:
    client = make_app().test_client()
    db.rollback()
    first = client.get("/readyz")
    assert first.status_code == 503 and first.headers["Retry-After"]
    assert first.get_json()["failing"] == "scheduler"
    assert first.get_json()["checks"]["database"] == "ok" and first.get_json()["checks"]["schema"] == "ok"

    _beat(db, SchedulerRole.STANDBY, 1)  # a standby alone does not run the once-only jobs
    assert client.get("/readyz").status_code == 503

    _beat(db, SchedulerRole.LEADER, 29)
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json() == {"status": "ready", "leader_heartbeat_age_seconds": 29.0,
                                "checks": {"database": "ok", "schema": "ok", "scheduler": "ok"}}
    assert ready.headers["Cache-Control"] == "no-store"

    db.execute(update(SchedulerHeartbeat).where(SchedulerHeartbeat.role == SchedulerRole.LEADER)
               .values(beat_at=NOW - timedelta(seconds=31)))
    db.commit()
    stale = client.get("/readyz")
    assert stale.status_code == 503 and stale.get_json()["failing"] == "scheduler"
    assert "31 s old" in stale.get_json()["checks"]["scheduler"]


def test_readyz_can_leave_the_scheduler_to_others(make_app: Callable[..., Flask], db: Session) -> None:
    client = make_app(ready_require_scheduler=False).test_client()
    db.rollback()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["scheduler"] == "not required"


def test_readyz_fails_on_a_schema_behind_the_code(make_app: Callable[..., Flask], engine: Engine,
                                                   db: Session) -> None:
    client = make_app(ready_require_scheduler=False).test_client()
    db.close()
    downgrade(engine, "0003")
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["failing"] == "schema"
        assert response.get_json()["checks"]["schema"] == f"at 0003, needs {head_revision()}"
    finally:
        upgrade(engine)
    assert client.get("/readyz").status_code == 200


def test_readyz_fails_without_a_database_while_healthz_still_answers(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on: the connection is refused at once
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(env="testing", database_url=f"postgresql://postgres@127.0.0.1:{port}/gone",
                        instance_path=tmp_path / "instance", secret_key="t" * 32, twilio_auth_token="x" * 32)
    app = create_app(settings, check_schema=False)
    try:
        client = app.test_client()
        response = client.get("/readyz")
        assert response.status_code == 503
        body = response.get_json()
        assert body["failing"] == "database" and body["checks"]["database"].startswith("unavailable")
        assert body["checks"]["schema"] == "skipped"
        assert client.get("/healthz").status_code == 200
    finally:
        app.extensions["hotline"].engine.dispose()
