"""Signing in under attack: throttling per user and address, concurrent guesses, unknown names, reset passwords;
sessions that end on the server (sign-out, a reset, deactivation), whoever holds a copy of the cookie."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import TooManyRequests

import hotline.auth
from accounts.models import LoginAttempt, User
from hotline.auth import MAX_FAILURES_PER_ADDRESS, MAX_FAILURES_PER_USER, check_password
from tests.console import PASSWORD, csrf, login, signed_in
from tests.console import app as app, client as client, offices as offices

NEW_PASSWORD = "một mật khẩu mới khác"
WRONG = "sai mật khẩu"


def _from(app: Flask, address: str) -> FlaskClient:
    """A browser at `address`, as the app sees it (behind trusted proxies, the forwarded address)."""
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    return browser


class HashChecks:
    """Counts the password checks made, and makes each one slow enough for concurrent requests to overlap."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay
        self._lock = threading.Lock()
        self._real: Callable[[str, str], bool] = hotline.auth.check_password_hash

    def __call__(self, pwhash: str, password: str) -> bool:
        with self._lock:
            self.calls += 1
        time.sleep(self.delay)  # widens the window between reading the count and recording the failure
        return self._real(pwhash, password)


@pytest.fixture
def hash_checks(monkeypatch: pytest.MonkeyPatch) -> HashChecks:
    checks = HashChecks()
    monkeypatch.setattr(hotline.auth, "check_password_hash", checks)
    return checks


def test_failures_from_one_address_do_not_lock_the_account_out_elsewhere(
        app: Flask, db: Session, offices: tuple[int, int]) -> None:
    db.rollback()
    attacker, owner = _from(app, "203.0.113.7"), _from(app, "198.51.100.20")
    for _ in range(MAX_FAILURES_PER_USER):
        assert login(attacker, "admin", WRONG) == 200
    assert login(attacker, "admin") == 429  # the guesser's address waits, even with the right password
    assert login(owner, "admin") == 302  # the administrator, elsewhere, still signs in
    assert owner.get("/console/grid").status_code == 200


def test_an_ipv6_guesser_cannot_escape_the_count_by_changing_address_within_its_64(
        app: Flask, db: Session, offices: tuple[int, int]) -> None:
    db.rollback()
    for n in range(MAX_FAILURES_PER_USER):
        assert login(_from(app, f"2001:db8:1:2::{n + 1:x}"), "admin", WRONG) == 200
    assert login(_from(app, "2001:db8:1:2:ffff::1"), "admin") == 429  # the same /64
    assert login(_from(app, "2001:db8:1:3::1"), "admin") == 302  # the next network is somebody else


def test_an_address_guessing_many_names_is_throttled_for_every_name(
        app: Flask, db: Session, offices: tuple[int, int]) -> None:
    db.rollback()
    attacker = _from(app, "203.0.113.7")
    names = ["lan", "hoa", "admin", "khong-ai"]
    for i in range(MAX_FAILURES_PER_ADDRESS):
        assert login(attacker, names[i % len(names)], WRONG) == 200
    assert login(attacker, "hoa") == 429
    assert login(_from(app, "198.51.100.20"), "hoa") == 302


def test_concurrent_wrong_passwords_check_no_more_than_the_limit(
        app: Flask, db: Session, offices: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    db.rollback()
    checks = HashChecks(delay=0.05)
    monkeypatch.setattr(hotline.auth, "check_password_hash", checks)
    attempts = 40
    start = threading.Barrier(attempts)
    outcomes: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def guess() -> None:
        try:
            with app.app_context():
                start.wait()
                try:
                    outcome = "signed in" if check_password("admin", WRONG, "203.0.113.7") else "refused"
                except TooManyRequests:
                    outcome = "throttled"
            with lock:
                outcomes.append(outcome)
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=guess) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # However the attempts interleave, no more than the limit get a password checked; the rest wait.
    tried = checks.calls
    assert tried <= MAX_FAILURES_PER_USER
    assert sorted(outcomes) == sorted(["refused"] * tried + ["throttled"] * (attempts - tried))
    db.rollback()
    assert db.scalar(select(func.count()).select_from(LoginAttempt)) == tried  # the throttled are not kept
    db.rollback()
    # One at a time afterwards: exactly the rest of the allowance, then the wait.
    with app.app_context():
        for _ in range(MAX_FAILURES_PER_USER - tried):
            assert check_password("admin", WRONG, "203.0.113.7") is None
        with pytest.raises(TooManyRequests):
            check_password("admin", PASSWORD, "203.0.113.7")
    assert checks.calls == MAX_FAILURES_PER_USER


def test_an_unknown_user_name_costs_a_password_check_like_a_known_one(
        client: FlaskClient, offices: tuple[int, int], hash_checks: HashChecks) -> None:
    assert login(client, "khong-ai", WRONG) == 200
    assert hash_checks.calls == 1  # against a stand-in hash: the answer's timing does not tell the name exists
    assert login(client, "lan", WRONG) == 200
    assert hash_checks.calls == 2


def test_an_unknown_name_never_signs_in_whatever_the_password(app: Flask, db: Session,
                                                             offices: tuple[int, int]) -> None:
    db.rollback()
    with app.app_context():
        assert check_password("khong-ai", "", "203.0.113.7") is None
        assert check_password("khong-ai", PASSWORD, "203.0.113.7") is None


def test_a_successful_sign_in_is_not_counted_as_a_failure(client: FlaskClient, db: Session,
                                                          offices: tuple[int, int]) -> None:
    for _ in range(MAX_FAILURES_PER_USER + 1):
        assert login(client, "lan") == 302
    db.rollback()
    assert db.scalar(select(func.count()).select_from(LoginAttempt)) == 0


def test_resetting_a_password_signs_out_the_sessions_made_with_the_old_one(
        app: Flask, db: Session, offices: tuple[int, int]) -> None:
    db.rollback()
    admin = signed_in(_from(app, "198.51.100.1"), "admin")
    operator = signed_in(_from(app, "198.51.100.2"), "lan")
    assert operator.get("/console/grid").status_code == 200
    lan_id = _user_id(db, "lan")
    token = csrf(admin, f"/console/admin/users/{lan_id}")
    assert admin.post(f"/console/admin/users/{lan_id}/password",
                      data={"csrf_token": token, "password": NEW_PASSWORD}).status_code == 302
    signed_out = operator.get("/console/grid")
    assert signed_out.status_code == 302 and "/console/login" in signed_out.headers["Location"]
    assert admin.get("/console/grid").status_code == 200  # the administrator's own session is untouched
    assert login(operator, "lan", NEW_PASSWORD) == 302
    assert operator.get("/console/grid").status_code == 200


def test_a_session_of_the_old_form_without_a_fingerprint_is_refused(
        app: Flask, db: Session, offices: tuple[int, int]) -> None:
    db.rollback()
    browser = signed_in(app.test_client(), "lan")
    with browser.session_transaction() as session:
        session["_user_id"] = "user:lan"
    assert browser.get("/console/grid").status_code == 302


def _copy_of(app: Flask, browser: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of `browser`'s session cookie (from the same address and browser
    make, so that Flask-Login's session protection alone would not notice)."""
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = browser.get_cookie(name)
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie(name, cookie.value)
    return thief


def _signed_out(browser: FlaskClient) -> bool:
    """The console sends `browser` to the sign-in page, and the API answers it 401."""
    page = browser.get("/console/grid")
    return (page.status_code == 302 and "/console/login" in page.headers["Location"]
            and browser.get("/api/v1/offices").status_code == 401)


def _sign_out(browser: FlaskClient) -> None:
    response = browser.post("/console/logout", data={"csrf_token": csrf(browser, "/console/grid")})
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_a_cookie_copied_before_sign_out_opens_nothing_after_it(app: Flask, db: Session,
                                                                 offices: tuple[int, int]) -> None:
    """Guards against sign-out only forgetting the cookie in the browser that signed out: the signed
    cookie kept working for a copy (shared desk, proxy log) for the rest of the working day."""
    db.rollback()
    desk = signed_in(app.test_client(), "lan")
    copy = _copy_of(app, desk)
    assert copy.get("/console/grid").status_code == 200  # the copy is as good as the original...
    assert copy.get("/api/v1/offices").status_code == 200
    _sign_out(desk)
    assert _signed_out(copy)  # ...until the owner signs out: then pages and the API both refuse it
    assert _signed_out(desk)


def test_after_signing_out_the_user_signs_in_again_and_the_old_copy_stays_refused(
        app: Flask, db: Session, offices: tuple[int, int]) -> None:
    """Guards that ending sessions on the server does not lock the user out, nor revive an old copy."""
    db.rollback()
    home = signed_in(app.test_client(), "lan")
    copy = _copy_of(app, home)
    _sign_out(home)
    assert login(home, "lan") == 302
    assert home.get("/console/grid").status_code == 200
    assert home.get("/api/v1/offices").status_code == 200
    assert _signed_out(copy)


def test_a_reset_password_also_ends_a_copied_session(app: Flask, db: Session, offices: tuple[int, int]) -> None:
    """Guards that a password reset ends every existing session of the user, copies included."""
    db.rollback()
    admin = signed_in(_from(app, "198.51.100.1"), "admin")
    copy = _copy_of(app, signed_in(app.test_client(), "lan"))
    lan_id = _user_id(db, "lan")
    assert admin.post(f"/console/admin/users/{lan_id}/password", data={
        "csrf_token": csrf(admin, f"/console/admin/users/{lan_id}"), "password": NEW_PASSWORD}).status_code == 302
    assert _signed_out(copy)


def test_a_deactivated_user_stays_signed_out_when_reactivated(app: Flask, db: Session,
                                                              offices: tuple[int, int]) -> None:
    """Guards that deactivation ends sessions for good: before, reactivating the account brought a
    session from before the deactivation (or a copy of its cookie) back to life."""
    db.rollback()
    admin = signed_in(_from(app, "198.51.100.1"), "admin")
    operator = signed_in(app.test_client(), "lan")
    lan_id = _user_id(db, "lan")
    for action in ("deactivate", "reactivate"):
        assert admin.post(f"/console/admin/users/{lan_id}/{action}",
                          data={"csrf_token": csrf(admin, "/console/admin/users")}).status_code == 302
    assert _signed_out(operator)
    assert login(operator, "lan") == 302  # reactivated: a new sign-in works
    assert operator.get("/console/grid").status_code == 200


def test_ordinary_use_and_other_peoples_sign_outs_keep_the_session(app: Flask, db: Session,
                                                                   offices: tuple[int, int]) -> None:
    """Guards against ending sessions too eagerly: pages, forms and the API keep the session, and
    another user signing out, or the same user's sign-in elsewhere, ends nothing of it."""
    db.rollback()
    operator = signed_in(app.test_client(), "lan")
    for path in ("/console/grid", "/console/lookup", "/api/v1/offices", "/console/grid"):
        assert operator.get(path).status_code == 200, path
    assert login(app.test_client(), "lan") == 302  # the same user at a second desk
    other = signed_in(_from(app, "198.51.100.1"), "admin")
    _sign_out(other)
    assert operator.get("/console/grid").status_code == 200
    assert operator.get("/api/v1/offices").status_code == 200


def test_signing_out_takes_a_post_with_the_csrf_token(app: Flask, db: Session, offices: tuple[int, int]) -> None:
    """Guards that no link, image or cross-site form can sign a user out (and end their other sessions):
    a GET is not allowed, a POST without the token is refused and leaves the session as it was."""
    db.rollback()
    operator = signed_in(app.test_client(), "lan")
    assert operator.get("/console/logout").status_code == 405
    assert operator.post("/console/logout").status_code == 400
    assert operator.post("/console/logout", data={"csrf_token": "not-the-token"}).status_code == 400
    assert operator.get("/console/grid").status_code == 200
    assert db.scalar(select(User.session_version).where(User.username == "lan")) == 0
    db.rollback()


@pytest.mark.parametrize("user_id", ["user:lan:", "user::abc", "user:lan:x:y", "user:lan:0:", "user:" + "a" * 500])
def test_a_malformed_session_id_is_signed_out_not_a_server_error(
        app: Flask, db: Session, offices: tuple[int, int], user_id: str) -> None:
    """Guards that the loader refuses, rather than fails on, a session id it did not issue."""
    db.rollback()
    browser = signed_in(app.test_client(), "lan")
    with browser.session_transaction() as session:
        session["_user_id"] = user_id
    assert _signed_out(browser)


def _user_id(db: Session, username: str) -> Any:
    user_id = db.scalar(select(User.id).where(User.username == username))
    db.rollback()
    return user_id
