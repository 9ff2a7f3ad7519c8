"""The scheduled work, in a process of its own: SMS dispatch, reminders, broadcasts, holds, no-shows.

`flask --app wsgi scheduler run` starts it; never start it inside web workers. Every job is safe
to run in several scheduler processes at once: the dispatcher claims with SKIP LOCKED, reminders
and broadcast messages carry dedupe keys, and holds and no-shows are changed under row locks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from typing import Any

import click
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask, current_app
from flask.cli import AppGroup

from booking import bookings
from booking.bookings import Actor
from booking.models import Channel
from hotline.localization import BabelLocalizer
from hotline.messaging import dispatch_config, make_sender, reminder_times
from hotline.runtime import runtime
from notifications import broadcasts
from notifications.dispatcher import RateLimiter, dispatch_once, recover_stale_claims
from notifications.reminders import queue_reminders

log = logging.getLogger(__name__)
SYSTEM = Actor("system", Channel.OPERATOR)


def _status_callback(app: Flask) -> Callable[[int], str] | None:
    """Delivery reports come back to /sms/status?m=ID when the public URL is known."""
    base = app.extensions["hotline"].settings.public_base_url.rstrip("/")
    if not base:
        return None
    return lambda message_id: f"{base}/sms/status?m={message_id}"


class Jobs:
    """Each job runs in the app's context, in a transaction of its own."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        rt = runtime(app)
        self.sender = make_sender(rt.settings)
        self.config = dispatch_config(rt.settings)
        self.limiter = RateLimiter(self.config.rate)
        # Sending threads (each with its connection to the provider) last as long as the process.
        self.pool = ThreadPoolExecutor(max_workers=max(1, self.config.concurrency), thread_name_prefix="sms")
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def dispatch(self) -> dict[str, int]:
        with self.app.app_context():
            rt = runtime()
            total: dict[str, int] = {}
            for _ in range(20):  # drain a backlog, but yield to the other jobs now and then
                counts = dispatch_once(rt.sessions, self.sender, now=rt.now, policy=rt.sms, config=self.config,
                                       worker=self.worker, status_callback=_status_callback(self.app),
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


def build(app: Flask) -> BlockingScheduler:
    jobs = Jobs(app)
    scheduler = BlockingScheduler(timezone="UTC")
    every: list[tuple[Callable[[], Any], int]] = [
        (jobs.dispatch, 2), (jobs.broadcasts, 10), (jobs.lapsed_seats, 30), (jobs.reminders, 60),
        (jobs.stale_claims, 60), (jobs.no_shows, 300)]
    for job, seconds in every:
        scheduler.add_job(job, "interval", seconds=seconds, id=job.__name__, max_instances=1, coalesce=True,
                          misfire_grace_time=seconds)
    return scheduler


scheduler_group = AppGroup("scheduler", help="The scheduled work (SMS, reminders, broadcasts, holds).")
sms_group = AppGroup("sms", help="The SMS outbox.")


@scheduler_group.command("run")
def scheduler_run() -> None:
    """Run the scheduled jobs until stopped (Ctrl-C or SIGTERM)."""
    from booking.schema import ensure_current

    ensure_current(runtime().engine)
    scheduler = build(current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo("Scheduler running (SMS dispatch, reminders, broadcasts, holds, no-shows).")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()


@sms_group.command("dispatch")
def sms_dispatch() -> None:
    """Send what is due in the outbox once, and say what happened."""
    counts = Jobs(current_app._get_current_object()).dispatch()  # type: ignore[attr-defined]
    click.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "nothing due")


__all__ = ["build", "scheduler_group", "sms_group"]
