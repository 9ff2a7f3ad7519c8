"""A hotline rush on loopback: hundreds of callers at once for fewer seats than callers, then the checks.

    .venv/bin/python -m bench.rush [--callers 300] [--workers 4] [--worker-class sync|gthread] [--threads 4]
                                   [--sqlite] [--env production|testing] [--pause 0.3 1.5] [--ramp 5]
                                   [--deadline 180] [--seed 1] [--admin-url URL]

The morning a province opens booking for a popular session, everyone rings at once. This run
plays that morning against the real stack and then checks that the seat rules held:

1. A database made for the run (PostgreSQL beside `--admin-url`, or a SQLite file with
   `--sqlite`), migrated, with two offices and, by default, three sessions tomorrow (office 1:
   morning 90 and afternoon 60 seats; office 2: morning 50), 200 seats for 300 callers. The
   sessions are per-date additions (no weekly template), so nothing else is on offer.
2. gunicorn serves `wsgi:app` with `--workers` sync (or gthread) workers on a loopback port,
   HOTLINE_ENV=production with SECRET_KEY and TWILIO_AUTH_TOKEN set and signatures checked.
3. `--callers` simulated callers, each an asyncio task with its own connection, start spread
   over `--ramp` seconds and make one whole call over HTTP, every webhook signed as Twilio signs
   it: ring, press 1 (book), say the office's commune when asked (two in three say the first;
   "xã Tân Thành", confirming with 1 if the hotline reads the name back), choose a session
   among those read out (half take the first, the soonest), confirm with 1, hear the booking
   code, hang up (the status callback). A caller whose session filled meanwhile hears so and
   chooses again among what is left; when the office is full the hotline offers other offices,
   and the caller takes one; when nothing is left anywhere the caller hangs up. Between steps a
   caller pauses `--pause` seconds (uniform), as people listen to a prompt. Each caller makes
   at most 14 requests, each waits at most 30 s, and the run stops at `--deadline`.
4. The checks, printed and written to bench/results/rush.json (the exit status is 1 if one fails):
   no overbooking (per session: booked + held <= capacity, and the counters equal the rows:
   bookings, holds, windows, queue numbers 1..n); every caller either booked (a code read out,
   found in the database for that caller's number) or was told that nothing is free; zero 5xx,
   zero apologies ("the system has a problem"), zero transport errors, no error in the server's
   log; every call ended; one confirmation SMS per booking; and, when anyone was turned away,
   every seat booked. Then webhook latency p50/p95/p99 per step and overall, and wall time.

Loopback only; the servers stop by themselves at the end, on an error or on Ctrl-C. The PostgreSQL
database is dropped at the end. tests/load/test_rush.py runs the same code, smaller.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import secrets
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as daytime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bench._common import (
    DEFAULT_ADMIN_URL, backend_pids, environment, machine_cpu, process_cpu, safe_url, server_version, write_result,
)
from bench.loadkit import (
    Heard, HttpClient, Latencies, Processes, Reply, Signer, StackConfig, add_stack_arguments, call_params,
    fresh_database, latency_lines, run_and_report, server_env, stack_options, verdict_lines, workdir,
)
from booking.models import (
    ArrivalWindow, Booking, BookingStatus, Hold, Office, OfficeLevel, OfficeSession, SessionOverride,
)
from booking.models.offices import spoken_name_of
from database.engine import make_engine, make_session_factory
from hotline.ivr.models import Call
from notifications.models import MessageKind, OutboxMessage
from tests.faults.processes import child_pids, wait_healthy

NAME = "rush"
TOKEN = "b" * 32  # TWILIO_AUTH_TOKEN of the server; the callers sign with it
ACCOUNT_SID = "AC" + "0" * 32
VN = ZoneInfo("Asia/Ho_Chi_Minh")
MAX_REQUESTS = 14  # per caller, the status callback included
OFFICES = (("RUSH-TT", "Bộ phận Một cửa xã Tân Thành"), ("RUSH-HT", "Bộ phận Một cửa xã Hòa Thành"))
HOURS = {"S": (daytime(7, 30), daytime(11, 30)), "C": (daytime(13, 30), daytime(17, 0))}
STEPS = ["ring", "book", "office_list", "office", "field", "session", "session_again", "alternative", "confirm",
         "hang_up"]


@dataclass(frozen=True)
class SessionSpec:
    office: int  # index into OFFICES
    code: str  # S or C
    capacity: int


DEFAULT_SESSIONS = (SessionSpec(0, "S", 90), SessionSpec(0, "C", 60), SessionSpec(1, "S", 50))


@dataclass(frozen=True)
class RushConfig(StackConfig):
    callers: int = 300
    env: str = "production"
    sessions: tuple[SessionSpec, ...] = DEFAULT_SESSIONS
    office_weights: tuple[float, ...] = (2.0, 1.0)
    pause: tuple[float, float] = (0.3, 1.5)
    ramp: float = 5.0
    deadline: float = 180.0
    seed: int = 1

    @property
    def seats(self) -> int:
        return sum(s.capacity for s in self.sessions)


@dataclass
class Caller:
    """One simulated caller and what became of the call."""

    n: int
    phone: str
    sid: str
    outcome: str = "unfinished"  # booked, full, error, unfinished
    code: str | None = None
    office: str | None = None  # the commune said, or the key pressed in the list of offices
    lost_races: int = 0  # "that session has just filled up"
    offered_alternatives: bool = False
    booked_alternative: bool = False
    requests: int = 0
    error: str | None = None
    started: float = 0.0
    ended: float = 0.0


@dataclass
class RushResult:
    config: RushConfig
    database: str
    day: date
    callers: list[Caller]
    sessions: list[dict[str, Any]]
    statuses: Counter[int]
    latency: dict[str, dict[str, float]]
    calls_seconds: float
    total_seconds: float
    startup_seconds: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    server_log_errors: list[str]
    cpu: dict[str, float]
    problems: list[str] = field(default_factory=list)

    @property
    def outcomes(self) -> Counter[str]:
        return Counter(c.outcome for c in self.callers)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def ok(self) -> bool:
        return not self.problems


class Failed(Exception):
    """The call cannot go on (an unexpected answer, a 5xx, a transport failure); the caller hangs up."""


# --------------------------------------------------------------------------------------------
# The offices and sessions


def rush_day(now: datetime) -> date:
    """Tomorrow in Vietnam: far enough that no session is past its cut-off, whenever the run starts."""
    return now.astimezone(VN).date() + timedelta(days=1)


def set_up(url: str, sessions: tuple[SessionSpec, ...], day: date) -> None:
    """Two offices that hold only the configured sessions, on `day` (added for that date, no weekly plan)."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine).begin() as db:
            offices = []
            for keypad, (code, name) in enumerate(OFFICES, start=1):
                office = Office(code=code, keypad_number=keypad, name=name, level=OfficeLevel.COMMUNE,
                                address="Cà Mau", crowd_limit=10_000, window_minutes=30, horizon_days=3,
                                cutoff_minutes=60, active=True, timezone="Asia/Ho_Chi_Minh")
                db.add(office)
                offices.append(office)
            db.flush()
            for spec in sessions:
                start, end = HOURS[spec.code]
                db.add(SessionOverride(office_id=offices[spec.office].id, date=day, code=spec.code, start_time=start,
                                       end_time=end, capacity=spec.capacity, note="rush"))
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------
# The callers


@dataclass
class Shared:
    """What every caller of one run shares: the server, how callers behave, and what they report into.

    `limiter`, when given, is awaited before every request (bench/soak.py bounds its request rate).
    Callers say one of `office_names` (weighted by `office_weights`) when the hotline asks for their
    commune or ward; without names they press 2 and choose from the list of offices it reads.
    """

    port: int
    signer: Signer
    pause: tuple[float, float]
    office_weights: tuple[float, ...] = (1.0,)
    office_names: tuple[str, ...] = ()
    latency: Latencies = field(default_factory=Latencies)
    statuses: Counter[int] = field(default_factory=Counter)
    language: str = "vi"
    limiter: Callable[[], Awaitable[None]] | None = None


class RushCall:
    def __init__(self, caller: Caller, shared: Shared, rng: random.Random) -> None:
        self.caller, self.shared, self.rng = caller, shared, rng
        self.client = HttpClient(shared.port)

    async def _post(self, step: str, path: str, params: dict[str, str], *, expect: int = 200) -> Reply:
        if self.caller.requests >= MAX_REQUESTS:
            raise Failed(f"gave up after {MAX_REQUESTS} requests")
        self.caller.requests += 1
        if self.shared.limiter is not None:
            await self.shared.limiter()
        body, headers = self.shared.signer.form(path, params)
        try:
            reply = await self.client.request("POST", path, body, headers)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            raise Failed(f"{step}: transport {type(exc).__name__}: {exc}") from exc
        self.shared.statuses[reply.status] += 1
        self.shared.latency.add(step, reply.ms)
        if reply.status != expect:
            raise Failed(f"{step}: HTTP {reply.status}: {reply.text[:300]}")
        return reply

    async def _say(self, step: str, path: str, params: dict[str, str]) -> Heard:
        reply = await self._post(step, path, params)
        if not reply.content_type.startswith("text/xml"):
            raise Failed(f"{step}: {reply.content_type}: {reply.text[:300]}")
        try:
            heard = Heard.parse(reply.text, self.shared.language)
        except Exception as exc:
            raise Failed(f"{step}: not TwiML: {reply.text[:300]}") from exc
        if heard.has("error"):
            raise Failed(f"{step}: the hotline apologised for a fault")
        return heard

    async def _answer(self, step: str, heard: Heard, **answer: str) -> Heard:
        if heard.action is None:
            raise Failed(f"{step}: nothing to answer at: {heard.says}")
        low, high = self.shared.pause
        await asyncio.sleep(self.rng.uniform(low, high))
        return await self._say(step, heard.action, call_params(self.caller.sid, self.caller.phone, ACCOUNT_SID,
                                                               **answer))

    async def _press(self, step: str, heard: Heard, key: str) -> Heard:
        return await self._answer(step, heard, Digits=key)

    async def _speak(self, step: str, heard: Heard, words: str) -> Heard:
        if not heard.listens:
            raise Failed(f"{step}: the hotline listens for keys only at: {heard.says}")
        return await self._answer(step, heard, SpeechResult=words, Confidence="0.9")

    def _office(self, offered: list[str]) -> str:
        weights = list(self.shared.office_weights[:len(offered)])
        weights += [1.0] * (len(offered) - len(weights))
        return self.rng.choices(offered, weights=weights)[0]

    async def _choose_office(self, heard: Heard) -> Heard:
        """Says the caller's commune or ward, or (no names given) picks one from the list read out."""
        if not heard.has("ask_office"):
            raise Failed(f"book: the office is not asked for in {heard.says}")
        if self.shared.office_names:
            self.caller.office = self._office(list(self.shared.office_names))
            return await self._speak("office", heard, self.caller.office)
        heard = await self._press("office_list", heard, "2")
        offices = heard.keys("office_choice", but=("office_more",))
        if not offices:
            raise Failed(f"office_list: no offices offered in {heard.says}")
        self.caller.office = self._office(offices)
        return await self._press("office", heard, self.caller.office)

    def _session(self, offered: list[str]) -> str:
        return offered[0] if self.rng.random() < 0.5 else self.rng.choice(offered)

    async def run(self) -> None:
        caller = self.caller
        caller.started = time.perf_counter()
        try:
            await self._call()
        except Failed as failure:
            caller.outcome, caller.error = "error", str(failure)
        finally:
            try:
                await self._post("hang_up", "/ivr/status", call_params(
                    caller.sid, caller.phone, ACCOUNT_SID, CallStatus="completed", CallDuration="60"), expect=204)
            except Failed as failure:
                if caller.outcome != "error":
                    caller.outcome, caller.error = "error", str(failure)
            finally:
                await self.client.close()
                caller.ended = time.perf_counter()

    async def _call(self) -> None:
        caller = self.caller
        heard = await self._say("ring", "/ivr/voice", call_params(caller.sid, caller.phone, ACCOUNT_SID))
        if not heard.has("main_menu"):
            raise Failed(f"ring: no main menu in {heard.says}")
        heard = await self._press("book", heard, "1")
        heard = await self._choose_office(heard)
        chose_alternative = False
        while True:
            code = heard.booking_code()
            if code is not None:
                caller.outcome, caller.code, caller.booked_alternative = "booked", code, chose_alternative
                return
            if heard.has("no_room_anywhere"):
                caller.outcome = "full"
                return
            if heard.has("session_gone"):
                caller.lost_races += 1
            if heard.has("office_read_back"):  # the name was heard, not for sure: "Did you mean …?"
                heard = await self._press("office", heard, "1")
            elif heard.has("waitlist_offer"):  # the chosen session filled up: not its waitlist, another session (2)
                heard = await self._press("session_again", heard, "2")
            elif heard.has("waitlist_soonest"):  # the office is full: not its soonest session's waitlist, others (2)
                heard = await self._press("other_offices", heard, "2")
            elif heard.has("held_confirm"):
                heard = await self._press("confirm", heard, "1")
            elif heard.has("alternatives_intro") and (offered := heard.keys("alternative_choice")):
                caller.offered_alternatives = chose_alternative = True
                heard = await self._press("alternative", heard, self._session(offered))
            elif heard.has("sessions_intro") and (offered := heard.keys("session_choice")):
                step = "session_again" if caller.lost_races else "session"
                heard = await self._press(step, heard, self._session(offered))
            else:
                raise Failed(f"unexpected answer: {heard.says}")


async def _drive(callers: list[Caller], shared: Shared, config: RushConfig) -> None:
    rng = random.Random(config.seed)
    calls = [RushCall(c, shared, random.Random(rng.random())) for c in callers]

    async def start(call: RushCall, delay: float) -> None:
        await asyncio.sleep(delay)
        await call.run()

    spread = [rng.uniform(0, config.ramp) for _ in calls]
    tasks = [asyncio.create_task(start(call, delay)) for call, delay in zip(calls, spread, strict=True)]
    _done, pending = await asyncio.wait(tasks, timeout=config.deadline)
    for task in pending:
        task.cancel()  # counted as unfinished: the caller was still on the line at the deadline
    if pending:
        await asyncio.wait(pending, timeout=15)


def phones(count: int, seed: int) -> list[str]:
    """Distinct Viettel-looking mobiles, +8497 and 7 digits, a different run of them for each seed."""
    offset = random.Random(seed).randrange(10**7)
    return [f"+8497{(7_919 * n + offset) % 10**7:07d}" for n in range(count)]  # 7,919 is coprime to 10^7


# --------------------------------------------------------------------------------------------
# The checks


def check(url: str, config: RushConfig, day: date, callers: list[Caller],
          statuses: Counter[int]) -> tuple[list[dict[str, Any]], list[str]]:
    """Per-session figures, and every broken rule as a sentence."""
    problems: list[str] = []
    engine = make_engine(url)
    try:
        with make_session_factory(engine).begin() as db:
            offices = {code: office_id for code, office_id in db.execute(select(Office.code, Office.id))}
            rows: list[dict[str, Any]] = []
            for spec in config.sessions:
                office_code = OFFICES[spec.office][0]
                row = db.scalar(select(OfficeSession).where(OfficeSession.office_id == offices[office_code],
                                                            OfficeSession.date == day,
                                                            OfficeSession.code == spec.code))
                if row is None:
                    rows.append({"office": office_code, "session": spec.code, "capacity": spec.capacity,
                                 "booked": 0, "held": 0, "booking_rows": 0, "hold_rows": 0})
                    continue
                live = db.scalar(select(func.count()).select_from(Booking).where(
                    Booking.session_id == row.id, Booking.status == BookingStatus.BOOKED)) or 0
                holds = db.scalar(select(func.count()).select_from(Hold).where(Hold.session_id == row.id)) or 0
                windows = db.execute(select(func.coalesce(func.sum(ArrivalWindow.booked), 0),
                                            func.coalesce(func.sum(ArrivalWindow.held), 0))
                                     .where(ArrivalWindow.session_id == row.id)).one()
                queue = sorted(db.scalars(select(Booking.queue_number).where(Booking.session_id == row.id)))
                label = f"{office_code} {spec.code} {day.isoformat()}"
                rows.append({"office": office_code, "session": spec.code, "capacity": row.capacity,
                             "booked": row.booked, "held": row.held, "cooling": row.cooling, "booking_rows": live,
                             "hold_rows": holds, "window_booked": int(windows[0]), "window_held": int(windows[1])})
                if row.booked + row.held + row.cooling > row.capacity or live > row.capacity:
                    problems.append(f"{label}: OVERBOOKED: {row.booked} booked + {row.held} held, {live} booking rows, "
                                    f"capacity {row.capacity}")
                if (row.booked, row.held) != (live, holds):
                    problems.append(f"{label}: counters booked={row.booked} held={row.held} but rows {live} "
                                    f"bookings, {holds} holds")
                if (int(windows[0]), int(windows[1])) != (row.booked, row.held):
                    problems.append(f"{label}: windows add up to {windows[0]} booked, {windows[1]} held")
                if queue != list(range(1, len(queue) + 1)):
                    problems.append(f"{label}: queue numbers have gaps or repeats")
            booked_callers = [c for c in callers if c.outcome == "booked"]
            found = {code: (phone, status) for code, phone, status in db.execute(
                select(Booking.code, Booking.phone, Booking.status))}
            for c in booked_callers:
                if c.code not in found:
                    problems.append(f"caller {c.n} heard code {c.code}, which the database does not have")
                elif found[c.code] != (c.phone, BookingStatus.BOOKED):
                    problems.append(f"caller {c.n}: code {c.code} belongs to {found[c.code]}")
            if len(found) != len(booked_callers):
                problems.append(f"{len(found)} bookings in the database, {len(booked_callers)} callers told a code")
            not_ended = db.scalar(select(func.count()).select_from(Call).where(Call.status != "ended")) or 0
            if not_ended:
                problems.append(f"{not_ended} calls never ended (status callback not applied)")
            confirmations = db.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.kind == MessageKind.CONFIRMATION)) or 0
            if confirmations != len(found):
                problems.append(f"{confirmations} confirmation SMS queued for {len(found)} bookings")
    finally:
        engine.dispose()
    outcomes = Counter(c.outcome for c in callers)
    for outcome in ("error", "unfinished"):
        if outcomes[outcome]:
            samples = [f"caller {c.n}: {c.error}" for c in callers if c.outcome == outcome][:5]
            problems.append(f"{outcomes[outcome]} callers {outcome}: " + "; ".join(samples))
    if outcomes["booked"] + outcomes["full"] != len(callers):
        problems.append("not every caller either booked or was told that nothing is free")
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    if server_errors:
        problems.append(f"{server_errors} answers with a 5xx status")
    seats = sum(r["capacity"] for r in rows)
    if outcomes["full"] and sum(r["booked"] for r in rows) != seats:
        problems.append(f"{outcomes['full']} callers were turned away but only {sum(r['booked'] for r in rows)} "
                        f"of {seats} seats were booked")
    return rows, problems


def cpu_sample(master: int) -> dict[str, float]:
    """CPU seconds so far of this client, gunicorn's workers and the whole machine (from /proc)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"client": usage.ru_utime + usage.ru_stime, "gunicorn_workers": process_cpu(child_pids(master)),
            "machine": machine_cpu() or 0.0}


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds used between two samples (workers that were replaced meanwhile are not counted)."""
    return {name: after[name] - before[name] for name in before}


def log_errors(text: str) -> list[str]:
    """Lines of the server's log at ERROR or worse (JSON or text format), and tracebacks."""
    marks = ('"level": "ERROR"', '"level": "CRITICAL"', '"level":"ERROR"', '"level":"CRITICAL"', " ERROR ",
             "[ERROR]", "[CRITICAL]", "Traceback")
    return [line[:300] for line in text.splitlines() if any(mark in line for mark in marks)]


# --------------------------------------------------------------------------------------------
# One run


def run_rush(config: RushConfig, out: Any = print) -> RushResult:
    """Set up, serve, call, check; every process stopped and the database dropped before returning."""
    started = time.perf_counter()
    load_before = os.getloadavg()
    day = rush_day(datetime.now(UTC))
    with workdir("hotline-rush-") as tmp, fresh_database(sqlite=config.sqlite, admin_url=config.admin_url,
                                                        workdir=Path(tmp), prefix="hotline_rush") as url:
        database = server_version(url)
        set_up(url, config.sessions, day)
        instance = Path(tmp) / "instance"
        metrics_dir = Path(tmp) / "prometheus"
        metrics_dir.mkdir()
        env = server_env(url, instance, env=config.env, token=TOKEN, account_sid=ACCOUNT_SID,
                         SMS_SENDER="log", IVR_AUDIO_DIR=str(Path(tmp) / "no-recordings"),
                         PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), READY_REQUIRE_SCHEDULER="0")
        with Processes(Path(tmp)) as procs:
            server = procs.web(env, workers=config.workers, worker_class=config.worker_class, threads=config.threads)
            startup = wait_healthy(server, procs, timeout=90)
            out(f"  gunicorn up in {startup:.1f} s on {server.base_url} ({config.workers} {config.worker_class} "
                f"workers); {config.callers} callers for {config.seats} seats ...")
            numbers = phones(config.callers, config.seed)
            callers = [Caller(n, numbers[n], "CA" + secrets.token_hex(16)) for n in range(config.callers)]
            shared = Shared(server.port, Signer(TOKEN, server.base_url), config.pause, config.office_weights,
                            office_names=tuple(spoken_name_of(name) for _code, name in OFFICES))
            t0 = time.perf_counter()
            cpu_before = cpu_sample(server.pid)
            asyncio.run(_drive(callers, shared, config))
            cpu = cpu_spent(cpu_before, cpu_sample(server.pid))
            # gunicorn's connections were opened during the calls, so their backends' CPU is the run's.
            backends = None if config.sqlite else backend_pids(url)
            cpu["postgres_backends"] = process_cpu(backends) if backends else 0.0
            ended = [c.ended for c in callers if c.ended]
            first = min((c.started for c in callers if c.started), default=t0)
            calls_seconds = (max(ended) if ended else time.perf_counter()) - first
            procs.stop_all()
            server_log = server.log()
        rows, problems = check(url, config, day, callers, shared.statuses)
    errors = log_errors(server_log)
    if errors:
        problems.append(f"the server logged {len(errors)} errors, e.g. {errors[0]}")
    return RushResult(config=config, database=database, day=day, callers=callers, sessions=rows,
                      statuses=shared.statuses, latency=shared.latency.summary(STEPS), calls_seconds=calls_seconds,
                      total_seconds=time.perf_counter() - started, startup_seconds=startup,
                      load_before=load_before, load_after=os.getloadavg(), server_log_errors=errors[:20],
                      cpu=cpu, problems=problems)


def report_lines(result: RushResult) -> list[str]:
    c, outcomes = result.config, result.outcomes
    plan = ", ".join(f"{OFFICES[s.office][0]} {s.code} {s.capacity}" for s in c.sessions)
    callers = result.callers
    lost = sum(1 for x in callers if x.lost_races)
    offered = sum(1 for x in callers if x.offered_alternatives)
    via_alternative = sum(1 for x in callers if x.booked_alternative)
    lines = [
        f"Hotline rush: {c.callers} callers for {c.seats} seats in {len(c.sessions)} sessions on "
        f"{result.day.isoformat()} ({plan}); gunicorn {c.workers} {c.worker_class} workers"
        f"{f' x {c.threads} threads' if c.worker_class == 'gthread' else ''}, {result.database}, "
        f"HOTLINE_ENV={c.env}, signatures checked; pauses {c.pause[0]:g}-{c.pause[1]:g} s, ramp {c.ramp:g} s",
        f"Outcomes: booked {outcomes['booked']}, told full {outcomes['full']}, error {outcomes['error']}, "
        f"unfinished {outcomes['unfinished']}",
        f"  along the way: {lost} callers heard their session fill up as they chose it, {offered} were offered "
        f"other offices, {via_alternative} booked at one of those",
        "HTTP statuses: " + ", ".join(f"{status}: {n}" for status, n in sorted(result.statuses.items()))
        + f"; 5xx: {result.server_errors}",
        "Sessions:",
    ]
    for r in result.sessions:
        lines.append(f"  {r['office']} {r['session']}: capacity {r['capacity']}, booked {r['booked']} (rows "
                     f"{r['booking_rows']}), held {r['held']} (rows {r['hold_rows']})")
    lines.append("Webhook latency, client side (connect to last byte):")
    lines += latency_lines(result.latency)
    lines.append(f"Wall time: calls {result.calls_seconds:.1f} s (first ring to last hang-up); whole run "
                 f"{result.total_seconds:.1f} s (gunicorn ready in {result.startup_seconds:.1f} s)")
    requests = int(result.latency["all"].get("count", 0)) or 1
    cpu, span = result.cpu, result.calls_seconds or 1.0
    lines.append(f"CPU over the calls: gunicorn workers {cpu['gunicorn_workers']:.1f} s "
                 f"({cpu['gunicorn_workers'] * 1000 / requests:.1f} ms a request), this client {cpu['client']:.1f} s, "
                 f"PostgreSQL backends {cpu['postgres_backends']:.1f} s, whole machine {cpu['machine']:.1f} s of "
                 f"{span * (os.cpu_count() or 1):.1f} s available (everything else on the machine: "
                 f"{cpu['machine'] - cpu['client'] - cpu['gunicorn_workers'] - cpu['postgres_backends']:.1f} s)")
    lines.append("Load average (1, 5, 15 min): before " + " ".join(f"{x:.2f}" for x in result.load_before)
                 + ", after " + " ".join(f"{x:.2f}" for x in result.load_after) + f" ({os.cpu_count()} CPUs)")
    lines += verdict_lines(result.problems, "Checks passed: no overbooking, counters equal rows, every caller booked "
                           "or told full, no 5xx, no apology, every call ended, one confirmation SMS per booking"
                           + (", every seat booked" if outcomes["full"] else ""))
    return lines


def to_json(result: RushResult, admin_url: str) -> dict[str, Any]:
    return {
        "environment": environment(admin_url),
        "config": asdict(result.config) | {"admin_url": safe_url(result.config.admin_url)},
        "database": result.database, "day": result.day.isoformat(),
        "outcomes": dict(result.outcomes), "statuses": {str(k): v for k, v in result.statuses.items()},
        "lost_races": sum(1 for x in result.callers if x.lost_races),
        "offered_alternatives": sum(1 for x in result.callers if x.offered_alternatives),
        "booked_alternative": sum(1 for x in result.callers if x.booked_alternative),
        "sessions": result.sessions, "latency_ms": result.latency, "calls_seconds": result.calls_seconds,
        "total_seconds": result.total_seconds, "load_before": result.load_before, "load_after": result.load_after,
        "server_log_errors": result.server_log_errors, "cpu_seconds": result.cpu, "problems": result.problems,
        "ok": result.ok,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--callers", type=int, default=300)
    add_stack_arguments(parser, RushConfig())
    parser.add_argument("--env", choices=("production", "testing"), default="production")
    parser.add_argument("--pause", type=float, nargs=2, default=(0.3, 1.5), metavar=("MIN", "MAX"))
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which callers start")
    parser.add_argument("--deadline", type=float, default=180.0, help="seconds before unfinished calls are cut")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args(argv)
    config = RushConfig(callers=args.callers, env=args.env, pause=(args.pause[0], args.pause[1]), ramp=args.ramp,
                        deadline=args.deadline, seed=args.seed, **stack_options(args))
    result = run_and_report(run_rush, config, report_lines)
    if result is None:
        return 130
    path = write_result(NAME if not config.sqlite else f"{NAME}_sqlite", to_json(result, config.admin_url))
    print(f"(result written to {path})")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
