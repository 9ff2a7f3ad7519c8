"""Dates and parts of day as callers say them: "mai", "thứ hai tuần sau", "15/12", "chiều"."""

from __future__ import annotations

import re
from datetime import date, timedelta

from ivr_flows.understanding.slots import Part
from ivr_flows.understanding.words import Words, number_at

WEEKDAYS = {"hai": 0, "ba": 1, "tư": 2, "bốn": 2, "năm": 3, "sáu": 4, "bảy": 5, "bẩy": 5}
SUNDAY = ("chủ nhật", "chúa nhật")
PART_WORDS = ("sáng", "chiều", "trưa", "tối")
DAY_WORDS = ("ngày", "bữa", "hôm", *PART_WORDS)
# Without diacritics "sang" is "sáng" (morning) or "sang" (to): "to" after a verb of moving
# ("đổi sang chiều"), or after "lịch"/"hẹn" when such a verb was said ("dời lịch sang thứ hai").
MOVING = ("đổi", "dời", "chuyển", "lùi", "qua")
NUMERIC = re.compile(r"([0-9]{1,2})[/.\-]([0-9]{1,2})(?:[/.\-]([0-9]{2,4}))?$")


def _safe(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _next_of(today: date, month: int | None, day: int, year: int | None) -> date | None:
    """The day said, on or after today when the caller left the year (or month) out."""
    if year is not None and month is not None:
        return _safe(year, month, day)
    if month is not None:
        for y in range(today.year, today.year + 9):  # 29/2 is next said in a leap year
            found = _safe(y, month, day)
            if found is not None and found >= today:
                return found
        return None
    for ahead in range(13):
        m = (today.month - 1 + ahead) % 12 + 1
        found = _safe(today.year + (today.month - 1 + ahead) // 12, m, day)
        if found is not None and found >= today:
            return found
    return None


def _year(words: Words, i: int, today: date) -> tuple[int | None, int]:
    """A year said at token i ("năm 2026", "năm nay", "năm sau"), and the tokens it takes."""
    if not words.at(i, "năm"):
        return None, 0
    if words.free(i + 1) and re.fullmatch(r"[0-9]{4}", words.tokens[i + 1].full):
        return int(words.tokens[i + 1].full), 2
    if words.at(i + 1, "nay"):
        return today.year, 2
    if words.at(i + 1, "sau") or words.at(i + 1, "tới"):
        return today.year + 1, 2
    return None, 0


def _month(words: Words, i: int, today: date) -> tuple[int | None, int]:
    """A month said at token i ("tháng 12", "tháng mười hai", "tháng giêng", "tháng sau")."""
    if not words.at(i, "tháng"):
        return None, 0
    if words.at(i + 1, "giêng"):
        return 1, 2
    if words.at(i + 1, "chạp"):
        return 12, 2
    if words.at(i + 1, "này") or words.at(i + 1, "nay"):
        return today.month, 2
    if words.at(i + 1, "sau") or words.at(i + 1, "tới"):
        return today.month % 12 + 1, 2
    said = number_at(words, i + 1)
    if said is not None and 1 <= said[0] <= 12:
        return said[0], 1 + said[1]
    return None, 0


def _numeric(said: re.Match[str], today: date) -> date | None:
    day, month = int(said[1]), int(said[2])
    year = int(said[3]) if said[3] else None
    if year is not None and year < 100:
        year += 2000
    return _next_of(today, month, day, year) if 1 <= month <= 12 else None


def _explicit(words: Words, today: date) -> date | None:
    """15/12, "ngày 15 tháng 12 (năm 2025)", "mùng 5", "15 tháng 12", "ngày mười lăm"."""
    found: date | None = None
    for i, token in enumerate(words.tokens):
        if not words.free(i):
            continue
        numeric = NUMERIC.match(token.full)
        if numeric:
            words.take(i)
            found = _numeric(numeric, today)
            continue
        lead = 1 if words.is_(i, "ngày", "mùng", "mồng", "hôm") else 0
        said = number_at(words, i + lead)
        if said is None or not 1 <= said[0] <= 31:
            continue
        day, length = said[0], lead + said[1]
        month, month_length = _month(words, i + length, today)
        if month is None and not lead:
            continue  # a bare number ("9 giờ", "số 2") is not a day
        if month is None and words.is_(i, "hôm"):
            continue  # "hôm hai" is not a date
        year, year_length = _year(words, i + length + month_length, today) if month is not None else (None, 0)
        words.take(i, length + month_length + year_length)
        found = _next_of(today, month, day, year)
    return found


def _week(words: Words) -> int | None:
    """Weeks ahead said with a weekday: 0 "tuần này", 1 "tuần sau"/"tuần tới", 2 "tuần sau nữa"."""
    for start, n in words.find(("tuần sau nữa", "tuần tới nữa")):
        words.take(start, n)
        return 2
    for start, n in words.find(("tuần sau", "tuần tới")):
        words.take(start, n)
        return 1
    for start, n in words.find(("tuần này", "tuần nay")):
        words.take(start, n)
        return 0
    return None


def _weekday(words: Words, today: date) -> date | None:
    found: int | None = None
    for i in range(len(words)):
        if words.at(i, "chủ nhật") or words.at(i, "chúa nhật"):
            words.take(i, 2)
            found = 6
        elif words.at(i, "thứ") or (words.free(i) and words.tokens[i].full == "t"):
            said = words.tokens[i + 1].full if i + 1 < len(words) and words.free(i + 1) else ""
            if said.isascii() and said.isdigit() and 2 <= int(said) <= 7:
                found = int(said) - 2
            else:
                for word, weekday in WEEKDAYS.items():
                    if words.at(i + 1, word):
                        found = weekday
                        break
                else:
                    continue
            words.take(i, 2)
            for after in ("này", "tới", "sắp tới"):  # "thứ hai này", "thứ hai tới": the coming one
                if words.at(i + 2, after):
                    words.take(i + 2, len(after.split()))
    if found is None:
        return None
    week = _week(words)
    if week is None:  # the coming one, never today: who means today says "hôm nay"
        return today + timedelta(days=(found - today.weekday() - 1) % 7 + 1)
    return today + timedelta(days=found - today.weekday() + 7 * week)


def _relative(words: Words, today: date, *, alone: bool) -> date | None:
    """"hôm nay", "(ngày/sáng) mai", "ngày kia", "ngày mốt"; alone: also a bare "mai" or "mốt"."""
    found: date | None = None
    for i in range(len(words)):
        after_day_word = words.is_(i - 1, *DAY_WORDS)
        if words.at(i, "nay") and after_day_word and not words.is_(i - 1, "ngày"):
            found = today
        elif words.at(i, "mai") and (alone or after_day_word):
            found = today + timedelta(days=1)
        elif ((words.at(i, "kia") and words.is_(i - 1, "ngày"))
              or (words.at(i, "mốt") and (after_day_word or (alone and words.marked)))):
            found = today + timedelta(days=2)
        else:
            continue
        takes_day_word = words.free(i - 1) and words.is_(i - 1, "ngày", "hôm", "bữa")
        words.take(i - 1 if takes_day_word else i, 2 if takes_day_word else 1)
    return found


def find_date(words: Words, today: date) -> date | None:
    """The date said, taking its words; a date said in full wins over a weekday or "mai"."""
    relative = _relative(words, today, alone=False)
    explicit = _explicit(words, today)
    weekday = _weekday(words, today)
    relative = _relative(words, today, alone=True) or relative
    return explicit or weekday or relative


def _sang_is_to(words: Words, i: int) -> bool:
    moving = any(words.free(k) and words.is_(k, *MOVING) for k in range(len(words)))
    return (words.is_(i - 1, *MOVING) or (moving and words.is_(i - 1, "lịch", "hẹn"))
            or words.is_(i + 1, "tên"))  # sang tên: a transfer of title


def find_part(words: Words) -> Part | None:
    """Morning (S) or afternoon (C), from "sáng"/"chiều" or from an hour ("9 giờ", "14h")."""
    part: Part | None = None
    for i in range(len(words)):
        if words.at(i, "chiều"):
            part = "C"
        elif words.at(i, "sáng") and (words.marked or not _sang_is_to(words, i)):
            part = "S"
        else:
            continue
        words.take(i)
        if words.free(i - 1) and words.is_(i - 1, "buổi"):
            words.take(i - 1)
    if part is not None:
        return part
    for i in range(len(words) - 1):
        if words.free(i) and words.tokens[i].digits and words.is_(i + 1, "giờ", "h", "g"):
            hour = int(words.tokens[i].full)
            words.take(i, 2)
            if 6 <= hour <= 11:
                part = "S"
            elif 13 <= hour <= 17 or 1 <= hour <= 5:
                part = "C"
    return part
