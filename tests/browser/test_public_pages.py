"""The public pages as a citizen's phone shows them (390×844), and an office's QR sheet as Chromium prints it on A4.

On SQLite the pages are photographed (artifacts/screenshots/public-*.png) and the printed sheet is kept as
public-qr-sheet.pdf, for a person to look at.
"""

from __future__ import annotations

import re

from playwright.sync_api import ConsoleMessage, Page, expect
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from hotline.catalogue import CODES_PER_SHEET
from tests.browser.driving import DESKTOP, PHONE, SCREENSHOTS, Browsing, page_overflow
from tests.factories import make_office, make_procedure

MM = 96 / 25.4  # CSS pixels in a millimetre
A4_INSIDE_MARGINS = (210 - 2 * 12, 297 - 2 * 12)  # mm: @page qr-sheet { size: A4; margin: 12mm }
PROCEDURES = 14  # with the office's own code, 15: a full sheet of twelve and a second of three


def arrange(db: Session) -> None:
    """Ten commune offices (Năm Căn and Đầm Dơi among them), the province's centre, and fourteen procedures."""
    for n in range(8):
        make_office(db, code=f"THU{n}", name=f"Trung tâm Phục vụ hành chính công xã Thử Nghiệm {n}",
                    spoken_name=f"xã Thử Nghiệm {n}")
    make_procedure(db, code="HT-KHAISINH", name="Đăng ký khai sinh", name_en="Birth registration", field="Hộ tịch",
                   field_en="Civil status", fee_vnd=0, fee_note="miễn lệ phí khi đăng ký đúng hạn", processing_days=0,
                   documents="Tờ khai đăng ký khai sinh theo mẫu\nGiấy chứng sinh do cơ sở y tế cấp\n"
                             "Căn cước công dân của cha hoặc mẹ (bản chính để đối chiếu)",
                   documents_en="The birth registration form\nThe birth certificate from the hospital\n"
                                "A parent's citizen identity card (the original, to be compared)",
                   online_url="https://dichvucong.gov.vn", by_post=True, national_code="1.001193")
    make_procedure(db, code="DD-BIENDONG", name="Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn "
                   "liền với đất do thay đổi thông tin về người được cấp giấy chứng nhận", field="Đất đai",
                   fee_vnd=50000, processing_days=10, at_province=True, at_commune=True)
    for n in range(PROCEDURES - 2):
        make_procedure(db, code=f"XT-THU{n:02d}", name=f"Thủ tục thử nghiệm số {n} về chứng thực", field="Chứng thực",
                       fee_vnd=10000 * n, processing_days=n)
    make_procedure(db, code="TP-LYLICH", name="Cấp phiếu lý lịch tư pháp", field="Tư pháp", at_province=True,
                   at_commune=False)
    db.commit()
    db.rollback()  # no read transaction of ours may stand in the app's way (SQLite)


def _policy_violations(page: Page) -> list[str]:
    """What Chromium's console says the content security policy blocked on this page (an inline style, a script)."""
    blocked: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            blocked.append(message.text)

    page.on("console", note)
    return blocked


def test_office_and_procedure_pages_read_on_a_phone_without_sideways_scrolling(
        browsing: Browsing, offices: tuple[int, int], db: Session) -> None:
    arrange(db)
    page = browsing.page(PHONE)
    blocked = _policy_violations(page)
    response = page.goto("/offices/NAMCAN")  # Vietnamese, the default
    assert response is not None and response.status == 200
    expect(page.locator("main h2")).to_have_text("Trung tâm Phục vụ hành chính công xã Năm Căn")
    expect(page.get_by_role("heading", name="Giờ làm việc")).to_be_visible()
    expect(page.get_by_text("Thứ Hai – Thứ Sáu")).to_be_visible()
    expect(page.get_by_role("link", name="1022").first).to_have_attribute("href", "tel:1022")
    qr = page.locator(".page-qr svg.qr")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 140 and abs(box["width"] - box["height"]) < 1  # square, phone-readable
    assert page_overflow(page) <= 0, "the office page scrolls sideways on a phone"
    browsing.shoot(page, "public-office-phone")

    page.get_by_role("link", name="Đăng ký khai sinh").click()
    expect(page).to_have_url(re.compile(r"/procedures/HT-KHAISINH$"))
    expect(page.locator("main h2")).to_have_text("Đăng ký khai sinh")
    expect(page.locator("ol.documents li")).to_have_count(3)
    fee = page.locator(".summary-list dd").first
    expect(fee).to_contain_text("Miễn phí")
    expect(fee).to_contain_text("miễn lệ phí khi đăng ký đúng hạn")
    expect(page.get_by_role("link", name=re.compile("dichvucong.gov.vn"))).to_have_attribute(
        "href", "https://dichvucong.gov.vn")
    # Ten offices take it: folded away behind a summary, and every one a link once opened.
    places = page.locator("details .link-list a")
    expect(places.first).to_be_hidden()
    expect(page.get_by_text("Tại Trung tâm Phục vụ hành chính công của mọi xã, phường (10 đơn vị).")).to_be_visible()
    page.get_by_text("Xem danh sách 10 đơn vị").click()
    expect(places).to_have_count(10)
    expect(page.get_by_role("link", name="Trung tâm Phục vụ hành chính công xã Năm Căn")).to_be_visible()
    assert page_overflow(page) <= 0, "the procedure page scrolls sideways on a phone"
    browsing.shoot(page, "public-procedure-phone")

    page.get_by_role("link", name="English").click()
    expect(page.locator("main h2")).to_have_text("Birth registration")
    expect(page.get_by_role("heading", name="Documents to bring")).to_be_visible()
    expect(page.locator("ol.documents li").first).to_have_text("The birth registration form")
    expect(page.locator(".summary-list dd").first).to_contain_text("Free")
    assert page_overflow(page) <= 0
    browsing.shoot(page, "public-procedure-phone-en")

    response = page.goto("/procedures/DD-BIENDONG?lang=vi")
    assert response is not None and response.status == 200
    expect(page.get_by_text("50.000\u00a0₫")).to_be_visible()
    assert page_overflow(page) <= 0, "a long procedure name drags the page sideways"
    browsing.shoot(page, "public-procedure-long-name-phone")

    missing = page.goto("/procedures/KHONG-CO")
    assert missing is not None and missing.status == 404
    expect(page.get_by_role("alert")).to_contain_text("Không có thủ tục nào mang mã “KHONG-CO”.")
    assert blocked == []


def test_the_qr_sheet_prints_twelve_codes_to_an_a4_page_and_never_cuts_one(
        browsing: Browsing, offices: tuple[int, int], db: Session, engine: Engine) -> None:
    arrange(db)
    page = browsing.page(DESKTOP)
    blocked = _policy_violations(page)
    response = page.goto("/offices/NAMCAN/qr-sheet")
    assert response is not None and response.status == 200
    expect(page.locator(".qr-card")).to_have_count(1 + PROCEDURES)
    expect(page.get_by_text("Mã QR để in")).to_be_visible()
    browsing.shoot(page, "public-qr-sheet-screen")

    # As printed: the page box of A4 inside its margins, print media. Each sheet must fit one page, and
    # each code stays inside its sheet, so a page break falls between sheets and never through a code.
    width, height = A4_INSIDE_MARGINS
    page.set_viewport_size({"width": round(width * MM), "height": round(height * MM)})
    page.emulate_media(media="print")
    expect(page.locator(".header")).to_be_hidden()
    expect(page.get_by_text("Mã QR để in")).to_be_hidden()
    sheets = page.locator(".qr-sheet")
    expect(sheets).to_have_count(2)
    for n in range(2):
        sheet = sheets.nth(n)
        box = sheet.bounding_box()
        assert box is not None and box["height"] <= height * MM, f"sheet {n + 1} is taller than an A4 page"
        cards = sheet.locator(".qr-card")
        expect(cards).to_have_count(CODES_PER_SHEET if n == 0 else 1 + PROCEDURES - CODES_PER_SHEET)
        for card in cards.all():
            inner = card.bounding_box()
            assert inner is not None and inner["y"] + inner["height"] <= box["y"] + box["height"] + 0.5
            code = card.locator("svg.qr").bounding_box()
            assert code is not None and code["width"] >= 30 * MM  # 30 mm and more: read from arm's length
    expect(sheets.nth(0).locator(".qr-card--office")).to_have_count(1)
    expect(sheets.nth(1)).to_contain_text("Tờ 2/2")
    browsing.shoot(page, "public-qr-sheet-print")

    pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    pages = re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf)
    assert len(pages) == 2, "one printed page a sheet"
    boxes = [[float(v) for v in box.split()] for box in re.findall(rb"/MediaBox\s*\[([^\]]*)\]", pdf)]
    assert boxes and all(abs(b[2] - 595.3) < 1.5 and abs(b[3] - 841.9) < 1.5 for b in boxes), boxes  # A4 in points
    if engine.dialect.name == "sqlite":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / "public-qr-sheet.pdf").write_bytes(pdf)
    assert blocked == []
