"""Saying things in one language outside a page: prompts on a call, the text of an SMS."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import flask_babel
from babel.dates import format_date


class BabelLocalizer:
    """Translation and formatting in a fixed language, whatever the current request's locale."""

    def __init__(self, language: str) -> None:
        self.language = language

    def gettext(self, message: str, **params: Any) -> str:
        with flask_babel.force_locale(self.language):
            return flask_babel.gettext(message, **params)

    def day(self, value: date) -> str:
        """'T5 03/12' (Vietnamese writes Thứ Năm short as T5), 'Thu 03/12' in English: the year is plain from context."""
        return format_date(value, "EEEEEE dd/MM" if self.language == "vi" else "EEE dd/MM", locale=self.language)

    def date(self, value: date) -> str:
        return format_date(value, "dd/MM/yyyy", locale=self.language)

    def time(self, value: time) -> str:
        return value.strftime("%H:%M")
