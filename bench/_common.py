"""What both benchmarks share: a scratch PostgreSQL database, the fixed clock, offices, reports.

Nothing here is a test. The helpers create a database of their own on the server named by the
admin URL, migrate it with the project's Alembic migrations, and drop it when the benchmark ends,
even when it fails.
"""

from __future__ import annotations

import io
import json
import math
import os
import platform
import pstats
import secrets
import subprocess
import sys
import time as clock
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from booking.models import Office
from database.engine import make_engine
from database.schema import upgrade
from tests.factories import make_office

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
RESULTS = Path(__file__).resolve().parent / "results"

VN = ZoneInfo("Asia/Ho_Chi_Minh")
# The same instant as tests.factories.NOW: Monday 1 March 2027, 09:00 in Vietnam, no holiday near.
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=VN).astimezone(UTC)


def scratch_name(prefix: str = "hotline_bench") -> str:
    return f"{prefix}_{secrets.token_hex(5)}"


def database_url(admin_url: str, name: str) -> str:
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def scratch_database(admin_url: str, *, migrate: bool = True, prefix: str = "hotline_bench") -> Iterator[str]:
    """Create an empty database next to the admin URL's, migrate it, yield its URL, drop it."""
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = scratch_name(prefix)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = database_url(admin_url, name)
        try:
            if migrate:
                engine = make_engine(url)
                try:
                    upgrade(engine)
                finally:
                    engine.dispose()
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def add_office(session: Session, n: int, *, morning: int, afternoon: int, crowd_limit: int,
               horizon_days: int = 14, weekdays: range = range(5)) -> Office:
    """An office as the tests build one (Mon-Fri, S 07:30-11:30 and C 13:30-17:00), coded BENCHnnn."""
    return make_office(session, morning=morning, afternoon=afternoon, weekdays=weekdays, code=f"BENCH{n:03d}",
                       name=f"Bộ phận Một cửa số {n}", crowd_limit=crowd_limit, horizon_days=horizon_days)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def server_version(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                return str(conn.execute(text("SHOW server_version")).scalar_one())
            return "sqlite " + str(conn.execute(text("select sqlite_version()")).scalar_one())
    finally:
        engine.dispose()


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def environment(admin_url: str) -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=root, check=False).stdout.strip()
        # The code measured is the working tree's: say which files differ from the commit.
        changed = subprocess.run(["git", "status", "--porcelain", "--", "booking", "migrations"],
                                 capture_output=True, text=True, cwd=root, check=False).stdout.split("\n")
    except OSError:
        commit, changed = "", []
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": commit or None,
        "uncommitted_changes": [line.strip() for line in changed if line.strip()],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "server": safe_url(admin_url),
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def libpq_args(url: str) -> tuple[list[str], dict[str, str]]:
    """Command-line options and environment for a libpq client (pgbench) reaching `url`."""
    parsed: URL = make_url(url)
    args: list[str] = []
    env = dict(os.environ)
    if parsed.host:
        args += ["-h", parsed.host]
    if parsed.port:
        args += ["-p", str(parsed.port)]
    if parsed.username:
        args += ["-U", parsed.username]
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return args, env



def _local(url: str) -> bool:
    host = make_url(url).host or "localhost"
    return host in ("127.0.0.1", "localhost", "::1") and Path("/proc/stat").is_file()


def backend_pids(url: str, *, application_name: str | None = None) -> list[int] | None:
    """The server processes serving other connections to `url`'s database, if the server is local.

    None when the server runs elsewhere (its processes' CPU cannot be read from /proc here).
    """
    if not _local(url):
        return None
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            query = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                     "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
            if application_name is not None:
                query += " AND application_name = :app"
            return [int(pid) for pid in conn.execute(text(query), {"app": application_name}).scalars()]
    finally:
        engine.dispose()


def process_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by the processes `pids`; gone ones count nothing."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime: stat fields 14 and 15
    return total / ticks


def machine_cpu() -> float | None:
    """Busy CPU seconds of the whole machine so far, summed over its CPUs (from /proc/stat)."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in first[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def busy_share(seconds: float = 1.0) -> float | None:
    """How busy the machine is right now: the share of all its CPUs in use over `seconds`."""
    before = machine_cpu()
    clock.sleep(seconds)
    after = machine_cpu()
    if before is None or after is None:
        return None
    return (after - before) / (seconds * (os.cpu_count() or 1))


def profile_text(source: Any, top: int = 25) -> dict[str, str]:
    """The `top` functions by cumulative time and the 15 by own time, from a profiler or a .prof file."""
    out = io.StringIO()
    stats = pstats.Stats(source if not isinstance(source, Path) else str(source), stream=out)
    stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    cumulative = out.getvalue()
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]  # Stats has it; typeshed does not declare it
    stats.sort_stats("tottime").print_stats(15)
    return {"top_cumulative": cumulative, "top_tottime": out.getvalue()}
