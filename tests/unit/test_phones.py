"""Behaviour of booking.phones: every way of writing a Vietnamese number gives one canonical Phone.

Pure functions over text: no database, no network.
"""

from __future__ import annotations

import dataclasses

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from booking import phones
from booking.errors import InvalidPhone, NotAMobile
from booking.phones import Phone, PhoneKind, parse_mobile, parse_phone, to_e164

# --- mobiles: written forms -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "0912345678",
        "0912 345 678",
        "+84 91 234 5678",
        "+84912345678",
        "84912345678",
        "0084912345678",
        "00 84 912 345 678",
        "912345678",
        "(+84) 912.345.678",
        "091-234-5678",
        "091/234/5678",
        "(091) 234 5678",
        "+84 (0) 912 345 678",
        "84 (0) 912 345 678",
        "0084 (0) 912 345 678",
        "+84 0912 345 678",
        "０９１２３４５６７８",  # full-width digits from a Vietnamese IME
        "＋８４ ９１２ ３４５ ６７８",  # full-width plus sign too
        "0912\u00a0345\u00a0678",  # no-break spaces pasted from a web page
        "0912–345–678",  # en dashes
        "  0912345678\n",
    ],
)
def test_every_written_form_of_a_mobile_gives_the_same_e164(text: str) -> None:
    phone = parse_phone(text)
    assert phone == Phone("+84912345678", PhoneKind.MOBILE)
    assert phone.is_mobile


def test_mobile_is_read_back_in_vietnamese_grouping() -> None:
    assert parse_phone("+84912345678").national() == "0912 345 678"


def test_two_spellings_of_one_number_are_equal_and_hash_alike() -> None:
    a, b = parse_phone("0912.345.678"), parse_phone("+84 91 234 5678")
    assert a == b
    assert len({a, b}) == 1


def test_phone_is_immutable() -> None:
    phone = parse_phone("0912345678")
    with pytest.raises(dataclasses.FrozenInstanceError):
        phone.number = "+84900000000"  # type: ignore[misc]


def test_phone_kind_is_stored_as_its_plain_string() -> None:
    assert PhoneKind.MOBILE == "mobile"
    assert parse_phone("0290 3831 234").kind == "landline"
    assert [k.value for k in PhoneKind] == ["mobile", "landline", "short", "toll_free", "premium"]


# --- mobiles: every carrier prefix in DOMAIN.md -----------------------------------------------

# One sample number per current prefix. phonenumbers 9.0.43 validates only some blocks inside
# a few prefixes (052[238], 0559, 089[6-9], 099[013-9]), so the subscriber digits are chosen to
# fall inside an allocated block.
CURRENT_MOBILE_NUMBERS = [
    # Viettel 032-039, 086, 096-098
    ("Viettel", "0328123456"),
    ("Viettel", "0338123456"),
    ("Viettel", "0348123456"),
    ("Viettel", "0358123456"),
    ("Viettel", "0368123456"),
    ("Viettel", "0378123456"),
    ("Viettel", "0388123456"),
    ("Viettel", "0398123456"),
    ("Viettel", "0868123456"),
    ("Viettel", "0968123456"),
    ("Viettel", "0978123456"),
    ("Viettel", "0988123456"),
    # MobiFone 070, 076-079, 089, 090, 093
    ("MobiFone", "0708123456"),
    ("MobiFone", "0768123456"),
    ("MobiFone", "0778123456"),
    ("MobiFone", "0788123456"),
    ("MobiFone", "0798123456"),
    ("MobiFone", "0898123456"),
    ("MobiFone", "0908123456"),
    ("MobiFone", "0938123456"),
    # VinaPhone 081-085, 088, 091, 094
    ("VinaPhone", "0818123456"),
    ("VinaPhone", "0828123456"),
    ("VinaPhone", "0838123456"),
    ("VinaPhone", "0848123456"),
    ("VinaPhone", "0858123456"),
    ("VinaPhone", "0888123456"),
    ("VinaPhone", "0918123456"),
    ("VinaPhone", "0948123456"),
    # Vietnamobile 052, 056, 058, 092
    ("Vietnamobile", "0528123456"),
    ("Vietnamobile", "0568123456"),
    ("Vietnamobile", "0588123456"),
    ("Vietnamobile", "0928123456"),
    # Gmobile 059, 099
    ("Gmobile", "0598123456"),
    ("Gmobile", "0998123456"),
    # Itelecom 087
    ("Itelecom", "0878123456"),
    # Wintel 055
    ("Wintel", "0559123456"),
]


@pytest.mark.parametrize(("carrier", "number"), CURRENT_MOBILE_NUMBERS)
def test_every_current_carrier_prefix_is_a_mobile(carrier: str, number: str) -> None:
    phone = parse_mobile(number)
    assert phone.kind is PhoneKind.MOBILE, carrier
    assert phone.number == "+84" + number[1:]
    assert phone.national().replace(" ", "") == number


def test_sample_list_covers_all_36_current_prefixes() -> None:
    assert len({number[:3] for _, number in CURRENT_MOBILE_NUMBERS}) == 36


@pytest.mark.parametrize("number", ["0892345678", "0992345678", "0552345678"])
def test_unallocated_block_inside_a_carrier_prefix_is_rejected(number: str) -> None:
    # DOMAIN.md lists 089, 099 and 055 as mobile prefixes; phonenumbers knows that only parts
    # of them are allocated (089[6-9], 099 without 0992, 0559), and validity is its call.
    with pytest.raises(InvalidPhone):
        parse_phone(number)


def test_covid_era_hotline_of_ca_mau_is_an_ordinary_mobile() -> None:
    phone = parse_phone("0827 27 1022")
    assert phone == Phone("+84827271022", PhoneKind.MOBILE)


# --- legacy eleven-digit mobiles ----------------------------------------------------------------

LEGACY_PREFIXES = [
    # Viettel 0162-0169 → 032-039
    ("0162", "032"),
    ("0163", "033"),
    ("0164", "034"),
    ("0165", "035"),
    ("0166", "036"),
    ("0167", "037"),
    ("0168", "038"),
    ("0169", "039"),
    # MobiFone
    ("0120", "070"),
    ("0121", "079"),
    ("0122", "077"),
    ("0126", "076"),
    ("0128", "078"),
    # VinaPhone
    ("0123", "083"),
    ("0124", "084"),
    ("0125", "085"),
    ("0127", "081"),
    ("0129", "082"),
    # Vietnamobile
    ("0186", "056"),
    ("0188", "058"),
    # Gmobile
    ("0199", "059"),
]


@pytest.mark.parametrize(("old", "new"), LEGACY_PREFIXES)
def test_old_eleven_digit_mobile_is_converted_to_its_ten_digit_number(old: str, new: str) -> None:
    phone = parse_mobile(old + "2345678")
    assert phone == Phone("+84" + new[1:] + "2345678", PhoneKind.MOBILE)
    assert phone.national() == f"{new}2 345 678"


@pytest.mark.parametrize(
    "text",
    [
        "01662345678",
        "0166 234 5678",
        "0166.234.5678",
        "+841662345678",
        "+84 166 234 5678",
        "+84 (0) 166 234 5678",
        "841662345678",
        "00841662345678",
        "1662345678",
        "０１６６２３４５６７８",
    ],
)
def test_old_viettel_eleven_digit_number_is_converted_in_every_written_form(text: str) -> None:
    assert to_e164(text) == "+84362345678"


def test_old_gmobile_0199_number_becomes_059() -> None:
    assert to_e164("0199 234 5678") == "+84592345678"


def test_old_mobifone_0120_number_becomes_070() -> None:
    assert to_e164("01201234567") == "+84701234567"


@pytest.mark.parametrize(
    "text",
    [
        "0162345678",  # ten digits behind an old prefix: one digit short of a legacy number
        "016623456789",  # one digit too many
        "01302345678",  # 0130 was never a mobile prefix, so there is nothing to convert
    ],
)
def test_only_real_legacy_numbers_are_converted(text: str) -> None:
    with pytest.raises(InvalidPhone):
        parse_phone(text)


# --- landlines ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "e164", "national"),
    [
        ("0290 3831 234", "+842903831234", "0290 3831 234"),  # Cà Mau
        ("02903831234", "+842903831234", "0290 3831 234"),
        ("+84 290 3831 234", "+842903831234", "0290 3831 234"),
        ("(0290) 3.831.234", "+842903831234", "0290 3831 234"),
        ("0291 3831 234", "+842913831234", "0291 3831 234"),  # former Bạc Liêu
        ("024 3825 3333", "+842438253333", "024 3825 3333"),  # Hà Nội
        ("028 3822 1234", "+842838221234", "028 3822 1234"),  # TP. Hồ Chí Minh
    ],
)
def test_landline_is_recognised_with_its_area_code(text: str, e164: str, national: str) -> None:
    phone = parse_phone(text)
    assert phone == Phone(e164, PhoneKind.LANDLINE)
    assert not phone.is_mobile
    assert phone.national() == national


def test_landline_is_refused_where_a_mobile_is_needed() -> None:
    with pytest.raises(NotAMobile) as caught:
        parse_mobile("02903831234")
    assert caught.value.params == {"phone": "0290 3831 234"}
    assert "0290 3831 234" in str(caught.value)


def test_voip_number_is_valid_but_never_texted() -> None:
    phone = parse_phone("0672 123 456")
    assert phone == Phone("+84672123456", PhoneKind.LANDLINE)
    with pytest.raises(NotAMobile):
        to_e164("0672 123 456")


@pytest.mark.parametrize(
    ("national", "expected"),
    [("912345678", PhoneKind.MOBILE), ("2903831234", PhoneKind.LANDLINE)],
)
def test_fixed_line_or_mobile_answer_is_settled_by_the_prefix(
    monkeypatch: pytest.MonkeyPatch, national: str, expected: PhoneKind
) -> None:
    # Vietnamese metadata does not give this answer today; force it to check the fallback.
    monkeypatch.setattr(
        phonenumbers, "number_type", lambda _n: PhoneNumberType.FIXED_LINE_OR_MOBILE
    )
    assert parse_phone("0" + national) == Phone("+84" + national, expected)


# --- short, toll-free and premium numbers -------------------------------------------------------


@pytest.mark.parametrize("text", ["111", "112", "113", "114", "115", "1022", "１０２２", "10 22"])
def test_public_service_short_number_is_kept_as_bare_digits(text: str) -> None:
    phone = parse_phone(text)
    digits = phone.number
    assert phone == Phone(digits, PhoneKind.SHORT)
    assert digits.isdigit() and 3 <= len(digits) <= 4
    assert phone.national() == digits
    assert not phone.is_mobile


@pytest.mark.parametrize("text", ["0290 1022", "0291 1022", "024 1022", "028.1022", "+84 290 1022"])
def test_provincial_1022_dialled_with_area_code_is_the_short_number(text: str) -> None:
    assert parse_phone(text) == Phone("1022", PhoneKind.SHORT)


@pytest.mark.parametrize("text", ["0243 1022", "0999 1022", "0200 1022"])
def test_1022_behind_something_that_is_not_an_area_code_is_rejected(text: str) -> None:
    with pytest.raises(InvalidPhone):
        parse_phone(text)


@pytest.mark.parametrize("text", ["+84 113", "0113", "84 1022", "01022", "1133", "11"])
def test_short_number_is_only_recognised_as_bare_digits(text: str) -> None:
    with pytest.raises(InvalidPhone):
        parse_phone(text)


@pytest.mark.parametrize("text", ["1022", "0290 1022", "113"])
def test_short_number_is_refused_where_a_mobile_is_needed(text: str) -> None:
    with pytest.raises(NotAMobile) as caught:
        parse_mobile(text)
    assert caught.value.params["phone"] == parse_phone(text).number


@pytest.mark.parametrize(
    ("text", "e164", "kind", "national"),
    [
        ("1800 1234", "+8418001234", PhoneKind.TOLL_FREE, "1800 1234"),
        ("18001234", "+8418001234", PhoneKind.TOLL_FREE, "1800 1234"),
        ("1800 123456", "+841800123456", PhoneKind.TOLL_FREE, "1800 123456"),
        ("+84 1800 1234", "+8418001234", PhoneKind.TOLL_FREE, "1800 1234"),
        ("1900 1234", "+8419001234", PhoneKind.PREMIUM, "1900 1234"),
        ("1900.123.456", "+841900123456", PhoneKind.PREMIUM, "1900 123456"),
    ],
)
def test_toll_free_and_premium_numbers_get_their_own_kinds(
    text: str, e164: str, kind: PhoneKind, national: str
) -> None:
    phone = parse_phone(text)
    assert phone == Phone(e164, kind)
    assert phone.national() == national
    with pytest.raises(NotAMobile):
        parse_mobile(text)


def test_1800_number_is_not_mistaken_for_a_legacy_mobile() -> None:
    # 0180… looks like the old 0186/0188 prefixes at a glance; it must stay toll-free.
    assert parse_phone("1800123456").kind is PhoneKind.TOLL_FREE


# --- rejections -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "0912abc678",
        "1800-FLOWERS",
        "0912 345 678 ext 2",
        "+1 650 253 0000",  # United States
        "001 650 253 0000",
        "+86 138 0013 8000",  # China
        "0086 138 0013 8000",
        "+855 12 345 678",  # Cambodia
        "+",
        "+84",
        "0",
        "0912",  # too short
        "091234567",  # one digit short
        "09123456789",  # one digit too many
        "0912345678901234",
        "++84912345678",
        "0912345678+",
        "+84 00 912 345 678",
        "00912345678",
        "0112345678",  # no such range
        "١٢٣٤٥٦٧٨٩٠",  # Arabic-Indic digits are not how anyone here writes a number
        "0" * 100,
    ],
)
def test_text_that_is_not_a_vietnamese_number_is_rejected(text: str) -> None:
    with pytest.raises(InvalidPhone) as caught:
        parse_phone(text)
    assert caught.value.params == {"text": text}


@pytest.mark.parametrize("text", ["", "+1 650 253 0000", "0912"])
def test_parse_mobile_reports_a_non_number_as_invalid_not_as_a_non_mobile(text: str) -> None:
    with pytest.raises(InvalidPhone):
        parse_mobile(text)
    with pytest.raises(InvalidPhone):
        to_e164(text)


def test_invalid_phone_error_quotes_what_the_caller_typed() -> None:
    with pytest.raises(InvalidPhone) as caught:
        parse_phone("0912-abc")
    assert caught.value.code == "invalid_phone"
    assert "0912-abc" in str(caught.value)


# --- to_e164 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("0912 345 678", "+84912345678"),
        ("(+84) 912.345.678", "+84912345678"),
        ("01662345678", "+84362345678"),
        ("0868 123 456", "+84868123456"),
    ],
)
def test_to_e164_gives_the_stored_form_of_a_citizen_mobile(text: str, e164: str) -> None:
    assert to_e164(text) == e164


def test_module_exports_exactly_the_public_api() -> None:
    expected = ["Phone", "PhoneKind", "parse_mobile", "parse_phone", "to_e164"]
    assert sorted(phones.__all__) == expected


def test_fast_path_for_nine_digit_numbers_agrees_with_the_full_parse() -> None:
    """The four-digit block cache must classify exactly as phonenumbers does, number by number."""
    import random

    import phonenumbers

    from booking.phones import _kind_of

    rng = random.Random(84)
    for first in "35789":
        for _ in range(400):
            national = first + "".join(rng.choice("0123456789") for _ in range(8))
            parsed = phonenumbers.parse("0" + national, "VN")
            expected = _kind_of(parsed, national) if phonenumbers.is_valid_number(parsed) else None
            try:
                got = parse_phone("0" + national).kind
            except InvalidPhone:
                got = None
            assert got == expected, national
