"""Settings come from the environment, with safe defaults and loud errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Settings, SettingsError
from config.settings import ENV_VARS

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
    ({"BOOKING_HOLD_SECONDS": "-5"}, "hold_seconds"),
    ({"HOTLINE_ENV": "staging"}, "HOTLINE_ENV"),
])
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_readme_documents_every_setting() -> None:
    readme = README.read_text(encoding="utf-8")
    undocumented = [var for _, var, _, _ in ENV_VARS if f"`{var}`" not in readme]
    assert undocumented == []


def test_a_claim_must_outlast_the_batch_it_covers(tmp_path: Path) -> None:
    """50 messages at 1 a second take 50 s: a 60 s lease would lapse mid-batch under any delay."""
    base = {"HOTLINE_INSTANCE_PATH": str(tmp_path), "SMS_BATCH": "50", "SMS_RATE": "1"}
    with pytest.raises(SettingsError, match="SMS_LEASE_SECONDS"):
        Settings.from_env({**base, "SMS_LEASE_SECONDS": "60"})
    assert Settings.from_env({**base, "SMS_LEASE_SECONDS": "100"}).sms_lease_seconds == 100


def test_development_secret_key_is_shared_by_every_process_of_one_instance(tmp_path: Path) -> None:
    """run.sh starts two gunicorn workers without SECRET_KEY: a key made per process signed each
    worker's cookies differently, so a signed-in page served by the other worker bounced to the login."""
    first = Settings.from_env({"HOTLINE_INSTANCE_PATH": str(tmp_path)})
    again = Settings.from_env({"HOTLINE_INSTANCE_PATH": str(tmp_path)})
    assert first.secret_key == again.secret_key and len(first.secret_key) == 64
    assert (tmp_path / "dev_secret_key").stat().st_mode & 0o077 == 0
    assert Settings.from_env({"HOTLINE_INSTANCE_PATH": str(tmp_path / "other")}).secret_key != first.secret_key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev_secret_key", "dev_twilio_auth_token", "other"]


def test_workers_starting_together_agree_on_the_development_secret(tmp_path: Path) -> None:
    """Processes racing to make the key all end up with the one that was written first."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(4) as pool:
        keys = pool.map(_secret_key_of, [str(tmp_path)] * 8)
    assert len(set(keys)) == 1 and keys[0] == (tmp_path / "dev_secret_key").read_text().strip()


def _secret_key_of(instance: str) -> str:
    return Settings.from_env({"HOTLINE_INSTANCE_PATH": instance}).secret_key
