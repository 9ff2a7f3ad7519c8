"""A booking rush while PostgreSQL itself is restarted: what the clients saw, and what the data says after.

    .venv/bin/python -m bench.fault_pg_restart [--warmup 3] [--after 6] [--api-threads 6] [--voice-threads 1]
                                               [--url postgresql://postgres@127.0.0.1:5432/test]

Not a test and never run in CI: it really restarts the PostgreSQL server of this machine with
`pg_ctlcluster --skip-systemctl-redirect VERSION main restart` (VERSION: the one folder in
/etc/postgresql; the default fast shutdown ends every session), so every other client of that
server sees the restart too. tests/faults/test_database_outage.py is the same rush against a
TCP relay that is cut, which CI runs.

Steps:
1. A scratch database beside the admin URL's (created, migrated, dropped WITH (FORCE) at the end)
   gets one office with 5,000 seats on Tuesday morning and an API token.
2. The app is built in this process (database.engine's engine: a pool with pre-ping) at the fixed test
   time, and tests/faults/rush.py runs `--api-threads` clients booking through POST
   /api/v1/bookings (a new phone each time) and `--voice-threads` callers ringing the hotline.
3. After `--warmup` seconds PostgreSQL is restarted; the command is timed. The rush goes on until
   a booking succeeds again, then `--after` seconds more.
4. Every answer is classified: booked or refused (409), a clean retry-able error (503 with
   Retry-After; TwiML apology for a call), or unexpected. Reported by phase: before the restart,
   from its start to the first booking after the command returned, and after; with latencies.
5. Afterwards: every booking answered 201 must be in the database; counters must equal rows,
   every booking must have its confirmation SMS and audit entry; bookings the database has but
   whose client was answered 503 (a COMMIT whose reply was lost when the server went down) are
   counted as "in doubt".
6. PostgreSQL is started again if it is not running, whatever happened.

The result is printed and written to bench/results/fault_pg_restart.json. It asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bench._common import (
    DEFAULT_ADMIN_URL, NOW, add_office, environment, load_average, percentile, safe_url, scratch_database,
    server_version, write_result,
)
from accounts.models import Role
from accounts.tokens import issue_token
from booking.models import Booking
from config import Settings
from database.engine import make_engine
from hotline import create_app
from tests.faults.rush import Outcomes, Rush, consistency_problems, missing_codes

NAME = "fault_pg_restart"
TUESDAY = date(2027, 3, 2)


def cluster() -> list[str]:
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
    if len(versions) != 1:
        raise SystemExit(f"expected one PostgreSQL version in /etc/postgresql, found {versions}")
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[0], "main"]


def ensure_running(admin_url: str, timeout: float = 60) -> str:
    """Start the cluster unless it runs; wait until it accepts connections. Says what was done."""
    done = "was running"
    if subprocess.run([*cluster(), "status"], capture_output=True).returncode != 0:
        subprocess.run([*cluster(), "start"], check=True)
        done = "started again"
    deadline = time.monotonic() + timeout
    while True:
        engine = make_engine(admin_url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return done
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        finally:
            engine.dispose()


def prepare(url: str) -> tuple[int, str]:
    engine = make_engine(url)
    try:
        with Session(engine) as db:
            office = add_office(db, 1, morning=5000, afternoon=5000, crowd_limit=5000)
            _, token = issue_token(db, name="bench", role=Role.OPERATOR, created_by="bench", now=NOW)
            db.commit()
            return office.id, token
    finally:
        engine.dispose()


def phase(outcomes: Outcomes, start: float, end: float) -> dict[str, Any]:
    answers = [a for a in outcomes.answers if start <= a.at < end]
    latency = {}
    for kind in ("api", "voice"):
        ms = [a.ms for a in answers if a.kind == kind]
        if ms:
            latency[kind] = {"p50": round(percentile(ms, 50), 1), "p99": round(percentile(ms, 99), 1),
                             "max": round(max(ms), 1)}
    return {"seconds": round(end - start, 2) if end != float("inf") else None,
            "answers": dict(sorted(outcomes.count(start, end).items())), "latency_ms": latency}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _back(outcomes: Outcomes, since: float) -> bool:
    """A booking succeeded after `since` (the restart command returned): the database is back."""
    with outcomes.lock:
        return any(a.at > since and a.outcome == "booked" for a in outcomes.answers)


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"benchmark": NAME, "environment": environment(args.url),
                              "settings": {k: v for k, v in vars(args).items() if k != "url"}}
    result["environment"]["load_average_before"] = load_average()
    result["environment"]["server"] = f"{safe_url(args.url)} (PostgreSQL {server_version(args.url)})"
    with scratch_database(args.url, prefix="hotline_fault") as url, \
            tempfile.TemporaryDirectory(prefix="hotline_fault_") as instance:
        office_id, token = prepare(url)
        app = create_app(Settings(env="testing", database_url=url, instance_path=Path(instance),
                                  secret_key="b" * 64, twilio_auth_token="c" * 32))
        app.extensions["hotline"].clock = lambda: NOW
        rush = Rush(app, office_id=office_id, day=TUESDAY, token=token, api_threads=args.api_threads,
                    voice_threads=args.voice_threads)
        try:
            rush.start()
            time.sleep(args.warmup)
            restart_at = rush.clock()
            print(f"  restarting PostgreSQL after {restart_at:.1f} s of rush …", flush=True)
            command = subprocess.run([*cluster(), "restart"], capture_output=True, text=True)
            command_done = rush.clock()
            result["restart"] = {"command": " ".join([*cluster(), "restart"]), "exit": command.returncode,
                                 "output": (command.stdout + command.stderr).strip()[-500:],
                                 "seconds": round(command_done - restart_at, 2)}
            deadline = time.monotonic() + args.recovery_timeout
            while not _back(rush.outcomes, command_done) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(args.after)
        finally:
            outcomes = rush.stop()
        errors = [a.at for a in outcomes.answers if a.at >= restart_at and a.outcome in ("retry", "apology",
                                                                                           "unexpected")]
        first_error = min(errors) if errors else None
        last_error = max(errors) if errors else None
        recovered = next((a.at for a in sorted(outcomes.answers, key=lambda a: a.at)
                          if first_error is not None and a.at > first_error and a.outcome == "booked"), None)
        outage_end = recovered if recovered is not None else float("inf")
        outage_start = first_error if first_error is not None else restart_at
        result["timeline_seconds"] = {
            "restart_started": round(restart_at, 2), "restart_command_returned": round(command_done, 2),
            "first_error": _round(first_error), "last_error": _round(last_error),
            "first_booking_after_first_error": _round(recovered),
            "clients_saw_errors_for": _round(last_error - first_error if errors else None)}
        result["phases"] = {"before": phase(outcomes, 0, outage_start),
                            "outage": phase(outcomes, outage_start, outage_end),
                            "after": phase(outcomes, outage_end, float("inf"))}
        unexpected = outcomes.unexpected
        result["unexpected"] = {"count": len(unexpected), "samples": [a.detail for a in unexpected[:5]]}
        engine = make_engine(url)
        try:
            with Session(engine) as db:
                in_db = db.scalar(select(func.count()).select_from(Booking)) or 0
                result["data"] = {"answered_201": len(outcomes.codes), "bookings_in_database": in_db,
                                  "in_doubt": in_db - len(outcomes.codes),
                                  "answered_201_but_missing": missing_codes(db, outcomes.codes),
                                  "consistency_problems": consistency_problems(db, office_id)}
        finally:
            engine.dispose()
            app.extensions["hotline"].engine.dispose()
    return result


def report(result: dict[str, Any]) -> None:
    r, t = result["restart"], result["timeline_seconds"]
    print(f"PostgreSQL restart: `{r['command']}` exit {r['exit']}, {r['seconds']:.2f} s")
    print(f"  (seconds into the rush) restart began {t['restart_started']}, first error {t['first_error']}, "
          f"last error {t['last_error']}, restart command returned {t['restart_command_returned']}, "
          f"first booking after the first error {t['first_booking_after_first_error']}: clients saw errors for "
          f"{t['clients_saw_errors_for']} s")
    for name, p in result["phases"].items():
        print(f"  {name:<7} {p['answers']}  latency {p['latency_ms']}")
    u, d = result["unexpected"], result["data"]
    print(f"  unexpected answers: {u['count']} {u['samples']}")
    print(f"  data: {d['answered_201']} answered 201, {d['bookings_in_database']} in the database "
          f"({d['in_doubt']} in doubt: committed, but the client was told to retry); "
          f"missing {len(d['answered_201_but_missing'])}; consistency problems {d['consistency_problems']}")
    print(f"  PostgreSQL afterwards: {result['postgres_afterwards']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_ADMIN_URL, help="admin URL of the local PostgreSQL server")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--after", type=float, default=6.0)
    parser.add_argument("--recovery-timeout", type=float, default=60.0)
    parser.add_argument("--api-threads", type=int, default=6)
    parser.add_argument("--voice-threads", type=int, default=1)
    args = parser.parse_args(argv)
    started = time.monotonic()
    print(f"{NAME}: a booking rush while PostgreSQL restarts ({safe_url(args.url)})", flush=True)
    try:
        result = run(args)
    finally:
        afterwards = ensure_running(args.url)
    result["postgres_afterwards"] = afterwards
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    path = write_result(NAME, result)
    report(result)
    print(f"(wall time {result['wall_seconds']:.0f} s; result written to {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
