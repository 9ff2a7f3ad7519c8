"""A soak run: minutes of mixed traffic against gunicorn and one scheduler, watching memory and the outbox.

    .venv/bin/python -m bench.soak [--minutes 5] [--workers 3] [--worker-class sync|gthread] [--sqlite]
                                   [--broadcast 3000] [--sms-rate 20] [--max-rps 80] [--drain-timeout 300]
                                   [--flat-mb 5] [--seed 1] [--admin-url URL]

A leak, a pool that grows, an outbox that never quite drains: none shows in a test of seconds.
This run keeps a production-shaped stack busy for `--minutes` and then settles the books:

1. A database made for the run (PostgreSQL beside `--admin-url`, or `--sqlite`), migrated, with
   the demo offices and procedures (actions.demo), 300 seats in every session, and an API token.
2. In this process, tests/twilio_standin.py's stand-in for Twilio's Messages API, extended to do
   what Twilio does after accepting a message: post the signed delivery reports to the message's
   StatusCallback (`sent` after about a second, then `delivered`, or for 3 % `undelivered` and 1 %
   `failed` with Twilio's error codes).
3. gunicorn serving `wsgi:app` (`--workers`, HOTLINE_ENV=production, signatures checked,
   PUBLIC_BASE_URL its loopback address so delivery reports come back to it) and one
   `flask --app wsgi scheduler run` sending through the stand-in (SMS_SENDER=twilio,
   TWILIO_API_BASE_URL, SMS_RATE=`--sms-rate`). Quiet hours are moved twelve hours away from
   the run so that every message falls due during it, whatever the time of day.
4. For `--minutes`, arrivals at fixed mean rates (Poisson), at most 20 of each kind at once and
   every request through one limiter of `--max-rps`: hotline calls that book (ring, 1, 2 for the
   list of offices, an office, field, session, confirm, hang up) at 1/s; hotline calls that
   cancel one of those bookings (ring, 2, the booking, 1 cancel, 1 confirm) at 0.15/s; API
   bookings (POST /api/v1/bookings) at 1/s; API cancellations at 0.25/s; API availability reads
   at 0.5/s; and, a fifth of the way in, a broadcast of `--broadcast` numbers made with the CLI
   (`broadcasts create --csv`, then `broadcasts send`), which the scheduler puts in the outbox
   and sends.
5. Every 10 s the resident memory (VmRSS) of gunicorn's master, each worker and the scheduler,
   and the outbox by status, are sampled and printed as a series.
6. When the traffic stops, the run waits (at most `--drain-timeout`) for the outbox to drain and
   every delivery report to be posted, then checks and prints: every message in a final state
   (none queued, sending, held, or sent without its report); messages queued == messages final;
   what the stand-in accepted == messages with a provider SID, and two reports each, all
   answered 204; one confirmation per booking and one cancellation SMS per cancelled booking;
   the broadcast done with one message per number; per session the counters equal the rows
   (booked, held, cooling) and never exceed the capacity; no 5xx, no apology, no transport
   error, no error in the servers' logs; memory growth of each process from the first minute
   to the end (flat = within `--flat-mb` MB). Written to bench/results/soak.json; the exit
   status is 1 if a check fails.

Loopback only; every process is stopped at the end, on an error or on Ctrl-C, and the PostgreSQL
database dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from bench._common import DEFAULT_ADMIN_URL, environment, safe_url, server_version, write_result
from bench.loadkit import (
    HttpClient, Latencies, Processes, Reply, Signer, StackConfig, add_stack_arguments, call_params, fresh_database,
    latency_lines, rss_kib, run_and_report, server_env, stack_options, verdict_lines, workdir,
)
from bench.rush import ACCOUNT_SID as CALL_ACCOUNT_SID
from bench.rush import Caller, Failed, RushCall, Shared, log_errors
from accounts.models import Role
from accounts.tokens import issue_token
from actions.demo import load_demo
from booking.availability import availability
from booking.models import Booking, BookingStatus, Channel, Hold, Office, OfficeSession, SessionTemplate
from booking.policy import BookingPolicy
from database.engine import make_engine, make_session_factory
from notifications.models import Broadcast, MessageKind, MessageStatus, OutboxMessage
from tests.faults.processes import Child, child_pids, die_with_parent, loopback_socket, wait_healthy
from tests.twilio_standin import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn

NAME = "soak"
VN = ZoneInfo("Asia/Ho_Chi_Minh")
CAPACITY = 300
MAX_INFLIGHT = 20  # per kind of traffic: arrivals beyond it are skipped (and counted), not queued
SAMPLE_SECONDS = 10.0
WAITING = (MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.HELD)
FINAL = (MessageStatus.DELIVERED, MessageStatus.UNDELIVERED, MessageStatus.FAILED, MessageStatus.CANCELLED)
BROADCAST_TEXT = ("UBND tỉnh Cà Mau thông báo: từ ngày 01/12, Trung tâm Phục vụ hành chính công nhận hồ sơ "
                  "cả sáng thứ Bảy.")
CALL_STEPS = ["ring", "book", "office", "field", "session", "session_again", "alternative", "confirm", "manage",
              "choose_booking", "cancel", "confirm_cancel", "hang_up"]
API_STEPS = ["api_book", "api_cancel", "api_read", "sms_status"]


@dataclass(frozen=True)
class SoakConfig(StackConfig):
    minutes: float = 5.0
    workers: int = 3
    broadcast: int = 3000
    broadcast_at: float = 0.2  # share of the run after which the broadcast is sent
    sms_rate: float = 20.0
    max_rps: float = 80.0
    rates: tuple[tuple[str, float], ...] = (("ivr_book", 1.0), ("ivr_cancel", 0.15), ("api_book", 1.0),
                                            ("api_cancel", 0.25), ("api_read", 0.5))
    pause: tuple[float, float] = (0.2, 1.0)
    drain_timeout: float = 300.0
    flat_mb: float = 5.0
    seed: int = 1


# --------------------------------------------------------------------------------------------
# Set-up


def set_up(url: str) -> tuple[str, list[tuple[int, str, str]], list[int]]:
    """Demo offices with room for the whole run, an operator's API token, and the sessions on offer this week."""
    engine = make_engine(url)
    try:
        now = datetime.now(UTC)
        with make_session_factory(engine).begin() as db:
            load_demo(db)
            db.execute(update(SessionTemplate).values(capacity=CAPACITY))
            db.execute(update(Office).values(crowd_limit=10_000))
            _token, secret = issue_token(db, name="soak", role=Role.OPERATOR, created_by="soak", now=now)
        with make_session_factory(engine).begin() as db:
            offices = list(db.scalars(select(Office).where(Office.active.is_(True))))
            today = now.astimezone(VN).date()
            days = availability(db, offices, today, today + timedelta(days=7), now=now,
                                policy=BookingPolicy(),
                                channel=Channel.OPERATOR)
            sessions = [(room.office_id, room.date.isoformat(), room.code)
                        for rooms in days.values() for day in rooms for room in day.sessions
                        if room.bookable and room.remaining > 0]
            return secret, sessions, [o.id for o in offices]
    finally:
        engine.dispose()


def quiet_hours_away(now: datetime) -> str:
    """A one-minute quiet window twelve hours from now: every message of the run is due at once."""
    start = now.astimezone(VN) + timedelta(hours=12)
    end = start + timedelta(minutes=1)
    return f"{start:%H:%M}-{end:%H:%M}"


class ReportingStandIn(TwilioStandIn):
    """The Messages API stand-in, which also hands every accepted message to `on_created` for its delivery reports."""

    def __init__(self, on_created: Callable[[dict[str, Any], str], None]) -> None:
        super().__init__()
        self.on_created = on_created

    def create(self, account: str, form: dict[str, list[str]]) -> dict[str, Any]:
        resource = super().create(account, form)
        callback = form.get("StatusCallback", [""])[0]
        if callback:
            self.on_created(resource, callback)
        return resource


# --------------------------------------------------------------------------------------------
# Traffic


class RateLimiter:
    """Spaces requests at most `rate` a second, across every task of the loop."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next = time.monotonic()

    async def __call__(self) -> None:
        now = time.monotonic()
        start = max(now, self.next)
        self.next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


@dataclass
class Traffic:
    """Everything the run's tasks share and count."""

    config: SoakConfig
    port: int
    signer: Signer
    api_token: str
    sessions: list[tuple[int, str, str]]
    office_ids: list[int]
    limiter: RateLimiter
    rng: random.Random
    latency: Latencies = field(default_factory=Latencies)
    statuses: Counter[int] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    inflight: Counter[str] = field(default_factory=Counter)
    ivr_booked: list[str] = field(default_factory=list)  # phones with one live booking made on the hotline
    api_booked: list[str] = field(default_factory=list)  # codes of live API bookings
    callbacks: dict[str, int] = field(default_factory=dict)  # provider SID → reports posted
    callback_tasks: set[asyncio.Task[None]] = field(default_factory=set)
    serial: int = 0

    def phone(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{(7_919 * self.serial + 1_234_567) % 10**7:07d}"

    def error(self, what: str) -> None:
        self.counts["errors"] += 1
        if len(self.errors) < 20:
            self.errors.append(what[:400])

    def shared(self) -> Shared:
        return Shared(self.port, self.signer, self.config.pause, latency=self.latency, statuses=self.statuses,
                      limiter=self.limiter)

    def take(self, booked: list[str], kind: str) -> str | None:
        """One of `booked` at random, taken out of it; None (counted) when there is nothing to cancel."""
        if not booked:
            self.counts[f"{kind}:nothing_to_cancel"] += 1
            return None
        return booked.pop(self.rng.randrange(len(booked)))

    async def call(self, kind: str, call: type[RushCall], phone: str) -> Caller:
        """One hotline call from `phone` (a `call`), counted by its outcome."""
        caller = Caller(0, phone, "CA" + secrets.token_hex(16))
        await call(caller, self.shared(), random.Random(self.rng.random())).run()
        self.counts[f"{kind}:{caller.outcome}"] += 1
        return caller


class CancelCall(RushCall):
    """A caller who booked on the hotline rings again and cancels: 2, the booking, 1 (cancel), 1 (confirm)."""

    async def _call(self) -> None:
        caller = self.caller
        heard = await self._say("ring", "/ivr/voice", call_params(caller.sid, caller.phone, CALL_ACCOUNT_SID))
        heard = await self._press("manage", heard, "2")
        if "1" not in heard.keys("booking_choice"):
            raise Failed(f"manage: the booking is not offered: {heard.says}")
        heard = await self._press("choose_booking", heard, "1")
        if not heard.has("booking_detail_menu"):
            raise Failed(f"choose_booking: no cancel offered: {heard.says}")
        heard = await self._press("cancel", heard, "1")
        if not heard.has("confirm_cancel"):
            raise Failed(f"cancel: not asked to confirm: {heard.says}")
        heard = await self._press("confirm_cancel", heard, "1")
        if not heard.has("cancelled"):
            raise Failed(f"confirm_cancel: not cancelled: {heard.says}")
        caller.outcome = "cancelled"


async def ivr_book(t: Traffic) -> None:
    caller = await t.call("ivr_book", RushCall, t.phone("+8497"))
    if caller.outcome == "booked":
        t.ivr_booked.append(caller.phone)
    elif caller.outcome != "full":
        t.error(f"hotline booking call: {caller.error}")


async def ivr_cancel(t: Traffic) -> None:
    phone = t.take(t.ivr_booked, "ivr_cancel")
    if phone is None:
        return
    caller = await t.call("ivr_cancel", CancelCall, phone)
    if caller.outcome != "cancelled":
        t.error(f"hotline cancelling call: {caller.error}")


async def api(t: Traffic, step: str, method: str, path: str, payload: dict[str, Any] | None = None, *,
              outcomes: dict[int, str]) -> Reply | None:
    """One API request; the reply if its status is one of `outcomes` (counted as `step:outcome`), else None."""
    await t.limiter()
    body = json.dumps(payload).encode() if payload is not None else b""
    headers = {"Authorization": f"Bearer {t.api_token}", "Accept": "application/json"}
    if payload is not None:
        headers["Content-Type"] = "application/json"
    client = HttpClient(t.port)
    try:
        reply = await client.request(method, path, body, headers)
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
        t.error(f"{step}: transport {type(exc).__name__}: {exc}")
        return None
    finally:
        await client.close()
    t.statuses[reply.status] += 1
    t.latency.add(step, reply.ms)
    if reply.status not in outcomes:
        t.error(f"{step}: HTTP {reply.status}: {reply.text[:300]}")
        return None
    t.counts[f"{step}:{outcomes[reply.status]}"] += 1
    return reply


async def api_book(t: Traffic) -> None:
    office_id, day, code = t.rng.choice(t.sessions)
    # 409: full, or past its cut-off by now: the service said no, cleanly.
    reply = await api(t, "api_book", "POST", "/api/v1/bookings",
                      {"office_id": office_id, "date": day, "session": code, "phone": t.phone("+8498")},
                      outcomes={201: "booked", 409: "refused"})
    if reply is not None and reply.status == 201:
        t.api_booked.append(json.loads(reply.body)["booking"]["code"])


async def api_cancel(t: Traffic) -> None:
    code = t.take(t.api_booked, "api_cancel")
    if code is not None:
        await api(t, "api_cancel", "POST", f"/api/v1/bookings/{code}/cancel", {"reason": "soak"},
                  outcomes={200: "cancelled"})


async def api_read(t: Traffic) -> None:
    office_id = t.rng.choice(t.office_ids)
    await api(t, "api_read", "GET", f"/api/v1/offices/{office_id}/availability", outcomes={200: "ok"})


ACTIVITIES: dict[str, Callable[[Traffic], Awaitable[None]]] = {
    "ivr_book": ivr_book, "ivr_cancel": ivr_cancel, "api_book": api_book, "api_cancel": api_cancel,
    "api_read": api_read}


async def arrivals(t: Traffic, name: str, rate: float, end: float, tasks: set[asyncio.Task[None]]) -> None:
    """Poisson arrivals of one kind of traffic until `end`; never more than MAX_INFLIGHT of it at once."""
    activity = ACTIVITIES[name]

    async def one() -> None:
        t.inflight[name] += 1
        try:
            await activity(t)
        except Exception as exc:  # a bug in this client must show, not stop the run
            t.error(f"{name}: client crashed: {type(exc).__name__}: {exc}")
        finally:
            t.inflight[name] -= 1

    rng = random.Random(t.rng.random())
    at = time.monotonic()
    while True:
        at += rng.expovariate(rate)
        if at >= end:
            return
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        if t.inflight[name] >= MAX_INFLIGHT:
            t.counts[f"{name}:skipped_saturated"] += 1
            continue
        task = asyncio.create_task(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)


# -- delivery reports, as Twilio posts them


def delivery_outcome(rng: random.Random) -> tuple[str, str | None]:
    roll = rng.random()
    if roll < 0.03:
        return "undelivered", "30003"  # unreachable handset
    if roll < 0.04:
        return "failed", "30008"  # unknown error
    return "delivered", None


async def report_delivery(t: Traffic, resource: dict[str, Any], callback: str) -> None:
    """`sent` about a second after acceptance, then the final status, each signed, to the message's StatusCallback."""
    rng = random.Random(resource["sid"])
    path = callback.removeprefix(f"http://127.0.0.1:{t.port}")
    final, error_code = delivery_outcome(rng)
    for status, delay in (("sent", rng.uniform(0.5, 1.5)), (final, rng.uniform(0.5, 2.0))):
        await asyncio.sleep(delay)
        params = {"AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "MessageSid": resource["sid"],
                  "SmsSid": resource["sid"], "MessageStatus": status, "SmsStatus": status,
                  "To": resource["to"] or "", "From": resource["from"] or ""}
        if status in ("undelivered", "failed") and error_code:
            params["ErrorCode"] = error_code
        await t.limiter()
        body, headers = t.signer.form(path, params)
        client = HttpClient(t.port)
        try:
            reply = await client.request("POST", path, body, headers)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            t.error(f"sms_status: transport {type(exc).__name__}: {exc}")
            return
        finally:
            await client.close()
        t.statuses[reply.status] += 1
        t.latency.add("sms_status", reply.ms)
        t.callbacks[resource["sid"]] = t.callbacks.get(resource["sid"], 0) + 1
        if reply.status != 204:
            t.error(f"sms_status: HTTP {reply.status}: {reply.text[:300]}")
            return
    t.counts[f"sms_report:{final}"] += 1


# -- the broadcast, made as an administrator would, with the CLI


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], env=env, capture_output=True,
                          text=True, timeout=300, cwd=Path(__file__).resolve().parent.parent, check=False,
                          start_new_session=True, preexec_fn=die_with_parent)
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    return done.stdout


def send_broadcast(env: dict[str, str], csv_path: Path, numbers: int, seed: int) -> tuple[int, str]:
    rng = random.Random(seed)
    picked = rng.sample(range(10**7), numbers)
    csv_path.write_text("số điện thoại\n" + "".join(f"096{n:07d}\n" for n in picked), encoding="utf-8")
    created = cli(env, "broadcasts", "create", "--csv", str(csv_path), "--text", BROADCAST_TEXT, "--title", "soak")
    found = re.search(r"Broadcast (\d+) created", created)
    if found is None:
        raise RuntimeError(f"no broadcast id in: {created}")
    broadcast_id = int(found.group(1))
    sent = cli(env, "broadcasts", "send", str(broadcast_id))
    return broadcast_id, (created + sent).strip()


# -- samples of memory and of the outbox


@dataclass
class Sampler:
    gunicorn: Child
    scheduler: Child
    url: str
    started: float
    labels: dict[int, str] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def label(self, pid: int) -> str:
        if pid not in self.labels:
            workers = sum(1 for name in self.labels.values() if name.startswith("worker"))
            self.labels[pid] = f"worker{workers + 1}"
        return self.labels[pid]

    def sample(self, engine: Any) -> dict[str, Any]:
        self.labels.setdefault(self.gunicorn.pid, "master")
        self.labels.setdefault(self.scheduler.pid, "scheduler")
        memory = {}
        for pid in [self.gunicorn.pid, *child_pids(self.gunicorn.pid), self.scheduler.pid]:
            kib = rss_kib(pid)
            if kib is not None:
                memory[self.label(pid)] = kib
        with engine.connect() as conn:
            outbox = {str(getattr(k, "value", k)): n for k, n in conn.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))}
            bookings = conn.execute(select(func.count()).select_from(Booking)).scalar_one()
        row = {"t": round(time.monotonic() - self.started, 1), "rss_kib": memory, "outbox": outbox,
               "bookings": bookings}
        self.rows.append(row)
        return row

    async def run(self, stop: asyncio.Event) -> None:
        engine = make_engine(self.url)
        try:
            while True:
                await asyncio.to_thread(self.sample, engine)
                try:
                    await asyncio.wait_for(stop.wait(), SAMPLE_SECONDS)
                    await asyncio.to_thread(self.sample, engine)  # the last one, at the very end
                    return
                except TimeoutError:
                    continue
        finally:
            engine.dispose()


def outbox_state(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {str(getattr(k, "value", k)): n for k, n in conn.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))}
    finally:
        engine.dispose()


async def drain(t: Traffic, url: str, timeout: float) -> tuple[float, dict[str, int]]:
    """Seconds until nothing waits in the outbox and every delivery report is in; the outbox then."""
    started = time.monotonic()
    state: dict[str, int] = {}
    while time.monotonic() - started < timeout:
        state = await asyncio.to_thread(outbox_state, url)
        waiting = sum(state.get(s.value, 0) for s in WAITING) + state.get(MessageStatus.SENT.value, 0)
        if not waiting and not t.callback_tasks:
            return time.monotonic() - started, state
        await asyncio.sleep(2)
    return time.monotonic() - started, state


# --------------------------------------------------------------------------------------------
# One run


@dataclass
class SoakResult:
    config: SoakConfig
    database: str
    counts: dict[str, int]
    statuses: dict[int, int]
    latency: dict[str, dict[str, float]]
    samples: list[dict[str, Any]]
    memory: dict[str, dict[str, Any]]
    outbox: dict[str, int]
    reconcile: dict[str, Any]
    broadcast: dict[str, Any]
    drain_seconds: float
    traffic_seconds: float
    total_seconds: float
    load: list[tuple[float, float, float]]
    errors: list[str]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


async def _soak(config: SoakConfig, t: Traffic, sampler: Sampler, broadcast_env: dict[str, str], tmp: Path,
                standin: ReportingStandIn, url: str) -> dict[str, Any]:
    loop = asyncio.get_running_loop()

    def created(resource: dict[str, Any], callback: str) -> None:
        """In the stand-in's thread: hand the message to the loop, which posts its reports."""

        def start() -> None:
            task = loop.create_task(report_delivery(t, resource, callback))
            t.callback_tasks.add(task)
            task.add_done_callback(t.callback_tasks.discard)

        with contextlib.suppress(RuntimeError):  # the loop has closed: the run is being interrupted
            loop.call_soon_threadsafe(start)

    standin.on_created = created
    try:
        return await _traffic(config, t, sampler, broadcast_env, tmp, url)
    finally:
        standin.on_created = lambda *_: None  # messages sent while the scheduler stops get no reports
        for task in list(t.callback_tasks):
            task.cancel()


async def _traffic(config: SoakConfig, t: Traffic, sampler: Sampler, broadcast_env: dict[str, str], tmp: Path,
                   url: str) -> dict[str, Any]:
    stop_sampling = asyncio.Event()
    sampling = asyncio.create_task(sampler.run(stop_sampling))
    load = [os.getloadavg()]
    started = time.monotonic()
    end = started + config.minutes * 60
    tasks: set[asyncio.Task[None]] = set()
    feeds = [asyncio.create_task(arrivals(t, name, rate, end, tasks)) for name, rate in config.rates if rate > 0]
    await asyncio.sleep(config.minutes * 60 * config.broadcast_at)
    broadcast_id, broadcast_output = await asyncio.to_thread(send_broadcast, broadcast_env, tmp / "broadcast.csv",
                                                             config.broadcast, config.seed)
    broadcast_sent_at = time.monotonic() - started
    await asyncio.gather(*feeds)
    if tasks:
        await asyncio.wait(set(tasks), timeout=120)
    traffic_seconds = time.monotonic() - started
    load.append(os.getloadavg())
    drain_seconds, _state = await drain(t, url, config.drain_timeout)
    load.append(os.getloadavg())
    stop_sampling.set()
    await sampling
    return {"broadcast_id": broadcast_id, "broadcast_output": broadcast_output, "broadcast_sent_at": broadcast_sent_at,
            "traffic_seconds": traffic_seconds, "drain_seconds": drain_seconds, "load": load}


def memory_growth(samples: list[dict[str, Any]], flat_mb: float) -> dict[str, dict[str, Any]]:
    """Per process: RSS at the first sample of the second minute, at the end, and the difference."""
    growth = {}
    names = sorted({name for s in samples for name in s["rss_kib"]},
                   key=lambda n: (n != "master", n == "scheduler", n))
    for name in names:
        series = [(s["t"], s["rss_kib"][name]) for s in samples if name in s["rss_kib"]]
        baseline = next(((t, kib) for t, kib in series if t >= 60), series[0])
        last = series[-1]
        mb = (last[1] - baseline[1]) / 1024
        growth[name] = {"first_minute_t": baseline[0], "first_minute_mb": baseline[1] / 1024, "end_t": last[0],
                        "end_mb": last[1] / 1024, "growth_mb": mb, "flat": abs(mb) <= flat_mb}
    return growth


def reconcile(url: str, broadcast_id: int, standin: ReportingStandIn, t: Traffic, numbers: int) -> tuple[
        dict[str, Any], dict[str, Any], list[str]]:
    problems: list[str] = []
    engine = make_engine(url)
    try:
        with make_session_factory(engine).begin() as db:
            by_status = {str(getattr(k, "value", k)): n for k, n in db.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))}
            total = sum(by_status.values())
            final = sum(by_status.get(s.value, 0) for s in FINAL)
            waiting = {s: by_status.get(s, 0) for s in ("queued", "sending", "held", "sent") if by_status.get(s)}
            if waiting:
                problems.append(f"outbox not drained: {waiting}")
            if total != final:
                problems.append(f"{total} messages queued, {final} in a final state")
            with_sid = db.scalar(select(func.count()).select_from(OutboxMessage)
                                 .where(OutboxMessage.provider_sid.is_not(None))) or 0
            accepted = len(standin.accepted)
            if with_sid != accepted:
                problems.append(f"the stand-in accepted {accepted} messages, {with_sid} have a provider SID")
            reports = sum(t.callbacks.values())
            if reports != 2 * accepted or any(n != 2 for n in t.callbacks.values()):
                problems.append(f"{reports} delivery reports posted for {accepted} accepted messages (2 each expected)")
            reported = {s: t.counts[f"sms_report:{s}"] for s in ("delivered", "undelivered", "failed")}
            recorded = {str(getattr(k, "value", k)): n for k, n in db.execute(
                select(OutboxMessage.status, func.count()).where(OutboxMessage.provider_sid.is_not(None))
                .group_by(OutboxMessage.status))}
            if any(recorded.get(s, 0) != n for s, n in reported.items()):
                problems.append(f"final delivery reports {reported}, but the outbox records {recorded}")
            kinds = {str(getattr(k, "value", k)): n for k, n in db.execute(
                select(OutboxMessage.kind, func.count()).group_by(OutboxMessage.kind))}
            bookings = db.scalar(select(func.count()).select_from(Booking)) or 0
            cancelled = db.scalar(select(func.count()).select_from(Booking)
                                  .where(Booking.status == BookingStatus.CANCELLED)) or 0
            if kinds.get(MessageKind.CONFIRMATION.value, 0) != bookings:
                problems.append(f"{kinds.get('confirmation', 0)} confirmations for {bookings} bookings")
            if kinds.get(MessageKind.CANCELLATION.value, 0) != cancelled:
                problems.append(f"{kinds.get('cancellation', 0)} cancellation SMS for {cancelled} cancelled bookings")
            broadcast = db.get(Broadcast, broadcast_id)
            assert broadcast is not None
            of_broadcast = db.scalar(select(func.count()).select_from(OutboxMessage)
                                     .where(OutboxMessage.broadcast_id == broadcast_id)) or 0
            first_sent, last_done = db.execute(select(func.min(OutboxMessage.sent_at), func.max(OutboxMessage.updated_at))
                                               .where(OutboxMessage.broadcast_id == broadcast_id)).one()
            broadcast_info = {"id": broadcast_id, "status": str(getattr(broadcast.status, "value", broadcast.status)),
                              "recipients": broadcast.recipients, "messages": of_broadcast, "uploaded": numbers,
                              "sending_seconds": (last_done - first_sent).total_seconds()
                              if first_sent and last_done else None}
            if broadcast_info["status"] != "done" or not broadcast.recipients == of_broadcast == numbers:
                problems.append(f"broadcast: {broadcast_info}")
            sessions = []
            for row in db.scalars(select(OfficeSession).order_by(OfficeSession.id)):
                live = db.scalar(select(func.count()).select_from(Booking).where(
                    Booking.session_id == row.id, Booking.status == BookingStatus.BOOKED)) or 0
                cooling = db.scalar(select(func.count()).select_from(Booking).where(
                    Booking.session_id == row.id, Booking.status == BookingStatus.CANCELLED,
                    Booking.seat_released_at.is_(None))) or 0
                holds = db.scalar(select(func.count()).select_from(Hold).where(Hold.session_id == row.id)) or 0
                sessions.append((row.booked, live))
                if (row.booked, row.held, row.cooling) != (live, holds, cooling):
                    problems.append(f"session {row.id}: counters booked={row.booked} held={row.held} "
                                    f"cooling={row.cooling}, rows {live}, {holds}, {cooling}")
                if row.booked + row.held + row.cooling + row.reserve_left > row.capacity:
                    problems.append(f"session {row.id}: {row.booked}+{row.held}+{row.cooling}+{row.reserve_left} "
                                    f"seats taken of {row.capacity}")
            summary = {"messages": total, "final": final, "by_status": by_status, "by_kind": kinds,
                       "provider_sids": with_sid, "standin_accepted": accepted, "delivery_reports": reports,
                       "final_reports": reported,
                       "bookings": bookings, "cancelled": cancelled, "sessions_checked": len(sessions),
                       "seats_booked_counter": sum(b for b, _ in sessions),
                       "live_booking_rows": sum(r for _, r in sessions)}
            return summary, broadcast_info, problems
    finally:
        engine.dispose()


def run_soak(config: SoakConfig, out: Callable[[str], None] = print) -> SoakResult:
    started = time.monotonic()
    with workdir("hotline-soak-") as tmp_name, fresh_database(sqlite=config.sqlite, admin_url=config.admin_url,
                                                             workdir=Path(tmp_name), prefix="hotline_soak") as url:
        tmp = Path(tmp_name)
        database = server_version(url)
        api_token, sessions, office_ids = set_up(url)
        metrics_dir = tmp / "prometheus"
        metrics_dir.mkdir()
        with ReportingStandIn(lambda *_: None) as standin, Processes(tmp) as procs:
            sock = loopback_socket()
            port = sock.getsockname()[1]
            base_url = f"http://127.0.0.1:{port}"
            env = server_env(url, tmp / "instance", env="production", token=AUTH_TOKEN, account_sid=ACCOUNT_SID,
                             SMS_SENDER="twilio", TWILIO_API_BASE_URL=standin.base_url, TWILIO_FROM="UBND CA MAU",
                             PUBLIC_BASE_URL=base_url, SMS_RATE=str(config.sms_rate),
                             SMS_QUIET_HOURS=quiet_hours_away(datetime.now(UTC)),
                             IVR_AUDIO_DIR=str(tmp / "no-recordings"), PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
            server = procs.web(env, workers=config.workers, worker_class=config.worker_class, threads=config.threads,
                               sock=sock)
            wait_healthy(server, procs, timeout=90)
            scheduler = procs.scheduler("scheduler", env)
            out(f"  gunicorn ({config.workers} {config.worker_class} workers) on {base_url}, scheduler pid "
                f"{scheduler.pid}, Twilio stand-in on {standin.base_url}; {config.minutes:g} min of traffic ...")
            t = Traffic(config=config, port=port, signer=Signer(AUTH_TOKEN, base_url), api_token=api_token,
                        sessions=sessions, office_ids=office_ids, limiter=RateLimiter(config.max_rps),
                        rng=random.Random(config.seed))
            sampler = Sampler(server, scheduler, url, time.monotonic())
            phases = asyncio.run(_soak(config, t, sampler, env, tmp, standin, url))
            alive = {"gunicorn": server.alive(), "scheduler": scheduler.alive()}
            procs.stop_all()
            logs = {"gunicorn": server.log(), "scheduler": scheduler.log()}
        summary, broadcast, problems = reconcile(url, phases["broadcast_id"], standin, t, config.broadcast)
    for name, up in alive.items():
        if not up:
            problems.append(f"{name} had died before the end")
    errors = [f"{name}: {line}" for name, text in logs.items() for line in log_errors(text)]
    if errors:
        problems.append(f"the servers logged {len(errors)} errors, e.g. {errors[0]}")
    server_errors = sum(n for status, n in t.statuses.items() if status >= 500)
    if server_errors:
        problems.append(f"{server_errors} answers with a 5xx status")
    if t.counts["errors"]:
        problems.append(f"{t.counts['errors']} failed requests or calls, e.g. {t.errors[:3]}")
    memory = memory_growth(sampler.rows, config.flat_mb)
    grown = {name: round(m["growth_mb"], 1) for name, m in memory.items() if not m["flat"]}
    if grown:
        problems.append(f"memory grew by more than {config.flat_mb:g} MB from the first minute to the end: {grown}")
    broadcast["sent_at_seconds"] = phases["broadcast_sent_at"]
    broadcast["cli"] = phases["broadcast_output"]
    return SoakResult(config=config, database=database, counts=dict(sorted(t.counts.items())),
                      statuses=dict(sorted(t.statuses.items())), latency=t.latency.summary(CALL_STEPS + API_STEPS),
                      samples=sampler.rows, memory=memory, outbox=summary["by_status"], reconcile=summary,
                      broadcast=broadcast, drain_seconds=phases["drain_seconds"],
                      traffic_seconds=phases["traffic_seconds"], total_seconds=time.monotonic() - started,
                      load=phases["load"], errors=t.errors + errors[:10], problems=problems)


def report_lines(r: SoakResult) -> list[str]:
    c = r.config
    lines = [f"Soak: {c.minutes:g} min, gunicorn {c.workers} {c.worker_class} workers + 1 scheduler, {r.database}, "
             f"HOTLINE_ENV=production; SMS through the Twilio stand-in at {c.sms_rate:g}/s; requests capped at "
             f"{c.max_rps:g}/s; arrivals/s " + ", ".join(f"{n} {rate:g}" for n, rate in c.rates)
             + f"; broadcast of {c.broadcast} at {r.broadcast.get('sent_at_seconds', 0):.0f} s"]
    lines.append("Traffic: " + ", ".join(f"{k} {v}" for k, v in r.counts.items()))
    lines.append("HTTP statuses: " + ", ".join(f"{k}: {v}" for k, v in r.statuses.items()))
    names = list(r.memory)
    lines.append("RSS every 10 s (MB), with the outbox by status:")
    lines.append("  " + f"{'t s':>6} " + " ".join(f"{n:>9}" for n in names) + "  outbox")
    for s in r.samples:
        mem = " ".join(f"{s['rss_kib'][n] / 1024:9.1f}" if n in s["rss_kib"] else f"{'-':>9}" for n in names)
        outbox = ", ".join(f"{k} {v}" for k, v in sorted(s["outbox"].items()))
        lines.append(f"  {s['t']:>6.0f} {mem}  {outbox}")
    lines.append("Memory from the first minute to the end:")
    for name, m in r.memory.items():
        lines.append(f"  {name:<10} {m['first_minute_mb']:7.1f} MB at {m['first_minute_t']:.0f} s -> {m['end_mb']:7.1f} "
                     f"MB at {m['end_t']:.0f} s: {m['growth_mb']:+.1f} MB ({'flat' if m['flat'] else 'GREW'})")
    rc = r.reconcile
    lines.append(f"Outbox at the end: {rc['messages']} messages queued in all, {rc['final']} in a final state "
                 f"({', '.join(f'{k} {v}' for k, v in sorted(rc['by_status'].items()))}); by kind "
                 f"{', '.join(f'{k} {v}' for k, v in sorted(rc['by_kind'].items()))}; drained "
                 f"{r.drain_seconds:.0f} s after the traffic stopped")
    lines.append(f"Reconciled: stand-in accepted {rc['standin_accepted']}, messages with a provider SID "
                 f"{rc['provider_sids']}, delivery reports posted {rc['delivery_reports']} (final: "
                 f"{', '.join(f'{k} {v}' for k, v in rc['final_reports'].items())}, as recorded); bookings {rc['bookings']} "
                 f"({rc['cancelled']} cancelled); seats booked by the session counters {rc['seats_booked_counter']} "
                 f"= live booking rows {rc['live_booking_rows']} over {rc['sessions_checked']} sessions")
    b = r.broadcast
    lines.append(f"Broadcast {b['id']}: {b['status']}, {b['recipients']} recipients, {b['messages']} messages, "
                 f"sent over {b['sending_seconds'] or 0:.0f} s")
    lines.append("Latency, client side (connect to last byte):")
    lines += latency_lines(r.latency)
    lines.append(f"Wall time: traffic {r.traffic_seconds:.0f} s, drain {r.drain_seconds:.0f} s, whole run "
                 f"{r.total_seconds:.0f} s")
    lines.append("Load average (1, 5, 15 min): start " + " ".join(f"{x:.2f}" for x in r.load[0]) + ", end of traffic "
                 + " ".join(f"{x:.2f}" for x in r.load[1]) + ", after the drain "
                 + " ".join(f"{x:.2f}" for x in r.load[-1]) + f" ({os.cpu_count()} CPUs)")
    lines += verdict_lines(r.problems, "Checks passed: outbox drained, every message final and reconciled, counters "
                           "equal rows, no 5xx, no failed request, no server error, memory flat")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    add_stack_arguments(parser, SoakConfig())
    parser.add_argument("--broadcast", type=int, default=3000, help="numbers in the broadcast")
    parser.add_argument("--sms-rate", type=float, default=20.0, help="SMS_RATE of the scheduler")
    parser.add_argument("--max-rps", type=float, default=80.0, help="requests a second this client sends at most")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--flat-mb", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args(argv)
    config = SoakConfig(minutes=args.minutes, broadcast=args.broadcast, sms_rate=args.sms_rate, max_rps=args.max_rps,
                        drain_timeout=args.drain_timeout, flat_mb=args.flat_mb, seed=args.seed, **stack_options(args))
    result = run_and_report(run_soak, config, report_lines)
    if result is None:
        return 130
    data = {"environment": environment(config.admin_url),
            "config": asdict(config) | {"admin_url": safe_url(config.admin_url)}, **{
                k: getattr(result, k) for k in ("database", "counts", "latency", "samples", "memory", "outbox",
                                                "reconcile", "broadcast", "drain_seconds", "traffic_seconds",
                                                "total_seconds", "load", "errors", "problems")},
            "statuses": {str(k): v for k, v in result.statuses.items()}, "ok": result.ok}
    path = write_result(NAME, data)
    print(f"(result written to {path})")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
