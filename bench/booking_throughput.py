"""Concurrent bookings per second on PostgreSQL, beside what pgbench gets for the same shape.

    .venv/bin/python -m bench.booking_throughput [--processes 8] [--seconds 15] [--profile] [--url URL]

The issue's target: `booking.bookings.book`, run by N processes at once (each booking its own
transaction, committed), reaches at least half the transactions per second that pgbench reaches
on the same server with N clients for a transaction of the same shape: one conditional UPDATE of
a seat counter and one INSERT of a booking row.

Steps:
1. A scratch database (migrated with the project's migrations) gets 8 offices, Mon-Fri, 2,000
   seats per session and a crowd limit of 500, so no session fills up during the run. One seat of
   every target session (both sessions of the next 5 working days) is booked beforehand so that
   the session rows exist.
2. N worker processes, each with its own engine (made by database.engine.make_engine, so with its
   settings), book into random target sessions (some contention per session, never all on one
   row), each booking with a phone of its own, with the fixed clock Monday 2027-03-01 09:00
   (Vietnam). After a short warm-up they count for `--seconds`. Worker 0 counts the statements and
   round trips it sends; the CPU used by the workers and, when the server is local, by the server
   processes serving them is read from /proc.
3. pgbench runs `--seconds` with as many clients against a scratch database of its own on the
   same server: `seats(id, capacity, taken)` with one row per target session, and
   `BEGIN; UPDATE seats ... WHERE id = :sid AND taken < capacity; INSERT INTO bookings_pg ...; END;`.
   Then, on the same tables, `--processes` plain psycopg loops in Python send the same two
   statements and a commit for `--seconds` (the floor of a booking made from Python: what the
   language and the driver cost without the path), reported beside pgbench with their client CPU.
   Before those, on the booking run's own database, pgbench replays the two statements `book` sends on
   PostgreSQL (captured with their parameters from one more booking; target, phone and code
   random; protocol prepared, as psycopg prepares them): what the booking's real write set costs
   the server when the client costs nearly nothing. Ours beside it is what the Python path costs.
4. `--profile` first books in a single process for a few seconds under cProfile and prints the
   25 entries with the most cumulative time (and the 15 with the most own time); the full profile
   is saved to bench/results/booking_throughput.prof. `--no-pre-ping` shows what the pool's
   pre-ping costs.

The result is printed and written to bench/results/booking_throughput.json. It asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url

from bench._common import (
    profile_text,
    DEFAULT_ADMIN_URL, NOW, RESULTS, add_office, backend_pids, busy_share, environment, libpq_args, load_average,
    machine_cpu, percentile, process_cpu, safe_url, scratch_database, server_version, write_result,
)
from booking.bookings import Actor, book
from booking.errors import BookingError
from booking.models import ArrivalWindow, Booking, BookingEvent, Channel, OfficeSession
from booking.policy import BookingPolicy
from booking.schedule import plan_days
from database.engine import make_engine, make_session_factory

NAME = "booking_throughput"
ACTOR = Actor("bench", Channel.OPERATOR)
POLICY = BookingPolicy()
TARGET_RATIO = 0.5

Target = tuple[int, str, str]  # office id, ISO date, session code


def phone_for(worker: int, n: int, workers: int) -> str:
    """A distinct Viettel-looking mobile in E.164 for each (worker, n); the default policy allows
    two future bookings per phone, so every booking gets a phone of its own."""
    stride = 10**7 // max(workers + 1, 1)  # worker `workers` is the set-up / profile phase
    if n >= stride:
        raise RuntimeError("ran out of phone numbers; lower --seconds or --processes")
    return f"+8498{worker * stride + n:07d}"


# --------------------------------------------------------------------------------------------
# Set-up


def set_up(url: str, *, offices: int, days: int, capacity: int, crowd_limit: int, workers: int) -> list[Target]:
    """Offices, and the target sessions: every session of the next `days` working days."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    try:
        with factory.begin() as s:
            rows = [add_office(s, n + 1, morning=capacity, afternoon=capacity, crowd_limit=crowd_limit)
                    for n in range(offices)]
            today = NOW.astimezone(ZoneInfo(rows[0].timezone)).date()
            plans = plan_days(s, rows, today + timedelta(days=1), today + timedelta(days=rows[0].horizon_days))
            targets: list[Target] = []
            for office in rows:
                open_days = [d for d in plans[office.id] if d.open][:days]
                if len(open_days) < days:
                    raise SystemExit(f"only {len(open_days)} open days within the horizon; lower --days")
                targets += [(office.id, d.date.isoformat(), p.code) for d in open_days for p in d.sessions]
        # One booking per target session creates its row, windows and counters before the run.
        for n, (office_id, day, code) in enumerate(targets):
            with factory.begin() as s:
                book(s, office_id=office_id, day=date.fromisoformat(day), code=code,
                     phone=phone_for(workers, n, workers), actor=ACTOR, now=NOW, policy=POLICY)
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        return targets
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------
# The worker processes


def _engine(url: str, pre_ping: bool, **kwargs: Any) -> Any:
    """An engine as the application makes it; `pre_ping=False` only turns the pool's pre-ping off."""
    if not pre_ping:
        kwargs["pool_pre_ping"] = False
    return make_engine(url, **kwargs)


def _count_statements(engine: Any, sink: list[str] | None = None) -> list[int]:
    """Count (and optionally record) what the engine sends to the server: [statements, round trips].

    Statements are what SQLAlchemy hands the cursor (SAVEPOINT included). Round trips add the
    BEGIN and COMMIT the driver sends and the pool's pre-ping on every checkout (when the engine
    has one), which SQLAlchemy does not pass through cursor events.
    """
    count = [0, 0]

    def note(line: str, statement: bool) -> None:
        count[0] += statement
        count[1] += 1
        if sink is not None:
            sink.append(line)

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        note(" ".join(statement.split())[:110], True)

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        note("BEGIN  (sent by the driver before the first statement)", False)

    @event.listens_for(engine, "commit")
    def _commit(conn: Any) -> None:
        note("COMMIT", False)

    ping = engine.dialect.do_ping

    def do_ping(dbapi_connection: Any) -> bool:
        note("SELECT 1  (pool pre-ping on checkout)", False)
        return bool(ping(dbapi_connection))

    engine.dialect.do_ping = do_ping
    return count


def worker(index: int, workers: int, url: str, targets: list[Target], seconds: float, seed: int, pre_ping: bool,
           ready: Any, go: Any, start_at: Any, results: Any) -> None:
    """Book into random target sessions until the run ends; report counts and latencies."""
    try:
        engine = _engine(url, pre_ping, pool_size=1, max_overflow=0)
        factory = make_session_factory(engine)
        statements = _count_statements(engine) if index == 0 else None
        with engine.connect() as conn:  # open the connection before the clock starts
            conn.execute(text("SELECT 1"))
        rng = random.Random(seed * 1000 + index)
        parsed = [(o, date.fromisoformat(d), c) for o, d, c in targets]
        ready.put(index)
        go.wait()
        start = start_at.value
        end = start + seconds
        n = 0
        ok = warm_ok = 0
        errors: Counter[str] = Counter()
        crashes: Counter[str] = Counter()
        latencies: list[float] = []
        stmt_in_window = trips_in_window = 0
        cpu0 = None
        while True:
            now = time.time()
            if now >= end:
                break
            if cpu0 is None and now >= start:
                cpu0 = time.process_time()
            office_id, day, code = parsed[rng.randrange(len(parsed))]
            phone = phone_for(index, n, workers)
            n += 1
            before = list(statements) if statements is not None else [0, 0]
            t0 = time.perf_counter()
            outcome = "ok"
            try:
                with factory.begin() as s:
                    book(s, office_id=office_id, day=day, code=code, phone=phone, actor=ACTOR, now=NOW,
                         policy=POLICY)
            except BookingError as exc:
                outcome = type(exc).__name__
            except Exception as exc:  # a deadlock or a bug: count it and carry on
                outcome = "crash:" + type(exc).__name__
            elapsed = time.perf_counter() - t0
            done = time.time()
            if done < start:
                warm_ok += outcome == "ok"
                continue
            if done >= end:
                break
            if outcome == "ok":
                ok += 1
                latencies.append(elapsed * 1000)
                if statements is not None:
                    stmt_in_window += statements[0] - before[0]
                    trips_in_window += statements[1] - before[1]
            elif outcome.startswith("crash:"):
                crashes[outcome[6:]] += 1
            else:
                errors[outcome] += 1
        cpu = time.process_time() - cpu0 if cpu0 is not None else 0.0
        engine.dispose()
        results.put({"index": index, "ok": ok, "warmup_ok": warm_ok, "errors": dict(errors),
                     "crashes": dict(crashes), "latencies_ms": latencies, "cpu_seconds": cpu,
                     "statements": stmt_in_window if statements is not None else None,
                     "round_trips": trips_in_window if statements is not None else None})
    except Exception as exc:  # the parent must hear about it rather than wait forever
        results.put({"index": index, "fatal": f"{type(exc).__name__}: {exc}"})
        ready.put(-1)  # in case it happened before the worker was ready
        raise


def run_workers(url: str, targets: list[Target], *, processes: int, seconds: float, warmup: float, seed: int,
                start_method: str, pre_ping: bool) -> dict[str, Any]:
    ctx = multiprocessing.get_context(start_method)
    ready, results = ctx.Queue(), ctx.Queue()
    go = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    procs = [ctx.Process(target=worker, daemon=True,
                         args=(i, processes, url, targets, seconds, seed, pre_ping, ready, go, start_at, results))
             for i in range(processes)]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            if ready.get(timeout=120) == -1:
                raise RuntimeError(f"a worker failed to start: {results.get(timeout=10).get('fatal')}")
        # Every worker holds its one connection for the whole run: its server process is known.
        pids = backend_pids(url)
        start = time.time() + warmup
        start_at.value = start
        go.set()
        time.sleep(max(0.0, start - time.time()))
        server0, machine0 = (process_cpu(pids) if pids else None), machine_cpu()
        time.sleep(max(0.0, start + seconds - time.time()))
        server1, machine1 = (process_cpu(pids) if pids else None), machine_cpu()
        reports = [results.get(timeout=warmup + seconds + 120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
    fatal = [r for r in reports if "fatal" in r]
    if fatal:
        raise RuntimeError(f"worker failed: {fatal[0]['fatal']}")
    ok = sum(r["ok"] for r in reports)
    latencies = [x for r in reports for x in r["latencies_ms"]]
    errors: Counter[str] = Counter()
    crashes: Counter[str] = Counter()
    for r in reports:
        errors.update(r["errors"])
        crashes.update(r["crashes"])
    w0 = next(r for r in reports if r["index"] == 0)
    cpu = sum(r["cpu_seconds"] for r in reports)
    server_cpu = server1 - server0 if server0 is not None and server1 is not None else None
    machine = machine1 - machine0 if machine0 is not None and machine1 is not None else None
    cpus = os.cpu_count() or 1
    return {
        "processes": processes,
        "seconds": seconds,
        "warmup_seconds": warmup,
        "bookings": ok,
        "bookings_per_second": ok / seconds,
        "booking_errors": dict(errors),
        "other_errors": dict(crashes),
        "per_process": [r["ok"] for r in sorted(reports, key=lambda r: r["index"])],
        "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                       "p99": percentile(latencies, 99), "max": max(latencies, default=float("nan"))},
        "statements_per_booking_worker0": (w0["statements"] / w0["ok"]) if w0["ok"] else None,
        "round_trips_per_booking_worker0": (w0["round_trips"] / w0["ok"]) if w0["ok"] else None,
        "client_cpu_seconds": cpu,
        "client_cpu_share_of_machine": cpu / (seconds * cpus),
        "client_cpu_ms_per_booking": cpu * 1000 / ok if ok else None,
        # The CPU of the server processes serving the workers' connections (local server only).
        "server_cpu_seconds": server_cpu,
        "server_cpu_share_of_machine": server_cpu / (seconds * cpus) if server_cpu is not None else None,
        "server_cpu_ms_per_booking": server_cpu * 1000 / ok if ok and server_cpu is not None else None,
        # Everything else that kept the machine busy meanwhile (WAL writer, other users, ...).
        "other_cpu_share_of_machine": ((machine - cpu - (server_cpu or 0)) / (seconds * cpus)
                                       if machine is not None else None),
    }


def check_counters(url: str, expected_at_least: int) -> dict[str, Any]:
    """Whether the counters agree with the rows written (a sanity check, printed, not asserted)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(Booking)).scalar_one()
            events = conn.execute(select(func.count()).select_from(BookingEvent)).scalar_one()
            booked = conn.execute(select(func.coalesce(func.sum(OfficeSession.booked), 0))).scalar_one()
            windows = conn.execute(select(func.coalesce(func.sum(ArrivalWindow.booked), 0))).scalar_one()
            sessions = conn.execute(select(func.count()).select_from(OfficeSession)).scalar_one()
            session_seq = conn.execute(text(
                "SELECT last_value FROM pg_sequences WHERE sequencename = 'office_sessions_id_seq'")).scalar()
        return {"booking_rows": rows, "event_rows": events, "session_booked_sum": int(booked),
                "window_booked_sum": int(windows), "office_session_rows": sessions,
                "office_sessions_id_seq_last_value": session_seq,
                "consistent": rows == events == booked == windows and rows >= expected_at_least}
    finally:
        engine.dispose()


def sample_statements(url: str, target: Target, workers: int, pre_ping: bool) -> list[str]:
    """Everything one more booking sends to the server, in order."""
    engine = _engine(url, pre_ping)
    factory = make_session_factory(engine)
    sink: list[str] = []
    try:
        with engine.connect():
            pass
        _count_statements(engine, sink)
        office_id, day, code = target
        with factory.begin() as s:
            book(s, office_id=office_id, day=date.fromisoformat(day), code=code,
                 phone=phone_for(workers, 10**7 // (workers + 1) - 1, workers), actor=ACTOR, now=NOW, policy=POLICY)
        return sink
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------
# Profile


def profile(url: str, targets: list[Target], *, seconds: float, workers: int, pre_ping: bool,
            top: int = 25) -> dict[str, Any]:
    engine = _engine(url, pre_ping, pool_size=1, max_overflow=0)
    factory = make_session_factory(engine)
    rng = random.Random(7)
    parsed = [(o, date.fromisoformat(d), c) for o, d, c in targets]
    base = 10**7 // (workers + 1) // 2  # the second half of the set-up phase's phones
    try:
        for i in range(20):  # warm the caches outside the profile
            o, d, c = parsed[rng.randrange(len(parsed))]
            with factory.begin() as s:
                book(s, office_id=o, day=d, code=c, phone=phone_for(workers, base + i, workers), actor=ACTOR,
                     now=NOW, policy=POLICY)
        profiler = cProfile.Profile()
        n, end = 20, time.perf_counter() + seconds
        t0 = time.perf_counter()
        profiler.enable()
        while time.perf_counter() < end:
            o, d, c = parsed[rng.randrange(len(parsed))]
            with factory.begin() as s:
                book(s, office_id=o, day=d, code=c, phone=phone_for(workers, base + n, workers), actor=ACTOR,
                     now=NOW, policy=POLICY)
            n += 1
        profiler.disable()
        elapsed = time.perf_counter() - t0
    finally:
        engine.dispose()
    done = n - 20
    RESULTS.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(str(RESULTS / f"{NAME}.prof"))
    return {"bookings": done, "seconds": elapsed, "bookings_per_second_under_profile": done / elapsed,
            **profile_text(profiler, top)}


# --------------------------------------------------------------------------------------------
# pgbench

PGBENCH_SCRIPT = """\
\\set sid random(1, {seats})
\\set n random(0, 9999999)
BEGIN;
UPDATE seats SET taken = taken + 1 WHERE id = :sid AND taken < capacity;
INSERT INTO bookings_pg(seat_id, phone) VALUES (:sid, '+8498' || lpad(:n::text, 7, '0'));
END;
"""

PSYCOPG_UPDATE = "UPDATE seats SET taken = taken + 1 WHERE id = %s AND taken < capacity"
PSYCOPG_INSERT = "INSERT INTO bookings_pg(seat_id, phone) VALUES (%s, %s)"


def psycopg_worker(conninfo: str, seats: int, seed: int, start: float, seconds: float, results: Any) -> None:
    """pgbench's transaction from Python: psycopg, no ORM, the two statements and a commit, in a loop."""
    import psycopg

    try:
        rng = random.Random(seed)
        done = 0
        cpu0 = None
        with psycopg.connect(conninfo) as conn:
            end = start + seconds
            while time.time() < start:
                time.sleep(0.005)
            cpu0 = time.process_time()
            while time.time() < end:
                sid = rng.randint(1, seats)
                with conn.cursor() as cur:
                    cur.execute(PSYCOPG_UPDATE, (sid,))
                    cur.execute(PSYCOPG_INSERT, (sid, f"+8498{rng.randrange(10**7):07d}"))
                conn.commit()
                done += 1
        results.put({"transactions": done, "cpu_seconds": time.process_time() - cpu0})
    except Exception as exc:  # the parent must hear about it rather than wait forever
        results.put({"fatal": f"{type(exc).__name__}: {exc}"})
        raise


def run_psycopg_loop(url: str, *, seats: int, processes: int, seconds: float, seed: int,
                     start_method: str) -> dict[str, Any]:
    """The floor of a booking in Python: `processes` psycopg loops sending pgbench's two statements."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    ctx = multiprocessing.get_context(start_method)
    results = ctx.Queue()
    start = time.time() + 2.0  # every process connected before the clock starts
    procs = [ctx.Process(target=psycopg_worker, daemon=True,
                         args=(conninfo, seats, seed * 1000 + i, start, seconds, results)) for i in range(processes)]
    for proc in procs:
        proc.start()
    got = [results.get(timeout=seconds + 60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    fatal = [r["fatal"] for r in got if "fatal" in r]
    if fatal:
        raise RuntimeError(f"a psycopg loop failed: {fatal[0]}")
    done = sum(r["transactions"] for r in got)
    cpu = sum(r["cpu_seconds"] for r in got)
    return {"processes": processes, "seconds": seconds, "transactions": done, "tps": done / seconds,
            "client_cpu_seconds": cpu, "client_cpu_ms_per_transaction": cpu * 1000 / done if done else None,
            "statements": [PSYCOPG_UPDATE, PSYCOPG_INSERT, "COMMIT"]}


TPS = re.compile(r"tps = ([0-9.]+) \(without initial connection time\)")


def _pgbench_server_cpu(url: str, proc: subprocess.Popen[str], *, clients: int,
                        seconds: int) -> tuple[float, float] | None:
    """CPU seconds of pgbench's server processes over most of the run, and that interval's length."""
    if backend_pids(url) is None:
        return None
    started = time.monotonic()
    pids: list[int] = []
    while time.monotonic() - started < min(2.0, seconds / 3) and proc.poll() is None:
        pids = backend_pids(url, application_name="pgbench") or []
        if len(pids) >= clients:
            break
        time.sleep(0.05)
    if len(pids) < clients:
        return None
    t0, c0 = time.monotonic(), process_cpu(pids)
    time.sleep(max(0.0, started + seconds - 0.5 - time.monotonic()))
    t1, c1 = time.monotonic(), process_cpu(pids)
    if proc.poll() is not None or t1 - t0 < 0.5:
        return None
    return c1 - c0, t1 - t0


def _pgbench(url: str, script_text: str, *, clients: int, jobs: int, seconds: int, mode: str) -> dict[str, Any]:
    """Run pgbench with `script_text` against `url`: its tps, latency, own CPU and its server processes' CPU."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(script_text)
    try:
        args, env = libpq_args(url)
        database = make_url(url).database or ""
        command = ["pgbench", *args, "-n", "-c", str(clients), "-j", str(min(jobs, clients)),
                   "-T", str(seconds), "-M", mode, "-f", script.name, database]
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        cpu = _pgbench_server_cpu(url, proc, clients=clients, seconds=seconds)
        stdout, stderr = proc.communicate(timeout=seconds + 120)
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        os.unlink(script.name)
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench failed ({proc.returncode}):\n{stdout}\n{stderr}")
    match = TPS.search(stdout)
    if match is None:
        raise RuntimeError(f"no tps line in pgbench's output:\n{stdout}")
    latency = re.search(r"latency average = ([0-9.]+) ms", stdout)
    processed = re.search(r"number of transactions actually processed: (\d+)", stdout)
    tps = float(match.group(1))
    return {
        "command": " ".join(c if c != script.name else "<script>.sql" for c in command),
        "clients": clients,
        "jobs": min(jobs, clients),
        "seconds": seconds,
        "protocol": mode,
        "tps": tps,
        "transactions": int(processed.group(1)) if processed else None,
        "latency_average_ms": float(latency.group(1)) if latency else None,
        "pgbench_cpu_seconds": (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime),
        # Sampled over the middle of the run, per transaction at the reported rate (local server only).
        "server_cpu_ms_per_transaction": cpu[0] * 1000 / (tps * cpu[1]) if cpu else None,
        "server_cpu_share_of_machine": cpu[0] / (cpu[1] * (os.cpu_count() or 1)) if cpu else None,
        "output": stdout,
    }



def run_pgbench(admin_url: str, *, seats: int, capacity: int, clients: int, jobs: int, seconds: int,
                mode: str, psycopg_loop: bool = True, start_method: str = "fork") -> dict[str, Any]:
    """pgbench on a scratch database of its own; then, on the same tables, the same transaction from psycopg."""
    with scratch_database(admin_url, migrate=False, prefix="hotline_pgbench") as url:
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text("CREATE TABLE seats (id int PRIMARY KEY, capacity int NOT NULL, taken int NOT NULL)"))
                conn.execute(text("CREATE TABLE bookings_pg (id bigserial PRIMARY KEY, seat_id int NOT NULL, "
                                  "phone text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"))
                conn.execute(text("INSERT INTO seats SELECT g, :capacity, 1 FROM generate_series(1, :n) g"),
                             {"capacity": capacity, "n": seats})
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
            run = _pgbench(url, PGBENCH_SCRIPT.format(seats=seats), clients=clients, jobs=jobs, seconds=seconds,
                           mode=mode)
            with engine.connect() as conn:
                inserted = conn.execute(text("SELECT count(*) FROM bookings_pg")).scalar_one()
                taken = conn.execute(text("SELECT sum(taken) - count(*) FROM seats")).scalar_one()
            loop = (run_psycopg_loop(url, seats=seats, processes=clients, seconds=seconds, seed=clients,
                                     start_method=start_method) if psycopg_loop else None)
        finally:
            engine.dispose()
    return {
        **run,
        "script": PGBENCH_SCRIPT.format(seats=seats),
        "rows_inserted": inserted,
        "seats_taken": taken,
        "psycopg_loop": loop,
    }


# --------------------------------------------------------------------------------------------
# pgbench replaying the booking's own statements

REPLAY_PREFIX = "+8497"  # the replayed bookings' phones; the workers' are +8498...
REPLAY_TARGET = "(SELECT {column} FROM bench_targets WHERE n = :t)"
PARAM = re.compile(r"%\((\w+)\)s")


def _sql_literal(value: Any) -> str:
    """A parameter's value written into SQL (the statements cast every parameter to its type)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value.isoformat() if hasattr(value, "isoformat") else value).replace("'", "''") + "'"


def replay_script(url: str, target: Target, workers: int, *, targets: int) -> tuple[str, list[str]]:
    """A pgbench script that sends what `book` sends on its two-statement path, for a random target.

    One more booking is made and the two statements it hands the driver are captured with their
    parameters. In the script the target (office, day, session, session id) is read from
    `bench_targets` by a random row number, the phone and the booking's code are random, and every
    other parameter keeps the value the booking sent. The four lookups in `bench_targets` are
    primary-key reads inside the statements: a few microseconds the real booking does not spend.
    """
    engine = _engine(url, True)
    factory = make_session_factory(engine)
    captured: list[tuple[str, dict[str, Any]]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        captured.append((statement, dict(parameters or {})))

    office_id, day, code = target
    try:
        with factory.begin() as s:
            book(s, office_id=office_id, day=date.fromisoformat(day), code=code,
                 phone=phone_for(workers, 10**7 // (workers + 1) - 2, workers), actor=ACTOR, now=NOW, policy=POLICY)
    finally:
        engine.dispose()
    if len(captured) != 2:
        raise RuntimeError(f"expected the booking to send two statements, it sent {len(captured)}")
    varying = {"office_id": REPLAY_TARGET.format(column="office_id"), "day": REPLAY_TARGET.format(column="day"),
               "session_id": REPLAY_TARGET.format(column="session_id"),
               "session_code": REPLAY_TARGET.format(column="code"),
               "phone": f"('{REPLAY_PREFIX}' || lpad(:p::text, 7, '0'))"}
    statements = []
    for n, (statement, params) in enumerate(captured):
        # The first statement's `code` is the session's, the second's the new booking's.
        names = {**varying, "code": REPLAY_TARGET.format(column="code") if n == 0 else "(:k::text)"}
        statements.append(PARAM.sub(lambda m, names=names, params=params:  # type: ignore[misc]
                                    names.get(m.group(1)) or _sql_literal(params[m.group(1)]), statement))
    script = "\n".join([f"\\set t random(1, {targets})", "\\set p random(0, 9999999)",
                        "\\set k random(100000000, 999999999)", "BEGIN;",
                        *(" ".join(x.split()) + ";" for x in statements), "END;", ""])
    return script, [c[0] for c in captured]


def run_pgbench_own(url: str, targets: list[Target], *, clients: int, jobs: int, seconds: int, mode: str,
                    workers: int) -> dict[str, Any]:
    """pgbench sending the booking's own two statements, on the booking run's database, after it."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE bench_targets (n int PRIMARY KEY, office_id int NOT NULL, day date NOT NULL, "
                              "code varchar NOT NULL, session_id int NOT NULL)"))
            for n, (office_id, day, code) in enumerate(targets, 1):
                conn.execute(text("INSERT INTO bench_targets SELECT :n, office_id, date, code, id FROM office_sessions "
                                  "WHERE office_id = :o AND date = :d AND code = :c"),
                             {"n": n, "o": office_id, "d": date.fromisoformat(day), "c": code})
        script, _ = replay_script(url, targets[0], workers, targets=len(targets))
        before = _replayed(engine)
        run = _pgbench(url, script, clients=clients, jobs=jobs, seconds=seconds, mode=mode)
        booked = _replayed(engine) - before
    finally:
        engine.dispose()
    return {**run, "script": script, "bookings_written": booked}


def _replayed(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM bookings WHERE phone LIKE :p"),
                                {"p": REPLAY_PREFIX + "%"}).scalar_one())


# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.booking_throughput", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--url", default=DEFAULT_ADMIN_URL,
                        help="admin URL of the PostgreSQL server; scratch databases are created beside it")
    parser.add_argument("--processes", type=int, default=8, help="booking processes (and pgbench clients)")
    parser.add_argument("--seconds", type=int, default=15, help="measured duration of each run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of booking before measuring")
    parser.add_argument("--offices", type=int, default=8)
    parser.add_argument("--days", type=int, default=5, help="working days booked into, per office (2 sessions each)")
    parser.add_argument("--capacity", type=int, default=2000, help="seats per session")
    parser.add_argument("--crowd-limit", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-pre-ping", dest="pre_ping", action="store_false",
                        help="turn off the pool's pre-ping that database.engine.make_engine turns on (to measure its cost)")
    parser.add_argument("--start-method", choices=["spawn", "fork", "forkserver"], default="spawn")
    parser.add_argument("--pgbench-jobs", type=int, default=2, help="pgbench -j (threads)")
    parser.add_argument("--pgbench-protocol", choices=["simple", "extended", "prepared"], default="simple",
                        help="pgbench -M")
    parser.add_argument("--no-pgbench", action="store_true", help="skip the pgbench comparison")
    parser.add_argument("--profile", action="store_true",
                        help="also book in one process under cProfile first and print where the time goes")
    parser.add_argument("--profile-seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.processes < 1 or args.seconds < 1:
        parser.error("--processes and --seconds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result: dict[str, Any] = {"benchmark": NAME, "environment": environment(args.url),
                              "settings": {k: v for k, v in vars(args).items() if k != "url"}}
    result["environment"]["server_version"] = server_version(args.url)
    started = time.perf_counter()
    result["environment"]["load_average_before"] = load_average()
    result["environment"]["busy_share_before"] = busy = busy_share()
    print(f"booking throughput against {safe_url(args.url)} (PostgreSQL {result['environment']['server_version']}), "
          f"{os.cpu_count()} CPUs")
    if busy is not None and busy > 0.1:
        print(f"  note: the machine is not idle ({busy:.0%} of its CPUs busy just before); figures will be lower "
              f"and noisier")
    with scratch_database(args.url) as url:
        targets = set_up(url, offices=args.offices, days=args.days, capacity=args.capacity,
                         crowd_limit=args.crowd_limit, workers=args.processes)
        print(f"  scratch database {safe_url(url)}: {args.offices} offices, {len(targets)} target sessions "
              f"of {args.capacity} seats")
        if args.profile:
            print(f"  profiling one process for {args.profile_seconds:g} s ...", flush=True)
            result["profile"] = profile(url, targets, seconds=args.profile_seconds, workers=args.processes,
                                        pre_ping=args.pre_ping)
        print(f"  {args.processes} processes booking for {args.seconds} s after {args.warmup:g} s of warm-up ...",
              flush=True)
        ours = run_workers(url, targets, processes=args.processes, seconds=args.seconds, warmup=args.warmup,
                           seed=args.seed, start_method=args.start_method, pre_ping=args.pre_ping)
        result["bookings"] = ours
        result["statements_of_one_booking"] = sample_statements(url, targets[0], args.processes, args.pre_ping)
        result["sanity"] = check_counters(url, ours["bookings"])
        if not args.no_pgbench:
            print(f"  pgbench replaying the booking's own two statements, -c {args.processes} -T {args.seconds} ...",
                  flush=True)
            # Prepared, as psycopg prepares them for the booking after a few runs: planned once per connection.
            result["pgbench_own"] = run_pgbench_own(url, targets, clients=args.processes, jobs=args.pgbench_jobs,
                                                    seconds=args.seconds, mode="prepared", workers=args.processes)
            result["ratio_to_own_statements"] = ours["bookings_per_second"] / result["pgbench_own"]["tps"]
    if not args.no_pgbench:
        print(f"  pgbench -c {args.processes} -j {min(args.pgbench_jobs, args.processes)} -T {args.seconds} ...",
              flush=True)
        result["pgbench"] = run_pgbench(args.url, seats=len(targets), capacity=args.capacity,
                                        clients=args.processes, jobs=args.pgbench_jobs, seconds=args.seconds,
                                        mode=args.pgbench_protocol, start_method=args.start_method)
        ratio = ours["bookings_per_second"] / result["pgbench"]["tps"]
        result["ratio"] = ratio
        result["target_ratio"] = TARGET_RATIO
        result["meets_target"] = ratio >= TARGET_RATIO
    result["wall_seconds"] = time.perf_counter() - started
    path = write_result(NAME, result)
    report(result, path)
    return 0


def report(result: dict[str, Any], path: Path) -> None:
    ours = result["bookings"]
    print()
    if "profile" in result:
        p = result["profile"]
        print(f"Profile: one process, {p['bookings']} bookings in {p['seconds']:.1f} s "
              f"({p['bookings_per_second_under_profile']:.0f}/s under cProfile)")
        print(p["top_cumulative"])
        print(p["top_tottime"])
    lat = ours["latency_ms"]
    print(f"booking.bookings.book, {ours['processes']} processes, {ours['seconds']} s:")
    print(f"  bookings committed     {ours['bookings']}  ({ours['bookings_per_second']:.1f}/s)")
    print(f"  per process            {ours['per_process']}")
    print(f"  refused (BookingError) {ours['booking_errors'] or 0}   other errors {ours['other_errors'] or 0}")
    print(f"  latency ms             p50 {lat['p50']:.1f}  p95 {lat['p95']:.1f}  p99 {lat['p99']:.1f}  "
          f"max {lat['max']:.1f}")
    print(f"  client CPU (Python)    {ours['client_cpu_seconds']:.1f} s "
          f"= {ours['client_cpu_share_of_machine']:.0%} of the machine's {os.cpu_count()} CPUs, "
          f"{ours['client_cpu_ms_per_booking']:.2f} ms per booking")
    if ours["server_cpu_seconds"] is not None:
        print(f"  server CPU (postgres)  {ours['server_cpu_seconds']:.1f} s "
              f"= {ours['server_cpu_share_of_machine']:.0%} of the machine, "
              f"{ours['server_cpu_ms_per_booking']:.2f} ms per booking")
    if ours["other_cpu_share_of_machine"] is not None:
        print(f"  other CPU use          {ours['other_cpu_share_of_machine']:.0%} of the machine (not ours: "
              f"WAL writer, other users of the machine ...)")
    spb, rtb = ours["statements_per_booking_worker0"], ours["round_trips_per_booking_worker0"]
    one = result["statements_of_one_booking"]
    if spb is not None:
        print(f"  per booking            {spb:.1f} statements, {rtb:.1f} round trips (worker 0's mean); "
              f"pgbench: 2 statements, 4 round trips")
    print(f"  what one booking sends ({len(one)} round trips{'' if result['settings']['pre_ping'] else ', no pre-ping'}):")
    for n, statement in enumerate(one, 1):
        print(f"    {n:2d}. {statement}")
    s = result["sanity"]
    print(f"  sanity: {s['booking_rows']} booking rows, {s['event_rows']} events, counters "
          f"{s['session_booked_sum']}/{s['window_booked_sum']} -> {'consistent' if s['consistent'] else 'MISMATCH'}; "
          f"{s['office_session_rows']} session rows, office_sessions_id_seq at {s['office_sessions_id_seq_last_value']}")
    if "pgbench" in result:
        pg = result["pgbench"]
        print(f"pgbench, same server, {pg['clients']} clients, {pg['jobs']} threads, {pg['seconds']} s, "
              f"protocol {pg['protocol']}:")
        print(f"  tps                    {pg['tps']:.1f}  (latency average {pg['latency_average_ms']} ms)")
        print(f"  pgbench's own CPU      {pg['pgbench_cpu_seconds']:.1f} s")
        if pg["server_cpu_ms_per_transaction"] is not None:
            print(f"  server CPU (postgres)  {pg['server_cpu_share_of_machine']:.0%} of the machine, "
                  f"{pg['server_cpu_ms_per_transaction']:.3f} ms per transaction")
        loop = pg.get("psycopg_loop")
        if loop:
            print(f"psycopg loop, the same two statements and a commit, {loop['processes']} processes, "
                  f"{loop['seconds']} s, same tables:")
            print(f"  transactions/s         {loop['tps']:.1f}  ({loop['tps'] / pg['tps']:.3f} of pgbench's); client "
                  f"CPU {loop['client_cpu_ms_per_transaction']:.2f} ms per transaction")
            print(f"ratio ours / psycopg     {ours['bookings_per_second'] / loop['tps']:.3f}")
        print(f"ratio ours / pgbench     {result['ratio']:.3f}   target >= {result['target_ratio']}  -> "
              f"{'met' if result['meets_target'] else 'NOT met'}")
    if "pgbench_own" in result:
        own = result["pgbench_own"]
        print(f"pgbench replaying the booking's own two statements (same database, after our run), "
              f"{own['clients']} clients, {own['seconds']} s, protocol {own['protocol']}:")
        print(f"  tps                    {own['tps']:.1f}  ({own['bookings_written']} bookings written; latency "
              f"average {own['latency_average_ms']} ms)")
        if own["server_cpu_ms_per_transaction"] is not None:
            print(f"  server CPU (postgres)  {own['server_cpu_share_of_machine']:.0%} of the machine, "
                  f"{own['server_cpu_ms_per_transaction']:.3f} ms per transaction")
        print(f"ratio ours / replay      {result['ratio_to_own_statements']:.3f}  (what the Python path costs "
              f"beside the same statements sent from C)")
    print(f"(wall time {result['wall_seconds']:.0f} s; result written to {path})")


if __name__ == "__main__":
    sys.exit(main())
