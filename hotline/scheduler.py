"""The scheduled work, in a process of its own: SMS dispatch, reminders, broadcasts, holds, no-shows.

`flask --app wsgi scheduler run` starts it; never start it inside web workers. Run two (or more)
for a hot standby: they elect a leader (hotline.leader), and only the leader runs the jobs that
must run once (reminders, expiry of holds, no-shows, broadcasts falling due, recovery of stale
SMS claims). On PostgreSQL every scheduler sends SMS, since the dispatcher claims with SKIP
LOCKED; on SQLite, where one writer at a time makes more senders pointless, only the leader does.
A standby that becomes the leader runs the once-only jobs at once rather than after their interval.

Every job is still safe to run in several processes at once (the dispatcher claims with SKIP
LOCKED, reminders and broadcast messages carry dedupe keys, holds and no-shows are changed under
row locks), so the moment of overlap a failed leader may cause does no harm.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from datetime import UTC, datetime, time
from types import FrameType
from typing import Any

import click
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask, current_app
from flask.cli import AppGroup

from actions import retention
from booking import bookings
from booking.bookings import Actor
from booking.models import Channel
from config import Settings
from hotline.leader import Leadership, elector_for
from hotline.localization import BabelLocalizer
from hotline.messaging import dispatch_config, make_sender, reminder_times, status_callback, with_zalo
from hotline.runtime import runtime
from hotline import campaign_calls, waitlist_calls
from notifications import broadcasts
from notifications.dispatcher import RateLimiter, dispatch_once, recover_stale_claims
from notifications.reminders import queue_reminders

log = logging.getLogger(__name__)
SYSTEM = Actor("system", Channel.OPERATOR)
# The nightly purge of personal data runs at a quiet hour in the offices' time zone: no calls, no sessions.
PURGE_AT = time(2, 30)


class Jobs:
    """Each job runs in the app's context, in a transaction of its own."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        rt = runtime(app)
        self.sender = with_zalo(rt.settings, make_sender(rt.settings), sessions=rt.sessions, now=rt.now)
        self.config = dispatch_config(rt.settings)
        self.caller = waitlist_calls.make_caller(rt.settings)
        self.limiter = RateLimiter(self.config.rate)
        # Sending threads (each with its connection to the provider) last as long as the process.
        self.pool = ThreadPoolExecutor(max_workers=max(1, self.config.concurrency), thread_name_prefix="sms")
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()  # set on SIGTERM: finish the batch in hand, start no other

    def dispatch(self) -> dict[str, int]:
        with self.app.app_context():
            rt = runtime()
            total: dict[str, int] = {}
            for _ in range(20):  # drain a backlog, but yield to the other jobs now and then
                if self.stopping.is_set():
                    break
                counts = dispatch_once(rt.sessions, self.sender, now=rt.now, policy=rt.sms, config=self.config,
                                       worker=self.worker, status_callback=status_callback(rt.settings),
                                       limiter=self.limiter, pool=self.pool)
                for key, value in counts.items():
                    total[key] = total.get(key, 0) + value
                if sum(counts.values()) < self.config.batch:
                    break
            return total

    def reminders(self) -> int:
        with self.app.app_context():
            rt = runtime()
            evening, before = reminder_times(rt.settings)
            with rt.transaction() as db:
                return queue_reminders(db, now=rt.now(), policy=rt.sms, evening=evening, before=before,
                                       localizer=BabelLocalizer)

    def broadcasts(self) -> int:
        with self.app.app_context():
            rt = runtime()
            with rt.transaction() as db:
                return broadcasts.enqueue_due(db, now=rt.now(), policy=rt.sms)

    def lapsed_seats(self) -> int:
        with self.app.app_context():
            rt = runtime()
            with rt.transaction() as db:
                return bookings.expire_lapsed(db, now=rt.now(), policy=rt.policy)

    def waitlist(self) -> int:
        return waitlist_calls.sweep(self.app)

    def offer_calls(self) -> dict[str, int]:
        return waitlist_calls.place_offer_calls(self.app, self.caller)

    def campaign_calls(self) -> dict[str, int]:
        return campaign_calls.place_due_calls(self.app, self.caller)

    def no_shows(self) -> int:
        with self.app.app_context():
            rt = runtime()
            with rt.transaction() as db:
                return bookings.mark_no_shows(db, now=rt.now(), actor=SYSTEM, policy=rt.policy)

    def stale_claims(self) -> int:
        with self.app.app_context():
            rt = runtime()
            with rt.transaction() as db:
                return recover_stale_claims(db, now=rt.now(), lease=self.config.lease)

    def purge(self) -> dict[str, int]:
        return purge_expired(self.app)


def purge_expired(app: Flask) -> dict[str, int]:
    """Personal data past its retention is anonymised or deleted (`actions.retention`), kind by kind."""
    with app.app_context():
        rt = runtime()
        counts = retention.purge(rt.transaction, now=rt.now(), tz=rt.settings.tz, retention=retention_of(rt.settings))
        log.info("purge of expired personal data: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
        return counts


def retention_of(settings: Settings) -> retention.Retention:
    return retention.Retention(booking_days=settings.retention_booking_days, sms_days=settings.retention_sms_days,
                               call_days=settings.retention_call_days,
                               login_attempt_days=settings.retention_login_attempts_days,
                               audit_days=settings.retention_audit_days)


def shared_dispatch(app: Flask) -> bool:
    """Whether every scheduler sends SMS, or only the leader (see the module docstring)."""
    return runtime(app).engine.dialect.name == "postgresql"


def leadership_for(app: Flask, name: str | None = None) -> Leadership:
    rt = runtime(app)
    return Leadership(elector_for(rt.engine, rt.settings.instance_path), rt.sessions, clock=rt.now, name=name)


def build(app: Flask, leadership: Leadership | None = None, jobs: Jobs | None = None) -> BlockingScheduler:
    """The jobs on their intervals, the once-only ones guarded by the election, and the election itself."""
    jobs = jobs or Jobs(app)
    leadership = leadership or leadership_for(app)
    settings = runtime(app).settings
    scheduler = BlockingScheduler(timezone="UTC")
    # A claim left by a dead dispatcher is taken back within half a lease of expiring.
    recovery = max(1, min(60, settings.sms_lease_seconds // 2))
    every: list[tuple[Callable[[], Any], int, bool]] = [
        (jobs.dispatch, 2, not shared_dispatch(app)), (jobs.broadcasts, 10, True), (jobs.lapsed_seats, 30, True),
        (jobs.waitlist, 30, True), (jobs.offer_calls, 5, True), (jobs.campaign_calls, 5, True),
        (jobs.reminders, 60, True), (jobs.stale_claims, recovery, True), (jobs.no_shows, 300, True)]
    once = [job.__name__ for job, _seconds, leader_only in every if leader_only]

    def elected() -> None:
        # A new leader does at once what the old one may have left undone.
        for job_id in once:
            scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))

    leadership.on_elected = elected
    for job, seconds, leader_only in every:
        scheduler.add_job(_on_leader(job, leadership) if leader_only else job, "interval", seconds=seconds,
                          id=job.__name__, max_instances=1, coalesce=True, misfire_grace_time=seconds)
    # Leader only, and not at once on an election, which may come at midday; an hour's grace covers a restart.
    scheduler.add_job(_on_leader(jobs.purge, leadership), "cron", hour=PURGE_AT.hour, minute=PURGE_AT.minute,
                      timezone=settings.tz, id="purge", max_instances=1, coalesce=True, misfire_grace_time=3600)
    poll = settings.leader_poll_seconds
    scheduler.add_job(leadership.tick, "interval", seconds=poll, id="leadership", max_instances=1, coalesce=True,
                      misfire_grace_time=poll, next_run_time=datetime.now(UTC))
    return scheduler


def _on_leader(job: Callable[[], Any], leadership: Leadership) -> Callable[[], Any]:
    def run() -> Any:
        return job() if leadership.leading else None

    run.__name__ = job.__name__
    return run


def _stop_on_sigterm() -> None:
    """SIGTERM stops like Ctrl-C: the batch being sent is recorded, the lock is handed on; a second TERM kills."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)


scheduler_group = AppGroup("scheduler", help="The scheduled work (SMS, reminders, broadcasts, holds).")
sms_group = AppGroup("sms", help="The SMS outbox.")


@scheduler_group.command("run")
@click.option("--name", default=None, help="This scheduler's name in the heartbeat table (default: HOST:PID).")
def scheduler_run(name: str | None) -> None:
    """Run the scheduled jobs until stopped (Ctrl-C or SIGTERM); start two for a hot standby."""
    from hotline.cli import require_current_schema

    app = current_app._get_current_object()  # type: ignore[attr-defined]  # Flask types the proxy as Flask
    require_current_schema()  # one line naming the command that upgrades it, not a traceback
    # APScheduler logs every run of every job; the election's tick alone would say so every 2 s.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    jobs = Jobs(app)
    leadership = leadership_for(app, name)
    scheduler = build(app, leadership, jobs)
    _stop_on_sigterm()
    click.echo(f"Scheduler {leadership.name} running (SMS dispatch, reminders, broadcasts, holds, no-shows); "
               f"{'every scheduler sends SMS' if shared_dispatch(app) else 'the leader sends SMS'}, "
               "the leader runs the rest.")
    try:
        with contextlib.suppress(KeyboardInterrupt, SystemExit):
            scheduler.start()
    finally:
        jobs.stopping.set()
        with contextlib.suppress(Exception):
            scheduler.shutdown(wait=True)  # lets a batch in flight record what was sent
        leadership.resign()
        jobs.pool.shutdown(wait=False)
        click.echo(f"Scheduler {leadership.name} stopped.")


@scheduler_group.command("purge")
def scheduler_purge() -> None:
    """Anonymise or delete the personal data past its retention now, as the nightly job does, and say how much."""
    counts = purge_expired(current_app._get_current_object())  # type: ignore[attr-defined]  # Flask types the proxy as Flask
    click.echo(", ".join(f"{k}: {v}" for k, v in counts.items()))


@sms_group.command("dispatch")
def sms_dispatch() -> None:
    """Send what is due in the outbox once, and say what happened."""
    counts = Jobs(current_app._get_current_object()).dispatch()  # type: ignore[attr-defined]  # Flask types the proxy as Flask
    click.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "nothing due")


__all__ = ["Jobs", "build", "leadership_for", "scheduler_group", "shared_dispatch", "sms_group"]
