"""The voice webhook's latency under concurrent calls, on gunicorn and PostgreSQL, beside its stateful floor.

    .venv/bin/python -m bench.voice_latency [--workers 4] [--concurrency 32] [--seconds 20] [--url URL] [--keep]
                                            [--rounds 4] [--spread] [--profile] [--py-spy PATH] [--sqlite]

The issue's target (issue 15): under concurrent load, the voice webhook's p99 latency is at most
twice the p99 of the stateful floor served the same way (gunicorn, same workers, same client, same
concurrency and duration): bench/floor_app.py, a Flask view that checks the Twilio signature,
upserts then updates one row of `calls` (two statements, one transaction) and renders a <Gather>
with a <Say> as long as a menu through twilio's VoiceResponse. The trivial endpoint
(bench/trivial_app.py: a constant answer, no signature, no database) is measured too, for
reference. `--sqlite` serves the hotline and the floor from a SQLite file instead.

Steps:
1. A scratch database beside the admin URL's, migrated (database.schema.upgrade), with the demo
   offices and procedures (actions.demo.load_demo); every session template gets 1,000,000 seats
   and every office a crowd limit of 1,000,000, so no session fills during the run.
2. gunicorn serves `wsgi:app` (HOTLINE_ENV=production, a fixed TWILIO_AUTH_TOKEN and SECRET_KEY,
   a temporary HOTLINE_INSTANCE_PATH) with `--workers` sync workers on 127.0.0.1; two more gunicorns
   with the same options serve bench/floor_app.py (on the same database) and bench/trivial_app.py. Both listen on a socket this process binds
   to a free port and hands over (`--bind fd://N`), and both are waited for on GET /healthz.
   HTTP(S)_PROXY point at a closed loopback port in the servers' environment: a webhook that tried
   to reach Twilio over HTTP would fail there and answer the caller with an apology, which is
   counted as an error; nothing leaves the machine either way.
3. The client is one asyncio loop in this process running `--concurrency` simulated calls, each
   signed as Twilio signs (twilio.request_validator, over the exact URL requested) with Twilio's
   usual parameters and a fresh I-Twilio-Idempotency-Token:
   - 70 %: ring (POST /ivr/voice, fresh CallSid, a fresh +8498xxxxxxx caller), then press 1 (book),
     1 (the province centre), 1 (its first field of procedures: the demo offices ask for one), 1
     (first session with room), 1 (confirm); the last answer must read out a queue number;
   - 15 %: the same with one wrong key (7) and one silence (the <Redirect>) at random steps;
   - 15 %: a caller who booked earlier rings, presses 2 (check), 1 (the booking), 3 (hear again);
   then POST /ivr/status CallStatus=completed. Every step follows the previous answer's <Gather>
   action or <Redirect>. With `--spread` callers pick the centre or, from the list of offices (2),
   one of the first four, and a random field and session, instead of the first ones (by default
   they all queue for the first session's row lock, as a rush on the soonest session would).
   Against the floor and the trivial app the same loop posts 7 forms of the same size, signed the
   same way, to POST /voice (the floor's: following each answer's <Gather> action, on one call's row). A simulated call opens a new connection whenever the
   server closed the last one (gunicorn's sync workers close after every response, so in practice
   one connection per request, on both servers alike); latency runs from the connect to the last
   byte of the answer.
4. After `--warmup` seconds, requests completed within the next `--seconds` count; `--rounds N`
   splits them into N turns, voice, floor then trivial, each after its own warm-up, and pools them, so
   that on a shared machine both servers meet the same background load. An error is
   a transport failure, an unexpected status (200 text/xml for /ivr/voice and /ivr/step, 204 for
   /ivr/status), the apology TwiML ("Xin lỗi, hệ thống đang gặp sự cố"), or an answer the flow did
   not expect. Over the measured window the CPU used by this client, the gunicorn workers (and
   their context switches), the PostgreSQL backends serving them (local server only) and the whole
   machine is read from /proc, and pg_stat_activity is sampled 20 times a second to show what those
   backends were doing (running, waiting for a row lock, idle in transaction while the app works).
   Counts of calls "started" include those begun during the warm-up; "completed" ones ended within
   the window; "cut_short" ones were still going when it closed.
5. Unless `--unloaded-seconds 0`, both servers are first primed, then measured with a single
   caller: latency without queueing. After the servers stop, booking calls run one at a time in
   this process through Flask's test client on the same database, timed per step, split into the
   time spent waiting for PostgreSQL and the rest, with the statements each step sends.
   `--profile` runs more of them under cProfile, prints where the time goes and saves
   bench/results/voice_latency.prof. `--py-spy PATH` (py-spy is not a dependency; e.g.
   `pip install --target /tmp/pyspy py-spy`, then `--py-spy /tmp/pyspy/bin/py-spy`) runs the voice
   load once more with py-spy sampling every worker and summarises the samples by library and by
   project function (raw stacks in bench/results/voice_latency.pyspy.txt). py-spy counts a thread
   that is running or waiting for a CPU, not one blocked on a socket.

The result is printed and written to bench/results/voice_latency.json. It asserts nothing. The
scratch database is dropped WITH (FORCE) at the end, even on failure, unless `--keep`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import html
import io
import os
import pstats
import random
import re
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select, text, update
from sqlalchemy.engine import make_url

from bench._common import (
    DEFAULT_ADMIN_URL, RESULTS, backend_pids, busy_share, database_url, environment, load_average, machine_cpu,
    percentile, process_cpu, safe_url, scratch_name, server_version, write_result,
)
from bench.loadkit import HttpClient, Signer, call_params, migrate
from actions.demo import load_demo
from booking.models import Booking, Hold, Office, SessionTemplate
from database.engine import make_engine, make_session_factory
from hotline.ivr.models import Call
from notifications.models import OutboxMessage
from tests.faults.processes import Child, Children, child_pids, server_env, wait_healthy

NAME = "voice_latency"
TARGET_RATIO = 2.0
ROOT = Path(__file__).resolve().parent.parent

TOKEN = "bench0voice0latency0token0000000"  # TWILIO_AUTH_TOKEN of both servers (the trivial one ignores it)
SECRET = "bench-voice-latency-secret-key-" + "0" * 33
ACCOUNT_SID = "AC" + "0" * 32
CAPACITY = 1_000_000
APOLOGY = "Xin lỗi, hệ thống đang gặp sự cố"

GATHER_ACTION = re.compile(r'<Gather\b[^>]*\baction="([^"]*)"')
REDIRECT = re.compile(r"<Redirect\b[^>]*>([^<]*)</Redirect>")
# "Số thứ tự của quý vị là số 12" once a booking is made, "Số thứ tự 12" when it is found.
QUEUE_LABEL = re.compile(r"Số thứ tự (?:của quý vị là số )?\d+")

BOOK, MISTAKES, CHECK = "book", "book_with_mistakes", "check"
SCENARIOS = ((BOOK, 0.70), (MISTAKES, 0.15), (CHECK, 0.15))
SILENCE = ""  # in a key sequence: say nothing and follow the <Redirect>
REQUEST_TIMEOUT = 30.0


# --------------------------------------------------------------------------------------------
# The scratch database


@contextmanager
def scratch(admin_url: str, *, keep: bool) -> Iterator[str]:
    """Like bench._common.scratch_database (create, migrate, drop WITH (FORCE)), but `keep` skips the drop."""
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = scratch_name("hotline_voice")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = database_url(admin_url, name)
        try:
            migrate(url)
            yield url
        finally:
            if keep:
                print(f"  --keep: scratch database {safe_url(url)} left in place")
            else:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def sqlite_file(folder: Path) -> Iterator[str]:
    """`--sqlite`: a migrated SQLite file in the run's scratch folder (removed with it)."""
    url = f"sqlite:///{folder / 'voice_latency.sqlite3'}"
    migrate(url)
    yield url


def prepare(url: str) -> dict[str, int]:
    """The demo offices and procedures, with room for everyone who calls during the run."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine).begin() as s:
            added = load_demo(s)
            s.execute(update(SessionTemplate).values(capacity=CAPACITY))
            s.execute(update(Office).values(crowd_limit=CAPACITY))
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        return added
    finally:
        engine.dispose()


def tally(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        with make_session_factory(engine).begin() as s:
            outbox = dict(s.execute(select(OutboxMessage.kind, func.count()).group_by(OutboxMessage.kind)).all())
            return {
                "bookings": s.scalar(select(func.count()).select_from(Booking)),
                "holds_left": s.scalar(select(func.count()).select_from(Hold)),
                "calls": s.scalar(select(func.count()).select_from(Call)),
                "calls_ended": s.scalar(select(func.count()).select_from(Call).where(Call.status == "ended")),
                "outbox": {getattr(k, "value", str(k)): v for k, v in outbox.items()},
            }
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------
# gunicorn


def start_gunicorn(children: Children, name: str, app: str, *, workers: int, env: dict[str, str]) -> Child:
    """`--workers` sync workers on a loopback port, warnings and errors in the child's log."""
    return children.gunicorn(name, env, workers=workers, app=app, timeout=60, graceful_timeout=10,
                             options=("--log-level", "warning"))


def context_switches(pids: list[int]) -> tuple[int, int]:
    """Voluntary (blocked: waiting for a socket, a lock) and involuntary (preempted while runnable) switches."""
    voluntary = involuntary = 0
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("voluntary_ctxt_switches:"):
                voluntary += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                involuntary += int(line.split()[1])
    return voluntary, involuntary


# --------------------------------------------------------------------------------------------
# The client: one asyncio loop, one connection at a time per simulated caller


class Phones:
    """Distinct Viettel-looking mobiles (+8498 and 7 digits) in a shuffled order: a bijection on 0..10^7-1.

    One generator serves every run of the benchmark (PHONES), so that no two calls, even in different
    runs, ever book with the same number; it also remembers who booked, for the calls that check.
    """

    def __init__(self, seed: int = 0) -> None:
        self.reset(seed)

    def reset(self, seed: int) -> None:
        self.offset = random.Random(seed).randrange(10**7)
        self.n = 0
        self.booked: list[str] = []

    def next(self) -> str:
        self.n += 1
        if self.n >= 10**7:
            raise RuntimeError("ran out of phone numbers")
        return f"+8498{(3_141_593 * self.n + self.offset) % 10**7:07d}"  # 3,141,593 is coprime to 10^7


PHONES = Phones()


@dataclass
class Run:
    """What one load run records; only requests that complete within [start, end) count."""

    start: float
    end: float
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    errors_outside_window: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)

    def in_window(self, t: float) -> bool:
        return self.start <= t < self.end

    def latency(self, kind: str, t0: float, t1: float) -> None:
        if self.in_window(t1):
            self.latencies.setdefault(kind, []).append((t1 - t0) * 1000)

    def error(self, kind: str, detail: str, t: float) -> None:
        (self.errors if self.in_window(t) else self.errors_outside_window)[kind] += 1
        if len(self.error_samples) < 8:
            self.error_samples.append(f"{kind}: {detail[:400]}")


class Failed(Exception):
    """A request of a simulated call failed; the call is abandoned (and hung up)."""


class Caller:
    """One simulated caller: makes calls one after another until the run ends."""

    def __init__(self, run: Run, port: int, rng: random.Random, *, spread: bool = False) -> None:
        self.run, self.port, self.rng, self.phones, self.spread = run, port, rng, PHONES, spread
        self.http = HttpClient(port)
        self.signer = Signer(TOKEN, f"http://127.0.0.1:{port}")

    async def request(self, kind: str, path: str, params: dict[str, str], *, expect: int = 200) -> str:
        body, headers = self.signer.form(path, params)
        t0 = time.perf_counter()
        try:
            reply = await self.http.request("POST", path, body, headers, timeout=REQUEST_TIMEOUT)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            t1 = time.perf_counter()
            await self.http.close()
            self.run.error(f"transport:{type(exc).__name__}", f"{kind} {path}: {exc!r}", t1)
            raise Failed from exc
        t1 = time.perf_counter()
        answer = reply.text
        if reply.status != expect or (expect == 200 and not reply.content_type.startswith("text/xml")):
            self.run.error(f"http_{reply.status}", f"{kind} {path}: {answer}", t1)
            raise Failed
        if APOLOGY in answer:
            self.run.error("apology", f"{kind} {path}: {answer}", t1)
            raise Failed
        self.run.latency(kind, t0, t1)
        return answer

    async def loop(self, stop_at: float, work: Any) -> None:
        try:
            while time.perf_counter() < stop_at:
                await work(stop_at)
        finally:
            await self.http.close()

    # -- the hotline -----------------------------------------------------------------------

    def keys_for(self, scenario: str) -> list[str]:
        if scenario == CHECK:
            return ["2", "1", "3"]  # check, the first (only) booking, hear it again
        keys = ["1", "1", "1", "1"]  # book, the province centre, its first session, confirm
        if self.spread:  # the centre or one of the first 4 offices listed, any of the 4 fields and 4 sessions offered
            office = ["1"] if self.rng.random() < 0.2 else ["2", str(self.rng.randint(1, 4))]
            keys[1:4] = [*office, str(self.rng.randint(1, 4)), str(self.rng.randint(1, 4))]
        if scenario == MISTAKES:
            wrong = self.rng.randrange(len(keys))
            # Silence at the confirmation ends the call.
            quiet = self.rng.choice([i for i in range(len(keys) - 1) if i != wrong])
            for position, key in sorted([(wrong, "7"), (quiet, SILENCE)], reverse=True):
                keys.insert(position, key)
        return keys

    async def hotline_call(self, stop_at: float) -> None:
        roll, scenario = self.rng.random(), BOOK
        for name, weight in SCENARIOS:
            if roll < weight:
                scenario = name
                break
            roll -= weight
        if scenario == CHECK and not self.phones.booked:
            scenario = BOOK
        phone = self.rng.choice(self.phones.booked) if scenario == CHECK else self.phones.next()
        sid = "CA" + secrets.token_hex(16)
        self.run.calls[f"{scenario}:started"] += 1
        answer = ""
        try:
            answer = await self.request("voice", "/ivr/voice", call_params(sid, phone, ACCOUNT_SID))
            for key in self.keys_for(scenario):
                if time.perf_counter() >= stop_at:
                    self.run.calls[f"{scenario}:cut_short"] += 1
                    return
                found = (REDIRECT if key == SILENCE else GATHER_ACTION).search(answer)
                if found is None:
                    self.run.error(f"flow:{scenario}", f"no {'Redirect' if key == SILENCE else 'Gather'} to "
                                   f"follow: {answer}", time.perf_counter())
                    return
                digits = {} if key == SILENCE else {"Digits": key}
                params = call_params(sid, phone, ACCOUNT_SID, **digits)
                answer = await self.request("step", html.unescape(found.group(1)), params)
            if QUEUE_LABEL.search(answer) is None:
                self.run.error(f"flow:{scenario}", f"no queue number in the last answer: {answer}", time.perf_counter())
                return
            if self.run.in_window(time.perf_counter()):
                self.run.calls[f"{scenario}:completed"] += 1
            if scenario != CHECK:
                self.phones.booked.append(phone)
        except Failed:
            return
        finally:
            with contextlib.suppress(Failed):
                await self.request("status", "/ivr/status", call_params(sid, phone, ACCOUNT_SID, CallStatus="completed",
                                                                        CallDuration="42"), expect=204)

    # -- the trivial endpoint ----------------------------------------------------------------

    async def trivial_call(self, stop_at: float) -> None:
        """As many requests as a hotline call makes, each a signed form of the same size."""
        sid, phone = "CA" + secrets.token_hex(16), self.phones.next()
        try:
            for n in range(7):
                if time.perf_counter() >= stop_at:
                    return
                answer = await self.request("trivial", "/voice",
                                            call_params(sid, phone, ACCOUNT_SID, Digits=str(n % 3 + 1)))
                if "<Say>ok</Say>" not in answer:
                    self.run.error("flow:trivial", answer, time.perf_counter())
                    return
        except Failed:
            return

    # -- the stateful floor ------------------------------------------------------------------

    async def floor_call(self, stop_at: float) -> None:
        """As many requests as a hotline call makes, on one call's row, each following the last <Gather>."""
        sid, phone = "CA" + secrets.token_hex(16), self.phones.next()
        path = "/voice"
        try:
            for n in range(7):
                if time.perf_counter() >= stop_at:
                    return
                answer = await self.request("floor", path, call_params(sid, phone, ACCOUNT_SID, Digits=str(n % 3 + 1)))
                found = GATHER_ACTION.search(answer)
                if found is None or "<Say" not in answer:
                    self.run.error("flow:floor", answer, time.perf_counter())
                    return
                path = html.unescape(found.group(1))
        except Failed:
            return


async def _cpu_monitor(run: Run, server: Child, db_url: str | None,
                       at_start: Callable[[], None] | None) -> dict[str, Any]:
    """CPU seconds used over the measured window by this client, gunicorn's workers, PostgreSQL, the machine."""
    await asyncio.sleep(max(0.0, run.start - 0.7 - time.perf_counter()))
    pg = await asyncio.to_thread(backend_pids, db_url) if db_url else None
    workers = child_pids(server.proc.pid)

    def sample() -> tuple[float, float, float | None, float | None, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return (usage.ru_utime + usage.ru_stime, process_cpu(workers), process_cpu(pg) if pg else None,
                machine_cpu(), time.perf_counter())

    await asyncio.sleep(max(0.0, run.start - time.perf_counter()))
    if at_start is not None:
        at_start()
    before, switches0 = sample(), context_switches(workers)
    await asyncio.sleep(max(0.0, run.end - time.perf_counter()))
    after, switches1 = sample(), context_switches(workers)
    return {"before": before, "after": after, "gunicorn_workers": len(workers),
            "switches": (switches1[0] - switches0[0], switches1[1] - switches0[1]),
            "postgres_backends": len(pg) if pg is not None else None}



class PgSampler:
    """What the backends serving gunicorn's pools are doing, sampled from pg_stat_activity in a thread."""

    QUERY = ("SELECT state, wait_event_type, wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 1000) "
             "FROM pg_stat_activity WHERE datname = current_database() "
             "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")

    def __init__(self, db_url: str, start: float, end: float, interval: float = 0.05) -> None:
        import threading

        self.url = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.start, self.end, self.interval = start, end, interval
        self.seen: Counter[str] = Counter()
        self.samples = 0
        self.error: str | None = None
        self.thread = threading.Thread(target=self._sample, name="pg-sampler", daemon=True)
        self.thread.start()

    @staticmethod
    def label(state: str | None, kind: str | None, event_name: str | None, query: str | None) -> str:
        if state == "active":
            if kind is None:
                return "active, running (or waiting for a CPU)"
            if kind == "Lock":  # which statement waits for a row lock: its verb, then from FROM on
                text_ = query or ""
                cut = text_.find(" FROM ")
                if cut > 0:
                    text_ = text_.split(" ", 1)[0] + " ..." + text_[cut:]
                return f"active, waiting: {kind}:{event_name} in {text_[:150]}"
            return f"active, waiting: {kind}:{event_name}"
        if state == "idle in transaction":
            return "idle in transaction (waiting for the app, locks held)"
        return f"{state or 'unknown'}" + (f" ({kind}:{event_name})" if kind and kind != "Client" else "")

    def _sample(self) -> None:
        import psycopg

        try:
            # Connect only when the window opens: the CPU monitor has listed gunicorn's backends by then.
            while time.perf_counter() < self.start:
                time.sleep(min(0.05, max(0.0, self.start - time.perf_counter())))
            with psycopg.connect(self.url, autocommit=True) as conn:
                while time.perf_counter() < self.end:
                    for row in conn.execute(self.QUERY).fetchall():
                        self.seen[self.label(*row)] += 1
                    self.samples += 1
                    time.sleep(self.interval)
        except Exception as exc:  # a diagnostic: report it, never stop the run
            self.error = f"{type(exc).__name__}: {exc}"

    def result(self) -> dict[str, Any]:
        self.thread.join(timeout=30)
        return {"samples": self.samples, "error": self.error, "counts": self.seen}


KINDS = ("hotline", "floor", "trivial")


async def _drive(server: Child, *, hotline: bool | str, concurrency: int, warmup: float, seconds: float, seed: int,
                 db_url: str | None, at_start: Callable[[], None] | None,
                 spread: bool) -> tuple[Run, dict[str, Any]]:
    start = time.perf_counter() + warmup
    run = Run(start=start, end=start + seconds)
    rng = random.Random(seed)
    callers = [Caller(run, server.port, random.Random(rng.random()), spread=spread) for _ in range(concurrency)]
    monitor = asyncio.create_task(_cpu_monitor(run, server, db_url, at_start))
    sampler = PgSampler(db_url, run.start, run.end) if db_url else None
    kind = _kind(hotline)
    tasks = [asyncio.create_task(c.loop(run.end, {"hotline": c.hotline_call, "floor": c.floor_call,
                                                   "trivial": c.trivial_call}[kind])) for c in callers]
    # Bounded: callers start no request after the end, and every request gives up after REQUEST_TIMEOUT.
    done, pending = await asyncio.wait(tasks, timeout=warmup + seconds + 3 * REQUEST_TIMEOUT + 30)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=10)
    for task in done:
        if task.exception() is not None:
            raise RuntimeError("a simulated caller crashed") from task.exception()
    cpu = await monitor
    cpu["pg_activity"] = await asyncio.to_thread(sampler.result) if sampler else None
    return run, cpu


def _kind(hotline: bool | str) -> str:
    """`hotline` is True (the hotline), False (the trivial endpoint) or one of KINDS."""
    kind = hotline if isinstance(hotline, str) else ("hotline" if hotline else "trivial")
    if kind not in KINDS:
        raise ValueError(f"unknown server kind {kind!r}")
    return kind


def stats(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    return {"count": len(ordered), "mean": sum(ordered) / len(ordered), "p50": percentile(ordered, 50),
            "p90": percentile(ordered, 90), "p99": percentile(ordered, 99), "max": ordered[-1]}


Part = tuple[Run, dict[str, Any]]  # one measured window: what the client saw, and the CPU monitor's figures


def run_once(server: Child, *, hotline: bool | str, concurrency: int, warmup: float, seconds: float, seed: int,
             db_url: str | None, at_start: Callable[[], None] | None = None, spread: bool = False) -> Part:
    """One run of the client against `server`; `at_start` is called when the measured window opens."""
    return asyncio.run(_drive(server, hotline=hotline, concurrency=concurrency, warmup=warmup, seconds=seconds,
                              seed=seed, db_url=db_url, at_start=at_start, spread=spread))


def load(server: Child, *, hotline: bool | str, concurrency: int, warmup: float, seconds: float, seed: int,
         db_url: str | None, at_start: Callable[[], None] | None = None, spread: bool = False) -> dict[str, Any]:
    part = run_once(server, hotline=hotline, concurrency=concurrency, warmup=warmup, seconds=seconds, seed=seed,
                    db_url=db_url, at_start=at_start, spread=spread)
    return summarise([part], concurrency=concurrency, warmup=warmup)


def summarise(parts: list[Part], *, concurrency: int, warmup: float) -> dict[str, Any]:
    """The figures of one or more measured windows (rounds) of the same server, pooled."""
    latencies: dict[str, list[float]] = {}
    errors: Counter[str] = Counter()
    outside: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    samples: list[str] = []
    activity: Counter[str] = Counter()
    activity_samples, activity_errors = 0, set()
    seconds = span = client = workers = 0.0
    voluntary = involuntary = 0
    pg: float | None = 0.0
    machine: float | None = 0.0
    for run, cpu in parts:
        for kind, values in run.latencies.items():
            latencies.setdefault(kind, []).extend(values)
        errors.update(run.errors)
        outside.update(run.errors_outside_window)
        calls.update(run.calls)
        samples.extend(run.error_samples[: max(0, 8 - len(samples))])
        seconds += run.end - run.start
        (c0, w0, p0, m0, t0), (c1, w1, p1, m1, t1) = cpu["before"], cpu["after"]
        span += t1 - t0
        client += c1 - c0
        workers += w1 - w0
        voluntary += cpu["switches"][0]
        involuntary += cpu["switches"][1]
        pg = pg + (p1 - p0) if pg is not None and p0 is not None and p1 is not None else None
        machine = machine + (m1 - m0) if machine is not None and m0 is not None and m1 is not None else None
        if cpu["pg_activity"] is not None:
            activity.update(cpu["pg_activity"]["counts"])
            activity_samples += cpu["pg_activity"]["samples"]
            if cpu["pg_activity"]["error"]:
                activity_errors.add(cpu["pg_activity"]["error"])
    every = [x for values in latencies.values() for x in values]
    requests = len(every)
    cpus = os.cpu_count() or 1
    total_activity = sum(activity.values())

    def per_request(cpu_seconds: float | None) -> float | None:
        return cpu_seconds * 1000 / requests if requests and cpu_seconds is not None else None

    return {
        "concurrency": concurrency,
        "seconds": seconds,
        "rounds": len(parts),
        "warmup_seconds_per_round": warmup,
        "requests": requests,
        "requests_per_second": requests / seconds,
        "latency_ms": {"all": stats(every), **{kind: stats(v) for kind, v in sorted(latencies.items())}},
        # At saturation latency is queueing: Little's law, concurrency / throughput.
        "littles_law_mean_ms": concurrency * seconds * 1000 / requests if requests else None,
        "errors": dict(errors),
        "errors_outside_window": dict(outside),
        "error_samples": samples,
        "calls": dict(sorted(calls.items())),
        # What the PostgreSQL backends of gunicorn's pools were doing, sampled over the window.
        "postgres_activity": {
            "samples": activity_samples, "errors": sorted(activity_errors),
            "mean_backends": total_activity / activity_samples if activity_samples else None,
            "shares": {k: n / total_activity for k, n in activity.most_common()},
        } if activity_samples else None,
        "cpu": {
            "window_seconds": span,
            "client_seconds": client,
            "client_share_of_one_cpu": client / span if span else None,
            "client_ms_per_request": per_request(client),
            "gunicorn_workers": parts[0][1]["gunicorn_workers"],
            "gunicorn_seconds": workers,
            "gunicorn_ms_per_request": per_request(workers),
            "gunicorn_voluntary_switches_per_request": voluntary / requests if requests else None,
            "gunicorn_involuntary_switches_per_request": involuntary / requests if requests else None,
            "postgres_backends": parts[0][1]["postgres_backends"],
            "postgres_seconds": pg if parts[0][1]["postgres_backends"] is not None else None,
            "postgres_ms_per_request": per_request(pg) if parts[0][1]["postgres_backends"] is not None else None,
            "machine_seconds": machine,
            "machine_share": machine / (span * cpus) if machine is not None and span else None,
            "other_seconds": machine - client - workers - (pg or 0) if machine is not None else None,
        },
    }


# --------------------------------------------------------------------------------------------
# Sampling gunicorn's workers under load with py-spy (optional: not a dependency of the project)


FRAME = re.compile(r"^(.*) \((.*)\)$")
BUCKETS = (("/sqlalchemy/", "SQLAlchemy"), ("/psycopg", "psycopg (driver)"), ("/flask_babel/", "Babel"),
           ("/babel/", "Babel"), ("/flask/", "Flask/Werkzeug"), ("/werkzeug/", "Flask/Werkzeug"),
           ("/jinja2/", "Jinja2"), ("/twilio/", "twilio (TwiML, signature)"), ("/gunicorn/", "gunicorn"),
           ("/phonenumbers/", "phonenumbers"))
# Frames of an HTTP client: a webhook calling Twilio's REST API (or anything else) would show them.
OUTBOUND = ("/twilio/rest/", "/twilio/http/", "/twilio/base/client_base", "/requests/", "/urllib3/", "/http/client.py",
            "/aiohttp/", "/httpx/")
PROJECT_DIRS = ("hotline/", "booking/", "ivr_flows/", "notifications/", "config/", "wsgi.py")


def _short(path: str) -> str:
    for marker in ("/site-packages/", "/lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path.removeprefix(str(ROOT) + "/")


def _bucket(frames: list[tuple[str, str]]) -> str:
    """Whose code a sample is in: the innermost frame outside the standard library decides."""
    for _func, path in reversed(frames):
        if "/lib/python3.11/" in path and "/site-packages/" not in path:
            continue  # the standard library works for whoever called it
        for needle, name in BUCKETS:
            if needle in path:
                return name
        short = _short(path)
        if short.startswith(PROJECT_DIRS):
            return "project code (" + short.split("/", 1)[0] + ")"
        return "other: " + short.split("/", 1)[0]
    return "standard library only"


def summarise_py_spy(raw: Path, top: int = 25) -> dict[str, Any]:
    """Shares of the samples: by library, and by project function (inclusive) and by function (own time)."""
    total = outbound = 0
    buckets: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = []
        for part in stack.split(";"):
            match = FRAME.match(part)
            if match is not None:
                frames.append((match.group(1), match.group(2)))
        if not frames:
            continue
        total += n
        buckets[_bucket(frames)] += n
        if any(needle in path for _f, path in frames for needle in OUTBOUND):
            outbound += n
        seen = set()
        for func_name, path in frames:
            key = f"{_short(path)}:{func_name}"
            if _short(path).startswith(PROJECT_DIRS) and key not in seen:
                seen.add(key)
                inclusive[key] += n
        own[f"{_short(frames[-1][1])}:{frames[-1][0]}"] += n

    # Rewrite the stacks compactly, as collapsed stacks (flamegraph.pl, speedscope): paths shortened,
    # the per-worker process frames dropped, identical stacks merged.
    merged: Counter[str] = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            parts = [FRAME.match(part) for part in stack.split(";")]
            merged[";".join(f"{m.group(1)} ({_short(m.group(2))})" for m in parts if m is not None)] += int(count)
    raw.write_text("".join(f"{stack} {n}\n" for stack, n in merged.most_common()))

    def shares(counter: Counter[str], k: int) -> list[tuple[str, float, int]]:
        return [(key, n / total, n) for key, n in counter.most_common(k)] if total else []

    return {"samples": total, "outbound_http_samples": outbound, "by_library": shares(buckets, 20),
            "project_functions_inclusive": shares(inclusive, top), "own_time": shares(own, top)}


def py_spy_run(binary: str, server: Child, *, concurrency: int, warmup: float, seconds: float, seed: int,
               db_url: str | None, spread: bool) -> dict[str, Any]:
    """Another loaded voice run, with py-spy sampling every gunicorn worker over its measured window."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    raw = RESULTS / f"{NAME}.pyspy.txt"
    raw.unlink(missing_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryFile() as log:

        def start() -> None:
            procs.append(subprocess.Popen(
                [binary, "record", "--pid", str(server.proc.pid), "--subprocesses", "--nonblocking", "--rate", "100",
                 "--format", "raw", "--full-filenames", "--nolineno", "--duration", str(max(1, round(seconds))),
                 "--output", str(raw)], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT))

        try:
            run = load(server, hotline=True, concurrency=concurrency, warmup=warmup, seconds=seconds, seed=seed,
                       db_url=db_url, at_start=start, spread=spread)
            if not procs:
                raise RuntimeError("py-spy was not started")
            procs[0].wait(timeout=seconds + 60)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
            log.seek(0)
            output = log.read().decode(errors="replace")
    if procs[0].returncode != 0 or not raw.exists():
        raise RuntimeError(f"py-spy failed ({procs[0].returncode}): {output[-2000:]}")
    latency = run["latency_ms"]["all"]
    return {"raw_stacks": str(raw.relative_to(ROOT)), "under_py_spy": {
                "requests_per_second": run["requests_per_second"], "p50": latency.get("p50"),
                "p99": latency.get("p99"), "errors": run["errors"]},
            **summarise_py_spy(raw)}


# --------------------------------------------------------------------------------------------
# In process: one booking call at a time through Flask's test client, timed per step


STEPS = ["ring: identify the caller, greeting, main menu", "1: book, check the limit, ask for the office",
         "1: the province centre, list sessions with room", "1: session chosen, hold a seat",
         "1: confirm the hold, book, SMS to the outbox", "1: after the booking (the menu again)",
         "status: call completed"]


def _instrument(engine: Any, sessions: Any, sink: list[str], waited: list[float]) -> None:
    """Record what the engine sends (statements, and the BEGIN, COMMIT and pool pre-ping around them) in
    `sink`, and add the time spent waiting for each (from sending it to having the answer) to `waited[0]`."""

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        sink.append(" ".join(statement.split())[:120])
        conn.info["bench_t0"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _done(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        waited[0] += time.perf_counter() - conn.info.pop("bench_t0", time.perf_counter())

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        sink.append("BEGIN")

    @event.listens_for(engine, "commit")
    def _commit(conn: Any) -> None:
        sink.append("COMMIT")

    # The COMMIT's wait, timed around the driver's call (a session's after_commit also fires for a
    # transaction of another session maker, the read-only one, and mismatched the two).
    commit = engine.dialect.do_commit

    def do_commit(dbapi_connection: Any) -> None:
        t0 = time.perf_counter()
        try:
            commit(dbapi_connection)
        finally:
            waited[0] += time.perf_counter() - t0

    engine.dialect.do_commit = do_commit
    ping = engine.dialect.do_ping

    def do_ping(dbapi_connection: Any) -> bool:
        sink.append("SELECT 1 (pool pre-ping)")
        t0 = time.perf_counter()
        try:
            return bool(ping(dbapi_connection))
        finally:
            waited[0] += time.perf_counter() - t0

    engine.dialect.do_ping = do_ping


def in_process(url: str, instance: Path, *, calls: int, profile_calls: int, top: int = 30) -> dict[str, Any]:
    from config import Settings
    from hotline import create_app

    settings = Settings(env="production", database_url=url, instance_path=instance, secret_key=SECRET,
                        twilio_account_sid=ACCOUNT_SID, twilio_auth_token=TOKEN, sms_sender="log")
    app = create_app(settings)
    engine = app.extensions["hotline"].engine
    sent: list[str] = []
    waited = [0.0]
    _instrument(engine, app.extensions["hotline"].sessions, sent, waited)
    client = app.test_client()
    signer = Signer(TOKEN, "http://localhost")
    phones = PHONES

    def post(path: str, params: dict[str, str], expect: int = 200) -> str:
        body, headers = signer.form(path, params)
        response = client.post("http://localhost" + path, data=body, headers=headers)
        answer = response.get_data(as_text=True)
        if response.status_code != expect or APOLOGY in answer:
            raise RuntimeError(f"in-process call failed at {path}: {response.status_code} {answer[:300]}")
        return answer

    def booking_call(record: list[tuple[float, float, list[str]]] | None) -> None:
        sid, phone = "CA" + secrets.token_hex(16), phones.next()
        answer = ""
        for n, label in enumerate(STEPS):
            before, db0 = len(sent), waited[0]
            t0 = time.perf_counter()
            if n == 0:
                answer = post("/ivr/voice", call_params(sid, phone, ACCOUNT_SID))
            elif label.startswith("status"):
                post("/ivr/status", call_params(sid, phone, ACCOUNT_SID, CallStatus="completed", CallDuration="42"),
                     expect=204)
            else:
                found = GATHER_ACTION.search(answer)
                if found is None:
                    raise RuntimeError(f"in-process call: no Gather after step {n}: {answer[:300]}")
                answer = post(html.unescape(found.group(1)), call_params(sid, phone, ACCOUNT_SID, Digits="1"))
            elapsed = (time.perf_counter() - t0) * 1000
            if record is not None:
                record.append((elapsed, (waited[0] - db0) * 1000, sent[before:]))
        if QUEUE_LABEL.search(answer) is None and record is not None:
            raise RuntimeError("in-process call did not end with a booking")

    try:
        for _ in range(3):  # imports, caches, the pool's first connection
            booking_call(None)
        per_step: list[list[tuple[float, float, list[str]]]] = [[] for _ in STEPS]
        for _ in range(calls):
            record: list[tuple[float, float, list[str]]] = []
            booking_call(record)
            for n, item in enumerate(record):
                per_step[n].append(item)
        steps = []
        for label, items in zip(STEPS, per_step, strict=True):
            times = [ms for ms, _, _ in items]
            db = [ms for _, ms, _ in items]
            trips = [len(s) for _, _, s in items]
            statements = [sum(1 for x in s if x not in ("BEGIN", "COMMIT") and not x.startswith("SELECT 1 ("))
                          for _, _, s in items]
            steps.append({"step": label, "ms": stats(times), "database_wait_ms": stats(db),
                          "python_ms_median": percentile([t - d for t, d in zip(times, db, strict=True)], 50),
                          "round_trips_mean": sum(trips) / len(trips),
                          "statements_mean": sum(statements) / len(statements),
                          "sent_by_the_last_call": items[-1][2]})
        result: dict[str, Any] = {"calls": calls, "steps": steps}
        if profile_calls:
            profiler = cProfile.Profile()
            t0 = time.perf_counter()
            profiler.enable()
            for _ in range(profile_calls):
                booking_call(None)
            profiler.disable()
            elapsed = time.perf_counter() - t0
            RESULTS.mkdir(parents=True, exist_ok=True)
            profiler.dump_stats(str(RESULTS / f"{NAME}.prof"))
            out = io.StringIO()
            ps = pstats.Stats(profiler, stream=out)
            ps.sort_stats("cumulative").print_stats(top)
            cumulative = out.getvalue()
            out = io.StringIO()
            ps.stream = out
            ps.sort_stats("tottime").print_stats(20)
            result["profile"] = {"calls": profile_calls, "requests": profile_calls * len(STEPS), "seconds": elapsed,
                                 "ms_per_request_under_profile": elapsed * 1000 / (profile_calls * len(STEPS)),
                                 "top_cumulative": _trim(cumulative), "top_tottime": _trim(out.getvalue())}
        return result
    finally:
        engine.dispose()


def _trim(report: str) -> str:
    """pstats' table without its preamble, with paths under the project or site-packages shortened."""
    lines = report.splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    text_ = "\n".join(lines[start:]).rstrip()
    site = next((p for p in sys.path if p.endswith("site-packages")), None)
    if site:
        text_ = text_.replace(site + "/", "")
    return text_.replace(str(ROOT) + "/", "").replace(sys.base_prefix + "/lib/python3.11/", "")


# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.voice_latency", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--url", default=DEFAULT_ADMIN_URL,
                        help="admin URL of the PostgreSQL server; the scratch database is created beside it")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers, for every server")
    parser.add_argument("--sqlite", action="store_true",
                        help="serve the hotline and the floor from a SQLite file instead of a PostgreSQL database")
    parser.add_argument("--concurrency", type=int, default=32, help="simulated calls at once")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured duration of each loaded run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring (each round)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="split --seconds into this many turns, voice then trivial, pooled: on a shared machine "
                             "both then meet the same background load")
    parser.add_argument("--unloaded-seconds", type=float, default=4.0,
                        help="first measure each server with a single caller for this long (0: skip)")
    parser.add_argument("--steps-calls", type=int, default=30,
                        help="booking calls timed per step in process after the load runs (0: skip)")
    parser.add_argument("--profile", action="store_true",
                        help="also run booking calls in process under cProfile and print where the time goes")
    parser.add_argument("--profile-calls", type=int, default=100)
    parser.add_argument("--py-spy", metavar="PATH", default=None,
                        help="a py-spy binary: after the measured runs, run the voice load once more with py-spy "
                             "sampling the gunicorn workers, and summarise where their time goes")
    parser.add_argument("--py-spy-seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="on a shared machine, first wait up to this long for it to be less than 20%% busy")
    parser.add_argument("--spread", action="store_true",
                        help="callers pick a random office (of 5), field (of the first 4) and session (of 5) instead "
                             "of the first of each, so that they do not all queue for one session's row lock")
    parser.add_argument("--keep", action="store_true",
                        help="keep the scratch database and the servers' logs (for debugging)")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.concurrency < 1 or args.rounds < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--workers, --concurrency and --rounds must be at least 1, --seconds positive, "
                     "--warmup not negative")
    if args.seconds > 3600 or args.concurrency > 1000:
        parser.error("--seconds is at most 3600 and --concurrency at most 1000")
    if not args.sqlite and make_url(args.url).get_backend_name() != "postgresql":
        parser.error("--url must be a PostgreSQL URL")
    return args


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: servers stopped, database dropped


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    PHONES.reset(args.seed)
    result: dict[str, Any] = {"benchmark": NAME, "environment": environment(args.url),
                              "settings": {k: v for k, v in vars(args).items() if k != "url"}}
    result["environment"]["server_version"] = "SQLite" if args.sqlite else server_version(args.url)
    busy = busy_share()
    deadline = time.monotonic() + args.wait_idle
    while busy is not None and busy >= 0.2 and time.monotonic() < deadline:
        busy = busy_share(2.0)
    result["environment"]["load_average_before"] = load_average()
    result["environment"]["busy_share_before"] = busy
    started = time.perf_counter()
    where = "a SQLite file" if args.sqlite else f"{safe_url(args.url)} (PostgreSQL {result['environment']['server_version']})"
    print(f"voice webhook latency against {where}, "
          f"{os.cpu_count()} CPUs, gunicorn {args.workers} sync workers, {args.concurrency} concurrent calls")
    if busy is not None and busy > 0.1:
        print(f"  note: the machine is not idle ({busy:.0%} of its CPUs busy just before); figures will be noisier")
    scratch_dir = Path(tempfile.mkdtemp(prefix="voice_latency_"))
    instance, logs = scratch_dir / "instance", scratch_dir / "logs"
    logs.mkdir()
    try:
        with (sqlite_file(scratch_dir) if args.sqlite else scratch(args.url, keep=args.keep)) as url, \
                Children(logs) as servers:
            pg_url = None if args.sqlite else url  # PostgreSQL's backends are watched; a SQLite file has none
            result["demo_added"] = prepare(url)
            print(f"  scratch database {safe_url(url)}: demo offices, {CAPACITY:,} seats per session")
            try:
                env = server_env(url, instance, secret_key=SECRET, token=TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                                 SMS_SENDER="log")
                hotline = start_gunicorn(servers, "hotline", "wsgi:app", workers=args.workers, env=env)
                floor = start_gunicorn(servers, "floor", "bench.floor_app:app", workers=args.workers, env=env)
                trivial = start_gunicorn(servers, "trivial", "bench.trivial_app:app", workers=args.workers, env=env)
                result["startup_seconds"] = {"hotline": wait_healthy(hotline, servers, timeout=90),
                                             "floor": wait_healthy(floor, servers, timeout=90),
                                             "trivial": wait_healthy(trivial, servers, timeout=90)}
                print(f"  gunicorn wsgi:app on {hotline.base_url}, bench.floor_app:app on {floor.base_url}, "
                      f"bench.trivial_app:app on {trivial.base_url}")
                servers_by_kind = {"hotline": hotline, "floor": floor, "trivial": trivial}
                if args.unloaded_seconds > 0:
                    # Every worker serves a few calls first (imports, catalogues, its pool's connection).
                    print(f"  priming both servers, then one caller at a time, {args.unloaded_seconds:g} s each ...",
                          flush=True)
                    for kind, server in servers_by_kind.items():
                        load(server, hotline=kind, concurrency=2 * args.workers, warmup=0.0, seconds=2.0,
                             seed=args.seed + 300, db_url=None, spread=args.spread)
                    result["unloaded"] = {
                        "voice": load(hotline, hotline=True, concurrency=1, warmup=1.0,
                                      seconds=args.unloaded_seconds, seed=args.seed + 100, db_url=pg_url,
                                      spread=args.spread),
                        "floor": load(floor, hotline="floor", concurrency=1, warmup=1.0,
                                      seconds=args.unloaded_seconds, seed=args.seed + 400, db_url=pg_url),
                        "trivial": load(trivial, hotline=False, concurrency=1, warmup=1.0,
                                        seconds=args.unloaded_seconds, seed=args.seed + 200, db_url=None),
                    }
                # Voice, floor and trivial take turns, so that all meet the same background load.
                voice_parts: list[Part] = []
                floor_parts: list[Part] = []
                trivial_parts: list[Part] = []
                each = args.seconds / args.rounds
                for n in range(args.rounds):
                    turn = f"round {n + 1}/{args.rounds}: " if args.rounds > 1 else ""
                    print(f"  {turn}voice webhooks, {args.concurrency} calls at once for {each:g} s after "
                          f"{args.warmup:g} s of warm-up ...", flush=True)
                    voice_parts.append(run_once(hotline, hotline=True, concurrency=args.concurrency,
                                                warmup=args.warmup, seconds=each, seed=args.seed + 10 * n,
                                                db_url=pg_url, spread=args.spread))
                    print(f"  {turn}stateful floor, the same ...", flush=True)
                    floor_parts.append(run_once(floor, hotline="floor", concurrency=args.concurrency,
                                                warmup=args.warmup, seconds=each, seed=args.seed + 10 * n + 2,
                                                db_url=pg_url))
                    print(f"  {turn}trivial endpoint, the same ...", flush=True)
                    trivial_parts.append(run_once(trivial, hotline=False, concurrency=args.concurrency,
                                                  warmup=args.warmup, seconds=each, seed=args.seed + 10 * n + 1,
                                                  db_url=None))
                result["voice"] = summarise(voice_parts, concurrency=args.concurrency, warmup=args.warmup)
                result["floor"] = summarise(floor_parts, concurrency=args.concurrency, warmup=args.warmup)
                result["trivial"] = summarise(trivial_parts, concurrency=args.concurrency, warmup=args.warmup)
                if args.py_spy:
                    print(f"  voice webhooks again, {args.py_spy_seconds:g} s with py-spy sampling the workers ...",
                          flush=True)
                    result["py_spy"] = py_spy_run(args.py_spy, hotline, concurrency=args.concurrency,
                                                  warmup=args.warmup, seconds=args.py_spy_seconds,
                                                  seed=args.seed + 2, db_url=pg_url, spread=args.spread)
            finally:
                if servers.started:
                    result["shutdown"] = servers.stop_all(timeout=30)
                for server in servers.started:
                    log = server.last_lines(200)
                    if log.strip():
                        result.setdefault("server_logs", {})[server.name] = log
            result["database"] = tally(url)
            if args.steps_calls > 0:
                print(f"  {args.steps_calls} booking calls in process, timed per step"
                      f"{f', then {args.profile_calls} under cProfile' if args.profile else ''} ...", flush=True)
                result["in_process"] = in_process(url, instance, calls=args.steps_calls,
                                                  profile_calls=args.profile_calls if args.profile else 0)
    finally:
        if args.keep:
            print(f"  --keep: servers' logs and instance folder left in {scratch_dir}")
        else:
            import shutil

            shutil.rmtree(scratch_dir, ignore_errors=True)
    voice_p99 = result["voice"]["latency_ms"]["all"].get("p99")
    floor_p99 = result["floor"]["latency_ms"]["all"].get("p99")
    trivial_p99 = result["trivial"]["latency_ms"]["all"].get("p99")
    # The baseline is the stateful floor; the trivial endpoint's ratio is kept for reference.
    result["p99_ratio"] = voice_p99 / floor_p99 if voice_p99 and floor_p99 else None
    result["p99_ratio_to_trivial"] = voice_p99 / trivial_p99 if voice_p99 and trivial_p99 else None
    result["target_ratio"] = TARGET_RATIO
    result["meets_target"] = result["p99_ratio"] is not None and result["p99_ratio"] <= TARGET_RATIO
    result["wall_seconds"] = time.perf_counter() - started
    path = write_result(NAME, result)
    report(result, path)
    return 0


# --------------------------------------------------------------------------------------------


def _lat(s: dict[str, Any]) -> str:
    if not s.get("count"):
        return "no requests"
    return (f"p50 {s['p50']:7.1f}  p90 {s['p90']:7.1f}  p99 {s['p99']:7.1f}  max {s['max']:7.1f}  ms"
            f"  (n={s['count']})")


def _run_lines(title: str, r: dict[str, Any]) -> list[str]:
    c = r["cpu"]
    rounds = f" ({r['rounds']} rounds)" if r.get("rounds", 1) > 1 else ""
    lines = [f"{title}: {r['requests']} requests in {r['seconds']:.3g} s{rounds} = {r['requests_per_second']:.1f}/s, "
             f"concurrency {r['concurrency']}"]
    for kind, s in r["latency_ms"].items():
        lines.append(f"  {kind:<8} {_lat(s)}")
    errors = sum(r["errors"].values())
    lines.append(f"  errors   {errors}{'  ' + str(r['errors']) if errors else ''}"
                 + (f"   (outside the window: {r['errors_outside_window']})" if r["errors_outside_window"] else ""))
    if r["calls"]:
        lines.append(f"  calls    {r['calls']}")
    lines.append(f"  CPU      client {c['client_seconds']:.1f} s ({c['client_share_of_one_cpu']:.0%} of one CPU, "
                 f"{c['client_ms_per_request']:.2f} ms/request); gunicorn workers {c['gunicorn_seconds']:.1f} s "
                 f"({c['gunicorn_ms_per_request']:.2f} ms/request)"
                 if r["requests"] else "  CPU      (no requests)")
    if r["requests"]:
        lines.append(f"           gunicorn workers' context switches per request: "
                     f"{c['gunicorn_voluntary_switches_per_request']:.1f} voluntary (blocked on a socket), "
                     f"{c['gunicorn_involuntary_switches_per_request']:.1f} involuntary (preempted)")
    if c["postgres_seconds"] is not None and r["requests"]:
        lines.append(f"           postgres backends {c['postgres_seconds']:.1f} s "
                     f"({c['postgres_ms_per_request']:.2f} ms/request)")
    if c["machine_share"] is not None:
        lines.append(f"           whole machine {c['machine_share']:.0%} busy; other processes "
                     f"{c['other_seconds']:.1f} s")
    activity = r.get("postgres_activity")
    if activity and activity["shares"]:
        lines.append(f"  PostgreSQL backends ({activity['mean_backends']:.1f} on average, sampled "
                     f"{activity['samples']} times from pg_stat_activity):")
        for label, share in activity["shares"].items():
            lines.append(f"    {share:6.1%}  {label}")
    for sample in r["error_samples"][:3]:
        lines.append(f"  sample error: {sample[:300]}")
    return lines


def report(result: dict[str, Any], path: Path) -> None:
    print()
    if "unloaded" in result:
        u = result["unloaded"]
        print("One caller at a time (no queueing):")
        print(f"  voice    {_lat(u['voice']['latency_ms']['all'])}")
        if "floor" in u:
            print(f"  floor    {_lat(u['floor']['latency_ms']['all'])}")
        print(f"  trivial  {_lat(u['trivial']['latency_ms']['all'])}")
    for line in _run_lines("Voice webhooks (wsgi:app)", result["voice"]):
        print(line)
    for line in _run_lines("Stateful floor (bench.floor_app:app)", result["floor"]):
        print(line)
    for line in _run_lines("Trivial endpoint (bench.trivial_app:app), for reference", result["trivial"]):
        print(line)
    db = result["database"]
    print(f"Database at the end: {db['bookings']} bookings, {db['calls']} calls ({db['calls_ended']} ended), "
          f"{db['holds_left']} holds left, outbox {db['outbox']}")
    if "in_process" in result:
        ip = result["in_process"]
        print(f"One booking call in process (Flask test client, no gunicorn, no concurrency), "
              f"{ip['calls']} calls, per step:")
        for s in ip["steps"]:
            print(f"  {s['step']:<44} p50 {s['ms']['p50']:6.2f} ms (waiting for PostgreSQL "
                  f"{s['database_wait_ms']['p50']:5.2f}, the rest {s['python_ms_median']:5.2f})  p99 "
                  f"{s['ms']['p99']:6.2f} ms  {s['statements_mean']:4.1f} statements, "
                  f"{s['round_trips_mean']:4.1f} round trips")
        if "profile" in ip:
            p = ip["profile"]
            print(f"Profile: {p['calls']} booking calls ({p['requests']} requests) in {p['seconds']:.1f} s, "
                  f"{p['ms_per_request_under_profile']:.2f} ms per request under cProfile")
            print(p["top_cumulative"])
            print(p["top_tottime"])
    if "py_spy" in result:
        ps = result["py_spy"]
        u = ps["under_py_spy"]
        print(f"py-spy, gunicorn workers under the voice load ({ps['samples']} samples of running code; "
              f"{u['requests_per_second']:.1f} requests/s, p99 {u['p99']:.0f} ms while sampled; stacks in "
              f"{ps['raw_stacks']}):")
        print(f"  samples inside an HTTP client (Twilio REST, requests, urllib3, http.client): "
              f"{ps['outbound_http_samples']}")
        print("  by library (the innermost frame outside the standard library):")
        for name, share, _n in ps["by_library"]:
            print(f"    {share:6.1%}  {name}")
        print("  project functions, inclusive:")
        for name, share, _n in ps["project_functions_inclusive"]:
            print(f"    {share:6.1%}  {name}")
        print("  own time (innermost frame):")
        for name, share, _n in ps["own_time"][:15]:
            print(f"    {share:6.1%}  {name}")
    ratio = result["p99_ratio"]
    v, f, t = (result[k]["latency_ms"]["all"] for k in ("voice", "floor", "trivial"))
    if ratio is not None:
        print(f"p99 voice {v['p99']:.1f} ms / stateful floor {f['p99']:.1f} ms = {ratio:.2f}   target <= {TARGET_RATIO}"
              f"  -> {'met' if result['meets_target'] else 'NOT met'}   (p50 {v['p50']:.1f} / {f['p50']:.1f} ms)")
    if result.get("p99_ratio_to_trivial") is not None:
        print(f"    for reference: trivial endpoint p99 {t['p99']:.1f} ms, voice / trivial = "
              f"{result['p99_ratio_to_trivial']:.2f}")
    print(f"(wall time {result['wall_seconds']:.0f} s; result written to {path})")


if __name__ == "__main__":
    sys.exit(main())
