"""The texts as citizens read them, without an app: the Vietnamese catalogue read from its `.po`.

`BabelLocalizer` formats days, dates and times (its own code, so tests and benchmarks see what is
sent); only the translation comes from the catalogue file instead of Flask-Babel's compiled one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.models import Office, Procedure
from hotline.localization import BabelLocalizer
from notifications import texts

THURSDAY = date(2027, 3, 4)  # any weekday: 'T5 04/03' is as long as any other
CODE = "362537015"  # booking codes are nine digits
PO = Path(__file__).resolve().parent.parent / "translations" / "vi" / "LC_MESSAGES" / "messages.po"


@lru_cache(maxsize=1)
def vietnamese() -> dict[str, str]:
    with PO.open("rb") as f:
        return {m.id: m.string for m in read_po(f, locale="vi")
                if isinstance(m.id, str) and isinstance(m.string, str) and m.string and "fuzzy" not in m.flags}


class CatalogueLocalizer(BabelLocalizer):
    """A localizer for `language` ('vi' or 'en') that needs no Flask app."""

    def gettext(self, message: str, **params: Any) -> str:
        text = vietnamese().get(message, message) if self.language == "vi" else message
        return text % params if params else text


def visits(session: Session, language: str) -> Iterator[texts.Visit]:
    """A morning appointment at each active office for each procedure it takes, and one naming none."""
    procedures = list(session.scalars(select(Procedure).where(Procedure.active.is_(True))))
    for office in session.scalars(select(Office).where(Office.active.is_(True)).order_by(Office.id)):
        for procedure in [None, *(p for p in procedures if p.offered_at(office.level))]:
            days = None if procedure is None else procedure.processing_days
            yield texts.visit_at(office, procedure, language, code=CODE, day=THURSDAY, start=time(7, 0),
                                 end=time(7, 30), queue="S-002",
                                 result_day=None if days is None else THURSDAY + timedelta(days=days))
