"""Security headers on every kind of answer: pages, the API's JSON, TwiML, errors, static files and metrics."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse
from werkzeug.wrappers import Response

from hotline.security import CONTENT_SECURITY_POLICY
from tests.console import login, make_staff
from tests.ivr_caller import Caller

TEMPLATES = Path(__file__).resolve().parents[2] / "hotline" / "templates"

EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@pytest.fixture
def client(make_app: Callable[..., Flask], db: Session) -> FlaskClient:
    make_staff(db)
    return make_app(twilio_auth_token="secret-token").test_client()


def assert_hardened(response: Response) -> None:
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives == {"default-src": "'self'", "script-src": "'self'", "style-src": "'self'",
                          "img-src": "'self' data:", "form-action": "'self'", "frame-ancestors": "'none'",
                          "base-uri": "'none'", "object-src": "'none'"}
    for name, value in EXPECTED.items():
        assert headers[name] == value, name
    assert "camera=()" in headers["Permissions-Policy"] and "microphone=()" in headers["Permissions-Policy"]


def test_console_pages_signed_out_and_in(client: FlaskClient, db: Session) -> None:
    db.rollback()
    login_page = client.get("/console/login?lang=en")
    assert login_page.status_code == 200 and login_page.mimetype == "text/html"
    assert_hardened(login_page)
    assert login(client, "hoa") == 302
    grid = client.get("/console/grid")
    assert grid.status_code == 200 and "Sign out" in grid.get_data(as_text=True)
    assert_hardened(grid)
    assert "Strict-Transport-Security" not in grid.headers  # not in testing


def test_public_page_error_page_static_file_and_metrics(client: FlaskClient, db: Session) -> None:
    db.rollback()
    for path, status in (("/", 200), ("/no-such-page", 404), ("/static/hotline.css", 200), ("/metrics", 200),
                         ("/healthz", 200)):
        with client.get(path) as response:  # a static file is streamed: close it
            assert response.status_code == status, path
            assert_hardened(response)


def test_api_json_and_its_errors(client: FlaskClient, db: Session) -> None:
    db.rollback()
    document = client.get("/api/v1/openapi.json")
    assert document.status_code == 200 and document.is_json
    assert_hardened(document)
    refused = client.get("/api/v1/offices")
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "unauthorised"
    assert_hardened(refused)


def _signed(client: FlaskClient, path: str, params: dict[str, str]) -> TestResponse:
    signature = RequestValidator("secret-token").compute_signature("http://localhost" + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def test_twiml_answers_status_callbacks_and_refusals(client: FlaskClient, db: Session) -> None:
    db.rollback()
    params = Caller(client, "secret-token")._params()
    answer = _signed(client, "/ivr/voice", params)
    assert answer.status_code == 200 and answer.mimetype == "text/xml" and b"<Gather" in answer.data
    assert_hardened(answer)
    ended = _signed(client, "/ivr/status", {**params, "CallStatus": "completed"})
    assert ended.status_code == 204
    assert_hardened(ended)
    forged = client.post("/ivr/voice", data=params, headers={"X-Twilio-Signature": "forged"})
    assert forged.status_code == 403
    assert_hardened(forged)


def test_strict_transport_security_only_in_production(make_app: Callable[..., Flask], db: Session) -> None:
    db.rollback()
    for env, expected in (("production", "max-age=63072000; includeSubDomains"), ("development", None)):
        response = make_app(env=env).test_client().get("/healthz")
        assert response.headers.get("Strict-Transport-Security") == expected, env
        assert_hardened(response)


# Inline code and styles the policy would block: <script> with a body, on…= handlers, style=…,
# <style> blocks and javascript: URLs.
_BLOCKED = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|\sstyle\s*=|<style[\s>]|javascript:",
                      re.IGNORECASE)


def test_no_template_needs_what_the_policy_forbids() -> None:
    offending = [f"{path.relative_to(TEMPLATES)}:{n}: {line.strip()}"
                 for path in sorted(TEMPLATES.rglob("*.html"))
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if _BLOCKED.search(line)]
    assert offending == []
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and "'unsafe-eval'" not in CONTENT_SECURITY_POLICY


def test_the_pages_added_for_the_public_desks_and_privacy_render_nothing_the_policy_forbids(
        client: FlaskClient, db: Session) -> None:
    """The templates pass the scan above; what they draw (QR codes in SVG, the hall's screen, forms) must too."""
    from booking import queue
    from booking.models import Office
    from tests.console import csrf
    from tests.factories import make_procedure

    office = db.scalars(select(Office).where(Office.code == "NAMCAN")).one()
    desk = queue.save_desk(db, office_id=office.id, number=1, name="Hộ tịch").id
    procedure = make_procedure(db, code="HT01")
    db.commit()
    office_id, procedure_id = office.id, procedure.id
    db.rollback()  # no read transaction left open: SQLite would keep the app from writing
    public = ["/privacy", "/offices/NAMCAN", "/offices/NAMCAN/qr-sheet", "/procedures/HT01", "/display/NAMCAN",
              "/display/NAMCAN?lang=en"]
    assert login(client, "hoa") == 302
    counter = f"/console/offices/{office_id}/desks/{desk}"
    walk_in = client.post(f"/console/offices/{office_id}/walk-ins", data={"csrf_token": csrf(client, counter),
                                                                         "desk_id": desk})
    assert walk_in.status_code == 302 and "/tickets/" in walk_in.location
    staff = [f"/console/offices/{office_id}/desks", counter, walk_in.location, f"/console/offices/{office_id}/settings"]
    pages = {path: client.get(path) for path in public + staff}
    client.post("/console/logout", data={"csrf_token": csrf(client, "/console/grid")})
    assert login(client, "admin") == 302
    token = csrf(client, "/console/admin/privacy")
    pages |= {path: client.get(path) for path in ("/console/admin/privacy", "/console/admin/procedures",
                                                 f"/console/admin/procedures/{procedure_id}")}
    pages |= {f"POST {path}": client.post(path, data={"csrf_token": token, "phone": "0912 345 678"})
              for path in ("/console/admin/privacy", "/console/admin/privacy/erase")}
    offending = {}
    for path, response in pages.items():
        assert response.status_code == 200, path
        assert_hardened(response)
        found = _BLOCKED.findall(response.get_data(as_text=True))
        if found:
            offending[path] = found
    assert offending == {}
