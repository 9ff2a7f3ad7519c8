"""Prometheus metrics at /metrics: what the web workers count, and what the database holds when scraped.

Counters and histograms live in each worker. Under gunicorn with several workers set
PROMETHEUS_MULTIPROC_DIR (an empty folder, emptied at every start) in the environment before the
server starts: prometheus_client then keeps every worker's values in files there, and whichever
worker answers a scrape adds them all up. Calls are counted when they end (by outcome, by the
state of the flow a caller hung up in, their duration and how long a booking took), once the
call's transaction has committed. Figures about the whole deployment (today's bookings,
the SMS outbox, the dispatcher's lag, the schedulers' heartbeats) are read from the database at
scrape time with a few grouped queries, so they are right whichever worker answers and cost
nothing between scrapes.

/metrics answers only loopback and METRICS_TRUSTED_NETWORKS, or a scraper that sends
`Authorization: Bearer <METRICS_TOKEN>`.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, g, has_request_context, request
from prometheus_client import (
    CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Row, event, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from booking.bookings import HISTORY_WRITTEN
from booking.models import Booking, BookingEvent, BookingStatus, Channel, Office
from config import Settings
from hotline.heartbeats import SchedulerHeartbeat, SchedulerRole
from hotline.ivr.models import Call, CallOutcome
from hotline.logs import bind
from hotline.runtime import Runtime, runtime
from notifications.models import MessageStatus, OutboxMessage

log = logging.getLogger(__name__)
booking_log = logging.getLogger("hotline.bookings")
blueprint = Blueprint("metrics", __name__)

# What the workers count. Only these objects are kept between scrapes; under multiprocess mode
# their values are in PROMETHEUS_MULTIPROC_DIR, and this registry is never scraped directly.
REGISTRY = CollectorRegistry()
# The *_created series (a timestamp per counter) double the series for nothing Prometheus uses.
disable_created_metrics()

WEBHOOKS = frozenset({"ivr.voice", "ivr.step", "ivr.dial", "ivr.status", "sms.status", "sms.inbound"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter("hotline_http_requests", "HTTP requests answered, by endpoint, method and status.",
                        ["endpoint", "method", "status"], registry=REGISTRY)
# Twilio gives up on a webhook after 15 s; the buckets resolve the range a caller can hear.
WEBHOOK_SECONDS = Histogram("hotline_webhook_duration_seconds", "Time to answer Twilio's webhooks, by endpoint.",
                            ["endpoint"], registry=REGISTRY,
                            buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0))
BOOKINGS_CREATED = Counter("hotline_bookings_created", "Bookings made, by channel (counted when committed).",
                           ["channel"], registry=REGISTRY)
BOOKINGS_MOVED = Counter("hotline_bookings_moved", "Bookings moved to another session, by channel.",
                         ["channel"], registry=REGISTRY)
BOOKINGS_CANCELLED = Counter("hotline_bookings_cancelled", "Bookings cancelled, by channel.",
                             ["channel"], registry=REGISTRY)
_CHANGES = {"created": BOOKINGS_CREATED, "moved": BOOKINGS_MOVED, "cancelled": BOOKINGS_CANCELLED}
CALLS = Counter("hotline_calls", "Calls ended, by outcome (booked, checked, cancelled, rescheduled, callback, "
                "transferred, hung_up).", ["outcome"], registry=REGISTRY)
CALL_HANGUPS = Counter("hotline_call_hangups", "Calls that ended with nothing done, by the state of the flow "
                       "they ended in.", ["state"], registry=REGISTRY)
CALL_SECONDS = Histogram("hotline_call_duration_seconds", "How long calls lasted, by outcome.", ["outcome"],
                         registry=REGISTRY, buckets=(15, 30, 60, 90, 120, 180, 240, 300, 450, 600, 900, 1800))
TIME_TO_BOOK = Histogram("hotline_call_time_to_book_seconds", "From the first webhook of a call to its first "
                         "booking.", registry=REGISTRY, buckets=(30, 45, 60, 90, 120, 150, 180, 240, 300, 450, 600))


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


# -- booking changes ---------------------------------------------------------------------------

_PENDING = "hotline.booking_changes"


@dataclass(frozen=True)
class _Change:
    entry: BookingEvent
    action: str
    channel: str
    code: str | None
    office_id: int | None


def _change(session: Session, entry: BookingEvent) -> _Change:
    booking = session.identity_map.get(inspect(Booking).identity_key_from_primary_key((entry.booking_id,)))
    code = booking.code if isinstance(booking, Booking) else None
    office_id = booking.office_id if isinstance(booking, Booking) else None
    return _Change(entry, entry.action, Channel(entry.channel).value, code, office_id)


def _collect_changes(session: Session, _flush_context: Any) -> None:
    """Note the booking history rows this flush wrote; they count only if the transaction commits."""
    for obj in session.new:
        if isinstance(obj, BookingEvent):
            session.info.setdefault(_PENDING, []).append(_change(session, obj))


def _emit_changes(session: Session) -> None:
    """Count and log the committed changes; those of a rolled-back savepoint were expunged, so skipped.

    Rows a booking statement wrote itself (booking.bookings.HISTORY_WRITTEN) come after the flushed ones.
    """
    changes = session.info.pop(_PENDING, []) + [_change(session, e) for e in session.info.pop(HISTORY_WRITTEN, [])]
    committed = [c for c in changes if inspect(c.entry).persistent]
    for change in committed:
        counter = _CHANGES.get(change.action)
        if counter is not None:
            counter.labels(channel=change.channel).inc()
        booking_log.info("booking %s", change.action,
                         extra={"event": f"booking.{change.action}", "booking_code": change.code,
                                "office_id": change.office_id, "channel": change.channel})
    if committed and has_request_context():
        # The rest of the request (its access line above all) names the booking it changed.
        bind(booking_code=committed[-1].code, office_id=committed[-1].office_id)


def _forget_changes(session: Session) -> None:
    if not session.in_transaction():
        session.info.pop(_PENDING, None)
        session.info.pop(HISTORY_WRITTEN, None)


def watch_bookings(sessions: sessionmaker[Session]) -> None:
    """Count bookings made, moved and cancelled through `sessions`, whatever the channel.

    The booking services write a history row for every change, in the IVR, the console, the API
    and the scheduled jobs alike; counting those rows at commit counts every change exactly once,
    without each edge having to remember to.
    """
    event.listen(sessions, "after_flush", _collect_changes)
    event.listen(sessions, "after_commit", _emit_changes)
    event.listen(sessions, "after_soft_rollback", lambda session, _previous: _forget_changes(session))


def count_call(call: Call) -> None:
    """Count a call whose end (and outcome) has just been committed."""
    outcome = (call.outcome or CallOutcome.HUNG_UP).value
    CALLS.labels(outcome=outcome).inc()
    if call.outcome is CallOutcome.HUNG_UP:
        CALL_HANGUPS.labels(state=call.ended_in or "unknown").inc()
    if call.duration_seconds is not None:
        CALL_SECONDS.labels(outcome=outcome).observe(call.duration_seconds)
    if call.seconds_to_book is not None:
        TIME_TO_BOOK.observe(call.seconds_to_book)


# -- requests ----------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        endpoint = request.endpoint or "none"
        method = request.method if request.method in _METHODS else "other"
        HTTP_REQUESTS.labels(endpoint=endpoint, method=method, status=str(response.status_code)).inc()
        started = g.get("metrics_started")
        if endpoint in WEBHOOKS and started is not None:
            WEBHOOK_SECONDS.labels(endpoint=endpoint).observe(time.perf_counter() - started)
        return response


# -- scrape ------------------------------------------------------------------------------------


class _Workers(Collector):
    """This process's counters, when there is one process; every worker's, read from files, when several."""

    def collect(self) -> Iterator[Metric]:
        directory = multiprocess_dir()
        if directory:
            yield from MultiProcessCollector(None, path=directory).collect()
        else:
            yield from REGISTRY.collect()


class DatabaseCollector(Collector):
    """Figures read from the database when scraped: set-based queries, each on an index."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        rt = self.rt
        now = rt.now()
        today = now.astimezone(rt.settings.tz).date()
        up = GaugeMetricFamily("hotline_database_up", "Whether the last scrape could read the database.")
        try:
            with rt.reading() as db:
                # Through the offices, so the (office_id, date) index answers instead of a full scan.
                booked = db.execute(select(Booking.channel, Booking.status, func.count())
                                    .where(Booking.office_id.in_(select(Office.id)), Booking.date == today)
                                    .group_by(Booking.channel, Booking.status)).all()
                sms = db.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
                depth, oldest = db.execute(select(func.count(), func.min(OutboxMessage.due_at)).where(
                    OutboxMessage.status == MessageStatus.QUEUED, OutboxMessage.due_at <= now)).one()
                beats = db.execute(select(SchedulerHeartbeat.role, func.max(SchedulerHeartbeat.beat_at))
                                   .group_by(SchedulerHeartbeat.role)).all()
        except SQLAlchemyError as exc:
            log.warning("metrics: the database could not be read: %s", exc.__class__.__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield _bookings_today(booked)
        yield _sms_by_status(sms)
        yield GaugeMetricFamily("hotline_sms_outbox_depth", "SMS queued whose time to be sent has come.",
                                value=depth)
        lag = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        yield GaugeMetricFamily("hotline_sms_dispatcher_lag_seconds",
                                "Seconds since the oldest due SMS still queued became due (0: none waiting).",
                                value=lag)
        yield _heartbeats(beats, now)


def _bookings_today(rows: Sequence[Row[Channel, BookingStatus, int]]) -> GaugeMetricFamily:
    counts = {(Channel(c).value, BookingStatus(s).value): n for c, s, n in rows}
    family = GaugeMetricFamily("hotline_bookings_today", "Today's appointments (local date), by channel and status.",
                               labels=["channel", "status"])
    for channel in Channel:
        for status in BookingStatus:
            family.add_metric([channel.value, status.value], counts.get((channel.value, status.value), 0))
    return family


def _sms_by_status(rows: Sequence[Row[MessageStatus, int]]) -> GaugeMetricFamily:
    counts = {MessageStatus(s).value: n for s, n in rows}
    family = GaugeMetricFamily("hotline_sms_messages", "SMS in the outbox, by state.", labels=["status"])
    for status in MessageStatus:
        family.add_metric([status.value], counts.get(status.value, 0))
    return family


def _heartbeats(rows: Sequence[Row[SchedulerRole, datetime]], now: datetime) -> GaugeMetricFamily:
    family = GaugeMetricFamily("hotline_scheduler_heartbeat_age_seconds",
                               "Seconds since the freshest heartbeat of a scheduler in each role (absent: none).",
                               labels=["role"])
    beats = {SchedulerRole(role).value: at for role, at in rows}
    for role in SchedulerRole:
        if role.value in beats:
            family.add_metric([role.value], max(0.0, (now - beats[role.value]).total_seconds()))
    return family


def render(rt: Runtime) -> bytes:
    registry = CollectorRegistry()
    registry.register(_Workers())
    registry.register(DatabaseCollector(rt))
    return generate_latest(registry)


# -- access ------------------------------------------------------------------------------------

_PROXY_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")


def networks(settings: Settings) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n.strip(), strict=False)
            for n in settings.metrics_trusted_networks.split(",") if n.strip()]


def _token_ok(settings: Settings) -> bool:
    header = request.headers.get("Authorization", "")
    if not settings.metrics_token or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), settings.metrics_token.encode())


def _address_ok(settings: Settings) -> bool:
    """A trusted address; a request relayed by a proxy we were not told to trust has no known address.

    Without this, every request a local reverse proxy relays would look like loopback.
    """
    if not settings.trusted_proxies and any(h in request.headers for h in _PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks(settings))


@blueprint.get("/metrics")
def metrics() -> Response:
    rt = runtime()
    if not (_token_ok(rt.settings) or _address_ok(rt.settings)):
        return Response("forbidden\n", status=403, mimetype="text/plain")
    return Response(render(rt), content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
