"""Driving the console's closure forms in tests: the preview page, then its confirmation button."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse


def confirmation(page: str) -> dict[str, str]:
    """The fields the preview's confirmation button posts (hidden inputs of its form, CSRF token included)."""
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
    assert "confirm" in fields and "expect" in fields, page
    return {name: html.unescape(value) for name, value in fields.items()}


def close_through_preview(client: FlaskClient, path: str, data: dict[str, str]) -> tuple[str, TestResponse]:
    """POSTs a closure form, then confirms its preview: the preview page and the confirmation's answer."""
    preview = client.post(path, data=data)
    assert preview.status_code == 200, preview.get_data(as_text=True)
    page = preview.get_data(as_text=True)
    return page, client.post(path, data=confirmation(page))
