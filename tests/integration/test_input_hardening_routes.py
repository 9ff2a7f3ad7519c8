"""Every route of the app, walked from the URL map: odd text in its path, its query and its forms is a 4xx (or a
page), never a 500; console routes want a sign-in, the administrators' pages an administrator, an office's pages
its own staff, and every console POST the CSRF token. A route added later is walked too: one with a path
parameter not named in SAMPLES fails until it is given a sample."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.routing import IntegerConverter, Rule

from booking import queue
from tests.console import app as app, client as client, offices as offices, signed_in
from tests.console import csrf
from tests.factories import make_procedure
from tests.integration.test_input_hardening import UNBOUNDED_IDS

PARAMETER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
# A value of each text parameter in a path that reaches the view (other parameters then take the odd values).
SAMPLES = {"day": "2027-03-02", "date": "2027-03-02", "session": "S", "code": "NAMCAN", "operation": "call",
           "verb": "accept",
           "message_id": "1", "token": "0" * 32, "language": "vi", "key": "welcome", "filename": "hotline.css"}
# Odd text, percent-encoded as a client would send it: NUL, a lone surrogate (UTF-8 of U+D800), a right-to-left
# override, a superscript two (a digit to str.isdigit, not to int), bytes that are not UTF-8, a fullwidth digit,
# 10,000 characters, a dot segment, a number past 64 bits.
ODD = ("%00", "%ED%A0%80", "%E2%80%AE", "%C2%B2", "%FF%FE", "%EF%BC%91", "x" * 10_000, "..", "9" * 25)
NOT_WALKED = {"static", "public.readyz"}  # files from disk, Werkzeug's own; a 503 until the scheduler runs


def _rules(app: Flask) -> list[Rule]:
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint not in NOT_WALKED]


def _bounded(app: Flask) -> list[Rule]:
    """The rules but those whose ids are still unbounded (a 500 past 32 bits: test_input_hardening.UNBOUNDED_IDS)."""
    return [rule for rule in _rules(app) if rule.rule not in UNBOUNDED_IDS]


def _numeric(app: Flask, conv: str) -> bool:
    return bool(conv) and issubclass(app.url_map.converters[conv], IntegerConverter)


def _path(app: Flask, rule: Rule, ids: dict[str, int], odd: tuple[str, str] | None = None) -> str:
    """The rule's path with its numbers from `ids` (1 for the rest) and its text from SAMPLES, except the
    parameter `odd` names, which takes the odd value."""
    def value(match: re.Match[str]) -> str:
        conv, name = match.groups()
        if odd is not None and name == odd[0]:
            return odd[1]
        if _numeric(app, conv):
            return str(ids.get(name, 1))
        assert name in SAMPLES, f"{rule.rule}: give SAMPLES a value of <{name}>"
        return SAMPLES[name]

    return PARAMETER.sub(value, rule.rule)


def _methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def _send(client: FlaskClient, method: str, path: str, body: str = "") -> int:
    return client.open(path, method=method, data=body.encode("latin-1") if body else None,
                       content_type="application/x-www-form-urlencoded").status_code


def _server_errors(client: FlaskClient, requests: list[tuple[str, str, str]]) -> list[str]:
    """The requests answered with a 5xx, each as method, path and body (without the CSRF token), shortened."""
    failed = []
    for method, path, body in requests:
        status = _send(client, method, path, body)
        if status >= 500:
            shown = "&".join(part for part in body.split("&") if not part.startswith("csrf_token="))
            failed.append(f"{status} {method} {path[:120]} {shown[:200]}")
    return failed


@pytest.fixture
def ids(offices: tuple[int, int], db: Session) -> dict[str, int]:
    """Ids that reach the views: Năm Căn (hoa's) with a desk, a procedure."""
    mine, _ = offices
    desk = queue.save_desk(db, office_id=mine, number=1, name="Hộ tịch").id
    procedure = make_procedure(db).id
    db.commit()
    return {"office_id": mine, "desk_id": desk, "procedure_id": procedure}


def test_every_route_walked_with_odd_text_in_its_path_and_query_answers_without_a_500(
        app: Flask, client: FlaskClient, ids: dict[str, int]) -> None:
    signed_in(client, "admin")  # every role check passes: the odd text reaches the views
    token = csrf(client, "/console/lookup")
    requests: list[tuple[str, str, str]] = []
    for rule in _bounded(app):
        names = [name for _conv, name in PARAMETER.findall(rule.rule)]
        for method in _methods(rule):
            body = urlencode({"csrf_token": token}) if method != "GET" else ""
            for name in names:
                requests.extend((method, _path(app, rule, ids, (name, odd)), body) for odd in ODD)
            plain = _path(app, rule, ids)
            for odd in ODD:
                query = "&".join(f"{arg}={odd}" for arg in ("lang", "desk", "date", "phone", "office_id", "m",
                                                             "SMSID", "SendStatus", "before", "page"))
                requests.append((method, f"{plain}?{query}", body))
    assert len(requests) > 1000, len(requests)
    assert _server_errors(client, requests) == []
    assert _server_errors(client.application.test_client(), requests) == []  # and signed out


# -- the forms of the pages added for desks, privacy, procedures and the settings ------------------------------

class _Forms(HTMLParser):
    """Each POST form of a page: its action and its fields' names and values (fields outside it by form=)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self.by_id: dict[str, dict[str, str]] = {}
        self.open: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            if a.get("method", "get").lower() == "post":
                self.open = {}
                self.forms.append((a.get("action", ""), self.open))
                if "id" in a:
                    self.by_id[a["id"]] = self.open
            return
        if tag in ("input", "select", "textarea", "button") and a.get("name"):
            target = self.by_id.get(a["form"]) if "form" in a else self.open
            if target is not None:
                target.setdefault(a["name"], a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.open = None


OTHER_DIGITS = "%C2%B2"  # '²': a digit to str.isdigit(), not to int()


def test_desk_ids_in_other_digits_are_refused(client: FlaskClient, ids: dict[str, int], db: Session) -> None:
    signed_in(client, "hoa")
    office, desk = ids["office_id"], ids["desk_id"]
    token = csrf(client, f"/console/offices/{office}/desks/{desk}")
    walk_in = client.post(f"/console/offices/{office}/walk-ins", data={"csrf_token": token, "desk_id": desk})
    assert walk_in.status_code == 302 and "/tickets/" in walk_in.location
    answers = {path: client.post(path, data={"csrf_token": token, field: "\u00b2"}).status_code
               for path, field in ((f"/console/offices/{office}/desks", "desk_id"),
                                   (f"/console/offices/{office}/desks/{desk}/transfer", "to_desk"),
                                   (f"/console/offices/{office}/walk-ins", "desk_id"))}
    answers["ticket"] = client.get(walk_in.location.split("?")[0] + f"?desk={OTHER_DIGITS}").status_code
    assert {path: status for path, status in answers.items() if status >= 500} == {}


PAGES = ("/console/offices/{office_id}/desks", "/console/offices/{office_id}/desks/{desk_id}",
         "/console/offices/{office_id}/settings", "/console/admin/privacy", "/console/admin/procedures/new",
         "/console/admin/procedures/{procedure_id}", "/console/campaigns/new")
ODD_FIELDS = ("%00", "%ED%A0%80", "%E2%80%AE%E2%80%8F", "%C2%B2", "%FF", "x" * 10_000, "-1", "9" * 25, "1.5", "")


def test_every_field_of_the_new_pages_forms_takes_odd_text_without_a_500(client: FlaskClient,
                                                                         ids: dict[str, int]) -> None:
    signed_in(client, "admin")
    requests: list[tuple[str, str, str]] = []
    for page in PAGES:
        response = client.get(page.format(**ids))
        assert response.status_code == 200, page
        parser = _Forms()
        parser.feed(response.get_data(as_text=True))
        assert parser.forms, page
        for action, fields in parser.forms:
            for name in fields:
                if name.endswith("csrf_token"):
                    continue
                for odd in ODD_FIELDS:
                    body = "&".join(f"{k}={odd if k == name else v}" for k, v in
                                    (urlencode({k: v}).split("=", 1) for k, v in fields.items()))
                    requests.append(("POST", action or page.format(**ids), body))
                requests.append(("POST", action or page.format(**ids), urlencode(fields) + f"&{name}=second"))
    assert len(requests) > 200, len(requests)
    assert _server_errors(client, requests) == []


# Forms posted from a page this walk does not reach (a preview, a confirmation) or with fields their page adds by script.
POSTED = {
    "/console/offices/{office_id}/settings/over": {"day": "2027-03-02", "code": "S", "reason": "Bão",
                                                  "disposition": "move", "confirm": "1", "expect": "abc"},
    "/console/offices/{office_id}/desks/{desk_id}/transfer": {"to_desk": "{desk_id}"},
    "/console/offices/{office_id}/walk-ins": {"desk_id": "{desk_id}", "phone": "0912 345 678", "name": "An",
                                             "language": "en"},
    "/console/admin/privacy/erase": {"phone": "0912 345 678", "confirmed": "yes", "cancel_upcoming": "y"},
}


def test_forms_posted_from_previews_and_confirmations_take_odd_text_without_a_500(client: FlaskClient,
                                                                                  ids: dict[str, int]) -> None:
    signed_in(client, "admin")
    token = csrf(client, "/console/lookup")
    requests: list[tuple[str, str, str]] = []
    for path, fields in POSTED.items():
        fields = {name: value.format(**ids) for name, value in fields.items()}
        for name in fields:
            for odd in ODD_FIELDS:
                body = urlencode({"csrf_token": token, **{k: v for k, v in fields.items() if k != name}})
                requests.append(("POST", path.format(**ids), f"{body}&{name}={odd}"))
    assert _server_errors(client, requests) == []


# -- who may reach what ------------------------------------------------------------------------------------

def test_console_routes_want_a_sign_in_the_admin_pages_an_administrator_and_office_pages_their_staff(
        app: Flask, client: FlaskClient, offices: tuple[int, int], ids: dict[str, int], db: Session) -> None:
    _mine, other = offices
    theirs = queue.save_desk(db, office_id=other, number=1, name="").id
    db.commit()
    console = [rule for rule in _rules(app) if rule.rule.startswith("/console/") and rule.endpoint != "console.login"]
    assert len(console) > 60, len(console)
    anonymous = app.test_client()
    token = csrf(anonymous, "/console/login")  # a POST without it is a 400 before anything else
    for rule in console:
        for method in _methods(rule):
            response = anonymous.open(_path(app, rule, ids), method=method, data={"csrf_token": token})
            assert response.status_code == 302 and "/console/login" in response.location, (method, rule.rule)
    operator = signed_in(app.test_client(), "lan")
    token = csrf(operator, "/console/lookup")
    admin_only = [rule for rule in console if rule.rule.startswith("/console/admin/")]
    assert len(admin_only) >= 20
    for rule in admin_only:
        for method in _methods(rule):
            status = operator.open(_path(app, rule, ids), method=method, data={"csrf_token": token}).status_code
            assert status == 403, (method, rule.rule, status)
    manager = signed_in(client, "hoa")
    token = csrf(manager, "/console/lookup")
    office_scoped = [rule for rule in console if rule.rule.startswith("/console/offices/<")]
    assert len(office_scoped) >= 20
    elsewhere = {"office_id": other, "desk_id": theirs, "closure_id": 1}
    answers = {f"{method} {rule.rule}": manager.open(_path(app, rule, elsewhere), method=method,
                                                      data={"csrf_token": token}).status_code
               for rule in office_scoped for method in _methods(rule)}
    assert answers == dict.fromkeys(answers, 403)  # refused before the form is read: an empty one too




def test_another_offices_manager_posting_an_empty_desk_form_is_refused_first(
        client: FlaskClient, offices: tuple[int, int]) -> None:
    _mine, other = offices
    manager = signed_in(client, "hoa")
    token = csrf(manager, "/console/lookup")
    answers = {path: manager.post(path, data={"csrf_token": token}).status_code
               for path in (f"/console/offices/{other}/desks", f"/console/offices/{other}/nearly-turn")}
    assert answers == dict.fromkeys(answers, 403)


def test_every_console_post_wants_the_csrf_token(app: Flask, client: FlaskClient, ids: dict[str, int]) -> None:
    signed_in(client, "admin")
    posts = [(rule, method) for rule in _rules(app) if rule.rule.startswith("/console/")
             for method in _methods(rule) if method != "GET"]
    assert len(posts) > 40
    refused = {f"{method} {rule.rule}": client.open(_path(app, rule, ids), method=method,
                                                     data={"phone": "0912 345 678"}).status_code
               for rule, method in posts}
    assert refused == dict.fromkeys(refused, 400)
