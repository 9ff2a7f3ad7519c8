"""Saying things in one language outside a page: prompts on a call, the text of an SMS."""

from __future__ import annotations

import weakref
from datetime import date, time
from typing import Any

import flask_babel
from babel.dates import format_date
from babel.support import NullTranslations

# Each app's catalogue in each language, found once: flask_babel keeps the catalogues loaded (per app, for its
# lifetime), but switching the locale for every message (force_locale) cost more than the lookup itself.
_catalogues: weakref.WeakKeyDictionary[flask_babel.Domain, dict[str, NullTranslations]] = weakref.WeakKeyDictionary()


def _catalogue(language: str) -> NullTranslations:
    """The current app's catalogue in `language` (outside an app, no catalogue: the message as written)."""
    domain = flask_babel.get_domain()
    kept = _catalogues.setdefault(domain, {})
    found = kept.get(language)
    if found is None:
        with flask_babel.force_locale(language):
            found = kept[language] = domain.get_translations()
    return found


class BabelLocalizer:
    """Translation and formatting in a fixed language, whatever the current request's locale."""

    def __init__(self, language: str) -> None:
        self.language = language

    def gettext(self, message: str, **params: Any) -> str:
        """As flask_babel.gettext in this language: the translation, with `params` put in when there are any."""
        said: str = _catalogue(self.language).ugettext(message)
        return said % params if params else said

    def day(self, value: date) -> str:
        """'T5 03/12' (Vietnamese writes Thứ Năm short as T5), 'Thu 03/12' in English: the year is plain from context."""
        return format_date(value, "EEEEEE dd/MM" if self.language == "vi" else "EEE dd/MM", locale=self.language)

    def date(self, value: date) -> str:
        return format_date(value, "dd/MM/yyyy", locale=self.language)

    def time(self, value: time) -> str:
        return value.strftime("%H:%M")
