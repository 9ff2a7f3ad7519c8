"""Behaviour of booking.codes: keypad-friendly codes whose typing mistakes are caught.

Pure functions over text: no database, no network.
"""

from __future__ import annotations

import random

import pytest

from booking.codes import CODE_LENGTH, is_valid_code, new_code, normalise_code, spoken_groups
from booking.errors import InvalidBookingCode

# The Damm operation table as published (Damm 2004; Wikipedia), written out here so that the
# tests check the codes against the algorithm itself rather than against the library they use.
DAMM_TABLE = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def damm_interim(digits: str) -> int:
    interim = 0
    for digit in digits:
        interim = DAMM_TABLE[interim][int(digit)]
    return interim


VALID = "123456786"  # damm_interim("12345678") == 6
SAMPLE_CODES = [new_code(random.Random(seed)) for seed in range(60)] + [VALID]


def test_reference_code_really_carries_its_damm_check_digit() -> None:
    assert damm_interim("12345678") == 6
    assert damm_interim(VALID) == 0
    assert is_valid_code(VALID)


def test_code_length_is_eight_random_digits_and_one_check_digit() -> None:
    assert CODE_LENGTH == 9


# --- generation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(200))
def test_generated_code_is_nine_digits_that_validate(seed: int) -> None:
    code = new_code(random.Random(seed))
    assert len(code) == CODE_LENGTH
    assert code.isascii() and code.isdigit()
    assert damm_interim(code) == 0
    assert is_valid_code(code)
    assert normalise_code(code) == code


def test_generated_code_never_starts_with_zero() -> None:
    rng = random.Random(2026)
    first_digits = {new_code(rng)[0] for _ in range(2000)}
    assert "0" not in first_digits
    assert first_digits == set("123456789")  # and every other first digit does occur


def test_same_seed_gives_the_same_code_for_reproducible_tests() -> None:
    assert new_code(random.Random(7)) == new_code(random.Random(7))
    assert new_code(random.Random(7)) != new_code(random.Random(8))


def test_without_an_rng_codes_come_from_the_secrets_module(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def fake_randbelow(n: int) -> int:
        calls.append(n)
        return n - 1

    monkeypatch.setattr("booking.codes.secrets.randbelow", fake_randbelow)
    code = new_code()
    assert calls == [9] + [10] * 7
    assert code[:8] == "99999999"
    assert is_valid_code(code)


def test_codes_from_the_default_generator_validate_and_differ() -> None:
    generated = [new_code() for _ in range(100)]
    assert all(is_valid_code(code) for code in generated)
    assert len(set(generated)) > 95


# --- error detection ------------------------------------------------------------------------


@pytest.mark.parametrize("code", SAMPLE_CODES)
def test_every_single_digit_substitution_is_rejected(code: str) -> None:
    mistyped = [
        code[:i] + digit + code[i + 1 :]
        for i in range(len(code))
        for digit in "0123456789"
        if digit != code[i]
    ]
    assert len(mistyped) == 9 * 9
    assert not any(is_valid_code(text) for text in mistyped)
    for text in mistyped:
        with pytest.raises(InvalidBookingCode):
            normalise_code(text)


@pytest.mark.parametrize("code", SAMPLE_CODES)
def test_every_adjacent_transposition_is_rejected(code: str) -> None:
    swapped = [
        code[:i] + code[i + 1] + code[i] + code[i + 2 :]
        for i in range(len(code) - 1)
        if code[i] != code[i + 1]
    ]
    assert swapped, "sample code should have at least one pair of differing neighbours"
    assert not any(is_valid_code(text) for text in swapped)
    for text in swapped:
        with pytest.raises(InvalidBookingCode):
            normalise_code(text)


def test_transposition_of_0_and_9_is_caught_unlike_with_luhn() -> None:
    body = "10900000"  # contains "09"; Luhn cannot tell "09" from "90"
    code = body + str(DAMM_TABLE[damm_interim(body)].index(0))
    assert is_valid_code(code)
    assert not is_valid_code(code.replace("09", "90", 1))


# --- normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "123456786",
        "123 456 786",
        "123-456-786",
        "123.456.786",
        "  123456786 ",
        "123 - 456 - 786",
        "123\t456\n786",
        "123\u00a0456\u00a0786",  # no-break spaces
        "123–456–786",  # en dashes
        "１２３４５６７８６",  # full-width digits
        "１２３－４５６－７８６",  # full-width hyphen-minus
    ],
)
def test_formatting_variations_are_normalised(text: str) -> None:
    assert normalise_code(text) == VALID


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "12345678",  # check digit missing
        "1234567860",  # one digit too many
        "123456787",  # wrong check digit
        "12345678a",
        "abcdefghi",
        "123/456/786",  # slashes are not how codes are written
        "+23456786",
        "١٢٣٤٥٦٧٨٦",  # Arabic-Indic digits, not keypad digits
    ],
)
def test_text_that_is_not_a_valid_code_is_rejected(text: str) -> None:
    with pytest.raises(InvalidBookingCode) as caught:
        normalise_code(text)
    assert caught.value.params == {"text": text}
    assert not is_valid_code(text)


def test_code_with_leading_zero_is_rejected_even_with_a_matching_check_digit() -> None:
    body = "02345678"
    code = body + str(DAMM_TABLE[damm_interim(body)].index(0))
    assert damm_interim(code) == 0
    assert not is_valid_code(code)
    with pytest.raises(InvalidBookingCode):
        normalise_code(code)


def test_is_valid_code_accepts_only_the_canonical_form() -> None:
    assert is_valid_code(VALID)
    assert not is_valid_code("123 456 786")
    assert not is_valid_code(VALID + "\n")


def test_invalid_code_error_quotes_what_the_caller_typed() -> None:
    with pytest.raises(InvalidBookingCode) as caught:
        normalise_code("123 456 787")
    assert caught.value.code == "invalid_code"
    assert "123 456 787" in str(caught.value)


# --- reading aloud ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "groups"),
    [
        ("123456789", ["123", "456", "789"]),
        (VALID, ["123", "456", "786"]),
        ("12345", ["123", "45"]),
        ("", []),
    ],
)
def test_code_is_read_aloud_in_groups_of_three(code: str, groups: list[str]) -> None:
    assert spoken_groups(code) == groups


@pytest.mark.parametrize("code", SAMPLE_CODES[:10])
def test_spoken_groups_put_back_together_give_the_code(code: str) -> None:
    groups = spoken_groups(code)
    assert len(groups) == 3
    assert "".join(groups) == code
    assert normalise_code(" ".join(groups)) == code
