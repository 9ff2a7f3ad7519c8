"""The availability query's time for an office with 100,000 bookings versus an empty one.

    .venv/bin/python -m bench.availability_scale [--bookings 100000] [--repetitions 200] [--sqlite]

The issue's target: `booking.availability.office_availability` over the next two weeks (and
`next_sessions_with_room` restricted to the office) takes at most 1.5 times as long for an office
with 100,000 past bookings as for an identical office with none.

Steps:
1. A scratch PostgreSQL database (migrated with the project's migrations) gets two offices with
   the same settings. The busy one gets `--bookings` past bookings spread over the working days
   of the previous `--years` years, two sessions a day, with their session rows, arrival windows,
   history events and citizens, written with bulk Core inserts: mostly served, some no-shows and
   cancellations, counters consistent with the rows. Both offices then get the same handful of
   future bookings through `booking.bookings.book`, and the database is analysed.
2. Each query runs `--repetitions` times per office, interleaved, after a warm-up, each call in a
   fresh short transaction; the median and 95th percentile are reported with the ratio
   busy / empty. The plans of the statements that read `bookings` are shown (PostgreSQL).
3. `--sqlite` does the same on a SQLite file.

The result is printed and written to bench/results/availability_scale.json. It asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, time as clock, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench._common import (
    DEFAULT_ADMIN_URL, NOW, add_office, busy_share, environment, load_average, percentile, safe_url, scratch_database,
    server_version, write_result,
)
from booking.availability import next_sessions_with_room, office_availability
from booking.bookings import Actor, book
from booking.codes import new_code
from booking.models import (
    ArrivalWindow, Booking, BookingEvent, BookingStatus, Channel, Citizen, Office, OfficeSession,
)
from booking.policy import BookingPolicy
from booking.schedule import plan_days
from booking.seats import window_bounds, window_capacity
from database.engine import make_engine, make_session_factory
from database.schema import upgrade

NAME = "availability_scale"
POLICY = BookingPolicy()
TARGET_RATIO = 1.5
HORIZON = 14
CHUNK = 5000
OFFICE_SETTINGS = dict(morning=130, afternoon=120, crowd_limit=20, horizon_days=HORIZON)

# What became of past bookings, with its share.
OUTCOMES = [(BookingStatus.SERVED, 0.80), (BookingStatus.NO_SHOW, 0.11), (BookingStatus.CANCELLED, 0.09)]
CHANNELS = [(Channel.IVR, "ivr", 0.6), (Channel.OPERATOR, "user:lan", 0.3), (Channel.WEB, "web", 0.1)]


def _pick(rng: random.Random, weighted: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    x, acc = rng.random(), 0.0
    for item in weighted:
        acc += item[-1]
        if x < acc:
            return item
    return weighted[-1]


# --------------------------------------------------------------------------------------------
# Set-up


def _history_rows(office: Office, planned: list[Any], *, bookings: int, seed: int,
                  first_ids: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """Rows for `bookings` past bookings spread over the planned sessions, consistent throughout."""
    rng = random.Random(seed)
    tz = ZoneInfo(office.timezone)
    total_capacity = sum(p.capacity for p in planned)
    if bookings > 0.95 * total_capacity:
        raise SystemExit(f"{bookings} bookings do not fit in {len(planned)} past sessions "
                         f"({total_capacity} seats); raise --years")
    # Share the bookings out in proportion to the sessions' capacity.
    shares = [bookings * p.capacity // total_capacity for p in planned]
    for i in range(bookings - sum(shares)):
        shares[i % len(shares)] += 1
    phones = [f"+849{rng.choice('0134678')}{n:07d}" for n in rng.sample(range(10**7), max(1, bookings // 3))]
    codes: set[str] = set()
    ids = dict(first_ids)
    rows: dict[str, list[dict[str, Any]]] = {"office_sessions": [], "arrival_windows": [], "bookings": [],
                                             "booking_events": [], "citizens": []}
    used_phones: set[str] = set()

    def utc(day: date, at: clock) -> datetime:
        return datetime.combine(day, at, tz).astimezone(UTC)

    for p, count in zip(planned, shares, strict=True):
        session_id = ids["office_sessions"]
        ids["office_sessions"] += 1
        bounds = window_bounds(p.start_time, p.end_time, office.window_minutes)
        per_window = window_capacity(p.capacity, len(bounds), office.crowd_limit)
        window_ids = list(range(ids["arrival_windows"], ids["arrival_windows"] + len(bounds)))
        ids["arrival_windows"] += len(bounds)
        window_booked = [0] * len(bounds)
        starts, ends = utc(p.date, p.start_time), utc(p.date, p.end_time)
        live = 0
        session_phones: set[str] = set()
        for queue in range(1, count + 1):
            status, _ = _pick(rng, OUTCOMES)  # type: ignore[misc]
            if live >= p.capacity:
                status = BookingStatus.CANCELLED
            channel, actor, _ = _pick(rng, CHANNELS)  # type: ignore[misc]
            phone = rng.choice(phones)
            while phone in session_phones:  # one live booking per phone and session
                phone = rng.choice(phones)
            session_phones.add(phone)
            used_phones.add(phone)
            # The earliest window with room, as take_window chooses it when nobody asks for one.
            w = min(live // per_window, len(bounds) - 1)
            code = new_code(rng)
            while code in codes:
                code = new_code(rng)
            codes.add(code)
            booking_id = ids["bookings"]
            ids["bookings"] += 1
            created = starts - timedelta(days=rng.randint(1, HORIZON), minutes=rng.randint(0, 600))
            label = f"{p.code}-{queue:03d}"
            events = [dict(booking_id=booking_id, at=created, action="created", actor=actor, channel=channel,
                           detail={"queue": label, "date": p.date.isoformat(), "session": p.code})]
            cancelled_at = checked_in_at = served_at = no_show_at = None
            if status is BookingStatus.CANCELLED:
                cancelled_at = created + (starts - created) * rng.random()
                events.append(dict(booking_id=booking_id, at=cancelled_at, action="cancelled", actor=actor,
                                   channel=channel, detail={"reason": ""}))
            else:
                live += 1
                window_booked[w] += 1
                if status is BookingStatus.SERVED:
                    checked_in_at = starts + (ends - starts) * rng.random() * 0.8
                    served_at = checked_in_at + timedelta(minutes=rng.randint(5, 40))
                    events.append(dict(booking_id=booking_id, at=checked_in_at, action="checked_in",
                                       actor="user:clerk", channel=Channel.OPERATOR, detail={}))
                    events.append(dict(booking_id=booking_id, at=served_at, action="served", actor="user:clerk",
                                       channel=Channel.OPERATOR, detail={}))
                else:
                    no_show_at = ends + timedelta(minutes=35)
                    events.append(dict(booking_id=booking_id, at=no_show_at, action="no_show", actor="scheduler",
                                       channel=Channel.OPERATOR, detail={}))
            rows["bookings"].append(dict(
                id=booking_id, code=code, office_id=office.id, session_id=session_id, window_id=window_ids[w],
                date=p.date, session_code=p.code, arrival_start=bounds[w][0], arrival_end=bounds[w][1],
                queue_number=queue, phone=phone, name=None, procedure_id=None, channel=channel,
                reserve_channel=None, created_by=actor, language="vi", status=status, created_at=created,
                updated_at=events[-1]["at"], cancelled_at=cancelled_at,
                # The default policy re-offers a cancelled seat at once: the seat went straight back.
                seat_released_at=cancelled_at, checked_in_at=checked_in_at, served_at=served_at,
                no_show_at=no_show_at,
            ))
            for e in events:
                e["id"] = ids["booking_events"]
                ids["booking_events"] += 1
            rows["booking_events"] += events
        rows["office_sessions"].append(dict(
            id=session_id, office_id=office.id, date=p.date, code=p.code, start_time=p.start_time,
            end_time=p.end_time, capacity=p.capacity, booked=live, held=0, cooling=0, reserve_left=0,
            next_queue=count, closed=False))
        rows["arrival_windows"] += [dict(id=wid, session_id=session_id, position=i, start_time=s, end_time=e,
                                         capacity=per_window, booked=window_booked[i], held=0, cooling=0)
                                    for i, (wid, (s, e)) in enumerate(zip(window_ids, bounds, strict=True))]
    first_seen = NOW - timedelta(days=800)
    rows["citizens"] = [dict(phone=ph, name=None, language=None, broadcast_opt_out=False, opted_out_at=None,
                             created_at=first_seen) for ph in sorted(used_phones)]
    return rows


def set_up(engine: Engine, *, bookings: int, years: float, seed: int, future_per_session: int) -> dict[str, Any]:
    """Two identical offices; the busy one with `bookings` past bookings. Returns ids and counts."""
    factory = make_session_factory(engine)
    t0 = time.perf_counter()
    with factory.begin() as s:
        busy = add_office(s, 1, **OFFICE_SETTINGS)  # type: ignore[arg-type]
        empty = add_office(s, 2, **OFFICE_SETTINGS)  # type: ignore[arg-type]
        today = NOW.astimezone(ZoneInfo(busy.timezone)).date()
        first = today - timedelta(days=round(365 * years))
        planned = [p for day in plan_days(s, [busy], first, today - timedelta(days=1))[busy.id]
                   for p in day.sessions]
        busy_id, empty_id = busy.id, empty.id
        rows = _history_rows(busy, planned, bookings=bookings, seed=seed,
                             first_ids={"office_sessions": 1, "arrival_windows": 1, "bookings": 1,
                                        "booking_events": 1})
    generated = time.perf_counter() - t0
    tables = {"citizens": Citizen, "office_sessions": OfficeSession, "arrival_windows": ArrivalWindow,
              "bookings": Booking, "booking_events": BookingEvent}
    t1 = time.perf_counter()
    with factory.begin() as s:
        for name, model in tables.items():
            table = model.__table__
            chunk_rows = rows[name]
            for i in range(0, len(chunk_rows), CHUNK):
                s.execute(table.insert(), chunk_rows[i:i + CHUNK])
        if engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for name in ("office_sessions", "arrival_windows", "bookings", "booking_events"):
                s.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                               f"(SELECT coalesce(max(id), 0) + 1 FROM {name}), false)"))
    inserted = time.perf_counter() - t1
    # The same handful of future bookings for both offices, through the booking service.
    actor = Actor("bench", Channel.OPERATOR)
    future = 0
    with factory.begin() as s:
        offices = [s.get(Office, busy_id), s.get(Office, empty_id)]
        days = [d for d in plan_days(s, [offices[0]], today + timedelta(days=1), today + timedelta(days=HORIZON))
                [busy_id] if d.open]
    for k, office_id in enumerate((busy_id, empty_id)):
        n = 0
        for d in days:
            for p in d.sessions:
                for _ in range(future_per_session):
                    with factory.begin() as s:
                        book(s, office_id=office_id, day=d.date, code=p.code, phone=f"+8498{k}{n:06d}",
                             actor=actor, now=NOW, policy=POLICY)
                    n += 1
                    future += 1
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
            conn.commit()
    with engine.connect() as conn:
        counts = {name: conn.execute(select(func.count()).select_from(model)).scalar_one()
                  for name, model in tables.items()}
        per_office = dict(conn.execute(select(Booking.office_id, func.count()).group_by(Booking.office_id)).all())
    return {
        "busy_office_id": busy_id, "empty_office_id": empty_id,
        "past_sessions": len(planned), "past_from": first.isoformat(), "past_to": (today - timedelta(days=1)).isoformat(),
        "future_bookings": future, "rows": counts,
        "bookings_busy_office": per_office.get(busy_id, 0), "bookings_empty_office": per_office.get(empty_id, 0),
        "generate_seconds": generated, "insert_seconds": inserted,
        "status_mix": {s.value: sum(1 for b in rows["bookings"] if b["status"] is s) for s, _ in OUTCOMES},
    }


# --------------------------------------------------------------------------------------------
# Timing


def _statement_recorder(engine: Engine) -> tuple[list[tuple[str, Any]], Callable[[], None]]:
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    return seen, lambda: event.remove(engine, "before_cursor_execute", record)


def _queries(today: date) -> dict[str, Callable[[Session, int], Callable[[], object]]]:
    """Each query, prepared for one office in a session: the returned call is what gets timed."""
    end = today + timedelta(days=HORIZON)

    def availability(s: Session, office_id: int) -> Callable[[], object]:
        office = s.get(Office, office_id)  # the caller has the office already (the IVR's choice)
        assert office is not None
        return lambda: office_availability(s, office, today, end, now=NOW, policy=POLICY)

    def next_rooms(s: Session, office_id: int) -> Callable[[], object]:
        return lambda: next_sessions_with_room(s, now=NOW, policy=POLICY, office_ids=[office_id])

    return {"office_availability": availability, "next_sessions_with_room": next_rooms}


def time_queries(engine: Engine, ids: dict[str, int], *, repetitions: int, warmup: int) -> dict[str, Any]:
    factory: sessionmaker[Session] = make_session_factory(engine)
    today = NOW.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    queries = _queries(today)
    out: dict[str, Any] = {}
    for name, query in queries.items():
        samples: dict[str, list[float]] = {"busy": [], "empty": []}
        statements: dict[str, int] = {}
        results: dict[str, Any] = {}
        order = ["busy", "empty"]
        for rep in range(warmup + repetitions):
            for which in (order if rep % 2 == 0 else order[::-1]):  # interleaved, alternating who goes first
                office_id = ids[which]
                with factory.begin() as s:
                    s.connection()  # the connection and BEGIN are not part of the query
                    call = query(s, office_id)
                    if rep == 0:
                        seen, stop = _statement_recorder(engine)
                    t0 = time.perf_counter()
                    result = call()
                    elapsed = time.perf_counter() - t0
                    if rep == 0:
                        stop()
                        statements[which] = len(seen)
                        results[which] = result
                if rep >= warmup:
                    samples[which].append(elapsed * 1000)
        stats = {which: {"median_ms": statistics.median(v), "p95_ms": percentile(v, 95), "mean_ms": statistics.fmean(v),
                         "min_ms": min(v), "statements": statements[which]} for which, v in samples.items()}
        out[name] = {
            **stats,
            "ratio_median": stats["busy"]["median_ms"] / stats["empty"]["median_ms"],
            "ratio_p95": stats["busy"]["p95_ms"] / stats["empty"]["p95_ms"],
            "same_answer_shape": _shape(results["busy"]) == _shape(results["empty"]),
        }
    return out


def _shape(result: Any) -> Any:
    """What the two offices' answers should share (dates, sessions, seats left), ignoring ids."""
    if isinstance(result, list) and result and hasattr(result[0], "sessions"):
        return [(d.date, d.closed_reason, [(r.code, r.remaining, r.booked) for r in d.sessions]) for d in result]
    if isinstance(result, list):
        return [(r.date, r.code, r.remaining, r.booked) for r in result]
    return result


def explain_bookings_reads(engine: Engine, office_id: int) -> list[dict[str, Any]]:
    """The plans of the statements that read `bookings` in one busy-office call of each query.

    EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite.
    """
    postgres = engine.dialect.name == "postgresql"
    explain = "EXPLAIN (ANALYZE, COSTS OFF) " if postgres else "EXPLAIN QUERY PLAN "
    factory = make_session_factory(engine)
    today = NOW.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    plans = []
    for name, query in _queries(today).items():
        with factory.begin() as s:
            call = query(s, office_id)
            seen, stop = _statement_recorder(engine)
            try:
                call()
            finally:
                stop()
            for statement, parameters in seen:
                if " bookings" not in statement:
                    continue
                rows = s.connection().exec_driver_sql(explain + statement, parameters).all()
                plans.append({"query": name, "statement": " ".join(statement.split()),
                              "plan": [r[0] if postgres else r[-1] for r in rows]})
    return plans


# --------------------------------------------------------------------------------------------


def run_on(url: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        setup = set_up(engine, bookings=args.bookings, years=args.years, seed=args.seed,
                       future_per_session=args.future_per_session)
        ids = {"busy": setup["busy_office_id"], "empty": setup["empty_office_id"]}
        timings = time_queries(engine, ids, repetitions=args.repetitions, warmup=args.warmup)
        plans = explain_bookings_reads(engine, ids["busy"])
    finally:
        engine.dispose()
    return {"setup": setup, "queries": timings, "bookings_plans": plans}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.availability_scale", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--url", default=DEFAULT_ADMIN_URL,
                        help="admin URL of the PostgreSQL server; a scratch database is created beside it")
    parser.add_argument("--bookings", type=int, default=100_000, help="past bookings of the busy office")
    parser.add_argument("--years", type=float, default=2.0, help="how far back the past bookings go")
    parser.add_argument("--future-per-session", type=int, default=2,
                        help="bookings per session of the next two weeks, for both offices")
    parser.add_argument("--repetitions", type=int, default=200, help="timed calls per query and office")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls per query and office first")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sqlite", action="store_true", help="also run on a SQLite file")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL (with --sqlite)")
    args = parser.parse_args(argv)
    if args.no_postgres and not args.sqlite:
        parser.error("--no-postgres needs --sqlite")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result: dict[str, Any] = {"benchmark": NAME, "environment": environment(args.url),
                              "settings": {k: v for k, v in vars(args).items() if k != "url"},
                              "target_ratio": TARGET_RATIO, "engines": {}}
    result["environment"]["load_average_before"] = load_average()
    result["environment"]["busy_share_before"] = busy = busy_share()
    started = time.perf_counter()
    if busy is not None and busy > 0.1:
        print(f"note: the machine is not idle ({busy:.0%} of its CPUs busy just before); timings will be noisier")
    if not args.no_postgres:
        version = server_version(args.url)
        result["environment"]["server_version"] = version
        print(f"PostgreSQL {version} at {safe_url(args.url)}: setting up {args.bookings} past bookings ...", flush=True)
        with scratch_database(args.url) as url:
            result["engines"]["postgresql"] = run_on(url, args)
        report("postgresql", result["engines"]["postgresql"], args)
    if args.sqlite:
        with tempfile.TemporaryDirectory(prefix="hotline_bench_") as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
            engine = make_engine(url)
            try:
                upgrade(engine)
            finally:
                engine.dispose()
            print(f"SQLite file: setting up {args.bookings} past bookings ...", flush=True)
            result["engines"]["sqlite"] = run_on(url, args)
        report("sqlite", result["engines"]["sqlite"], args)
    result["meets_target"] = all(q["ratio_median"] <= TARGET_RATIO for e in result["engines"].values()
                                 for q in e["queries"].values())
    result["wall_seconds"] = time.perf_counter() - started
    path = write_result(NAME, result)
    print(f"(wall time {result['wall_seconds']:.0f} s; result written to {path})")
    return 0


def report(engine_name: str, run: dict[str, Any], args: argparse.Namespace) -> None:
    setup = run["setup"]
    rows = setup["rows"]
    print(f"\n{engine_name}: busy office {setup['bookings_busy_office']} bookings "
          f"({setup['past_sessions']} past sessions {setup['past_from']}..{setup['past_to']}, "
          f"statuses {setup['status_mix']}), empty office {setup['bookings_empty_office']} (future only)")
    print(f"  rows: {rows}; generated in {setup['generate_seconds']:.1f} s, inserted in {setup['insert_seconds']:.1f} s")
    print(f"  {args.repetitions} timed calls per office after {args.warmup} warm-up calls, interleaved:")
    print(f"  {'query':26s} {'office':6s} {'median ms':>10s} {'p95 ms':>8s} {'stmts':>6s}   ratio busy/empty "
          f"(target <= {TARGET_RATIO})")
    for name, q in run["queries"].items():
        for which in ("busy", "empty"):
            st = q[which]
            ratio = (f"median {q['ratio_median']:.2f}, p95 {q['ratio_p95']:.2f} -> "
                     f"{'met' if q['ratio_median'] <= TARGET_RATIO else 'NOT met'}") if which == "busy" else ""
            print(f"  {name:26s} {which:6s} {st['median_ms']:10.2f} {st['p95_ms']:8.2f} {st['statements']:6d}   {ratio}")
        if not q["same_answer_shape"]:
            print("  (note: the two offices' answers differ in shape; check the set-up)")
    for plan in run["bookings_plans"]:
        print(f"  plan of the bookings read in {plan['query']}:")
        for line in plan["plan"]:
            print(f"    {line}")


if __name__ == "__main__":
    sys.exit(main())
