"""Booking codes that a caller can type on a phone keypad and read aloud to a clerk.

A code is nine ASCII digits: eight random digits and a Damm check digit. Digits only, because the
IVR collects them by DTMF and elderly callers read them from an SMS; a check digit, because a
mistyped code should be caught on the spot ("please check the digits") instead of silently
naming somebody else's appointment. The Damm algorithm (`stdnum.damm`) detects every single-digit
substitution and every transposition of two adjacent digits, the two mistakes people make most,
and unlike Luhn it needs no doubling step and has no blind spot for "09" ↔ "90".

The first digit is never 0: codes get pasted into spreadsheets and read over the phone, and a
leading zero is the digit that goes missing. No issued code starts with 0, so such text is
rejected as well.
"""

from __future__ import annotations

import random
import re
import secrets
import unicodedata
from typing import Final

from stdnum import damm

from booking.errors import InvalidBookingCode

__all__ = ["CODE_LENGTH", "is_valid_code", "new_code", "normalise_code", "spoken_groups"]

#: 8 random digits + 1 Damm check digit: 90 million codes, enough that guessing one is hopeless
#: among the few thousand live appointments of a province, yet short enough to say in one breath.
CODE_LENGTH: Final = 9

_RANDOM_DIGITS: Final = CODE_LENGTH - 1
_GROUP_SIZE: Final = 3
_CODE: Final = re.compile(rf"[1-9][0-9]{{{CODE_LENGTH - 1}}}")
_SEPARATORS: Final = re.compile(r"[\s.\-\u2010-\u2015\u2212]")


def new_code(rng: random.Random | None = None) -> str:
    """A fresh booking code.

    Uses `secrets` by default because a code is what lets someone cancel or move an
    appointment over the phone, so it must not be predictable. Pass a seeded `random.Random`
    only in tests, to get reproducible codes. Uniqueness is the caller's job (the database
    constraint), since only it can see every live code.
    """

    def below(n: int) -> int:
        return secrets.randbelow(n) if rng is None else rng.randrange(n)

    body = str(1 + below(9)) + "".join(str(below(10)) for _ in range(_RANDOM_DIGITS - 1))
    return body + damm.calc_check_digit(body)


def is_valid_code(text: str) -> bool:
    """Whether `text` is a code in canonical form: nine ASCII digits, no leading 0, and a Damm
    check digit that matches.

    It does not tidy the text up, so it can guard data that should already be canonical
    (database rows, DTMF digits); for what a person typed, use `normalise_code`.
    """
    return bool(_CODE.fullmatch(text)) and damm.is_valid(text)


def normalise_code(text: str) -> str:
    """The canonical code in what a person typed or pasted, e.g. "123 456 789", "123-456-789",
    or full-width digits from a Vietnamese IME.

    Raises InvalidBookingCode(text=text) with the original text when, once tidied, it is not
    a valid code (wrong length, other characters, or a check digit that does not match), so the
    caller can be asked to check the digits.
    """
    cleaned = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    if not is_valid_code(cleaned):
        raise InvalidBookingCode(text=text)
    return cleaned


def spoken_groups(code: str) -> list[str]:
    """The code cut into groups of three digits, to be read slowly on the phone or printed with
    gaps ("123 456 789"). It does not validate: a shorter or longer string just gives a shorter
    last group."""
    return [code[i : i + _GROUP_SIZE] for i in range(0, len(code), _GROUP_SIZE)]
