"""Security headers on every response: a strict Content-Security-Policy and the usual browser hardening.

The pages need nothing but their own stylesheet and forms, so the policy allows only 'self': an
injected <script> or inline handler does not run, and no other site may frame the console. TwiML,
JSON and the metrics get the same headers; they are harmless to Twilio and to API clients.
Strict-Transport-Security only in production, where the hotline is served over HTTPS: sent over
plain HTTP during development it would lock browsers out of localhost's other servers.
"""

from __future__ import annotations

from flask import Flask, Response

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
])

# Powerful browser features the hotline never uses, switched off for it and anything it embeds.
PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in (
    "accelerometer", "camera", "geolocation", "gyroscope", "magnetometer", "microphone", "payment", "usb",
))

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
}

# Two years, the preload lists' minimum; subdomains of the hotline's own host are ours too.
STRICT_TRANSPORT_SECURITY = "max-age=63072000; includeSubDomains"


def init_app(app: Flask, *, production: bool) -> None:
    headers = dict(HEADERS)
    if production:
        headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY

    @app.after_request
    def _secure(response: Response) -> Response:
        # setdefault: a view that needs a different value for one response can still set it.
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
