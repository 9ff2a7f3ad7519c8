"""Every process refuses to start on contradictory settings, in one line that names the setting.

The processes are started as an operator starts them (`flask --app wsgi …`, `gunicorn wsgi:app`),
in an environment holding none of the hotline's settings but those given here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.processes import ROOT, server_env
from tests.twilio_standin import ACCOUNT_SID, AUTH_TOKEN

FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]
GUNICORN = [sys.executable, "-m", "gunicorn", "--workers", "1", "--no-control-socket", "--bind", "127.0.0.1:0",
            "wsgi:app"]


def start(command: list[str], tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = server_env(f"sqlite:///{tmp_path / 'hotline.sqlite3'}", tmp_path / "instance", env="development",
                     token=AUTH_TOKEN, **settings)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


def ours(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("hotline: ")]


@pytest.mark.parametrize("command", [
    [*FLASK, "scheduler", "run"],
    [*FLASK, "db", "upgrade"],
    [*FLASK, "users", "create", "lan", "--role", "admin"],
    GUNICORN,
], ids=["scheduler", "db-upgrade", "users-create", "gunicorn"])
def test_twilio_credentials_without_a_sender_stop_every_process_in_one_line(
        command: list[str], tmp_path: Path) -> None:
    """Guards the start: the web app used to run while the scheduler died with a traceback, sending nothing."""
    result = start(command, tmp_path, TWILIO_ACCOUNT_SID=ACCOUNT_SID, SMS_SENDER_NAME="")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    (line,) = ours(result.stderr)
    assert "TWILIO_FROM, TWILIO_MESSAGING_SERVICE_SID or SMS_SENDER_NAME must be set" in line
    if command is not GUNICORN:
        assert result.stderr.strip() == line and result.stdout == ""


def test_the_scheduler_on_a_schema_behind_names_the_upgrade_without_a_traceback(tmp_path: Path) -> None:
    """Guards the scheduler's start as the other commands': it printed SchemaOutOfDate's traceback."""
    result = start([*FLASK, "scheduler", "run"], tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "Upgrade it with: flask --app wsgi db upgrade" in result.stderr.splitlines()[-1]


def test_the_same_settings_with_a_sender_start(tmp_path: Path) -> None:
    """The refusal is the contradiction's, not Twilio's: with a sender the commands run."""
    result = start([*FLASK, "db", "upgrade"], tmp_path, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM="HCCCAMAU")
    assert result.returncode == 0, result.stderr
    assert ours(result.stderr) == [] and result.stdout.startswith("Schema at ")
