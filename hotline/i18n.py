"""Languages: Vietnamese by default, English on request, catalogues compiled on start.

The `.po` catalogues live in the repository; their compiled `.mo` files are build output, so the
app compiles any that are missing or stale into the instance folder when it starts. A fresh clone
therefore speaks Vietnamese without a separate build step.
"""

from __future__ import annotations

import os
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, request, session
from flask_babel import Babel, get_locale

SOURCE = Path(__file__).resolve().parent.parent / "translations"
LANGUAGES = ("vi", "en")


def compile_catalogues(target: Path) -> Path:
    """Compile every `.po` under translations/ into `target`, skipping those already current."""
    for po_path in SOURCE.glob("*/LC_MESSAGES/messages.po"):
        mo_path = target / po_path.relative_to(SOURCE).with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as source:
            catalogue = read_po(source, locale=po_path.parent.parent.name)
        tmp = mo_path.with_suffix(f".mo.{os.getpid()}.tmp")  # workers starting together each write their own
        with tmp.open("wb") as out:
            write_mo(out, catalogue)
        tmp.replace(mo_path)  # atomic, so a second worker starting at once never reads half a file
    return target


def select_locale() -> str:
    """?lang= wins and is remembered in the session; then the remembered choice; then the default."""
    from flask import current_app

    asked = request.args.get("lang") if request else None
    if asked in LANGUAGES:
        session["lang"] = asked
        return asked
    remembered = session.get("lang") if request else None
    if remembered in LANGUAGES:
        return str(remembered)
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


def init_babel(app: Flask, instance_path: Path, default_language: str, timezone: str) -> None:
    compiled = compile_catalogues(instance_path / "translations")
    app.config.update(
        BABEL_DEFAULT_LOCALE=default_language,
        BABEL_DEFAULT_TIMEZONE=timezone,
        BABEL_TRANSLATION_DIRECTORIES=str(compiled),
    )
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
