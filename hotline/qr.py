"""QR codes that take a phone to one of the public pages, as inline SVG, and the absolute URLs they carry.

A code printed on paper outlives the request that drew it, so it carries the hotline's public address
(PUBLIC_BASE_URL) when one is set: a sheet printed from an office's intranet, or through a proxy,
still opens the public site. Without it the request's own host is the best we know.
"""

from __future__ import annotations

from typing import Any

import segno
from flask import url_for
from markupsafe import Markup

from hotline.runtime import runtime


def public_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of a page, on PUBLIC_BASE_URL when set (without a language: each reader's own applies)."""
    base = runtime().settings.public_base_url.rstrip("/")
    if not base:
        return url_for(endpoint, _external=True, **values)
    return base + url_for(endpoint, **values)


def url_qr_svg(url: str) -> Markup:
    """`url` as a QR code in inline SVG (no size: the stylesheet sizes it), the URL as its title.

    Error correction M at least (segno raises it where the symbol's size allows), so a code on a notice
    board still reads when a corner is scuffed; never Micro QR, which many phone readers do not know.
    The SVG carries no style attribute, so the content security policy (style-src 'self') leaves it be.
    """
    qr = segno.make(url, error="m", micro=False)
    return Markup(qr.svg_inline(scale=1, title=url, svgclass="qr", omitsize=True, light="#fff"))
