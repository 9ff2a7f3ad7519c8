"""The public catalogue (issue 13): a page per office and per procedure, each with a QR code to itself, and an
office's printable sheet of QR codes, on both engines.

QR codes are checked by drawing the expected URL with the same function and finding that exact SVG in the
page: segno cannot decode, and no decoder is installed; a wrong URL, host or code draws other modules.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from booking.availability import effective_capacity
from booking.models import OfficeLevel, Procedure
from booking.seats import window_capacity
from hotline.catalogue import CODES_PER_SHEET
from tests.console import make_staff, signed_in
from tests.factories import make_office, make_procedure

BASE = "https://hotline.example.gov.vn"
HOTLINE = "0290 3821 022"
DOCUMENTS = "Tờ khai đăng ký khai sinh theo mẫu\n- Giấy chứng sinh do cơ sở y tế cấp\n\nCăn cước của cha hoặc mẹ\n"


@pytest.fixture
def client(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(public_base_url=BASE, hotline_number=HOTLINE).test_client()


def _qr(client: FlaskClient, url: str) -> str:
    """The inline SVG the app draws for `url` (the same function, so the same modules)."""
    from hotline.qr import url_qr_svg

    with client.application.test_request_context():
        return str(url_qr_svg(url))


def _catalogue(db: Session) -> dict[str, Procedure]:
    """Năm Căn (a commune centre, keypad 5, a crowd limit of 3) and the province's centre; procedures of each level."""
    make_office(db, code="NAMCAN", name="Trung tâm Phục vụ hành chính công xã Năm Căn", keypad_number=5,
                address="Khóm 2, xã Năm Căn, tỉnh Cà Mau", phone="+842903870123", crowd_limit=3,
                spoken_name="xã Năm Căn", name_en="Public Administration Service Centre of Nam Can commune")
    make_office(db, code="DAMDOI", name="Trung tâm Phục vụ hành chính công xã Đầm Dơi", keypad_number=6,
                spoken_name="xã Đầm Dơi")
    make_office(db, code="TINH", name="Trung tâm Phục vụ hành chính công tỉnh Cà Mau", keypad_number=1,
                level=OfficeLevel.PROVINCE, spoken_name="tỉnh Cà Mau")
    make_office(db, code="CU", name="Bộ phận Một cửa cũ", active=False)
    made = {
        "birth": make_procedure(db, code="HT-KHAISINH", name="Đăng ký khai sinh", name_en="Birth registration",
                                field="Hộ tịch", field_en="Civil status", documents=DOCUMENTS, fee_vnd=0,
                                fee_note="miễn lệ phí khi đăng ký đúng hạn", processing_days=0,
                                online_url="https://dichvucong.gov.vn/p/home/dvc-trang-chu.html", by_post=True,
                                national_code="1.001193"),
        "land": make_procedure(db, code="DD-BIENDONG", name="Đăng ký biến động đất đai", field="Đất đai",
                               documents="Đơn đăng ký biến động\nGiấy chứng nhận đã cấp", documents_en="Application form\nThe certificate",
                               fee_vnd=1234567, processing_days=10, at_province=True, at_commune=True),
        "record": make_procedure(db, code="TP-LYLICH", name="Cấp phiếu lý lịch tư pháp", field="Tư pháp",
                                 at_province=True, at_commune=False, online_url="javascript:alert(1)"),
        "old": make_procedure(db, code="CU-THUTUC", name="Thủ tục đã bỏ", field="Hộ tịch", active=False),
    }
    db.commit()
    return made


def test_an_office_page_gives_hours_seats_procedures_the_hotline_and_its_own_qr(client: FlaskClient,
                                                                                db: Session) -> None:
    _catalogue(db)
    db.rollback()
    page = client.get("/offices/NAMCAN?lang=en")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Public Administration Service Centre of Nam Can commune" in text and "Khóm 2, xã Năm Căn" in text
    assert "Monday – Friday" in text and "Morning" in text and "07:30–11:30" in text and "13:30–17:00" in text
    # The hotline, and how to reach this office in the call (its name, said); the office's own number.
    assert 'href="tel:02903821022"' in text and HOTLINE in text and "Say “xã Năm Căn”." in text
    assert 'href="tel:02903870123"' in text
    # Seats: the effective capacity the grid and the settings page show (40 seats, eight windows of at most 3).
    # 07:30-11:30 is eight windows of 30 minutes.
    seats = effective_capacity(capacity=40, window_capacities=[window_capacity(40, 8, 3)] * 8, kept_for_others=0)
    assert seats == 24
    assert f"{seats} of {seats} seats left" in text and "40 of 40" not in text
    assert "No longer bookable" in text  # Monday morning has begun (09:00)
    # Procedures taken at communes, active ones only, each a link; fields in the reader's language.
    assert 'href="/procedures/HT-KHAISINH"' in text and "Birth registration" in text and "Civil status" in text
    assert 'href="/procedures/DD-BIENDONG"' in text
    assert "TP-LYLICH" not in text and "CU-THUTUC" not in text
    assert 'href="/offices/NAMCAN/qr-sheet"' in text
    assert _qr(client, f"{BASE}/offices/NAMCAN") in text
    assert "<script" not in text and "style=" not in text

    vietnamese = client.get("/offices/NAMCAN?lang=vi").get_data(as_text=True)
    assert "Trung tâm Phục vụ hành chính công xã Năm Căn" in vietnamese and "Thứ Hai – Thứ Sáu" in vietnamese
    assert "Buổi sáng" in vietnamese and "Cách đặt lịch" in vietnamese and f"còn {seats}/{seats} chỗ" in vietnamese
    # Fields in Vietnamese dictionary order: "Đất đai" (đ after d) before "Hộ tịch".
    assert vietnamese.index("<h4>Đất đai</h4>") < vietnamese.index("<h4>Hộ tịch</h4>")


def test_the_province_centre_is_reached_by_a_key_and_lists_its_own_procedures(client: FlaskClient,
                                                                              db: Session) -> None:
    _catalogue(db)
    db.rollback()
    text = client.get("/offices/TINH?lang=en").get_data(as_text=True)
    assert "Press 1 for the province centre." in text
    assert 'href="/procedures/TP-LYLICH"' in text and 'href="/procedures/DD-BIENDONG"' in text
    assert "HT-KHAISINH" not in text


def test_a_procedure_page_gives_documents_fee_time_online_post_code_offices_and_its_qr(client: FlaskClient,
                                                                                       db: Session) -> None:
    _catalogue(db)
    db.rollback()
    text = client.get("/procedures/HT-KHAISINH").get_data(as_text=True)  # Vietnamese, the default
    assert "Đăng ký khai sinh" in text and "Hộ tịch" in text and "1.001193" in text
    documents = re.search(r'<ol class="documents"[^>]*>(.*?)</ol>', text, re.DOTALL)
    assert documents is not None
    assert re.findall(r"<li>(.*?)</li>", documents.group(1)) == [
        "Tờ khai đăng ký khai sinh theo mẫu", "Giấy chứng sinh do cơ sở y tế cấp", "Căn cước của cha hoặc mẹ"]
    assert "Miễn phí" in text and "miễn lệ phí khi đăng ký đúng hạn" in text
    assert "Trả kết quả trong ngày" in text
    assert 'href="https://dichvucong.gov.vn/p/home/dvc-trang-chu.html"' in text and "dichvucong.gov.vn" in text
    assert "bưu chính công ích" in text
    # Taken at every active commune office, not at the province's nor at the closed one.
    assert 'href="/offices/NAMCAN"' in text and 'href="/offices/DAMDOI"' in text
    assert 'href="/offices/TINH"' not in text and 'href="/offices/CU"' not in text
    assert HOTLINE in text and "Nói tên xã, phường của quý vị" in text
    assert _qr(client, f"{BASE}/procedures/HT-KHAISINH") in text
    assert "<script" not in text and "style=" not in text

    english = client.get("/procedures/HT-KHAISINH?lang=en").get_data(as_text=True)
    assert "Birth registration" in english and "Free" in english and "The result is returned the same day" in english
    # No English list was given: the Vietnamese one, marked as Vietnamese for screen readers, and said so.
    assert '<ol class="documents" lang="vi">' in english and "in Vietnamese only" in english


def test_fees_are_in_vietnamese_numbers_and_unknown_facts_are_said_to_be_unstated(client: FlaskClient,
                                                                                   db: Session) -> None:
    _catalogue(db)
    db.rollback()
    land = client.get("/procedures/DD-BIENDONG").get_data(as_text=True)
    assert "1.234.567\xa0₫" in land and "10 ngày làm việc" in land
    assert "Không làm trực tuyến" in land and "Không qua bưu chính" in land
    assert 'href="/offices/TINH"' in land and 'href="/offices/NAMCAN"' in land
    assert land.index('href="/offices/TINH"') < land.index('href="/offices/NAMCAN"')  # the province's first
    english = client.get("/procedures/DD-BIENDONG?lang=en").get_data(as_text=True)
    assert "₫1,234,567" in english and "10 working days" in english
    assert "<li>Application form</li>" in english and "in Vietnamese only" not in english
    record = client.get("/procedures/TP-LYLICH?lang=vi").get_data(as_text=True)
    assert record.count("Chưa công bố") == 3  # fee, processing time, national code
    assert "javascript:" not in record  # an address a browser should not open is not linked
    # Taken at the province's centre only: the call's way there, not "say your commune".
    assert "Bấm phím 1 để chọn Trung tâm Phục vụ hành chính công tỉnh." in record and "Nói tên xã" not in record


def test_the_qr_sheet_has_the_office_code_and_one_per_procedure_twelve_to_a_sheet(client: FlaskClient,
                                                                                  db: Session) -> None:
    made = _catalogue(db)
    extra = [make_procedure(db, code=f"XT-THU{n:02d}", name=f"Thủ tục thử số {n}", field="Thử nghiệm")
             for n in range(CODES_PER_SHEET)]
    db.commit()
    codes = [made["land"].code, made["birth"].code, *(p.code for p in extra)]
    db.rollback()
    response = client.get("/offices/NAMCAN/qr-sheet")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    sheets = text.split('<section class="qr-sheet"')[1:]
    assert len(sheets) == 2 and [s.count('<li class="qr-card') for s in sheets] == [12, 3]  # 1 + 14 codes
    assert 'class="qr-card qr-card--office"' in sheets[0] and _qr(client, f"{BASE}/offices/NAMCAN") in sheets[0]
    assert "Tờ 1/2" in sheets[0] and "Tờ 2/2" in sheets[1] and "Trung tâm Phục vụ hành chính công xã Năm Căn" in sheets[1]
    for code in codes:
        assert f'<span class="qr-card__code">{code}</span>' in text
        assert _qr(client, f"{BASE}/procedures/{code}") in text
    assert "Đăng ký khai sinh" in text and "Thủ tục thử số 11" in text
    assert "TP-LYLICH" not in text and "CU-THUTUC" not in text
    assert HOTLINE in text and "<script" not in text and "style=" not in text


def test_without_a_public_base_url_codes_carry_the_request_host(make_app: Callable[..., Flask], db: Session) -> None:
    _catalogue(db)
    db.rollback()
    client = make_app().test_client()
    text = client.get("/offices/NAMCAN", base_url="http://mot-cua.camau.local").get_data(as_text=True)
    assert _qr(client, "http://mot-cua.camau.local/offices/NAMCAN") in text
    assert "http://mot-cua.camau.local/offices/NAMCAN" in text and BASE not in text
    assert 'href="tel:1022"' in text  # HOTLINE_NUMBER's default


@pytest.mark.parametrize("path", ["/offices/NOPE", "/procedures/NOPE", "/offices/NOPE/qr-sheet", "/offices/CU",
                                  "/procedures/CU-THUTUC"])
def test_unknown_or_withdrawn_codes_are_not_found_in_the_readers_language(client: FlaskClient, db: Session,
                                                                          path: str) -> None:
    _catalogue(db)
    db.rollback()
    vietnamese = client.get(path)
    assert vietnamese.status_code == 404
    what = "thủ tục" if path.startswith("/procedures") else "đơn vị tiếp nhận hồ sơ"
    assert f"Không có {what} nào mang mã" in vietnamese.get_data(as_text=True)
    english = client.get(path + "?lang=en")
    assert english.status_code == 404
    assert f"No {'procedure' if what == 'thủ tục' else 'office'} has the code" in english.get_data(as_text=True)


@pytest.mark.parametrize("code", ["%00", "N%00C", "%ED%A0%80", "%F0%9F%98%80", "%E2%80%AE", "%C7%86",
                                  "NAM%20CAN", "%EF%BC%AE%EF%BC%A1%EF%BC%AD", "x" * 5000, "..", "%2e%2e",
                                  "NAMCAN%0A", "%C3%9F" * 20])
def test_codes_with_odd_characters_are_refused_or_not_found_never_an_error(client: FlaskClient, db: Session,
                                                                           code: str) -> None:
    _catalogue(db)
    db.rollback()
    for path in (f"/offices/{code}", f"/procedures/{code}", f"/offices/{code}/qr-sheet"):
        status = client.get(path).status_code
        assert 400 <= status < 500 or status == 301, (path, status)


def test_a_not_found_page_names_the_code_without_its_invisible_characters(client: FlaskClient, db: Session) -> None:
    db.rollback()
    text = client.get("/offices/AB%E2%80%AECD%E2%80%8B?lang=en").get_data(as_text=True)
    assert "No office has the code “ABCD”." in text and "\u202e" not in text and "\u200b" not in text


def test_a_code_in_small_letters_is_sent_to_its_page_keeping_the_language(client: FlaskClient, db: Session) -> None:
    _catalogue(db)
    db.rollback()
    moved = client.get("/procedures/ht-khaisinh?lang=en")
    assert moved.status_code == 301 and moved.headers["Location"] == "/procedures/HT-KHAISINH?lang=en"
    assert client.get("/offices/namcan/qr-sheet").headers["Location"] == "/offices/NAMCAN/qr-sheet"


def test_the_office_list_links_each_office_page(client: FlaskClient, db: Session) -> None:
    _catalogue(db)
    db.rollback()
    text = client.get("/").get_data(as_text=True)
    assert 'href="/offices/NAMCAN"' in text and 'href="/offices/TINH"' in text and 'href="/offices/CU"' not in text


def test_staff_find_each_public_page_and_qr_sheet_from_the_console(make_app: Callable[..., Flask],
                                                                   db: Session) -> None:
    namcan, _ = make_staff(db)
    make_procedure(db, code="HT-KHAISINH")
    db.commit()
    client = signed_in(make_app().test_client(), "admin")
    offices = client.get("/console/admin/offices").get_data(as_text=True)
    assert 'href="/offices/NAMCAN"' in offices and 'href="/offices/NAMCAN/qr-sheet"' in offices
    assert 'href="/procedures/HT-KHAISINH"' in client.get("/console/admin/procedures").get_data(as_text=True)
    settings = client.get(f"/console/offices/{namcan}/settings").get_data(as_text=True)
    assert 'href="/offices/NAMCAN/qr-sheet"' in settings and "QR codes to print" in settings
