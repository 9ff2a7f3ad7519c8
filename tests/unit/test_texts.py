"""Every text a booking sends, word for word in Vietnamese and English, and what each costs in segments.

The Vietnamese comes from the catalogue itself (tests.catalogue), so a changed translation that
turns a two-segment confirmation into three fails here.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from notifications import texts
from notifications.policy import SmsPolicy
from notifications.sms import size_of
from notifications.texts import Part, Visit, fit
from tests.catalogue import CatalogueLocalizer

VI, EN = CatalogueLocalizer("vi"), CatalogueLocalizer("en")
VN = ZoneInfo("Asia/Ho_Chi_Minh")
THURSDAY, NEXT_THURSDAY = date(2026, 12, 3), date(2026, 12, 10)
NAM_CAN_EN = "Nam Can Commune Public Administration Service Centre"
# The longest name among Cà Mau's 65 centres ("xã Nguyễn Việt Khái") and no procedure named.
LONGEST = Visit("362537015", "TTPVHCC xã Nguyễn Việt Khái", THURSDAY, time(7), time(7, 30), "S-002")
BIRTH = Visit("362537015", "TTPVHCC xã Năm Căn", THURSDAY, time(7), time(7, 30), "S-002",
              documents="CCCD, tờ khai, giấy chứng sinh", result_day=NEXT_THURSDAY,
              online_url="https://dichvucong.camau.gov.vn/")
BIRTH_EN = Visit("362537015", NAM_CAN_EN, THURSDAY, time(7), time(7, 30), "S-002",
                 documents="ID card, the form, the birth certificate", result_day=NEXT_THURSDAY,
                 online_url="https://dichvucong.camau.gov.vn/")
AFTERNOON = Visit("362537015", "TTPVHCC xã Năm Căn", THURSDAY, time(13, 30), time(14), "C-004",
                  documents="CCCD, tờ khai", result_day=NEXT_THURSDAY)


def segments(text: str) -> int:
    return size_of(text).segments


# -- the office, the day ---------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "spoken", "short"), [
    ("Trung tâm Phục vụ hành chính công tỉnh Cà Mau", "tỉnh Cà Mau", "TTPVHCC tỉnh Cà Mau"),
    ("Trung tâm Phục vụ hành chính công xã Năm Căn", "xã Năm Căn", "TTPVHCC xã Năm Căn"),
    ("Trung tâm  Phục vụ hành chính công   phường An Xuyên", "phường An Xuyên", "TTPVHCC phường An Xuyên"),
    ("Bộ phận tiếp nhận và trả kết quả xã Đầm Dơi", "xã Đầm Dơi", "Bộ phận Một cửa xã Đầm Dơi"),
    ("Bộ phận Một cửa số 1", "Bộ phận Một cửa số 1", "Bộ phận Một cửa số 1"),  # another shape: kept whole
])
def test_an_sms_names_the_office_by_the_centres_initials_and_the_unit_it_serves(
        name: str, spoken: str, short: str) -> None:
    assert texts.short_office(name, spoken) == short


def test_days_carry_the_weekday_and_a_range_is_said_as_one_only_when_it_is_one_day() -> None:
    assert (VI.day(THURSDAY), EN.day(THURSDAY), VI.day(date(2026, 12, 6))) == ("T5 03/12", "Thu 03/12", "CN 06/12")
    assert texts.days(date(2026, 12, 4), date(2026, 12, 4), VI) == "ngày T6 04/12"
    assert texts.days(date(2026, 12, 4), date(2026, 12, 6), VI) == "từ T6 04/12 đến CN 06/12"
    assert texts.days(date(2026, 12, 4), date(2026, 12, 4), EN) == "on Fri 04/12"
    assert texts.when(THURSDAY, "C", VI) == "chiều T5 03/12" and texts.when(THURSDAY, "S", EN) == "Thu 03/12 morning"


# -- fitting ---------------------------------------------------------------------------------------

def test_fit_shortens_the_least_kept_part_first_then_leaves_it_out() -> None:
    parts = [Part(("Head.",)), Part.optional(3, "Bring the long list.", "Bring ID."),
             Part.optional(2, "Result Thursday."), Part.optional(1, "Online too."), Part(("Call 1022.",))]
    everything = "Head. Bring the long list. Result Thursday. Online too. Call 1022."
    assert fit(parts, fits=lambda text: True) == everything
    assert fit(parts, fits=lambda text: len(text) <= len(everything) - 1) == (
        "Head. Bring the long list. Result Thursday. Call 1022.")
    assert fit(parts, fits=lambda text: len(text) <= 45) == "Head. Bring the long list. Call 1022."
    assert fit(parts, fits=lambda text: len(text) <= 30) == "Head. Bring ID. Call 1022."
    assert fit(parts, fits=lambda text: len(text) <= 20) == "Head. Call 1022."
    # What cannot fit is sent whole rather than lose the appointment it tells of.
    assert fit(parts, fits=lambda text: len(text) <= 5) == "Head. Call 1022."


def test_among_parts_kept_alike_the_later_one_gives_way_first() -> None:
    parts = [Part.optional(1, "First."), Part.optional(1, "Second."), Part(("End.",))]
    assert fit(parts, fits=lambda text: len(text) <= 11) == "First. End."


# -- confirmations and reminders --------------------------------------------------------------------

def test_the_confirmation_at_the_longest_office_name_fits_two_segments_with_the_default_documents() -> None:
    text = texts.confirmation(LONGEST, hotline="1022", loc=VI)
    assert text == ("Lịch hẹn 362537015 tại TTPVHCC xã Nguyễn Việt Khái: T5 03/12, đến 07:00-07:30, số S-002. "
                    "Mang CCCD và giấy tờ hồ sơ. Hỗ trợ: 1022.")
    assert (len(text), size_of(text).encoding, segments(text)) == (130, "ucs2", 2)


def test_the_procedures_documents_come_before_its_result_date_and_its_portal() -> None:
    text = texts.confirmation(BIRTH, hotline="1022", loc=VI)
    assert text == ("Lịch hẹn 362537015 tại TTPVHCC xã Năm Căn: T5 03/12, đến 07:00-07:30, số S-002. "
                    "Mang CCCD, tờ khai, giấy chứng sinh. Hỗ trợ: 1022.")
    assert segments(text) == 2
    roomy = texts.confirmation(BIRTH, hotline="1022", loc=VI, fits=lambda text: segments(text) <= 4)
    assert roomy == ("Lịch hẹn 362537015 tại TTPVHCC xã Năm Căn: T5 03/12, đến 07:00-07:30, số S-002. "
                     "Mang CCCD, tờ khai, giấy chứng sinh. Hẹn trả kết quả T5 10/12. "
                     "Có thể nộp trực tuyến: dichvucong.camau.gov.vn Hỗ trợ: 1022.")


def test_a_list_too_long_to_fit_keeps_its_first_documents_and_says_etc() -> None:
    land = Visit("362537015", "TTPVHCC xã Nguyễn Việt Khái", THURSDAY, time(7), time(7, 30), "S-002",
                 documents="CCCD, đơn, giấy tờ đất, hai bộ bản vẽ", result_day=NEXT_THURSDAY)
    assert texts.documents(land.documents, VI) == [
        "Mang CCCD, đơn, giấy tờ đất, hai bộ bản vẽ.", "Mang CCCD, đơn, giấy tờ đất v.v.", "Mang CCCD, đơn v.v.",
        "Mang CCCD v.v.", "Mang CCCD và giấy tờ hồ sơ."]
    text = texts.confirmation(land, hotline="1022", loc=VI)
    assert text == ("Lịch hẹn 362537015 tại TTPVHCC xã Nguyễn Việt Khái: T5 03/12, đến 07:00-07:30, số S-002. "
                    "Mang CCCD, đơn v.v. Hỗ trợ: 1022.")
    assert segments(text) == 2
    assert texts.documents("", EN) == ["Bring your ID card and the papers of your case."]


def test_a_short_list_leaves_room_for_nothing_more_but_what_fits() -> None:
    assert texts.confirmation(AFTERNOON, hotline="0290 1022", loc=VI) == (
        "Lịch hẹn 362537015 tại TTPVHCC xã Năm Căn: T5 03/12, đến 13:30-14:00, số C-004. Mang CCCD, tờ khai. "
        "Hỗ trợ: 0290 1022.")


def test_the_english_confirmation_is_plain_letters_and_says_everything_in_two_segments() -> None:
    text = texts.confirmation(BIRTH_EN, hotline="1022", loc=EN)
    assert text == (f"Appointment 362537015 at {NAM_CAN_EN}: Thu 03/12, arrive 07:00-07:30, queue number S-002. "
                    "Bring ID card, the form, the birth certificate. Result expected Thu 10/12. "
                    "Can also be filed online: dichvucong.camau.gov.vn Questions? Call 1022.")
    assert (size_of(text).encoding, segments(text)) == ("gsm7", 2)
    assert texts.confirmation(Visit("1", NAM_CAN_EN, THURSDAY, time(7), time(7, 30), "S-001"), hotline="1022",
                              loc=EN).endswith("Bring your ID card and the papers of your case. Questions? Call 1022.")


def test_a_brandname_before_every_text_is_counted_when_fitting() -> None:
    policy = SmsPolicy(brandname="UBND CA MAU")
    text = texts.confirmation(LONGEST, hotline="1022", loc=VI, fits=policy.fits)
    assert text == ("Lịch hẹn 362537015 tại TTPVHCC xã Nguyễn Việt Khái: T5 03/12, đến 07:00-07:30, số S-002. "
                    "Hỗ trợ: 1022.")
    assert segments(policy.text(text)) == 2


def test_reminders_say_what_the_confirmation_said_without_the_portal() -> None:
    assert texts.reminder(AFTERNOON, hotline="1022", loc=VI) == (
        "Nhắc hẹn 362537015 tại TTPVHCC xã Năm Căn: T5 03/12, đến 13:30-14:00, số C-004. Mang CCCD, tờ khai. "
        "Hỗ trợ: 1022.")
    assert texts.reminder(BIRTH_EN, hotline="1022", loc=EN) == (
        f"Reminder: appointment 362537015 at {NAM_CAN_EN}: Thu 03/12, arrive 07:00-07:30, queue number S-002. "
        "Bring ID card, the form, the birth certificate. Result expected Thu 10/12. Questions? Call 1022.")


# -- cancellations, moves, closures -------------------------------------------------------------------

def test_a_cancellation_says_which_appointment_and_the_number_to_book_again() -> None:
    vi = texts.cancellation(code="362537015", office="TTPVHCC xã Năm Căn", day=THURSDAY, session_code="S",
                            hotline="1022", loc=VI)
    assert vi == "Lịch hẹn 362537015 tại TTPVHCC xã Năm Căn, sáng T5 03/12, đã được hủy. Muốn đặt lại, xin gọi 1022."
    assert segments(vi) == 2
    assert texts.cancellation(code="362537015", office=NAM_CAN_EN, day=THURSDAY, session_code="S", hotline="1022",
                              loc=EN) == (f"Appointment 362537015 at {NAM_CAN_EN}, Thu 03/12 morning, has been "
                                          "cancelled. To book again, call 1022.")


def test_a_move_says_why_where_it_was_and_where_it_is_now() -> None:
    assert texts.move(AFTERNOON, was=THURSDAY, was_session="S", reason="", hotline="1022", loc=VI) == (
        "Lịch hẹn 362537015 chuyển (theo yêu cầu của quý vị) từ sáng T5 03/12 sang TTPVHCC xã Năm Căn, T5 03/12: "
        "đến 13:30-14:00, số C-004. Hỗ trợ: 1022.")
    assert texts.move(BIRTH_EN, was=date(2026, 12, 2), was_session="C", reason="", hotline="1022", loc=EN) == (
        f"Appointment 362537015 is moved (at your request) from Wed 02/12 afternoon to {NAM_CAN_EN}, Thu 03/12: "
        "arrive 07:00-07:30, queue number S-002. Questions? Call 1022.")
    assert "(đổi bàn tiếp nhận)" in texts.move(AFTERNOON, was=THURSDAY, was_session="S", reason="đổi bàn tiếp nhận",
                                               hotline="1022", loc=VI)


def test_a_closure_tells_each_person_booked_the_managers_reason_and_what_became_of_their_appointment() -> None:
    assert texts.closure_move(AFTERNOON, was=THURSDAY, was_session="S", reason="mất điện", hotline="1022",
                              loc=VI) == (
        "TTPVHCC xã Năm Căn nghỉ sáng T5 03/12 (mất điện). Lịch hẹn 362537015 chuyển sang T5 03/12: "
        "đến 13:30-14:00, số C-004. Hỗ trợ: 1022.")
    assert texts.closure_move(BIRTH_EN, was=date(2026, 12, 2), was_session="C", reason="power cut", hotline="1022",
                              loc=EN) == (
        f"{NAM_CAN_EN} does not receive on Wed 02/12 afternoon (power cut). Appointment 362537015 is moved to "
        "Thu 03/12: arrive 07:00-07:30, queue number S-002. Questions? Call 1022.")
    assert texts.closure_cancellation(code="362537015", office="TTPVHCC xã Năm Căn", day=date(2026, 12, 4),
                                      session_code="C", reason="bão", hotline="1022", loc=VI) == (
        "TTPVHCC xã Năm Căn nghỉ chiều T6 04/12 (bão). Lịch hẹn 362537015 đã bị hủy; muốn đặt lại, xin gọi 1022.")
    assert texts.closure_cancellation(code="362537015", office=NAM_CAN_EN, day=date(2026, 12, 4), session_code="C",
                                      reason="", hotline="1022", loc=EN) == (
        f"{NAM_CAN_EN} does not receive on Fri 04/12 afternoon (a change to the office's hours). Appointment "
        "362537015 is cancelled; to book again, call 1022.")


def test_a_closure_notice_says_one_day_as_one_day_and_gives_the_number() -> None:
    one = texts.closure(office="TTPVHCC xã Năm Căn", start=date(2026, 12, 4), end=date(2026, 12, 4), reason="bão",
                        hotline="1022", loc=VI)
    assert one == ("TTPVHCC xã Năm Căn nghỉ ngày T6 04/12 (bão). Lịch hẹn trong thời gian này bị hủy; "
                   "muốn đặt lại, xin gọi 1022.")
    several = texts.closure(office="TTPVHCC xã Năm Căn", start=date(2026, 12, 4), end=date(2026, 12, 6),
                            reason="bão", hotline="1022", loc=VI)
    assert several == ("TTPVHCC xã Năm Căn nghỉ từ T6 04/12 đến CN 06/12 (bão). Lịch hẹn trong thời gian này "
                       "bị hủy; muốn đặt lại, xin gọi 1022.")
    assert segments(one) == segments(several) == 2
    assert texts.closure(office=NAM_CAN_EN, start=date(2026, 12, 4), end=date(2026, 12, 6), reason="storm",
                         hotline="1022", loc=EN) == (
        f"{NAM_CAN_EN} is closed from Fri 04/12 to Sun 06/12 (storm). Appointments booked for then are cancelled; "
        "to book again, call 1022.")


# -- call-backs -------------------------------------------------------------------------------------

def test_the_call_back_acknowledgement_says_by_when_an_operator_calls() -> None:
    today = date(2026, 12, 1)
    assert texts.callback_ack(by=datetime(2026, 12, 1, 17, 0, tzinfo=VN), today=today, loc=VI) == (
        "Tổng đài hành chính công đã nhận yêu cầu của quý vị: tổng đài viên sẽ gọi lại cho quý vị trước 17:00 hôm nay.")
    assert texts.callback_ack(by=datetime(2026, 12, 2, 17, 0, tzinfo=VN), today=today, loc=VI) == (
        "Tổng đài hành chính công đã nhận yêu cầu của quý vị: tổng đài viên sẽ gọi lại cho quý vị trước 17:00 "
        "ngày T4 02/12.")
    assert texts.callback_ack(by=datetime(2026, 12, 2, 17, 0, tzinfo=VN), today=today, loc=EN) == (
        "The public administration hotline received your request: an operator will call you back before 17:00 "
        "on Wed 02/12.")


def test_no_text_says_bạn_or_offers_a_keyword_to_reply() -> None:
    said = [
        texts.confirmation(BIRTH, hotline="1022", loc=VI), texts.reminder(AFTERNOON, hotline="1022", loc=VI),
        texts.move(AFTERNOON, was=THURSDAY, was_session="S", reason="", hotline="1022", loc=VI),
        texts.closure(office="TTPVHCC xã Năm Căn", start=THURSDAY, end=THURSDAY, reason="bão", hotline="1022",
                      loc=VI),
        texts.callback_ack(by=datetime(2026, 12, 1, 17, 0, tzinfo=VN), today=THURSDAY, loc=VI)]
    for text in said:
        words = text.lower().replace(".", " ").replace(",", " ").split()
        assert "bạn" not in words and "nhắn" not in words and "soạn" not in words, text
