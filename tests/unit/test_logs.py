"""Phone numbers in log lines are masked however they are spelled; booking codes, ids and times stay readable."""

from __future__ import annotations

import json
import logging
import random

import pytest

from booking.codes import is_valid_code, new_code
from hotline.logs import JsonFormatter, clean, scrub

CODE = "912345670"  # nine digits with a valid Damm check digit: a booking code shaped like a mobile
assert is_valid_code(CODE)


@pytest.mark.parametrize("text, expected", [
    ("gọi 0084912345678", "gọi **********678"),
    ("SĐT 912345678 không nhận SMS", "SĐT ******678 không nhận SMS"),
    ("gọi 84 912 345 678", "gọi ** *** *** 678"),
    ("gọi (+84) 912345678", "gọi (+**) ******678"),
    ("gọi (84) 912 345 678", "gọi (**) *** *** 678"),
    ("gọi 0084 912 345 678", "gọi **** *** *** 678"),
    ("gọi +84 (0) 912 345 678", "gọi +** (*) *** *** 678"),
    ("gọi (+84) 290.3821.022", "gọi (+**) ***.****.022"),
    (f"gọi (+84) {CODE}", "gọi (+**) ******670"),  # after a country code it is a number, not a code
    ("gọi 0044 20 7946 0958", "gọi **** ** **** *958"),
])
def test_phone_numbers_spelled_every_way_are_masked(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize("text", [
    f"booking {CODE} cancelled",
    f"GET /console/bookings/{CODE} 200",
    "mã 123 456 789, 1 500 000 đồng, ngày 01-03-2027 09:00",
    "outbox 912345 after 912 ms, call step 9, id 123456789",
    "at 1700000000, 1700000000123 ms",
    "84 100 200 300 đồng",
    "CallSid CA0123456789abcdef0123456789abcdef",
])
def test_codes_ids_durations_and_times_are_left_alone(text: str) -> None:
    assert scrub(text) == text


def test_no_booking_code_is_ever_taken_for_a_phone() -> None:
    rng = random.Random(20270302)
    codes = [new_code(rng) for _ in range(2000)]
    assert [c for c in codes if scrub(f"booking {c}") != f"booking {c}"] == []


def test_nine_digits_that_fail_the_check_digit_are_masked_as_a_mobile() -> None:
    rng = random.Random(84)
    mobiles = [f"{rng.choice('35789')}{rng.randrange(10**8):08d}" for _ in range(2000)]
    leaked = [m for m in mobiles if m in scrub(f"SMS to {m}")]
    assert leaked == [m for m in mobiles if is_valid_code(m)]  # only those that pass for a code
    assert len(leaked) < len(mobiles) // 5


def test_the_booking_field_keeps_its_code() -> None:
    assert clean("booking_code", CODE) == CODE
    record = logging.LogRecord("hotline.booking", logging.INFO, __file__, 1, "booking %s", ("cancelled",), None)
    record.booking_code = CODE
    record.caller = "912345678"
    line = json.loads(JsonFormatter().format(record))
    assert (line["booking_code"], line["caller"], line["message"]) == (CODE, "******678", "booking cancelled")
