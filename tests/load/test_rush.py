"""A hotline rush in miniature: 60 callers for 40 seats across two offices, on real gunicorn workers.

The same code as `python -m bench.rush` (set-up, signed callers, checks), smaller: every caller
must end booked (with a code the database has for that number) or told that nothing is free,
no session may take more than its seats, counters must equal rows, and no answer may be a 5xx
or the hotline's apology. Runs on SQLite and on the PostgreSQL server the other tests use.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bench.rush import RushConfig, SessionSpec, report_lines, run_rush
from database.engine import make_engine
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES

SESSIONS = (SessionSpec(0, "S", 25), SessionSpec(1, "S", 15))  # 40 seats in two offices


def _postgres_reachable() -> None:
    engine = make_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # the server is not there: skip or fail as configured
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable")
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ["sqlite", "postgresql"])
def test_a_rush_of_callers_never_overbooks_and_everyone_hears_an_answer(engine_name: str) -> None:
    if engine_name == "postgresql":
        _postgres_reachable()
    config = RushConfig(callers=60, workers=2, sessions=SESSIONS, sqlite=engine_name == "sqlite",
                        admin_url=POSTGRES_URL, pause=(0.02, 0.1), ramp=1.0, deadline=60.0, seed=7)

    result = run_rush(config, out=lambda *_: None)

    report = "\n".join(report_lines(result))
    assert result.problems == [], report
    outcomes = result.outcomes
    assert outcomes["booked"] == 40, report  # every seat went, and no more
    assert outcomes["full"] == 20, report
    assert outcomes["booked"] + outcomes["full"] == 60
    assert result.server_errors == 0
    for session in result.sessions:
        assert session["booked"] == session["booking_rows"] == session["capacity"], report
        assert session["held"] == session["hold_rows"] == 0, report
    assert len({c.code for c in result.callers if c.code}) == 40  # forty different codes read out
    assert result.latency["all"]["count"] >= 60 * 5  # ring, book, office, session, hang-up at least
