"""The one place where a Vietnamese phone number, however it was written, becomes a `Phone`.

Citizens give their numbers in every shape: with or without the trunk 0, with +84, 84 or 0084,
with dots, dashes and brackets, with full-width digits from a Vietnamese IME, and sometimes in the
eleven-digit form that was retired in September 2018 but still sits on old records and in people's
memory. Booking, SMS and the IVR all need to agree on *one* canonical form, so every layer calls
`parse_phone` / `parse_mobile` / `to_e164` here instead of calling `phonenumbers` itself.

The pipeline, in order:

1. Normalise: Unicode NFKC (full-width digits and plus signs become ASCII), then drop the
   separators people write (spaces, dots, dashes, slashes, brackets). Anything else left that is
   not a digit (or a leading "+") makes the text invalid: we do not guess at letters.
2. Split off the country code (+84, 0084, 84) or the trunk 0, leaving the national significant
   number. One stray "0" after the country code ("+84 (0) 912 …", "+84 0912 …") is dropped, as
   people copy it from business cards. Any other country code is rejected: this system serves
   Vietnamese offices and sends SMS through Vietnamese sender IDs only.
3. Recognise short public-service numbers (113, 1022, …) and the provincial form of 1022 written
   with an area code ("0290 1022"). `phonenumbers` only knows 113-115 as short numbers.
4. Convert pre-2018 eleven-digit mobiles to today's ten digits (0162… → 032…), *before*
   validation, because `phonenumbers` parses the old form but rightly calls it invalid.
5. Validate with `phonenumbers` (which knows the allocated ranges far better than we could) and
   classify by its number type.
"""

from __future__ import annotations

import enum
import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Final

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from booking.errors import InvalidPhone, NotAMobile

__all__ = ["Phone", "PhoneKind", "parse_mobile", "parse_phone", "to_e164"]


class PhoneKind(enum.StrEnum):
    """What a number is for us: only MOBILE numbers can receive an SMS."""

    MOBILE = "mobile"
    LANDLINE = "landline"
    SHORT = "short"
    TOLL_FREE = "toll_free"
    PREMIUM = "premium"


COUNTRY_CODE: Final = "84"
REGION: Final = "VN"

#: Two-digit national prefixes (after the trunk 0) of today's mobile networks, per DOMAIN.md.
#: Only used to settle FIXED_LINE_OR_MOBILE answers; validity is `phonenumbers`' call.
MOBILE_PREFIXES: Final[frozenset[str]] = frozenset(
    {
        # Viettel
        *(f"3{d}" for d in range(2, 10)), "86", "96", "97", "98",
        # MobiFone
        "70", "76", "77", "78", "79", "89", "90", "93",
        # VinaPhone
        "81", "82", "83", "84", "85", "88", "91", "94",
        # Vietnamobile
        "52", "56", "58", "92",
        # Gmobile
        "59", "99",
        # Itelecom
        "87",
        # Wintel
        "55",
    }
)

#: Pre-September-2018 eleven-digit mobile prefixes (national form, without the trunk 0) and the
#: prefix that replaced each one; the seven subscriber digits that follow did not change.
LEGACY_MOBILE_PREFIXES: Final[dict[str, str]] = {
    # Viettel 0162-0169 → 032-039
    **{f"16{d}": f"3{d}" for d in range(2, 10)},
    # MobiFone
    "120": "70",
    "121": "79",
    "122": "77",
    "126": "76",
    "128": "78",
    # VinaPhone
    "123": "83",
    "124": "84",
    "125": "85",
    "127": "81",
    "129": "82",
    # Vietnamobile
    "186": "56",
    "188": "58",
    # Gmobile
    "199": "59",
}

#: Short public-service numbers dialled as they are, with no area code or trunk prefix:
#: 111 child protection, 112 search and rescue, 113 police, 114 fire, 115 ambulance,
#: 1022 the provincial public-service contact centre. They can be called, never texted.
SHORT_NUMBERS: Final[frozenset[str]] = frozenset({"111", "112", "113", "114", "115", "1022"})

#: The contact-centre number that provinces also publish behind their area code ("0290 1022").
_PROVINCIAL_SHORT_NUMBER: Final = "1022"

_LEGACY_NATIONAL_LENGTH: Final = 10
_MAX_INPUT_LENGTH: Final = 64
_SEPARATORS: Final = re.compile(r"[\s.\-/()\u2010-\u2015\u2212]")
_DIGITS: Final = re.compile(r"\+?[0-9]+")

_KIND_BY_TYPE: Final[dict[int, PhoneKind]] = {
    PhoneNumberType.MOBILE: PhoneKind.MOBILE,
    PhoneNumberType.FIXED_LINE: PhoneKind.LANDLINE,
    PhoneNumberType.TOLL_FREE: PhoneKind.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE: PhoneKind.PREMIUM,
    # VoIP (672…) and "universal access" numbers (199x…, 799x…, 69…) are real, callable
    # fixed services but cannot take an SMS. Filing them as LANDLINE makes parse_mobile
    # answer "not a mobile" instead of falsely claiming the number does not exist.
    PhoneNumberType.VOIP: PhoneKind.LANDLINE,
    PhoneNumberType.UAN: PhoneKind.LANDLINE,
}


@dataclass(frozen=True, slots=True)
class Phone:
    """A validated Vietnamese phone number in canonical form.

    `number` is E.164 ("+84912345678") for everything reachable from the phone network at large,
    so that two spellings of one number compare and index equal. Short numbers have no E.164
    form (they are only dialled locally), so they keep their bare digits ("1022", "113").
    """

    number: str
    kind: PhoneKind

    @property
    def is_mobile(self) -> bool:
        """Whether an SMS can be sent to this number; the SMS layer checks nothing else."""
        return self.kind is PhoneKind.MOBILE

    def national(self) -> str:
        """The number as Vietnamese people write and read it aloud: "0912 345 678",
        "0290 3831 234", "1800 1234", "1022". Used in messages, receipts and the console,
        never for storage or comparison (use `number` for those)."""
        if self.kind is PhoneKind.SHORT:
            return self.number
        parsed = phonenumbers.parse(self.number, None)
        return phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL)

    def __str__(self) -> str:
        return self.national()


def parse_phone(text: str) -> Phone:
    """Read any Vietnamese phone number a person might type or say.

    Raises InvalidPhone(text=text) for anything that is not a real Vietnamese number: empty text,
    letters, other countries, numbers too short or too long, unallocated ranges. The error keeps
    the original text so the message shows the caller exactly what they entered.
    """
    cleaned = _clean(text)
    if cleaned in SHORT_NUMBERS:
        # Only the bare digits count: "+84 113" or "0113" is nobody's way of writing 113.
        return Phone(cleaned, PhoneKind.SHORT)

    national = _national_significant_number(cleaned, text)
    if _is_provincial_short_number(national):
        # "0290 1022" is the same service as 1022 dialled inside the province. We keep only
        # "1022": which province's centre it is belongs to the office record, not the number,
        # and a SHORT number is never sent an SMS either way.
        return Phone(_PROVINCIAL_SHORT_NUMBER, PhoneKind.SHORT)

    national = _modernise_legacy_mobile(national)
    if len(national) == 9 and national[0] in "35789":
        kind = _nine_digit_block_kind(national[:4])
        if kind is None:
            raise InvalidPhone(text=text)
        return Phone("+" + COUNTRY_CODE + national, kind)

    try:
        parsed = phonenumbers.parse("0" + national, REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(text=text) from exc
    if (
        parsed.country_code != int(COUNTRY_CODE)
        or phonenumbers.region_code_for_number(parsed) != REGION
        or not phonenumbers.is_valid_number(parsed)
    ):
        raise InvalidPhone(text=text)

    kind = _kind_of(parsed, national)
    if kind is None:
        raise InvalidPhone(text=text)
    return Phone(phonenumbers.format_number(parsed, PhoneNumberFormat.E164), kind)


@functools.lru_cache(maxsize=10_000)
def _nine_digit_block_kind(block: str) -> PhoneKind | None:
    """The kind of every nine-digit national number that starts with `block` (four digits).

    In phonenumbers' Vietnamese metadata, validity and type of these numbers depend on their
    first four digits only (checked by a test against the full path). Reading a province's list
    of a million numbers then costs one dictionary look-up per number instead of a full parse.
    """
    sample = block + "00000"
    parsed = phonenumbers.parse("0" + sample, REGION)
    if not phonenumbers.is_valid_number(parsed):
        return None
    return _kind_of(parsed, sample)


def parse_mobile(text: str) -> Phone:
    """Like `parse_phone`, but only a mobile will do (an SMS must be able to reach it).

    Raises InvalidPhone when the text is no number at all, and NotAMobile(phone=<national form>)
    when it is a real landline, short or service number, so the caller is told the difference.
    """
    phone = parse_phone(text)
    if not phone.is_mobile:
        raise NotAMobile(phone=phone.national())
    return phone


def parse_contact(text: str) -> Phone:
    """A number a person can be reached on: a mobile or a landline, never a short or 1800/1900 number.

    Bookings accept landlines (not everybody has a mobile); SMS later goes to mobiles only.
    """
    phone = parse_phone(text)
    if phone.kind not in (PhoneKind.MOBILE, PhoneKind.LANDLINE):
        raise InvalidPhone(text=text)
    return phone


def to_e164(text: str) -> str:
    """The E.164 form of a citizen's mobile number, which is what the database stores."""
    return parse_mobile(text).number


def _clean(text: str) -> str:
    """The digits (and a leading "+") of the text, or InvalidPhone if anything else is in it.

    NFKC turns full-width digits, plus signs and brackets into ASCII; the separators people put
    between digit groups are dropped. Letters are never guessed at (no "1800-FLOWERS").
    """
    if not text or len(text) > _MAX_INPUT_LENGTH:
        raise InvalidPhone(text=text)
    cleaned = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    if not _DIGITS.fullmatch(cleaned):
        raise InvalidPhone(text=text)
    return cleaned


def _national_significant_number(cleaned: str, text: str) -> str:
    """Strip the country code or trunk 0 from cleaned digits, leaving the national number.

    Only "+84", "0084" and a bare "84" in front of a number too long to be national count as the
    Vietnamese country code; any other "+" or "00" prefix is a foreign number and is rejected.
    `text` is the caller's original input, kept for the error message.
    """
    if cleaned.startswith("+"):
        if not cleaned.startswith("+" + COUNTRY_CODE):
            raise InvalidPhone(text=text)
        national = _drop_one_zero(cleaned[1 + len(COUNTRY_CODE) :])
    elif cleaned.startswith("00"):
        if not cleaned.startswith("00" + COUNTRY_CODE):
            raise InvalidPhone(text=text)
        national = _drop_one_zero(cleaned[2 + len(COUNTRY_CODE) :])
    elif cleaned.startswith("0"):
        national = cleaned[1:]
    elif cleaned.startswith(COUNTRY_CODE) and len(cleaned) >= 10:
        # No national number starting with 8 has more than nine digits, so ten or more
        # digits led by 84 can only be the country code written without its "+".
        national = _drop_one_zero(cleaned[len(COUNTRY_CODE) :])
    else:
        # Written without the trunk 0 ("912345678", "1662345678").
        national = cleaned

    if not national or national.startswith("0"):
        raise InvalidPhone(text=text)
    return national


def _drop_one_zero(digits: str) -> str:
    """Drop the trunk 0 some people keep after the country code ("+84 (0) 912 …")."""
    return digits[1:] if digits.startswith("0") else digits


def _modernise_legacy_mobile(national: str) -> str:
    """Map a pre-2018 ten-digit national mobile (eleven digits with the trunk 0) to today's form.

    Any other number is returned untouched; only the exact legacy length is converted so that
    toll-free 1800… numbers and current mobiles are never rewritten.
    """
    if len(national) != _LEGACY_NATIONAL_LENGTH:
        return national
    replacement = LEGACY_MOBILE_PREFIXES.get(national[:3])
    return national if replacement is None else replacement + national[3:]


def _is_provincial_short_number(national: str) -> bool:
    """Whether the digits are a real area code followed by 1022 ("290" + "1022").

    The area code is accepted only if `phonenumbers` agrees it is one: some landline behind it
    must be valid and its geographic area code must be exactly those digits. This keeps the
    2017 area codes in the library's hands rather than in a table of ours.
    """
    if not national.endswith(_PROVINCIAL_SHORT_NUMBER):
        return False
    area = national[: -len(_PROVINCIAL_SHORT_NUMBER)]
    if len(area) not in (2, 3) or not area.startswith("2"):
        return False
    padding = 10 - len(area) - 1
    for first_digit in "23456789":
        sample = phonenumbers.parse("0" + area + first_digit + "0" * padding, REGION)
        if (
            phonenumbers.number_type(sample) == PhoneNumberType.FIXED_LINE
            and phonenumbers.length_of_geographical_area_code(sample) == len(area)
        ):
            return True
    return False


def _kind_of(parsed: phonenumbers.PhoneNumber, national: str) -> PhoneKind | None:
    """Our kind for a valid number, or None for a type we do not serve.

    FIXED_LINE_OR_MOBILE (which the Vietnamese metadata does not use today, but may) is settled
    by the mobile prefixes in DOMAIN.md, because SMS must never go to a landline.
    """
    number_type = phonenumbers.number_type(parsed)
    if number_type == PhoneNumberType.FIXED_LINE_OR_MOBILE:
        return PhoneKind.MOBILE if national[:2] in MOBILE_PREFIXES else PhoneKind.LANDLINE
    return _KIND_BY_TYPE.get(number_type)
