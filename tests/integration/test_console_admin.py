"""Administrators' console pages: offices, users, procedures and API tokens; who may open them; the audit trail."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.security import check_password_hash

from accounts.models import ApiToken, Role, User
from actions.models import AuditEntry
from booking.models import Office, OfficeLevel, Procedure, SessionTemplate
from tests.console import PASSWORD, csrf, login, signed_in
from tests.console import app as app, client as client, offices as offices

NEW_PASSWORD = "một mật khẩu mới khác"


@pytest.fixture
def admin(client: FlaskClient, offices: tuple[int, int]) -> FlaskClient:
    return signed_in(client, "admin")


def _fetch(db: Session, query: Select[Any]) -> list[Any]:
    """Rows as the app committed them, detached, with no transaction left open (SQLite would lock the app out)."""
    db.rollback()
    db.expire_all()  # what make_staff added stays in the identity map otherwise, as it was then
    rows = list(db.scalars(query))
    db.expunge_all()
    db.rollback()
    return rows


def _audit(db: Session, action: str) -> list[AuditEntry]:
    return _fetch(db, select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))


def _admin_rules(app: Flask) -> list[tuple[str, str]]:
    """Every administrators' URL with the methods it answers, ids filled with 1."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("console.admin_"):
            url = re.sub(r"<(?:\w+:)?(\w+)>", "1", rule.rule)
            found += [(method, url) for method in sorted(rule.methods or ()) if method in ("GET", "POST")]
    return found


# -- offices ---------------------------------------------------------------------------------------

def test_admin_creates_an_office_with_weekday_hours_and_edits_it(admin: FlaskClient, db: Session) -> None:
    token = csrf(admin, "/console/admin/offices/new")
    response = admin.post("/console/admin/offices/new", data={
        "csrf_token": token, "code": "cm-tanthanh", "name": "Bộ phận Một cửa phường Tân Thành", "level": "commune",
        "keypad_number": "7", "address": "Phường Tân Thành", "phone": "0290 3567 891", "active": "y",
        "morning": "7h00 - 11h30", "morning_capacity": "20", "afternoon": "", "afternoon_capacity": ""})
    assert response.status_code == 302
    (office,) = _fetch(db, select(Office).where(Office.code == "CM-TANTHANH"))
    assert (office.keypad_number, office.level, office.active, office.phone) == (7, OfficeLevel.COMMUNE, True,
                                                                                 "+842903567891")
    templates = _fetch(db, select(SessionTemplate).where(SessionTemplate.office_id == office.id))
    assert sorted(t.weekday for t in templates) == [0, 1, 2, 3, 4]
    assert {(t.code, t.start_time.isoformat("minutes"), t.end_time.isoformat("minutes"), t.capacity)
            for t in templates} == {("S", "07:00", "11:30", 20)}
    (created,) = _audit(db, "office.create")
    assert created.actor == "user:admin" and created.office_id == office.id
    assert created.after is not None and created.after["code"] == "CM-TANTHANH" and created.after["week"][0]["capacity"] == 20

    listing = admin.get("/console/admin/offices").get_data(as_text=True)
    assert "CM-TANTHANH" in listing and "Mon–Fri S 07:00–11:30 (20)" in listing

    token = csrf(admin, f"/console/admin/offices/{office.id}")
    response = admin.post(f"/console/admin/offices/{office.id}", data={
        "csrf_token": token, "code": "CM-TANTHANH", "name": "Trung tâm phường Tân Thành", "level": "commune",
        "keypad_number": "8", "address": "Phường Tân Thành", "phone": ""})  # no "active": it stops taking bookings
    assert response.status_code == 302
    (updated,) = _audit(db, "office.update")
    assert updated.before is not None and updated.after is not None
    assert (updated.before["active"], updated.after["active"]) == (True, False)
    assert (updated.before["keypad_number"], updated.after["keypad_number"]) == (7, 8)
    (office,) = _fetch(db, select(Office).where(Office.id == office.id))
    assert office.name == "Trung tâm phường Tân Thành" and office.phone is None


def test_office_codes_and_menu_numbers_stay_unique(admin: FlaskClient, db: Session,
                                                   offices: tuple[int, int]) -> None:
    mine, _ = offices
    token = csrf(admin, "/console/admin/offices/new")
    page = admin.post("/console/admin/offices/new", data={
        "csrf_token": token, "code": "NAMCAN", "name": "Trùng mã", "level": "commune", "active": "y"})
    assert page.status_code == 200 and "another office has the code NAMCAN" in page.get_data(as_text=True)
    token = csrf(admin, f"/console/admin/offices/{mine}")
    admin.post("/console/admin/offices/new", data={"csrf_token": token, "code": "NEW1", "name": "Một",
                                                   "level": "commune", "keypad_number": "3"})
    page = admin.post(f"/console/admin/offices/{mine}", data={
        "csrf_token": token, "code": "NAMCAN", "name": "Năm Căn", "level": "commune", "keypad_number": "3"})
    assert page.status_code == 200 and "keypad number 3 already picks office NEW1" in page.get_data(as_text=True)
    assert _fetch(db, select(Office.keypad_number).where(Office.id == mine)) == [None]
    assert [e.target_id for e in _audit(db, "office.create")] == [
        str(i) for i in _fetch(db, select(Office.id).where(Office.code == "NEW1"))]
    assert _audit(db, "office.update") == []


# -- users -----------------------------------------------------------------------------------------

def test_admin_creates_a_manager_who_sees_only_their_office(admin: FlaskClient, app: Flask, db: Session,
                                                            offices: tuple[int, int]) -> None:
    mine, other = offices
    token = csrf(admin, "/console/admin/users/new")
    response = admin.post("/console/admin/users/new", data={
        "csrf_token": token, "username": "minh", "display_name": "Trần Minh", "role": "manager",
        "offices": ["DAMDOI"], "password": PASSWORD})
    assert response.status_code == 302
    (user,) = _fetch(db, select(User).where(User.username == "minh").options(selectinload(User.offices)))
    assert user.role is Role.MANAGER and [o.code for o in user.offices] == ["DAMDOI"]
    assert check_password_hash(user.password_hash, PASSWORD) and PASSWORD not in user.password_hash
    (created,) = _audit(db, "user.create")
    assert created.target_id == "minh" and created.after == {
        "username": "minh", "display_name": "Trần Minh", "role": "manager", "active": True, "offices": ["DAMDOI"]}
    assert "password" not in str(created.after) and "pbkdf2" not in str(created.after)

    manager = app.test_client()
    assert login(manager, "minh") == 302
    assert manager.get("/console/").headers["Location"].endswith(f"/console/offices/{other}/roster")
    assert manager.get(f"/console/offices/{other}/roster").status_code == 200
    assert manager.get(f"/console/offices/{mine}/roster").status_code == 403

    token = csrf(admin, f"/console/admin/users/{user.id}")
    admin.post(f"/console/admin/users/{user.id}/offices", data={"csrf_token": token, "offices": ["NAMCAN"]})
    (moved,) = _audit(db, "user.offices")
    assert moved.before is not None and moved.after is not None
    assert (moved.before["offices"], moved.after["offices"]) == (["DAMDOI"], ["NAMCAN"])
    assert manager.get(f"/console/offices/{mine}/roster").status_code == 200  # read afresh on every request
    assert manager.get(f"/console/offices/{other}/roster").status_code == 403


def test_admin_resets_a_password_and_deactivates_a_user(admin: FlaskClient, app: Flask, db: Session) -> None:
    (lan,) = _fetch(db, select(User).where(User.username == "lan"))
    token = csrf(admin, f"/console/admin/users/{lan.id}")
    short = admin.post(f"/console/admin/users/{lan.id}/password", data={"csrf_token": token, "password": "ngắn"})
    assert short.status_code == 422 and _audit(db, "user.password_reset") == []
    assert admin.post(f"/console/admin/users/{lan.id}/password",
                      data={"csrf_token": token, "password": NEW_PASSWORD}).status_code == 302
    (reset,) = _audit(db, "user.password_reset")
    assert reset.target_id == "lan" and "pbkdf2" not in str(reset.after) and NEW_PASSWORD not in str(reset.after)
    operator = app.test_client()
    assert login(operator, "lan", PASSWORD) == 200  # the old password no longer works
    assert login(operator, "lan", NEW_PASSWORD) == 302
    assert operator.get("/console/grid").status_code == 200

    admin.post(f"/console/admin/users/{lan.id}/deactivate", data={"csrf_token": token})
    (off,) = _audit(db, "user.deactivate")
    assert off.before is not None and off.after is not None
    assert (off.before["active"], off.after["active"]) == (True, False)
    assert operator.get("/console/grid").status_code == 302  # signed out at once
    assert login(app.test_client(), "lan", NEW_PASSWORD) == 200

    admin.post(f"/console/admin/users/{lan.id}/reactivate", data={"csrf_token": token})
    assert len(_audit(db, "user.reactivate")) == 1
    assert login(app.test_client(), "lan", NEW_PASSWORD) == 302


def test_an_administrator_cannot_deactivate_themself(admin: FlaskClient, db: Session) -> None:
    (me,) = _fetch(db, select(User).where(User.username == "admin"))
    token = csrf(admin, "/console/admin/users")
    response = admin.post(f"/console/admin/users/{me.id}/deactivate", data={"csrf_token": token},
                          follow_redirects=True)
    assert response.status_code == 200
    assert "you cannot deactivate your own account" in response.get_data(as_text=True)
    assert _fetch(db, select(User.active).where(User.id == me.id)) == [True]
    assert _audit(db, "user.deactivate") == []


@pytest.mark.parametrize("fields", [
    {"username": "Có Dấu", "role": "operator"},  # not a user name
    {"username": "lan", "role": "operator"},  # taken
    {"username": "vy", "role": "manager"},  # a manager without an office
    {"username": "vy", "role": "manager", "offices": ["NOWHERE"]},  # no such office
    {"username": "vy", "role": "superuser"},  # no such role
    {"username": "vy", "role": "operator", "password": "short"},
])
def test_invalid_users_are_refused_with_a_message(admin: FlaskClient, db: Session, fields: dict[str, object]) -> None:
    token = csrf(admin, "/console/admin/users/new")
    data = {"csrf_token": token, "password": PASSWORD} | fields
    response = admin.post("/console/admin/users/new", data=data)
    assert response.status_code == 200
    assert 'class="flash error"' in response.get_data(as_text=True)
    assert _fetch(db, select(User.id).where(User.username == "vy")) == []
    assert _audit(db, "user.create") == []


# -- procedures ------------------------------------------------------------------------------------

def test_admin_adds_and_edits_a_procedure(admin: FlaskClient, db: Session, offices: tuple[int, int]) -> None:
    mine, _ = offices
    token = csrf(admin, "/console/admin/procedures/new")
    neither = admin.post("/console/admin/procedures/new", data={
        "csrf_token": token, "code": "HT-CAIHOTEN", "field": "Hộ tịch", "name": "Thay đổi họ tên", "active": "y"})
    assert neither.status_code == 200 and "handled at the province, at communes, or both" in neither.get_data(
        as_text=True)
    assert admin.post("/console/admin/procedures/new", data={
        "csrf_token": token, "code": "ht-caihoten", "field": "Hộ tịch", "name": "Thay đổi, cải chính họ tên",
        "name_en": "Change of name", "at_commune": "y", "active": "y"}).status_code == 302
    (procedure,) = _fetch(db, select(Procedure).where(Procedure.code == "HT-CAIHOTEN"))
    assert (procedure.at_commune, procedure.at_province, procedure.active) == (True, False, True)
    (created,) = _audit(db, "procedure.create")
    assert created.after is not None and created.after["name"] == "Thay đổi, cải chính họ tên"
    assert "Thay đổi, cải chính họ tên" in admin.get(f"/console/book/{mine}/2027-03-02/S").get_data(as_text=True)

    token = csrf(admin, f"/console/admin/procedures/{procedure.id}")
    assert admin.post(f"/console/admin/procedures/{procedure.id}", data={
        "csrf_token": token, "code": "HT-CAIHOTEN", "field": "Hộ tịch", "name": "Thay đổi, cải chính họ tên",
        "at_commune": "y"}).status_code == 302  # no "active": withdrawn
    (updated,) = _audit(db, "procedure.update")
    assert updated.before is not None and updated.after is not None
    assert (updated.before["active"], updated.after["active"]) == (True, False)
    assert "Thay đổi, cải chính họ tên" not in admin.get(f"/console/book/{mine}/2027-03-02/S").get_data(as_text=True)


# -- API tokens ------------------------------------------------------------------------------------

def test_a_token_made_in_the_console_opens_the_api_until_revoked(admin: FlaskClient, app: Flask,
                                                                 db: Session) -> None:
    token = csrf(admin, "/console/admin/tokens")
    response = admin.post("/console/admin/tokens", data={"csrf_token": token, "name": "portal", "role": "operator"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    found = re.search(r'class="token-secret">(hl_[A-Za-z0-9_-]+)<', response.get_data(as_text=True))
    assert found
    secret = found.group(1)
    (stored,) = _fetch(db, select(ApiToken))
    assert stored.name == "portal" and stored.role is Role.OPERATOR and stored.created_by == "user:admin"
    assert secret not in stored.token_hash and secret.startswith(stored.prefix)
    assert secret not in admin.get("/console/admin/tokens").get_data(as_text=True)  # shown once only
    (created,) = _audit(db, "token.create")
    assert created.after == {"name": "portal", "role": "operator", "prefix": stored.prefix}

    api = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    answer = api.get("/api/v1/offices", headers=headers)
    assert answer.status_code == 200 and {o["code"] for o in answer.get_json()["offices"]} == {"NAMCAN", "DAMDOI"}
    assert _fetch(db, select(ApiToken.last_used_at.is_not(None))) == [True]
    assert "Never" not in admin.get("/console/admin/tokens").get_data(as_text=True)

    admin.post(f"/console/admin/tokens/{stored.id}/revoke", data={"csrf_token": token})
    (revoked,) = _audit(db, "token.revoke")
    assert revoked.before is not None and revoked.after is not None
    assert revoked.before["revoked_at"] is None and revoked.after["revoked_at"] is not None
    assert api.get("/api/v1/offices", headers=headers).status_code == 401


def test_a_token_needs_a_unique_name(admin: FlaskClient, db: Session) -> None:
    token = csrf(admin, "/console/admin/tokens")
    assert admin.post("/console/admin/tokens", data={"csrf_token": token, "name": "portal", "role": "admin"}).status_code == 200
    again = admin.post("/console/admin/tokens", data={"csrf_token": token, "name": "portal", "role": "admin"})
    assert again.status_code == 422 and "hl_" not in again.get_data(as_text=True).split("<table")[0]
    empty = admin.post("/console/admin/tokens", data={"csrf_token": token, "name": "", "role": "admin"})
    assert empty.status_code == 422
    assert _fetch(db, select(ApiToken.name)) == ["portal"]


# -- who may ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("username", ["lan", "hoa"])
def test_operators_and_managers_get_403_on_every_admin_page(app: Flask, client: FlaskClient, db: Session,
                                                            offices: tuple[int, int], username: str) -> None:
    rules = _admin_rules(app)
    assert ("GET", "/console/admin/offices") in rules and ("POST", "/console/admin/tokens/1/revoke") in rules
    login(client, username)
    token = csrf(client, "/console/lookup")  # the sign-out form on every page carries one
    for method, url in rules:
        if method == "GET":
            assert client.get(url).status_code == 403, url
        else:
            assert client.post(url, data={"csrf_token": token, "name": "x", "password": "x" * 12}).status_code == 403, url
    assert _fetch(db, select(AuditEntry)) == [] and _fetch(db, select(ApiToken)) == []


def test_every_admin_form_needs_its_csrf_token(app: Flask, admin: FlaskClient, db: Session) -> None:
    posts = [url for method, url in _admin_rules(app) if method == "POST"]
    assert len(posts) >= 10
    for url in posts:
        assert admin.post(url, data={"name": "x", "code": "XX", "password": "x" * 12}).status_code == 400, url
    assert _fetch(db, select(AuditEntry)) == []


def test_admin_pages_list_what_exists(admin: FlaskClient, offices: tuple[int, int]) -> None:
    assert "xã Đầm Dơi" in admin.get("/console/admin/offices").get_data(as_text=True)
    users = admin.get("/console/admin/users").get_data(as_text=True)
    assert all(name in users for name in ("lan", "hoa", "admin")) and "Office manager" in users
    assert admin.get("/console/admin/users/99999").status_code == 404
    assert admin.get("/console/admin/offices/99999").status_code == 404
    assert admin.get("/console/admin/procedures/99999").status_code == 404
