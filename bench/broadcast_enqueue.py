"""A broadcast to a province's worth of numbers: upload, preview and enqueue 1,000,000 recipients.

    .venv/bin/python -m bench.broadcast_enqueue [--count 1000000] [--sqlite] [--opt-out-share 0.01]
                                                [--profile] [--url URL]

The issue's target: enqueueing 1,000,000 recipients streams (the process stays under 300 MB)
and takes under a minute on this machine.

Steps:
1. A CSV file of `--count` lines of Vietnamese numbers (plus a header "số điện thoại") is written
   to a temporary file, line by line, never held in memory: distinct mobiles in the spellings
   people use ("0912 345 678", "+84912345678", "84912345678", "0912.345.678", "0912345678",
   "0912-345-678", "+84 912 345 678", "(+84) 912345678", "0084 912 345 678"), about 1% of lines
   repeating an earlier number in another spelling (pre-2018 eleven-digit forms such as
   "0162 345 6789" among them), about 0.2% invalid lines ("abc", "0912 345 67", a US number, …)
   and about 0.2% landlines and short numbers ("0290 3831 234", "1022", "1900 1234", …). Every
   fixed sample is checked with booking.phones.parse_phone when the file is written, so the
   expected counts (kept, duplicates, refused) are known exactly.
2. A scratch PostgreSQL database beside the admin URL (or, with `--sqlite`, a temporary SQLite
   file), migrated with the project's migrations; `--opt-out-share` of the distinct mobiles (1%
   by default) are citizens who opted out of broadcasts, and as many again are citizens who did
   not, so that the enqueue's opt-out filter has rows to look at.
3. The measured part runs in a child process of its own (a fresh interpreter), on the fixed
   clock Monday 2027-03-01 09:00 (Vietnam), in three transactions:
   (a) upload: notifications.broadcasts.create(audience=UPLOAD) then upload(session, broadcast, f)
       with `f` the open CSV file (streamed line by line), commit;
   (b) preview(...) (counts and cost);
   (c) schedule(...) and enqueue(...) (one INSERT … SELECT into the outbox), commit.
   Each phase is timed on its own. The child reads its own VmRSS / VmHWM (peak resident set) from
   /proc/self/status after its imports and after each phase; the parent also reads
   getrusage(RUSAGE_CHILDREN).ru_maxrss once the child has exited. "Enqueue" in the issue's
   sense is phase (c); upload and the total are reported beside it.
4. The parent counts the outbox rows and uploaded numbers afterwards and compares every count
   with what the generator wrote. `--profile` runs the child under cProfile (which slows it
   down: timings then are not the figures to quote), prints the top entries and saves
   bench/results/broadcast_enqueue.prof.

The result is printed and written to bench/results/broadcast_enqueue.json (or
broadcast_enqueue_sqlite.json). It asserts nothing. The scratch database is dropped WITH (FORCE)
at the end, even on failure; the temporary files are removed.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, insert, select, text
from sqlalchemy.engine import make_url

from bench._common import (
    profile_text,
    DEFAULT_ADMIN_URL, NOW, RESULTS, busy_share, environment, load_average, process_cpu, safe_url,
    scratch_database, server_version, write_result,
)
from booking.errors import BookingError
from booking.models import Citizen
from booking.phones import MOBILE_PREFIXES, PhoneKind, parse_phone
from database.engine import make_engine, make_session_factory
from database.schema import upgrade

NAME = "broadcast_enqueue"
TARGET_ENQUEUE_SECONDS = 60.0
TARGET_PEAK_MB = 300.0
CHILD_TIMEOUT = 1800  # seconds; the child is killed after this

BODY = ("UBND tỉnh Cà Mau thông báo: từ ngày 15/3/2027, Trung tâm Phục vụ hành chính công tỉnh nhận hồ sơ "
        "cả sáng thứ Bảy. Đặt lịch hẹn qua tổng đài 0290 1022.")
BRANDNAME = "UBND CA MAU"

DUPLICATE_SHARE = 0.01
INVALID_SHARE = 0.002
NOT_MOBILE_SHARE = 0.002

INVALID_SAMPLES = ("abc", "0912 345 67", "091234567890", "0912 345 678x", "+1 212 555 0100", "0000000000",
                   "12345", "09I2 345 678", "+84 912 345", "không có")
NOT_MOBILE_SAMPLES = ("0290 3831 234", "028 3829 1234", "024 3825 1234", "0290 3831 235", "0290 1022", "1022",
                      "1900 1234", "1800 1234")


# --------------------------------------------------------------------------------------------
# The list of numbers


def full_prefixes() -> list[str]:
    """Two-digit mobile prefixes whose every four-digit block phonenumbers calls a valid mobile,
    so any seven digits after them make a mobile that upload() keeps."""
    good = []
    for prefix in sorted(MOBILE_PREFIXES):
        try:
            if all(parse_phone(f"0{prefix}{block:02d}00000").kind is PhoneKind.MOBILE for block in range(100)):
                good.append(prefix)
        except BookingError:
            continue
    if not good:
        raise RuntimeError("no mobile prefix is fully allocated in phonenumbers' metadata")
    return good


def check_samples() -> None:
    """The fixed samples must be refused as they are labelled, or the expected counts are wrong."""
    for sample in INVALID_SAMPLES:
        try:
            parse_phone(sample)
        except BookingError:
            continue
        raise RuntimeError(f"{sample!r} was meant to be invalid but parses")
    for sample in NOT_MOBILE_SAMPLES:
        if parse_phone(sample).kind is PhoneKind.MOBILE:
            raise RuntimeError(f"{sample!r} was meant not to be a mobile")


class Numbers:
    """The n-th distinct mobile, in national form without the trunk 0 (nine digits).

    Within a prefix, n // len(prefixes) runs over distinct values below 10**7, and multiplying by
    7919 (prime to 10**7) modulo 10**7 is a bijection: no two indices give the same number.
    """

    def __init__(self, prefixes: list[str]) -> None:
        self.prefixes = prefixes

    def national(self, n: int) -> str:
        p = len(self.prefixes)
        return f"{self.prefixes[n % p]}{(n // p * 7919 + 1_234_567) % 10**7:07d}"

    def e164(self, n: int) -> str:
        return "+84" + self.national(n)


def spell(national: str, style: int) -> str:
    """One of the spellings people use for a mobile (national: nine digits)."""
    a, b, c = national[:2], national[2:5], national[5:]
    return (
        f"0{a}{b[0]} {b[1:]}{c[0]} {c[1:]}",  # 0912 345 678
        f"+84{national}",  # +84912345678
        f"84{national}",  # 84912345678
        f"0{a}{b[0]}.{b[1:]}{c[0]}.{c[1:]}",  # 0912.345.678
        f"0{national}",  # 0912345678
        f"0{a}{b[0]}-{b[1:]}{c[0]}-{c[1:]}",  # 0912-345-678
        f"+84 {a}{b[0]} {b[1:]}{c[0]} {c[1:]}",  # +84 912 345 678
        f"(+84) {national}",  # (+84) 912345678
        f"0084 {a}{b[0]} {b[1:]}{c[0]} {c[1:]}",  # 0084 912 345 678
    )[style % 9]


def legacy(national: str) -> str | None:
    """The pre-2018 eleven-digit spelling of a Viettel 032-039 number (0162-0169), if it has one."""
    if national[0] == "3" and national[1] in "23456789":
        rest = national[2:]
        return f"016{national[1]} {rest[:3]} {rest[3:]}"
    return None


def write_numbers(path: Path, *, count: int, numbers: Numbers, seed: int) -> dict[str, int]:
    """Write `count` lines of numbers (and a header) to `path`; return what upload() should find."""
    rng = random.Random(seed)
    distinct = duplicates = legacy_duplicates = invalid = not_mobile = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("số điện thoại\r\n")
        for _ in range(count):
            roll = rng.random()
            if roll < DUPLICATE_SHARE and distinct > 0:
                national = numbers.national(rng.randrange(distinct))
                old = legacy(national) if rng.random() < 0.3 else None
                out.write((old or spell(national, rng.randrange(9))) + "\r\n")
                duplicates += 1
                legacy_duplicates += old is not None
            elif roll < DUPLICATE_SHARE + INVALID_SHARE:
                out.write(rng.choice(INVALID_SAMPLES) + "\r\n")
                invalid += 1
            elif roll < DUPLICATE_SHARE + INVALID_SHARE + NOT_MOBILE_SHARE:
                out.write(rng.choice(NOT_MOBILE_SAMPLES) + "\r\n")
                not_mobile += 1
            else:
                out.write(spell(numbers.national(distinct), rng.randrange(9)) + "\r\n")
                distinct += 1
    return {"lines": count, "distinct_mobiles": distinct, "duplicates": duplicates,
            "legacy_spelled_duplicates": legacy_duplicates, "invalid": invalid, "not_mobile": not_mobile,
            "refused": invalid + not_mobile, "bytes": path.stat().st_size}


def opted_out_indices(distinct: int, share: float) -> Iterator[int]:
    """Every k-th distinct mobile, evenly through the list."""
    if share <= 0:
        return iter(())
    step = max(1, round(1 / share))
    return iter(range(step // 2, distinct, step))


def add_citizens(url: str, numbers: Numbers, *, distinct: int, share: float) -> dict[str, int]:
    """Citizens for `share` of the mobiles with broadcast_opt_out, and as many without it."""
    engine = make_engine(url)
    opted = others = 0
    try:
        chunk: list[dict[str, Any]] = []

        def flush() -> None:
            if chunk:
                with engine.begin() as conn:
                    conn.execute(insert(Citizen), chunk)
                chunk.clear()

        for n in opted_out_indices(distinct, share):
            chunk.append({"phone": numbers.e164(n), "broadcast_opt_out": True, "opted_out_at": NOW, "created_at": NOW,
                          "language": "vi"})
            opted += 1
            if n + 1 < distinct:
                chunk.append({"phone": numbers.e164(n + 1), "broadcast_opt_out": False, "opted_out_at": None, "created_at": NOW,
                              "language": "vi"})
                others += 1
            if len(chunk) >= 10_000:
                flush()
        flush()
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE citizens"))
    finally:
        engine.dispose()
    return {"opted_out": opted, "not_opted_out": others}


# --------------------------------------------------------------------------------------------
# The measured child process


def proc_status() -> dict[str, float]:
    """VmRSS and VmHWM (peak) of this process, in MB, from /proc/self/status (Linux)."""
    out: dict[str, float] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


def measured(spec: dict[str, Any]) -> dict[str, Any]:
    """The three phases, as the application would run them; timings and memory after each."""
    from notifications.broadcasts import create, enqueue, preview, schedule, upload
    from notifications.models import AudienceKind, Broadcast
    from notifications.policy import SmsPolicy

    memory = {"after_imports": proc_status()}
    policy = SmsPolicy(brandname=BRANDNAME)
    engine = make_engine(spec["url"])
    statements = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_args: Any) -> None:
        statements[0] += 1

    factory = make_session_factory(engine)
    out: dict[str, Any] = {"memory_mb": memory}
    cpu: dict[str, dict[str, float | int | None]] = {}
    try:
        with engine.connect() as conn:  # open the pool's first connection outside the timings
            backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one() \
                if engine.dialect.name == "postgresql" else None
        local = backend is not None and make_url(spec["url"]).host in ("127.0.0.1", "localhost", "::1")
        memory["after_connect"] = proc_status()
        marks: list[tuple[float, float, int]] = []

        def mark(phase: str | None) -> None:
            """CPU of this process and of its PostgreSQL backend (a local server's) since the last mark."""
            own = resource.getrusage(resource.RUSAGE_SELF)
            now = (own.ru_utime + own.ru_stime, process_cpu([backend]) if local and backend else 0.0, statements[0])
            if phase is not None:
                before = marks[-1]
                cpu[phase] = {"client_cpu_seconds": now[0] - before[0],
                              "postgres_backend_cpu_seconds": now[1] - before[1] if local else None,
                              "statements": now[2] - before[2]}
            marks.append(now)

        mark(None)
        t0 = time.perf_counter()
        with factory() as session:
            broadcast = create(session, body=BODY, audience=AudienceKind.UPLOAD, spec={}, created_by="bench",
                               now=NOW, title="Thông báo làm việc sáng thứ Bảy")
            with open(spec["csv"], encoding="utf-8-sig", newline="") as lines:
                report = upload(session, broadcast, lines)
            session.commit()
            broadcast_id = broadcast.id
        t1 = time.perf_counter()
        mark("upload")
        memory["after_upload"] = proc_status()

        with factory() as session:
            broadcast = session.get_one(Broadcast, broadcast_id)
            shown = preview(session, broadcast, now=NOW, policy=policy, price_per_segment=0.0475)
            session.rollback()
        t2 = time.perf_counter()
        mark("preview")
        memory["after_preview"] = proc_status()

        with factory() as session:
            broadcast = session.get_one(Broadcast, broadcast_id)
            schedule(session, broadcast, send_at=NOW, now=NOW)
            queued = enqueue(session, broadcast, now=NOW, policy=policy)
            session.commit()
        t3 = time.perf_counter()
        mark("enqueue")
        memory["after_enqueue"] = proc_status()
    finally:
        engine.dispose()
    out.update({
        "broadcast_id": broadcast_id,
        "upload": {"kept": report.kept, "duplicates": report.duplicates, "refused": report.refused,
                   "errors_kept": len(report.errors), "first_errors": [list(e) for e in report.errors[:5]]},
        "preview": {"recipients": shown.recipients, "skipped_opted_out": shown.skipped_opted_out,
                    "skipped_not_mobile": shown.skipped_not_mobile, "encoding": shown.encoding,
                    "segments": shown.segments, "cost_usd_at_0.0475": shown.cost},
        "queued": queued,
        "seconds": {"upload": t1 - t0, "preview": t2 - t1, "enqueue": t3 - t2, "total": t3 - t0},
        "cpu": cpu,
        "postgres_backend_pid": backend,
    })
    return out


def child_main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    if spec.get("profile"):
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            out = measured(spec)
        finally:
            profiler.disable()
            profiler.dump_stats(spec["profile"])
    else:
        out = measured(spec)
    out["memory_mb"]["final"] = proc_status()
    Path(spec["result"]).write_text(json.dumps(out, default=str))
    return 0


def run_child(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    spec_path = workdir / "spec.json"
    spec["result"] = str(workdir / "child_result.json")
    spec_path.write_text(json.dumps(spec))
    root = Path(__file__).resolve().parent.parent
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bench.broadcast_enqueue", "--child", str(spec_path)], cwd=root)
    try:
        code = proc.wait(timeout=CHILD_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        raise RuntimeError(f"the measured child process failed with exit code {code}")
    out = json.loads(Path(spec["result"]).read_text())
    out["child_wall_seconds"] = wall  # interpreter start and imports included
    # ru_maxrss is the largest of all waited-for children (KB on Linux): ours, unless an earlier
    # child (git) was larger, which `before` shows.
    out["ru_maxrss_children_mb"] = usage.ru_maxrss / 1024
    out["ru_maxrss_children_before_mb"] = before / 1024
    out["child_cpu_seconds"] = usage.ru_utime + usage.ru_stime
    return out


# --------------------------------------------------------------------------------------------
# Afterwards


def afterwards(url: str, broadcast_id: int) -> dict[str, Any]:
    from notifications.models import Broadcast, BroadcastNumber, OutboxMessage

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            outbox = conn.execute(select(func.count()).select_from(OutboxMessage)
                                  .where(OutboxMessage.broadcast_id == broadcast_id)).scalar_one()
            numbers = conn.execute(select(func.count()).select_from(BroadcastNumber)
                                   .where(BroadcastNumber.broadcast_id == broadcast_id)).scalar_one()
            distinct_recipients = conn.execute(select(func.count(func.distinct(OutboxMessage.recipient)))
                                               .where(OutboxMessage.broadcast_id == broadcast_id)).scalar_one()
            opted_in_outbox = conn.execute(select(func.count()).select_from(OutboxMessage).join(
                Citizen, Citizen.phone == OutboxMessage.recipient).where(
                OutboxMessage.broadcast_id == broadcast_id, Citizen.broadcast_opt_out.is_(True))).scalar_one()
            row = conn.execute(select(Broadcast.status, Broadcast.recipients, Broadcast.skipped_opted_out,
                                      Broadcast.skipped_not_mobile).where(Broadcast.id == broadcast_id)).one()
            sizes = None
            if engine.dialect.name == "postgresql":
                sizes = {table: conn.execute(text("SELECT pg_total_relation_size(:t)"), {"t": table}).scalar_one()
                         / 2**20 for table in ("outbox", "broadcast_numbers", "citizens")}
    finally:
        engine.dispose()
    return {"outbox_rows": outbox, "distinct_outbox_recipients": distinct_recipients,
            "opted_out_in_outbox": opted_in_outbox, "broadcast_numbers_rows": numbers,
            "broadcast": {"status": str(row.status), "recipients": row.recipients,
                          "skipped_opted_out": row.skipped_opted_out, "skipped_not_mobile": row.skipped_not_mobile},
            "table_sizes_mb": sizes}


@contextmanager
def database(args: argparse.Namespace, workdir: Path) -> Iterator[str]:
    if args.sqlite:
        url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        engine = make_engine(url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        yield url
    else:
        with scratch_database(args.url, prefix="hotline_broadcast") as url:
            yield url


# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.broadcast_enqueue", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--url", default=DEFAULT_ADMIN_URL,
                        help="admin URL of the PostgreSQL server; the scratch database is created beside it")
    parser.add_argument("--sqlite", action="store_true", help="use a temporary SQLite file instead of PostgreSQL")
    parser.add_argument("--count", type=int, default=1_000_000, help="lines of numbers in the uploaded file")
    parser.add_argument("--opt-out-share", type=float, default=0.01,
                        help="share of the distinct mobiles whose citizens opted out of broadcasts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true",
                        help="run the child under cProfile (slower) and print where the time goes")
    parser.add_argument("--child", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.count < 1 or not 0 <= args.opt_out_share < 0.5:
        parser.error("--count must be at least 1 and --opt-out-share in [0, 0.5)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child)
    name = NAME + ("_sqlite" if args.sqlite else "")
    settings = {k: v for k, v in vars(args).items() if k not in ("url", "child")}
    result: dict[str, Any] = {"benchmark": name, "environment": environment(args.url), "settings": settings,
                              "targets": {"enqueue_seconds": TARGET_ENQUEUE_SECONDS, "peak_rss_mb": TARGET_PEAK_MB}}
    started = time.perf_counter()
    result["environment"]["load_average_before"] = load_average()
    result["environment"]["busy_share_before"] = busy = busy_share()
    backend = "SQLite (temporary file)" if args.sqlite else f"{safe_url(args.url)} (PostgreSQL {server_version(args.url)})"
    result["environment"]["database"] = backend
    print(f"broadcast enqueue of {args.count:,} lines against {backend}, {os.cpu_count()} CPUs")
    if busy is not None and busy > 0.1:
        print(f"  note: the machine is not idle ({busy:.0%} of its CPUs busy just before); figures will be lower "
              f"and noisier")
    with tempfile.TemporaryDirectory(prefix="hotline_broadcast_") as tmp:
        workdir = Path(tmp)
        csv_path = workdir / "numbers.csv"
        check_samples()
        numbers = Numbers(full_prefixes())
        t = time.perf_counter()
        expected = write_numbers(csv_path, count=args.count, numbers=numbers, seed=args.seed)
        expected["generate_seconds"] = time.perf_counter() - t
        with csv_path.open(encoding="utf-8") as f:
            expected["sample_lines"] = [next(f).rstrip("\r\n") for _ in range(min(13, args.count + 1))]
        print(f"  wrote {csv_path.name}: {expected['lines']:,} lines, {expected['bytes'] / 2**20:.1f} MB, "
              f"{expected['distinct_mobiles']:,} distinct mobiles over {len(numbers.prefixes)} prefixes "
              f"({expected['generate_seconds']:.1f} s)", flush=True)
        with database(args, workdir) as url:
            citizens = add_citizens(url, numbers, distinct=expected["distinct_mobiles"], share=args.opt_out_share)
            expected.update(citizens)
            expected["outbox_rows"] = expected["distinct_mobiles"] - citizens["opted_out"]
            result["expected"] = expected
            print(f"  {'SQLite file' if args.sqlite else 'scratch database ' + safe_url(url)}: "
                  f"{citizens['opted_out']:,} citizens opted out, {citizens['not_opted_out']:,} not", flush=True)
            spec: dict[str, Any] = {"url": url, "csv": str(csv_path)}
            prof = RESULTS / f"{name}.prof"
            if args.profile:
                RESULTS.mkdir(parents=True, exist_ok=True)
                spec["profile"] = str(prof)
            print("  child process: upload, preview, schedule + enqueue ...", flush=True)
            child = run_child(spec, workdir)
            result["child"] = child
            result["after"] = afterwards(url, child["broadcast_id"])
            if args.profile:
                result["profile"] = profile_text(prof, 30)
    seconds = result["child"]["seconds"]
    peak = max(result["child"]["memory_mb"]["final"].get("VmHWM", 0.0), result["child"]["ru_maxrss_children_mb"])
    result["peak_rss_mb"] = peak
    result["meets_enqueue_target"] = seconds["enqueue"] < TARGET_ENQUEUE_SECONDS
    result["meets_memory_target"] = peak < TARGET_PEAK_MB
    result["counts_as_expected"] = check_counts(result)
    result["wall_seconds"] = time.perf_counter() - started
    path = write_result(name, result)
    report(result, path)
    return 0


def check_counts(result: dict[str, Any]) -> dict[str, bool]:
    e, c, a = result["expected"], result["child"], result["after"]
    return {
        "kept": c["upload"]["kept"] == e["distinct_mobiles"],
        "duplicates": c["upload"]["duplicates"] == e["duplicates"],
        "refused": c["upload"]["refused"] == e["refused"],
        "broadcast_numbers": a["broadcast_numbers_rows"] == e["distinct_mobiles"],
        "skipped_opted_out": c["preview"]["skipped_opted_out"] == e["opted_out"],
        "outbox_rows": a["outbox_rows"] == e["outbox_rows"] == c["queued"],
        "no_opted_out_in_outbox": a["opted_out_in_outbox"] == 0,
        "one_per_recipient": a["distinct_outbox_recipients"] == a["outbox_rows"],
    }


def report(result: dict[str, Any], path: Path) -> None:
    e, c, a = result["expected"], result["child"], result["after"]
    s, m = c["seconds"], c["memory_mb"]
    up, pv = c["upload"], c["preview"]
    ok = result["counts_as_expected"]
    mark = {True: "", False: "  <- expected differently"}
    print()
    if "profile" in result:
        print("Profile of the child process (cProfile: timings below are slowed down by it)")
        print(result["profile"]["top_cumulative"])
        print(result["profile"]["top_tottime"])
    print(f"{result['benchmark']}: {e['lines']:,} lines ({e['bytes'] / 2**20:.1f} MB of CSV) in {result['environment']['database']}")
    print(f"  sample lines            {', '.join(repr(x) for x in e['sample_lines'][1:8])}")
    print(f"  upload: kept            {up['kept']:>10,}  (expected {e['distinct_mobiles']:,}){mark[ok['kept']]}")
    print(f"          duplicates      {up['duplicates']:>10,}  (expected {e['duplicates']:,}, "
          f"{e['legacy_spelled_duplicates']:,} of them pre-2018 spellings){mark[ok['duplicates']]}")
    print(f"          refused         {up['refused']:>10,}  (expected {e['refused']:,}: {e['invalid']:,} invalid, "
          f"{e['not_mobile']:,} not mobiles){mark[ok['refused']]}")
    print(f"  preview: recipients     {pv['recipients']:>10,}, skipped opted out {pv['skipped_opted_out']:,} "
          f"(expected {e['opted_out']:,}){mark[ok['skipped_opted_out']]}, not mobile {pv['skipped_not_mobile']:,}; "
          f"{pv['encoding']} x {pv['segments']} segments, ${pv['cost_usd_at_0.0475']:,.2f} at $0.0475/segment")
    print(f"  outbox rows afterwards  {a['outbox_rows']:>10,}  (expected {e['outbox_rows']:,}; enqueue() returned "
          f"{c['queued']:,}; {a['opted_out_in_outbox']} opted-out, {a['distinct_outbox_recipients']:,} distinct)"
          f"{mark[ok['outbox_rows'] and ok['no_opted_out_in_outbox'] and ok['one_per_recipient']]}")
    print(f"  broadcast row           status {a['broadcast']['status']}, recipients {a['broadcast']['recipients']:,}, "
          f"skipped opted out {a['broadcast']['skipped_opted_out']:,}, not mobile {a['broadcast']['skipped_not_mobile']:,}")
    if a["table_sizes_mb"]:
        print("  table sizes (MB)        " + ", ".join(f"{k} {v:.0f}" for k, v in a["table_sizes_mb"].items()))
    print("  seconds                 upload (create + upload + commit) "
          f"{s['upload']:.1f}, preview {s['preview']:.1f}, enqueue (schedule + enqueue + commit) {s['enqueue']:.1f}, "
          f"total {s['total']:.1f}   (child wall {c['child_wall_seconds']:.1f}, child CPU {c['child_cpu_seconds']:.1f})")
    for phase, use in c["cpu"].items():
        pg = use["postgres_backend_cpu_seconds"]
        print(f"  {phase + ' CPU':24s}child process {use['client_cpu_seconds']:.1f} s"
              + (f", PostgreSQL backend {pg:.1f} s" if pg is not None else "")
              + f", of {s[phase]:.1f} s wall; {use['statements']:,} statements")
    print("  child memory (MB)       " + ", ".join(
        f"{k.replace('after_', '')} rss {v.get('VmRSS', 0):.0f}/peak {v.get('VmHWM', 0):.0f}" for k, v in m.items()))
    print(f"                          ru_maxrss of children {c['ru_maxrss_children_mb']:.0f} "
          f"(before the child: {c['ru_maxrss_children_before_mb']:.0f})")
    en, pk = result["meets_enqueue_target"], result["meets_memory_target"]
    print(f"target: enqueue {s['enqueue']:.1f} s < {TARGET_ENQUEUE_SECONDS:.0f} s -> {'met' if en else 'NOT met'}; "
          f"peak RSS {result['peak_rss_mb']:.0f} MB < {TARGET_PEAK_MB:.0f} MB -> {'met' if pk else 'NOT met'}")
    print(f"  (upload + preview + enqueue {s['total']:.1f} s "
          f"{'<' if s['total'] < TARGET_ENQUEUE_SECONDS else '>='} {TARGET_ENQUEUE_SECONDS:.0f} s)")
    bad = [k for k, v in ok.items() if not v]
    print(f"  counts {'all as expected' if not bad else 'NOT as expected: ' + ', '.join(bad)}")
    print(f"(wall time {result['wall_seconds']:.0f} s; result written to {path})")


if __name__ == "__main__":
    sys.exit(main())
