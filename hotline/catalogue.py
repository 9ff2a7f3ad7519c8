"""The public catalogue (issue 13): a page per office and per procedure, each with a QR code to itself, and a
printable A4 sheet of an office's QR codes to pin up in place of the notice board.

Anyone may read these pages, from a phone that scanned a code: they read, never write, and need no
sign-in. A code is looked up as stored (capitals); one typed in small letters is sent to its page.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn
from datetime import time, timedelta
from itertools import groupby
from urllib.parse import urlsplit

from babel.dates import get_day_names
from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import format_currency, get_locale, gettext, ngettext
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse

from booking.availability import office_availability
from booking.i18n import N_
from booking.catalogue import (offices_taking, office_code, procedure_code, procedures_at, public_office,
                               public_procedure)
from booking.models import Office, Procedure
from hotline.qr import public_url, url_qr_svg
from hotline.runtime import runtime

blueprint = Blueprint("catalogue", __name__)

# A4 holds three columns of four codes at a size a phone reads from arm's length (hotline.css, "QR sheet").
CODES_PER_SHEET = 12
DAYS_SHOWN = 7


@dataclass(frozen=True)
class HoursRow:
    """Weekdays that keep the same sessions, e.g. Monday to Friday: morning 07:30-11:30, afternoon 13:30-17:00."""

    weekdays: tuple[int, ...]
    sessions: tuple[tuple[str, time, time], ...]  # (session code, start, end)


@dataclass(frozen=True)
class Card:
    """One code on the QR sheet: what it opens, its label and the short code printed under it."""

    name: str
    code: str
    url: str
    qr: Markup
    office: bool = False


def opening_hours(office: Office) -> list[HoursRow]:
    """The office's usual week, weekdays with the same hours folded together, Monday first (`templates` loaded)."""
    by_day: dict[int, list[tuple[str, time, time]]] = {}
    for t in sorted(office.templates, key=lambda t: (t.weekday, t.start_time)):
        by_day.setdefault(t.weekday, []).append((t.code, t.start_time, t.end_time))
    rows: list[HoursRow] = []
    for weekday, sessions in sorted(by_day.items()):
        if rows and rows[-1].sessions == tuple(sessions) and rows[-1].weekdays[-1] == weekday - 1:
            rows[-1] = HoursRow((*rows[-1].weekdays, weekday), rows[-1].sessions)
        else:
            rows.append(HoursRow((weekday,), tuple(sessions)))
    return rows


@blueprint.app_template_global()
def weekdays_text(weekdays: tuple[int, ...]) -> str:
    """"Thứ Hai – Thứ Sáu" for a run of days, "Thứ Bảy" for one, in the page's language."""
    names = get_day_names("wide", locale=get_locale())
    first, last = names[weekdays[0]], names[weekdays[-1]]
    return first if len(weekdays) == 1 else f"{first} – {last}"


@blueprint.app_template_global()
def localised(vietnamese: str, english: str | None) -> str:
    """The English text on an English page when there is one; the Vietnamese otherwise."""
    return english if english and get_locale().language == "en" else vietnamese


def fee_text(procedure: Procedure) -> str:
    """The fee in the page's number format ("50.000 ₫"), "Free" for 0, "Not stated" when unknown."""
    if procedure.fee_vnd is None:
        return gettext("Not stated")
    if procedure.fee_vnd == 0:
        return gettext("Free")
    return format_currency(procedure.fee_vnd, "VND")


def processing_text(procedure: Procedure) -> str:
    days = procedure.processing_days
    if days is None:
        return gettext("Not stated")
    if days == 0:
        return gettext("The result is returned the same day")
    return ngettext("%(num)s working day", "%(num)s working days", days)


def by_field(procedures: list[Procedure]) -> list[tuple[str, list[Procedure]]]:
    """The procedures under their field's name in the page's language, in the order given (Jinja's groupby
    would sort the fields again, by code point: "Đất đai" after "Xây dựng")."""
    groups = [list(group) for _field, group in groupby(procedures, key=lambda p: p.field)]
    return [(localised(group[0].field, group[0].field_en), group) for group in groups]


def documents_of(procedure: Procedure) -> tuple[list[str], str]:
    """The documents to bring, one a line, and the language they are written in (English only if given)."""
    english = get_locale().language == "en" and (procedure.documents_en or "").strip()
    text = procedure.documents_en if english and procedure.documents_en else procedure.documents
    lines = [line.strip(" \t-•*") for line in text.splitlines()]
    return [line for line in lines if line], "en" if english else "vi"


def online_link(procedure: Procedure) -> tuple[str, str] | None:
    """(address, host) of the online public-service portal, when it is a web address a browser may open."""
    url = (procedure.online_url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url, parts.hostname


@blueprint.app_template_global()
def dial(number: str) -> str:
    """A tel: target for a printed number: its digits and a leading plus ("0290 3821 022" → "02903821022")."""
    return re.sub(r"(?!^\+)\D", "", number.strip())


def _hotline() -> str:
    return runtime().settings.hotline_number.strip()


NOT_FOUND = {"office": N_("No office has the code “%(code)s”."),
             "procedure": N_("No procedure has the code “%(code)s”.")}


def _missing(what: str, code: str) -> NoReturn:
    """404 in the reader's language, naming the code asked for as it reads: cut short, without the invisible
    characters (a right-to-left override would turn the sentence around), since it came from anyone."""
    shown = "".join(c for c in code[:40] if c == " " or unicodedata.category(c)[0] not in "CZ")
    abort(404, description=gettext(NOT_FOUND[what], code=shown))


def _stored_codes(view: Callable[[str], str]) -> Callable[[str], str | BaseResponse]:
    """The view, for codes as stored; a code typed in small letters (or with spaces) is sent to the one address
    of its page, keeping ?lang=, and text that cannot be a code is not found before the database is asked."""
    what = "procedure" if view.__name__ == "procedure_page" else "office"
    as_stored = procedure_code if what == "procedure" else office_code

    @functools.wraps(view)
    def checked(code: str) -> str | BaseResponse:
        wanted = as_stored(code)
        if wanted is None:
            _missing(what, code)
        if code == wanted:
            return view(code)
        endpoint, language = f"catalogue.{view.__name__}", request.args.get("lang")
        return redirect(url_for(endpoint, code=wanted, lang=language) if language else url_for(endpoint, code=wanted),
                        301)

    return checked


def _own_qr(endpoint: str, code: str) -> tuple[str, Markup]:
    """A page's public URL and its QR code."""
    url = public_url(endpoint, code=code)
    return url, url_qr_svg(url)


@blueprint.get("/offices/<code>")
@_stored_codes
def office_page(code: str) -> str:
    rt = runtime()
    now = rt.now()
    today = now.astimezone(rt.settings.tz).date()
    with rt.reading() as db:
        office = public_office(db, code) or _missing("office", code)
        days = office_availability(db, office, today, today + timedelta(days=DAYS_SHOWN - 1), now=now,
                                   policy=rt.policy)
        url, qr = _own_qr("catalogue.office_page", office.code)
        return render_template("public/office.html", office=office, days=days, hours=opening_hours(office),
                               fields=by_field(procedures_at(db, office)), hotline=_hotline(), url=url, qr=qr)


@blueprint.get("/procedures/<code>")
@_stored_codes
def procedure_page(code: str) -> str:
    with runtime().reading() as db:
        procedure = public_procedure(db, code) or _missing("procedure", code)
        documents, documents_language = documents_of(procedure)
        url, qr = _own_qr("catalogue.procedure_page", procedure.code)
        return render_template("public/procedure.html", procedure=procedure, offices=offices_taking(db, procedure),
                               documents=documents, documents_language=documents_language,
                               fee=fee_text(procedure), processing=processing_text(procedure),
                               online=online_link(procedure), hotline=_hotline(), url=url, qr=qr)


@blueprint.get("/offices/<code>/qr-sheet")
@_stored_codes
def qr_sheet(code: str) -> str:
    """The office's code and one per procedure it takes, twelve to an A4 sheet; printed from the browser."""
    with runtime().reading() as db:
        office = public_office(db, code) or _missing("office", code)
        # The sheet's heading names the office: its own card says what its page holds.
        cards = [Card(gettext("This office: hours, free seats and every procedure"), office.code,
                      *_own_qr("catalogue.office_page", office.code), office=True)]
        cards += [Card(localised(p.name, p.name_en), p.code, *_own_qr("catalogue.procedure_page", p.code))
                  for p in procedures_at(db, office)]
    sheets = [cards[i:i + CODES_PER_SHEET] for i in range(0, len(cards), CODES_PER_SHEET)]
    return render_template("public/qr_sheet.html", office=office, sheets=sheets, hotline=_hotline())
