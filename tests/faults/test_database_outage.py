"""The database goes away in the middle of a booking rush, and comes back.

A TCP relay stands between the app and PostgreSQL. While threads book through the API and ring
the hotline, the relay is cut for a few seconds (every connection broken, new ones refused) and
then restored. Every answer must have been a success or a clean error the client can retry (503
with Retry-After; for a call, TwiML that apologises and hangs up); no booking may be half
written; and the same app, never restarted, must book again once the database is back.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from accounts.models import Role
from accounts.tokens import issue_token
from booking.models import Booking
from config import Settings
from hotline import create_app
from tests.factories import NOW, make_office
from tests.faults.processes import wait_until
from tests.faults.rush import Rush, consistency_problems, missing_codes
from tests.faults.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

TUESDAY = date(2027, 3, 2)
OUTAGE_SECONDS = 3.0


def _served(counts: Counter[str]) -> bool:
    return counts["api:booked"] > 0 and counts["voice:answered"] > 0


def test_a_booking_rush_survives_a_database_outage(pg_engine: Engine, tmp_path: Path) -> None:
    url = make_url(pg_engine.url.render_as_string(hide_password=False))
    with Session(pg_engine) as db:
        office = make_office(db, morning=5000, crowd_limit=5000)
        _, token = issue_token(db, name="portal", role=Role.OPERATOR, created_by="test", now=NOW)
        db.commit()
        office_id = office.id
    with TcpProxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        app = create_app(Settings(env="testing", database_url=url.set(port=proxy.port).render_as_string(
            hide_password=False), instance_path=tmp_path / "instance", secret_key="t" * 32,
            twilio_auth_token="x" * 32))
        app.extensions["hotline"].clock = lambda: NOW
        try:
            rush = Rush(app, office_id=office_id, day=TUESDAY, token=token, api_threads=6, voice_threads=1)
            rush.start()
            wait_until(lambda: _served(rush.outcomes.count()), 30, "bookings and calls served before the cut")
            cut = rush.clock()
            proxy.cut()
            time.sleep(OUTAGE_SECONDS)
            proxy.restore()
            restored = rush.clock()
            wait_until(lambda: _served(rush.outcomes.count(restored)), 30, "bookings and calls after the restore")
            time.sleep(1.0)
            outcomes = rush.stop()

            # The same app, never restarted, books again.
            client = app.test_client()
            after = [rush.book(client, f"+849190{n:05d}") for n in range(5)]
            assert [answer.outcome for answer, _ in after] == ["booked"] * 5, [a.detail for a, _ in after]
        finally:
            app.extensions["hotline"].engine.dispose()

    before, during, since = (outcomes.count(0, cut), outcomes.count(cut, restored), outcomes.count(restored))
    print(f"\nbefore the cut {dict(before)}\nduring the {OUTAGE_SECONDS:g} s cut {dict(during)}\n"
          f"after the restore {dict(since)}; {proxy.connections} connections relayed")
    assert outcomes.unexpected == [], outcomes.unexpected[:5]
    assert before["api:booked"] and before["voice:answered"]
    assert during["api:retry"] and during["voice:apology"]  # the outage was felt, and answered cleanly
    assert since["api:booked"] and since["voice:answered"]  # and it ended without restarting anything
    with Session(pg_engine) as db:
        codes = outcomes.codes + [code for _, code in after if code]
        assert missing_codes(db, codes) == []
        assert consistency_problems(db, office_id) == []
        # A COMMIT whose reply the cut swallowed: booked, though the client was told to retry.
        in_doubt = (db.scalar(select(func.count()).select_from(Booking)) or 0) - len(codes)
    print(f"{len(codes)} bookings answered 201, {in_doubt} more committed but answered 503")
