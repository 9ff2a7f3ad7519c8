"""How values are said aloud: codes digit by digit, dates and times as people say them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time
from typing import Any

import phonenumbers
from babel.dates import format_date, format_time


def _grouped(digits: str, size: int = 3) -> str:
    """'123456789' → '1 2 3, 4 5 6, 7 8 9': one digit at a time, with a pause between groups."""
    groups = [digits[i:i + size] for i in range(0, len(digits), size)]
    return ", ".join(" ".join(group) for group in groups)


def spoken_phone(e164: str) -> str:
    national = phonenumbers.format_number(phonenumbers.parse(e164, "VN"), phonenumbers.PhoneNumberFormat.NATIONAL)
    return ", ".join(" ".join(part) for part in national.split())


def spoken_date(value: date, language: str) -> str:
    if language == "vi":
        said = format_date(value, "EEEE, 'ngày' d 'tháng' M", locale="vi")
        return said[0].lower() + said[1:]  # "thứ Ba, ngày 24 tháng 11"
    return format_date(value, "EEEE d MMMM", locale="en")


def spoken_time(value: time, language: str) -> str:
    if language == "vi":
        return f"{value.hour} giờ" + (f" {value.minute}" if value.minute else "")
    return format_time(value, "h:mm a" if value.minute else "h a", locale="en")


def say_value(kind: str, value: Any, language: str, translate: Callable[[str], str]) -> str:
    if kind == "digits":
        return _grouped(str(value))
    if kind == "phone":
        return spoken_phone(str(value))
    if kind == "date":
        return spoken_date(date.fromisoformat(str(value)), language)
    if kind == "time":
        return spoken_time(time.fromisoformat(str(value)), language)
    if kind == "message":
        return translate(str(value))
    return str(value)
