"""The app factory, the public page, and the command-line tools, on both engines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from accounts.models import Role, User
from config import Settings
from database.schema import SchemaOutOfDate, downgrade
from hotline import create_app


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def app(engine: Engine, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(Settings(env="testing", database_url=_url(engine), instance_path=tmp_path / "instance",
                              secret_key="t" * 32))
    yield app
    app.extensions["hotline"].engine.dispose()


def test_app_refuses_a_database_whose_schema_is_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    with pytest.raises(SchemaOutOfDate, match="flask --app wsgi db upgrade"):
        create_app(Settings(env="testing", database_url=url, instance_path=tmp_path))


def test_cli_upgrades_an_empty_database_then_the_app_starts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    settings = Settings(env="testing", database_url=url, instance_path=tmp_path)
    cli_app = create_app(settings, check_schema=False)
    runner = cli_app.test_cli_runner()
    assert "behind" in runner.invoke(args=["db", "current"]).output
    refused = runner.invoke(args=["demo", "load"])
    assert refused.exit_code != 0 and "db upgrade" in refused.output
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    assert "up to date" in runner.invoke(args=["db", "current"]).output
    assert create_app(settings).extensions["hotline"].engine is not None


def test_users_create_takes_the_password_from_the_environment(app: Flask, db: Session,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["demo", "load"])
    monkeypatch.setenv("PASSWORD", "mật khẩu đủ dài")
    made = runner.invoke(args=["users", "create", "hoa", "--role", "manager", "--office", "CM-NAMCAN"])
    assert made.exit_code == 0, made.output
    user = db.scalar(select(User).where(User.username == "hoa"))
    assert user is not None and user.role is Role.MANAGER and [o.code for o in user.offices] == ["CM-NAMCAN"]
    assert user.password_hash.startswith("scrypt:") and "mật khẩu" not in user.password_hash
    db.rollback()  # end the read, so that the commands below may write (SQLite has one writer)
    again = runner.invoke(args=["users", "create", "hoa", "--role", "operator"])
    assert again.exit_code != 0 and "already exists" in again.output
    monkeypatch.setenv("PASSWORD", "short")
    assert runner.invoke(args=["users", "create", "lan", "--role", "operator"]).exit_code != 0


def test_demo_accounts_let_a_newcomer_sign_in_with_the_password_kept_in_the_instance(app: Flask,
                                                                                    tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["demo", "load"])
    made = runner.invoke(args=["demo", "accounts"])
    assert made.exit_code == 0, made.output
    password = (tmp_path / "instance" / "dev_console_password").read_text().strip()
    assert len(password) >= 10 and f"password {password}" in made.output
    assert "Demo accounts created: quantri, tongdai, namcan." in made.output
    again = runner.invoke(args=["demo", "accounts"])  # run.sh runs it at every start
    assert again.exit_code == 0 and "created" not in again.output and password in again.output
    client = app.test_client()
    for username in ("quantri", "tongdai", "namcan"):
        login = client.get("/console/login").get_data(as_text=True)
        token = login.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
        signed = client.post("/console/login", data={"csrf_token": token, "username": username,
                                                     "password": password}, follow_redirects=True)
        page = signed.get_data(as_text=True)
        assert signed.status_code == 200 and f"Đăng xuất ({username})" in page, username
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        assert client.post("/console/logout", data={"csrf_token": token}).status_code == 302


def test_demo_accounts_are_refused_in_production(engine: Engine, tmp_path: Path) -> None:
    settings = Settings(env="production", database_url=_url(engine), instance_path=tmp_path,
                        secret_key="p" * 32, twilio_auth_token="a" * 32)
    production = create_app(settings)
    refused = production.test_cli_runner().invoke(args=["demo", "accounts"])
    production.extensions["hotline"].engine.dispose()
    assert refused.exit_code != 0 and "development" in refused.output
    assert not (tmp_path / "dev_console_password").exists()


def test_offices_list_and_availability_commands(app: Flask) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["demo", "load"])
    listing = runner.invoke(args=["offices", "list"])
    assert "CM-DAMDOI" in listing.output and "xã Đầm Dơi" in listing.output
    # 2027-02-08 is in Tết: the command says so in Vietnamese.
    shown = runner.invoke(args=["offices", "availability", "CM-NAMCAN", "--from", "2027-02-08", "--days", "1"])
    assert shown.exit_code == 0, shown.output
    assert "Thứ Hai, 8 tháng 2, 2027: Nghỉ (Mùng ba Tết Nguyên Đán)" in shown.output
    missing = runner.invoke(args=["offices", "availability", "NOPE"])
    assert missing.exit_code != 0 and "NOPE" in missing.output


def test_index_page_is_vietnamese_by_default_and_english_on_request(app: Flask) -> None:
    app.test_cli_runner().invoke(args=["demo", "load"])
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="vi">' in page and "Trung tâm Phục vụ hành chính công xã Năm Căn" in page
    assert "Số chỗ còn lại" in page
    english = client.get("/?lang=en").get_data(as_text=True)
    assert "Seats left" in english and "Nam Can Commune Public Administration Service Centre" in english
    # The choice is remembered for the rest of the visit.
    assert "Seats left" in client.get("/").get_data(as_text=True)


def test_unknown_page_is_a_translated_404(app: Flask) -> None:
    response = app.test_client().get("/khong-co")
    assert response.status_code == 404 and "Không tìm thấy trang." in response.get_data(as_text=True)
    api = app.test_client().get("/api/nothing")
    assert api.status_code == 404 and api.get_json()["error"]["code"] == "not_found"


def test_healthz(app: Flask) -> None:
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_data(as_text=True) == "ok\n"


def test_migrations_go_down_and_up_again(engine: Engine) -> None:
    downgrade(engine, "base")
    from database.schema import current_revision, head_revision, upgrade

    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_migrations_match_the_models(engine: Engine) -> None:
    """Autogenerate finds nothing to do: every model change came with its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from database.base import Base

    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
    assert diff == []


