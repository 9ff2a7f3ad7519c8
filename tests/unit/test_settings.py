"""Settings come from the environment, with safe defaults and loud errors."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from config import Settings, SettingsError
from config.settings import ENV_VARS, SMS_KINDS
from hotline.messaging import make_sender
from notifications.models import MessageKind

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_are_the_embedded_database_and_vietnamese() -> None:
    settings = Settings.from_env({})
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("hotline.sqlite3")
    assert (settings.default_language, settings.timezone) == ("vi", "Asia/Ho_Chi_Minh")
    assert (settings.max_future_bookings, settings.hold_seconds, settings.rebook_delay_seconds) == (2, 120, 0)


def test_environment_overrides_defaults() -> None:
    settings = Settings.from_env({"DATABASE_URL": "postgresql://db/hotline", "BOOKING_MAX_FUTURE": "3",
                                  "HOTLINE_LANGUAGE": "en"})
    assert (settings.database_url, settings.max_future_bookings, settings.default_language) == (
        "postgresql://db/hotline", 3, "en")


def test_production_requires_a_secret_key() -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings.from_env({"HOTLINE_ENV": "production"})
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN"):
        Settings.from_env({"HOTLINE_ENV": "production", "SECRET_KEY": "k" * 40})
    assert Settings.from_env({"HOTLINE_ENV": "production", "SECRET_KEY": "k" * 40,
                              "TWILIO_AUTH_TOKEN": "t" * 32}).is_production


def test_development_twilio_token_is_kept_in_the_instance_folder(tmp_path: Path) -> None:
    first = Settings.from_env({"HOTLINE_INSTANCE_PATH": str(tmp_path)})
    again = Settings.from_env({"HOTLINE_INSTANCE_PATH": str(tmp_path)})
    assert first.twilio_auth_token == again.twilio_auth_token and len(first.twilio_auth_token) == 32
    assert (tmp_path / "dev_twilio_auth_token").stat().st_mode & 0o077 == 0


def test_signature_checks_are_off_only_when_explicitly_set(tmp_path: Path) -> None:
    assert Settings.from_env({"HOTLINE_INSTANCE_PATH": str(tmp_path)}).validate_signatures is True
    off = Settings.from_env({"HOTLINE_INSTANCE_PATH": str(tmp_path), "TWILIO_VALIDATE_SIGNATURES": "0"})
    assert off.validate_signatures is False


PRODUCTION = {"HOTLINE_ENV": "production", "SECRET_KEY": "k" * 40, "TWILIO_AUTH_TOKEN": "t" * 32}


def test_production_refuses_to_start_with_signature_checks_off(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="TWILIO_VALIDATE_SIGNATURES"):
        Settings.from_env({**PRODUCTION, "TWILIO_VALIDATE_SIGNATURES": "false"})
    assert Settings.from_env({**PRODUCTION, "TWILIO_VALIDATE_SIGNATURES": "on"}).validate_signatures
    # Development keeps the switch, for local experiments.
    assert not Settings.from_env({"HOTLINE_INSTANCE_PATH": str(tmp_path),
                                  "TWILIO_VALIDATE_SIGNATURES": "false"}).validate_signatures


def test_production_starts_without_a_public_url_since_a_direct_request_carries_its_own() -> None:
    """Behind a proxy it takes PUBLIC_BASE_URL or HOTLINE_TRUSTED_PROXIES; served directly, neither."""
    assert Settings.from_env(PRODUCTION).public_base_url == ""
    assert Settings.from_env({**PRODUCTION, "HOTLINE_TRUSTED_PROXIES": "1"}).trusted_proxies == 1


@pytest.mark.parametrize("url", ["hotline.example.gov.vn", "ftp://hotline.example.gov.vn", "https://",
                                 "https://hotline.example.gov.vn/?x=1", "https://hotline.example.gov.vn/#ivr"])
def test_a_public_url_that_no_signature_could_match_is_refused(url: str) -> None:
    with pytest.raises(SettingsError, match="PUBLIC_BASE_URL"):
        Settings.from_env({**PRODUCTION, "PUBLIC_BASE_URL": url})


@pytest.mark.parametrize("url", ["https://hotline.example.gov.vn", "https://hotline.example.gov.vn/",
                                 "http://localhost:8000", "https://example.gov.vn/hotline"])
def test_a_public_url_with_scheme_and_host_is_taken(url: str) -> None:
    assert Settings.from_env({**PRODUCTION, "PUBLIC_BASE_URL": url}).public_base_url == url


def test_development_secret_key_is_random_never_fixed(tmp_path: Path) -> None:
    """Random for each installation (instance folder), never a constant in the code."""
    keys = {Settings.from_env({"HOTLINE_INSTANCE_PATH": str(tmp_path / str(n))}).secret_key for n in range(3)}
    assert len(keys) == 3


@pytest.mark.parametrize("env, message", [
    ({"BOOKING_MAX_FUTURE": "two"}, "BOOKING_MAX_FUTURE"),
    ({"HOTLINE_TIMEZONE": "Mars/Olympus"}, "HOTLINE_TIMEZONE"),
    ({"HOTLINE_LANGUAGE": "fr"}, "HOTLINE_LANGUAGE"),
    ({"BOOKING_HOLD_SECONDS": "-5"}, "BOOKING_HOLD_SECONDS"),
    ({"HOTLINE_ENV": "staging"}, "HOTLINE_ENV"),
])
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_readme_documents_every_setting() -> None:
    readme = README.read_text(encoding="utf-8")
    undocumented = [var for _, var, _, _ in ENV_VARS if f"`{var}`" not in readme]
    assert undocumented == []


def test_the_readme_settings_table_names_no_removed_setting() -> None:
    """Guards the table against rows that outlive their setting (`IVR_MENU_OFFICES` stayed after the
    office menu gave way to saying the commune's name): a row whose variable nothing reads misleads."""
    readme = README.read_text(encoding="utf-8")
    table = readme[readme.index("\n## Settings"):]
    table = table[:table.index("\n## ", 1)]
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", table, re.MULTILINE)
    read_elsewhere = {"PROMETHEUS_MULTIPROC_DIR"}  # read by prometheus_client itself
    assert len(rows) > 40  # the table was found
    assert [var for var in rows if var not in {v for _, v, _, _ in ENV_VARS} | read_elsewhere] == []


def test_a_lease_need_not_cover_a_whole_batch_since_claims_are_renewed(tmp_path: Path) -> None:
    """The dispatcher renews a batch's claims every half lease, so a slow batch no longer needs a long lease.

    (The old rule, twice SMS_BATCH / SMS_RATE, ignored how slowly the provider answers.)
    """
    base = {"HOTLINE_INSTANCE_PATH": str(tmp_path), "SMS_BATCH": "50", "SMS_RATE": "1"}
    assert Settings.from_env({**base, "SMS_LEASE_SECONDS": "60"}).sms_lease_seconds == 60
    with pytest.raises(SettingsError, match="SMS_LEASE_SECONDS must be at least 2"):
        Settings.from_env({**base, "SMS_LEASE_SECONDS": "1"})


def test_every_field_is_read_from_exactly_one_variable_and_every_variable_into_one_field() -> None:
    """Guards the single declaration: a field without its variable could never be set, and vice versa."""
    names = [name for name, _, _, _ in ENV_VARS]
    variables = [var for _, var, _, _ in ENV_VARS]
    assert sorted(names) == sorted(f.name for f in fields(Settings))
    assert len(set(names)) == len(names) and len(set(variables)) == len(variables)


def test_the_urgent_kinds_settings_know_are_the_kinds_of_sms_there_are() -> None:
    assert set(SMS_KINDS) == {kind.value for kind in MessageKind}


SID, SERVICE = "AC" + "0123456789abcdef" * 2, "MG" + "a1b2c3d4" * 4


@pytest.mark.parametrize("env, message", [
    # Twilio chosen (SMS_SENDER=auto with an account), but nothing to send from: the scheduler died
    # building the sender while the web app took bookings, and no SMS ever left.
    ({"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "t" * 32, "SMS_SENDER_NAME": ""},
     "TWILIO_FROM, TWILIO_MESSAGING_SERVICE_SID or SMS_SENDER_NAME"),
    ({"SMS_SENDER": "twilio", "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "t" * 32, "SMS_SENDER_NAME": ""},
     "TWILIO_FROM, TWILIO_MESSAGING_SERVICE_SID or SMS_SENDER_NAME"),
    ({"SMS_SENDER_NAME": "HCC CA MAU 1"}, "SMS_SENDER_NAME"),  # 12 characters
    ({"SMS_SENDER_NAME": "HCC-CAMAU"}, "SMS_SENDER_NAME"),
    ({"SMS_SENDER_NAME": "1022"}, "SMS_SENDER_NAME"),  # digits only
    ({"HOTLINE_NUMBER": "call 1022"}, "HOTLINE_NUMBER"),
    ({"SMS_SENDER": "twilio", "TWILIO_AUTH_TOKEN": "t" * 32, "TWILIO_FROM": "HCCCAMAU"}, "TWILIO_ACCOUNT_SID"),
    # In development a missing token is made up for the call simulator, which Twilio would refuse.
    ({"TWILIO_ACCOUNT_SID": SID, "TWILIO_FROM": "HCCCAMAU"}, "TWILIO_AUTH_TOKEN"),
    ({"SMS_SENDER": "twilio", "TWILIO_ACCOUNT_SID": SID, "TWILIO_MESSAGING_SERVICE_SID": SERVICE},
     "TWILIO_AUTH_TOKEN"),
    ({"TWILIO_ACCOUNT_SID": "t" * 32, "TWILIO_AUTH_TOKEN": SID, "TWILIO_FROM": "HCCCAMAU"}, "TWILIO_ACCOUNT_SID"),
    ({"TWILIO_MESSAGING_SERVICE_SID": "HCCCAMAU"}, "TWILIO_MESSAGING_SERVICE_SID"),
    ({"TWILIO_API_BASE_URL": "127.0.0.1:8080"}, "TWILIO_API_BASE_URL"),
    ({"SMS_SENDER": "twillio"}, "SMS_SENDER"),
    ({"SMS_URGENT_KINDS": "closure,reminders"}, "SMS_URGENT_KINDS"),
    ({"SMS_BATCH": "0"}, "SMS_BATCH"),
    ({"SMS_CONCURRENCY": "0"}, "SMS_CONCURRENCY"),
    ({"SMS_MAX_ATTEMPTS": "0"}, "SMS_MAX_ATTEMPTS"),
    ({"SMS_RATE": "-1"}, "SMS_RATE"),
    ({"SMS_MAX_SEGMENTS": "0"}, "SMS_MAX_SEGMENTS"),
    ({"HOTLINE_TRUSTED_PROXIES": "-1"}, "HOTLINE_TRUSTED_PROXIES"),
    ({"LEADER_POLL_SECONDS": "0"}, "LEADER_POLL_SECONDS"),
    ({"READY_HEARTBEAT_SECONDS": "2"}, "READY_HEARTBEAT_SECONDS"),
])
def test_settings_that_contradict_each_other_stop_the_start_with_one_line_naming_the_variable(
        env: dict[str, str], message: str, tmp_path: Path) -> None:
    """Guards every process alike (web app, scheduler, commands): they all build these settings first."""
    with pytest.raises(SettingsError, match=message) as raised:
        Settings.from_env({"HOTLINE_INSTANCE_PATH": str(tmp_path), **env})
    assert "\n" not in str(raised.value)
    assert "t" * 32 not in str(raised.value)  # a secret pasted into the wrong variable is not echoed


@pytest.mark.parametrize("env, sender", [
    ({}, "log"),
    ({"SMS_SENDER": "log", "TWILIO_ACCOUNT_SID": SID}, "log"),
    ({"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "t" * 32, "TWILIO_FROM": "HCCCAMAU"}, "twilio"),
    ({"SMS_SENDER": "twilio", "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "t" * 32,
      "TWILIO_MESSAGING_SERVICE_SID": SERVICE}, "twilio"),
])
def test_a_sender_with_what_it_needs_is_taken(env: dict[str, str], sender: str, tmp_path: Path) -> None:
    settings = Settings.from_env({"HOTLINE_INSTANCE_PATH": str(tmp_path), **env})
    assert make_sender(settings).name == sender
