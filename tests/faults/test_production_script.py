"""scripts/production.sh: refuses to start without its secrets, serves with a leader and a standby, stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hotline.heartbeats import SchedulerHeartbeat, SchedulerRole
from tests.faults.processes import ROOT, Children, group_alive, http_status, loopback_socket, server_env, wait_until

pytestmark = pytest.mark.slow

SCRIPT = ROOT / "scripts" / "production.sh"


def _env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return server_env(database_url, tmp_path / "instance", VENV=sys.prefix, TMPDIR=str(tmp_path), **extra)


def test_production_refuses_to_start_without_its_secrets(tmp_path: Path) -> None:
    env = _env("postgresql+psycopg://postgres@127.0.0.1:5432/hotline", tmp_path)
    del env["TWILIO_AUTH_TOKEN"]
    refused = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)
    assert refused.returncode == 2 and "TWILIO_AUTH_TOKEN must be set" in refused.stderr
    env["TWILIO_AUTH_TOKEN"], env["DATABASE_URL"] = "t" * 32, f"sqlite:///{tmp_path / 'x.sqlite3'}"
    sqlite = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)
    assert sqlite.returncode == 2 and "PostgreSQL" in sqlite.stderr


def test_production_serves_with_a_leader_and_a_standby_and_stops_on_sigterm(pg_engine: Engine,
                                                                             tmp_path: Path) -> None:
    with loopback_socket() as sock:
        port = sock.getsockname()[1]
    url = pg_engine.url.render_as_string(hide_password=False)
    env = _env(url, tmp_path, PORT=str(port), GUNICORN_WORKERS="2")
    with Children(tmp_path) as children:
        script = children.start("production", ["bash", str(SCRIPT)], env)
        base = f"http://127.0.0.1:{port}"
        # Ready means: the schema upgraded, gunicorn serving, and a scheduler leading.
        wait_until(lambda: http_status(base, "/readyz") == 200 or not script.alive(), 90, "/readyz answering 200",
                   interval=0.2, children=children)
        assert script.alive(), children.tails()
        wait_until(lambda: _roles(pg_engine) == [SchedulerRole.LEADER, SchedulerRole.STANDBY], 60,
                   "a leader and a standby beating", interval=0.2, children=children)
        metrics = [p for p in tmp_path.iterdir() if p.name.startswith("hotline-metrics.")]
        assert len(metrics) == 1 and metrics[0].is_dir()

        os.kill(script.pid, signal.SIGTERM)
        assert script.proc.wait(timeout=60) == 0, children.tails()
        # Every process of the group is gone, the schedulers removed their rows, the metrics folder too.
        wait_until(lambda: not group_alive(script.pid), 10, "every child stopped", children=children)
        with Session(pg_engine) as db:
            assert db.scalars(select(SchedulerHeartbeat)).all() == []
        assert not metrics[0].exists()
        assert http_status(base, "/healthz") == 0


def _roles(engine: Engine) -> list[SchedulerRole]:
    with Session(engine) as db:
        return sorted(b.role for b in db.scalars(select(SchedulerHeartbeat)))

