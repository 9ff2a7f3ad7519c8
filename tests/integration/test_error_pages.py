"""Every error page speaks the user's language: Vietnamese by default, English when chosen."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.console import app as app, client as client, login, offices as offices, signed_in


def test_a_forbidden_page_is_explained_in_vietnamese(client: FlaskClient, offices: tuple[int, int]) -> None:
    """The 403 page was Werkzeug's English text on a Vietnamese page."""
    assert login(client, "lan") == 302  # an operator; Vietnamese, the default
    page = client.get("/console/admin/users")
    assert page.status_code == 403
    text = page.get_data(as_text=True)
    assert "Quý vị không có quyền mở trang này" in text and "You don't have the permission" not in text


def test_a_form_without_its_token_is_refused_in_the_page_language(client: FlaskClient,
                                                                   offices: tuple[int, int]) -> None:
    """Flask-WTF's "The CSRF session token is missing." reached people as it is, in English."""
    refused = client.post("/console/login", data={"username": "lan", "password": "x"})
    assert refused.status_code == 400
    text = refused.get_data(as_text=True)
    assert "Biểu mẫu đã hết hạn" in text and "CSRF" not in text


def test_error_pages_follow_the_chosen_language(client: FlaskClient, offices: tuple[int, int]) -> None:
    signed_in(client, "lan")  # chooses English
    assert "You do not have permission to open this page" in client.get("/console/admin/users").get_data(as_text=True)
    missing = client.get("/console/no-such-page")
    assert missing.status_code == 404 and "The page was not found." in missing.get_data(as_text=True)
    assert "This page cannot be used that way" in client.get("/console/logout").get_data(as_text=True)


def test_a_page_that_needs_signing_in_says_so_in_vietnamese(client: FlaskClient, offices: tuple[int, int]) -> None:
    """Flask-Login's "Please log in to access this page." reached a Vietnamese sign-in page in English."""
    sent = client.get("/console/lookup", follow_redirects=True)
    text = sent.get_data(as_text=True)
    assert sent.request.path == "/console/login"
    assert "Xin quý vị đăng nhập để tiếp tục." in text and "Please log in" not in text
