"""The one-sentence parser of the first menu: the corpus, each date form, offices, procedures, intents."""

from __future__ import annotations

import doctest
import unicodedata
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ivr_flows.understanding
from ivr_flows.understanding import OfficeName, ProcedureName, Understanding, understand
from tests.data.understanding_corpus import OFFICES, PROCEDURES, Utterance, load

CORPUS = load()
WEDNESDAY = date(2025, 12, 3)


def _id(u: Utterance) -> str:
    return f"line{u.line}"


def _heard(text: str, today: date = WEDNESDAY) -> Understanding:
    return understand(text, today=today, offices=OFFICES, procedures=PROCEDURES)


def test_the_corpus_is_large_and_varied_and_its_misses_are_few() -> None:
    assert len(CORPUS) >= 200
    assert len(OFFICES) == 65
    assert sum(u.fully_specified for u in CORPUS) >= 100
    assert {u.intent for u in CORPUS} == {"book", "check", "cancel", "reschedule", "info", "notices", "operator",
                                         "unknown"}
    assert sum(1 for u in CORPUS if u.text.isascii()) >= 40  # without diacritics
    assert sum(1 for u in CORPUS if u.office.endswith("?")) >= 20  # recognition slips
    assert len({u.today for u in CORPUS}) >= 4
    assert sum(1 for u in CORPUS if u.miss) <= 5


@pytest.mark.parametrize("u", [u for u in CORPUS if not u.miss], ids=_id)
def test_the_sentence_is_understood(u: Utterance) -> None:
    assert u.wrong(_heard(u.text, u.today)) == {}


@pytest.mark.parametrize("u", [pytest.param(u, marks=pytest.mark.xfail(reason=u.miss, strict=True))
                               for u in CORPUS if u.miss], ids=_id)
def test_a_known_miss_is_still_missed(u: Utterance) -> None:
    """Strict: when the parser learns one of these, move it out of the known misses."""
    assert u.wrong(_heard(u.text, u.today)) == {}


def test_decomposed_input_reads_like_composed() -> None:
    """Some recognisers and keyboards send NFD (a letter followed by its marks)."""
    for u in CORPUS:
        assert _heard(unicodedata.normalize("NFD", u.text), u.today) == _heard(u.text, u.today), u.text


def test_the_module_example_holds() -> None:
    assert doctest.testmod(ivr_flows.understanding).failed == 0


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_gives_an_answer(text: str) -> None:
    assert _heard(text).intent in {"book", "check", "cancel", "reschedule", "info", "notices", "operator", "unknown"}


def test_nothing_said_is_unknown_and_misses_everything() -> None:
    heard = _heard("")
    assert heard == Understanding(intent="unknown")
    assert heard.missing == ("office", "date", "part")


# -- dates, relative to Wednesday 3 December 2025 ------------------------------------------------------

@pytest.mark.parametrize(("said", "expected"), [
    ("hôm nay", date(2025, 12, 3)), ("bữa nay", date(2025, 12, 3)), ("sáng nay", date(2025, 12, 3)),
    ("mai", date(2025, 12, 4)), ("ngày mai", date(2025, 12, 4)), ("chiều mai", date(2025, 12, 4)),
    ("ngày kia", date(2025, 12, 5)), ("ngày mốt", date(2025, 12, 5)), ("mốt", date(2025, 12, 5)),
    ("ngay mai", date(2025, 12, 4)), ("ngay kia", date(2025, 12, 5)), ("ngay mot", date(2025, 12, 5)),
])
def test_days_named_from_today(said: str, expected: date) -> None:
    assert _heard(said).date == expected


@pytest.mark.parametrize(("said", "expected"), [
    # The coming one, never today: today is a Wednesday, so "thứ tư" is next week's.
    ("thứ hai", date(2025, 12, 8)), ("thứ ba", date(2025, 12, 9)), ("thứ tư", date(2025, 12, 10)),
    ("thứ năm", date(2025, 12, 4)), ("thứ sáu", date(2025, 12, 5)), ("thứ bảy", date(2025, 12, 6)),
    ("chủ nhật", date(2025, 12, 7)), ("chúa nhật", date(2025, 12, 7)), ("thứ bẩy", date(2025, 12, 6)),
    ("thứ 2", date(2025, 12, 8)), ("thứ 7", date(2025, 12, 6)), ("T3", date(2025, 12, 9)), ("thu tu", date(2025, 12, 10)),
    ("thứ hai này", date(2025, 12, 8)), ("thứ sáu tới", date(2025, 12, 5)),
    ("thứ hai tuần này", date(2025, 12, 1)), ("thứ sáu tuần này", date(2025, 12, 5)),
    ("chủ nhật tuần này", date(2025, 12, 7)),
    ("thứ hai tuần sau", date(2025, 12, 8)), ("thứ năm tuần sau", date(2025, 12, 11)),
    ("thứ năm tuần tới", date(2025, 12, 11)), ("chủ nhật tuần sau", date(2025, 12, 14)),
    ("thứ hai tuần sau nữa", date(2025, 12, 15)), ("tuần sau thứ ba", date(2025, 12, 9)),
    ("thu 3 tuan toi", date(2025, 12, 9)),
])
def test_weekdays(said: str, expected: date) -> None:
    assert _heard(said).date == expected


@pytest.mark.parametrize(("said", "expected"), [
    ("ngày 15 tháng 12", date(2025, 12, 15)), ("15 tháng 12", date(2025, 12, 15)), ("15/12", date(2025, 12, 15)),
    ("15-12", date(2025, 12, 15)), ("15.12", date(2025, 12, 15)), ("15/12/2026", date(2026, 12, 15)),
    ("15/12/26", date(2026, 12, 15)), ("ngày 15 tháng 12 năm 2026", date(2026, 12, 15)),
    ("ngày 3 tháng 12 năm sau", date(2026, 12, 3)), ("ngày 3 tháng 12", date(2025, 12, 3)),
    # A day that has passed is next year's (month given) or next month's (month left out).
    ("ngày 1 tháng 12", date(2026, 12, 1)), ("2/12", date(2026, 12, 2)), ("ngày 2", date(2026, 1, 2)),
    ("ngày 20", date(2025, 12, 20)), ("mùng 5", date(2025, 12, 5)), ("mồng 1", date(2026, 1, 1)),
    ("ngày 5 tháng sau", date(2026, 1, 5)), ("ngày 25 tháng này", date(2025, 12, 25)),
    ("ngày mười lăm tháng mười hai", date(2025, 12, 15)), ("ngày hai mươi mốt", date(2025, 12, 21)),
    ("ngày hai mốt", date(2025, 12, 21)), ("ngày hăm hai", date(2025, 12, 22)), ("ngày ba mươi", date(2025, 12, 30)),
    ("ngày hai mươi tư", date(2025, 12, 24)), ("ngày mười", date(2025, 12, 10)), ("mùng một tháng giêng", date(2026, 1, 1)),
    ("ngày 5 tháng tư", date(2026, 4, 5)), ("ngày 20 tháng chạp", date(2025, 12, 20)),
    ("ngay muoi lam thang mot", date(2026, 1, 15)), ("ngay 9 thang 12", date(2025, 12, 9)),
])
def test_dates_said_in_full(said: str, expected: date) -> None:
    assert _heard(said).date == expected


@pytest.mark.parametrize(("said", "today", "expected"), [
    ("ngày 31", date(2026, 4, 5), date(2026, 5, 31)),  # April has 30 days
    ("ngày 29", date(2026, 1, 30), date(2026, 3, 29)),  # 2026 is not a leap year
    ("29/2", date(2026, 1, 30), date(2028, 2, 29)),
    ("ngày 30", date(2026, 1, 30), date(2026, 1, 30)),  # today itself has not passed
])
def test_the_next_day_that_exists(said: str, today: date, expected: date) -> None:
    assert _heard(said, today).date == expected


@pytest.mark.parametrize("said", ["32/12", "15/13", "ngày 0", "ngày 31 tháng 2 năm 2026", "9 giờ", "số 5", "tuần sau",
                                  "đầu tuần sau", "hôm hai"])
def test_not_a_date(said: str) -> None:
    assert _heard(said).date is None


def test_a_date_said_in_full_wins_over_a_weekday() -> None:
    assert _heard("thứ hai ngày 15 tháng 12").date == date(2025, 12, 15)


# -- parts of day -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("said", "expected"), [
    ("sáng", "S"), ("buổi sáng", "S"), ("chiều", "C"), ("buổi chiều", "C"), ("sang mai", "S"), ("chieu", "C"),
    ("8 giờ", "S"), ("lúc 11 giờ", "S"), ("14h", "C"), ("2 giờ", "C"), ("9h30", "S"), ("12 giờ", None),
    ("tối mai", None), ("trưa mai", None), ("10 giờ chiều", "C"),
    ("doi lich sang chieu", "C"), ("sang ten so do", None), ("doi lich sang sang thu hai", "S"),
])
def test_parts_of_day(said: str, expected: str | None) -> None:
    assert _heard(said).part == expected


# -- offices ----------------------------------------------------------------------------------------

TWINS = [OfficeName(1, "Trung tâm Phục vụ hành chính công phường Tân Thành"),
         OfficeName(2, "Trung tâm Phục vụ hành chính công xã Tân Thành"),
         OfficeName(3, "Trung tâm Phục vụ hành chính công tỉnh Cà Mau", province=True, aliases=("trung tâm Hùng Vương",))]


def _office(text: str) -> Understanding:
    return understand(text, today=WEDNESDAY, offices=TWINS, procedures=[])


def test_the_level_word_said_picks_between_offices_of_one_name() -> None:
    ward, commune = _office("phường Tân Thành").office, _office("xã Tân Thành").office
    assert ward is not None and commune is not None
    assert (ward.id, ward.sure, commune.id, commune.sure) == (1, True, 2, True)


def test_a_name_two_offices_share_is_read_back_with_the_other_as_alternative() -> None:
    heard = _office("đặt lịch ở Tân Thành")
    assert heard.office is not None and not heard.office.sure
    assert [o.id for o in (heard.office, *heard.office_alternatives)] == [1, 2]


def test_an_alias_names_its_office() -> None:
    heard = _office("đặt lịch ở trung tâm Hùng Vương")
    assert heard.office is not None and (heard.office.id, heard.office.sure) == (3, True)


def test_tinh_alone_names_the_province_centre_only_when_there_is_one() -> None:
    assert _heard("đặt lịch ở tỉnh").office is not None
    two = [OfficeName(1, "Tỉnh Cà Mau", province=True), OfficeName(2, "Tỉnh An Giang", province=True)]
    assert understand("đặt lịch ở tỉnh", today=WEDNESDAY, offices=two, procedures=[]).office is None


def test_a_slip_is_read_back_with_a_lower_score() -> None:
    heard = _heard("đặt lịch ở xã Năm Căng")
    assert heard.office is not None and heard.office.name == "Xã Năm Căn"
    assert not heard.office.sure and 75 <= heard.office.score < 95


def test_words_that_name_no_office_name_none() -> None:
    for text in ("cho tôi hỏi giờ làm việc", "làm căn cước", "tôi muốn đặt lịch sáng mai nhé", "alo alo"):
        assert _heard(text).office is None, text


def test_no_offices_no_office() -> None:
    assert understand("xã Năm Căn", today=WEDNESDAY, offices=[], procedures=[]).office is None


# -- procedures, intents, what is missing -------------------------------------------------------------

def test_a_procedure_named_in_two_fields_names_neither() -> None:
    both = [ProcedureName(1, "Cấp giấy phép kinh doanh rượu", "Công thương"),
            ProcedureName(2, "Cấp giấy phép kinh doanh karaoke", "Văn hóa")]
    assert understand("giấy phép kinh doanh", today=WEDNESDAY, offices=[], procedures=both).procedure is None


@pytest.mark.parametrize(("said", "intent"), [
    ("hủy nhận thông báo", "notices"), ("hủy lịch hẹn", "cancel"), ("đổi lịch đã đặt", "reschedule"),
    ("kiểm tra lịch hẹn", "check"), ("gặp tổng đài viên để đặt lịch", "operator"), ("đặt lịch, cho hỏi giờ làm việc", "book"),
])
def test_the_first_intent_in_order_wins(said: str, intent: str) -> None:
    assert _heard(said).intent == intent


def test_missing_lists_what_a_booking_still_needs() -> None:
    assert _heard("đặt lịch ở xã Năm Căn").missing == ("date", "part")
    assert _heard("đặt lịch chiều mai").missing == ("office",)
    assert _heard("đặt lịch ở xã Năm Căn chiều mai").missing == ()
