"""Proof that a webhook came from Twilio: X-Twilio-Signature over the public URL and the form."""

from __future__ import annotations

import logging

from flask import abort, request
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from hotline.errors import FieldRefused, clean_params
from hotline.runtime import runtime

log = logging.getLogger(__name__)
FORWARDING_HEADERS = ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded")
VERIFIED = "hotline.twilio_verified_form"  # the WSGI environ key of a request's proven form


def signed_url() -> str:
    """The URL Twilio signed: the public base URL when configured (behind a proxy), else the request's."""
    base = runtime().settings.public_base_url.rstrip("/")
    if not base:
        return request.url
    query = request.query_string.decode()
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def verified_form() -> MultiDict[str, str]:
    """The POSTed parameters, cleaned as any field is, or 403 unless X-Twilio-Signature proves they came from Twilio.

    Checked once per request: a view that asks again (a campaign call's answer stores the call's row, then
    serves it as the hotline serves any call) gets the form already proven.
    """
    # Kept with the request itself, not on `g`: a CLI command (the simulator) serves many requests in one app context.
    found: MultiDict[str, str] | None = request.environ.get(VERIFIED)
    if found is None:
        found = request.environ[VERIFIED] = _verify()
    return found


def _verify() -> MultiDict[str, str]:
    settings = runtime().settings
    form: MultiDict[str, str] = request.form
    if settings.validate_signatures:
        signature = request.headers.get("X-Twilio-Signature", "")
        validator = RequestValidator(settings.twilio_auth_token)
        if not signature or not validator.validate(signed_url(), form.to_dict(flat=True), signature):
            if (signature and not settings.public_base_url and not settings.trusted_proxies
                    and any(h in request.headers for h in FORWARDING_HEADERS)):
                # Every webhook would fail this way: say why once per request, not just 403.
                log.error("a proxy relayed this Twilio webhook and its signature does not match %s; set "
                          "PUBLIC_BASE_URL (or HOTLINE_TRUSTED_PROXIES) to the address Twilio calls",
                          request.url, extra={"event": "twilio.signature_behind_proxy"})
            abort(403)
    # Through the gate every other request passes before its view (hotline.errors), but only now that the
    # signature over what was sent holds, and leaving out what it would refuse: nothing Twilio sends means
    # a NUL or a control character (a caller's keys, an SMS's text), and no call or SMS should fail for one.
    try:
        return clean_params(form, drop=True)
    except FieldRefused as refused:
        message, params = refused.message
        abort(400, description=message % params)
