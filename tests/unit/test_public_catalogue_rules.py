"""The small rules of the public catalogue: dictionary order, the folded week, dialable numbers, pages of codes."""

from __future__ import annotations

from datetime import time

from booking.catalogue import office_code, procedure_code, vietnamese_order
from booking.models import Office, OfficeLevel, SessionTemplate
from hotline.catalogue import HoursRow, dial, opening_hours


def test_vietnamese_order_puts_d_with_a_bar_after_d_and_numbers_by_value() -> None:
    fields = ["Xây dựng", "Đất đai", "Dân cư", "Hộ tịch", "Chứng thực", "Ăn uống"]
    assert sorted(fields, key=vietnamese_order) == ["Ăn uống", "Chứng thực", "Dân cư", "Đất đai", "Hộ tịch",
                                                     "Xây dựng"]
    assert sorted(["Thủ tục số 10", "Thủ tục số 2"], key=vietnamese_order) == ["Thủ tục số 2", "Thủ tục số 10"]


def test_codes_are_read_as_stored_and_anything_else_is_no_code() -> None:
    assert office_code(" cm-namcan ") == "CM-NAMCAN" and procedure_code("ht-khaisinh") == "HT-KHAISINH"
    assert procedure_code("1.001193") == "1.001193"
    for text in ("", "x", "CM NAMCAN", "ǆ", "NAMCAN\u202e", "Ｎ", "../x", "A" * 41, "ß" * 20, "tıtle"):
        assert office_code(text) is None and procedure_code(text) is None, text


def _office(*sessions: tuple[int, str, str, str]) -> Office:
    office = Office(code="X", name="X", level=OfficeLevel.COMMUNE)
    office.templates = [SessionTemplate(weekday=d, code=c, start_time=time.fromisoformat(s), end_time=time.fromisoformat(e),
                                        capacity=10) for d, c, s, e in sessions]
    return office


def test_the_week_folds_days_that_keep_the_same_hours_and_only_consecutive_ones() -> None:
    week = [(d, c, s, e) for d in range(5) for c, s, e in (("C", "13:30", "17:00"), ("S", "07:30", "11:30"))]
    office = _office(*week, (5, "S", "07:30", "11:00"), (2, "X", "17:00", "19:00"))
    morning, afternoon = ("S", time(7, 30), time(11, 30)), ("C", time(13, 30), time(17, 0))
    assert opening_hours(office) == [
        HoursRow((0, 1), (morning, afternoon)),
        HoursRow((2,), (morning, afternoon, ("X", time(17), time(19)))),
        HoursRow((3, 4), (morning, afternoon)),
        HoursRow((5,), (("S", time(7, 30), time(11)),)),
    ]
    assert opening_hours(_office()) == []


def test_a_printed_number_is_dialled_by_its_digits() -> None:
    assert dial("0290 3821 022") == "02903821022"
    assert dial("+84 290 3821 022") == "+842903821022"
    assert dial("1022") == "1022" and dial("0290.1022") == "02901022"
