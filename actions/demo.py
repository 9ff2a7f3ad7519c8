"""Demo data: Cà Mau as it is, its province centre and the centre of each of its 64 wards and communes.

The offices come from the official register (`booking.provinces`, keyed on codes; imported and
audited by `actions.provinces`), so their names are the real ones since 1 July 2025 (Cà Mau now
includes the former Bạc Liêu); the six the demo always had keep their codes, keypad numbers,
addresses and hours, the others get the default week of their kind. Loading is idempotent: offices are matched by official code, procedures by code, so
running it again changes nothing, and it never touches bookings. Addresses and capacities are
illustrative, not official.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.provinces import import_province
from booking.models import Procedure
from booking.provinces import Change, Local, Week

CA_MAU = 96
# Known to the demo since before it had the register, by official code.
OFFICES = {
    "96": Local("CM-TTHCC", 1, "Số 2, đường Hùng Vương, phường Tân Thành, tỉnh Cà Mau", "+842903567890",
                Week(60, 50, 10, saturday_morning=30)),
    "32002": Local("CM-AXUYEN", 2, "Đường Phan Ngọc Hiển, phường An Xuyên, tỉnh Cà Mau", week=Week(30, 25, 8)),
    "32014": Local("CM-LVLAM", 3, "Đường Lý Văn Lâm, phường Lý Văn Lâm, tỉnh Cà Mau", week=Week(25, 20, 6)),
    "31825": Local("CM-BACLIEU", 4, "Đường Trần Phú, phường Bạc Liêu, tỉnh Cà Mau", week=Week(30, 25, 8)),
    "32191": Local("CM-NAMCAN", 5, "Khóm 2, xã Năm Căn, tỉnh Cà Mau", week=Week(20, 15, 5)),
    "32152": Local("CM-DAMDOI", 6, "Ấp Thị Trấn A, xã Đầm Dơi, tỉnh Cà Mau", week=Week(20, 15, 5)),
}

# (code, name, English name, field, English field, at province, at commune)
PROCEDURES = [
    ("HT-KHAISINH", "Đăng ký khai sinh", "Birth registration", "Hộ tịch", "Civil status", False, True),
    ("HT-KETHON", "Đăng ký kết hôn", "Marriage registration", "Hộ tịch", "Civil status", False, True),
    ("HT-KHAITU", "Đăng ký khai tử", "Death registration", "Hộ tịch", "Civil status", False, True),
    ("CT-BANSAO", "Chứng thực bản sao từ bản chính", "Certified copies", "Chứng thực", "Certification", False, True),
    ("CT-CHUKY", "Chứng thực chữ ký", "Signature certification", "Chứng thực", "Certification", False, True),
    ("DD-BIENDONG", "Đăng ký biến động quyền sử dụng đất", "Registration of land-use changes", "Đất đai",
     "Land", True, True),
    ("XD-GPXD", "Cấp giấy phép xây dựng nhà ở riêng lẻ", "Building permit for a private house", "Xây dựng",
     "Construction", False, True),
    ("TP-LYLICH", "Cấp phiếu lý lịch tư pháp", "Criminal record certificate", "Tư pháp", "Justice", True, False),
    ("LD-THATNGHIEP", "Giải quyết hưởng trợ cấp thất nghiệp", "Unemployment benefit", "Việc làm", "Employment",
     True, False),
    ("KD-HOKD", "Đăng ký thành lập hộ kinh doanh", "Household business registration", "Kinh doanh", "Business",
     False, True),
    ("KD-DOANHNGHIEP", "Đăng ký thành lập doanh nghiệp", "Company registration", "Kinh doanh", "Business",
     True, False),
]


DVC = "https://dichvucong.gov.vn"  # the national public services portal (Cổng Dịch vụ công quốc gia)
# What citizens read about each procedure (booking.procedures.ProcedureDetails' fields): the documents to bring
# (one a line), their short form for the hotline and SMS, the fee in dong (0: free; None: set by the province),
# the processing time in working days (0: the same day), where it can be filed online, by post, and the national
# procedure code where it is certain. Summarised from the national database of procedures; illustrative.
DETAILS: dict[str, dict[str, Any]] = {
    "HT-KHAISINH": dict(
        documents="Tờ khai đăng ký khai sinh (theo mẫu)\nGiấy chứng sinh (hoặc văn bản của người làm chứng)\n"
                  "CCCD của người đi đăng ký",
        documents_en="Birth registration form\nThe hospital's birth certificate (or a witness's statement)\n"
                     "ID card of the person registering",
        documents_short="CCCD, tờ khai, giấy chứng sinh", documents_short_en="ID card, the form, the birth certificate",
        fee_vnd=0, fee_note="miễn lệ phí khi đăng ký đúng hạn", processing_days=0, online_url=DVC, by_post=True,
        national_code="1.001193"),
    "HT-KETHON": dict(
        documents="Tờ khai đăng ký kết hôn (theo mẫu)\nCCCD của hai bên nam, nữ\n"
                  "Giấy xác nhận tình trạng hôn nhân (nếu đăng ký ở nơi không thường trú)",
        documents_en="Marriage registration form\nID cards of both partners\n"
                     "Certificate of marital status (when registering away from your permanent residence)",
        documents_short="CCCD hai bên, tờ khai kết hôn", documents_short_en="both partners' ID cards, the form",
        fee_vnd=0, fee_note="hai bên nam, nữ cùng có mặt", processing_days=0, online_url=None, by_post=False,
        national_code="1.000894"),
    "HT-KHAITU": dict(
        documents="Tờ khai đăng ký khai tử (theo mẫu)\nGiấy báo tử hoặc giấy tờ thay giấy báo tử\n"
                  "CCCD của người đi đăng ký",
        documents_en="Death registration form\nThe death notice (or a paper in its place)\n"
                     "ID card of the person registering",
        documents_short="CCCD, tờ khai, giấy báo tử", documents_short_en="ID card, the form, the death notice",
        fee_vnd=0, fee_note="miễn lệ phí khi đăng ký đúng hạn", processing_days=0, online_url=DVC, by_post=True,
        national_code="1.000656"),
    "CT-BANSAO": dict(
        documents="Bản chính giấy tờ, văn bản cần chứng thực\nBản sao cần chứng thực (hoặc chụp tại chỗ)",
        documents_en="The original document\nThe copies to certify (or have them made at the office)",
        documents_short="bản chính và bản sao giấy tờ", documents_short_en="the original and its copies",
        fee_vnd=2_000, fee_note="mỗi trang; từ trang thứ ba 1.000 đồng/trang, tối đa 200.000 đồng/bản",
        processing_days=0, online_url=None, by_post=False, national_code="2.000815"),
    "CT-CHUKY": dict(
        documents="Giấy tờ, văn bản cần chứng thực chữ ký (ký trước mặt người chứng thực)\n"
                  "CCCD hoặc hộ chiếu còn giá trị",
        documents_en="The paper to be signed (you sign it in front of the officer)\nA valid ID card or passport",
        documents_short="CCCD, giấy tờ cần ký", documents_short_en="ID card, the paper to sign",
        fee_vnd=10_000, fee_note="mỗi trường hợp", processing_days=0, online_url=None, by_post=False,
        national_code=None),
    "DD-BIENDONG": dict(
        documents="Đơn đăng ký biến động đất đai, tài sản gắn liền với đất (theo mẫu)\n"
                  "Bản gốc Giấy chứng nhận quyền sử dụng đất đã cấp\n"
                  "Hợp đồng hoặc văn bản chuyển quyền đã công chứng, chứng thực\nCCCD của các bên",
        documents_en="Application for registering the change (form)\nThe original land-use right certificate\n"
                     "The notarised contract or deed of transfer\nID cards of all parties",
        documents_short="CCCD, đơn, giấy chứng nhận bản gốc, hợp đồng",
        documents_short_en="ID cards, the form, the original certificate, the contract",
        fee_vnd=None, fee_note="theo nghị quyết của Hội đồng nhân dân tỉnh", processing_days=10, online_url=None,
        by_post=False, national_code=None),
    "XD-GPXD": dict(
        documents="Đơn đề nghị cấp giấy phép xây dựng (theo mẫu)\n"
                  "Bản sao giấy tờ chứng minh quyền sử dụng đất\nHai bộ bản vẽ thiết kế xây dựng\n"
                  "CCCD của chủ đầu tư",
        documents_en="Application for a building permit (form)\nA copy of the land-use right papers\n"
                     "Two sets of the design drawings\nID card of the owner",
        documents_short="CCCD, đơn, giấy tờ đất, hai bộ bản vẽ",
        documents_short_en="ID card, the form, land papers, two sets of drawings",
        fee_vnd=75_000, fee_note="theo nghị quyết của Hội đồng nhân dân tỉnh", processing_days=15, online_url=DVC,
        by_post=False, national_code=None),
    "TP-LYLICH": dict(
        documents="Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp (theo mẫu)\nCCCD hoặc hộ chiếu",
        documents_en="Request form for a criminal record certificate\nID card or passport",
        documents_short="CCCD, tờ khai", documents_short_en="ID card, the form",
        fee_vnd=200_000, fee_note="sinh viên, người có công: 100.000 đồng; trẻ em, hộ nghèo: miễn",
        processing_days=10, online_url=DVC, by_post=True, national_code=None),
    "LD-THATNGHIEP": dict(
        documents="Đề nghị hưởng trợ cấp thất nghiệp (theo mẫu)\n"
                  "Quyết định thôi việc hoặc hợp đồng lao động đã hết hạn (bản chính hoặc bản sao)\n"
                  "Sổ bảo hiểm xã hội\nCCCD",
        documents_en="Application for unemployment benefit (form)\n"
                     "The decision ending your job or the expired labour contract\nSocial insurance book\nID card",
        documents_short="CCCD, sổ bảo hiểm xã hội, quyết định thôi việc",
        documents_short_en="ID card, social insurance book, the decision ending your job",
        fee_vnd=0, fee_note=None, processing_days=20, online_url=DVC, by_post=False, national_code=None),
    "KD-HOKD": dict(
        documents="Giấy đề nghị đăng ký hộ kinh doanh (theo mẫu)\nCCCD của chủ hộ kinh doanh\n"
                  "Biên bản họp thành viên hộ gia đình (khi các thành viên cùng thành lập)",
        documents_en="Application for household business registration (form)\nID card of the owner\n"
                     "Minutes of the family members' meeting (when they set it up together)",
        documents_short="CCCD, giấy đề nghị đăng ký", documents_short_en="ID card, the application",
        fee_vnd=None, fee_note="theo nghị quyết của Hội đồng nhân dân tỉnh", processing_days=3, online_url=DVC,
        by_post=False, national_code=None),
    "KD-DOANHNGHIEP": dict(
        documents="Giấy đề nghị đăng ký doanh nghiệp (theo mẫu)\nĐiều lệ công ty\n"
                  "Danh sách thành viên hoặc cổ đông sáng lập\nCCCD của người đại diện theo pháp luật",
        documents_en="Company registration application (form)\nThe company's charter\n"
                     "List of members or founding shareholders\nID card of the legal representative",
        documents_short="CCCD, giấy đề nghị, điều lệ, danh sách thành viên",
        documents_short_en="ID card, the application, the charter, the list of members",
        fee_vnd=50_000, fee_note="miễn khi nộp trực tuyến", processing_days=3,
        online_url="https://dangkykinhdoanh.gov.vn", by_post=False, national_code=None),
}


def load_demo(session: Session, *, now: datetime | None = None) -> dict[str, int]:
    """Create the offices and procedures that do not exist yet; return how many were added (and brought in line)."""
    result = import_province(session, province_code=CA_MAU, actor="system", code_prefix="CM", local=OFFICES,
                             now=now or datetime.now(UTC))
    added = {"offices": result.count(Change.CREATE), "procedures": 0,
             "updated": len(result.steps) - result.count(Change.CREATE)}
    known = {p.code: p for p in session.scalars(select(Procedure))}
    for code, name, name_en, field, field_en, at_province, at_commune in PROCEDURES:
        existing = known.get(code)
        if existing is not None:
            # A catalogue loaded before procedures had details gets them; one an administrator filled in is left.
            if not existing.documents and existing.processing_days is None:
                for key, value in DETAILS[code].items():
                    setattr(existing, key, value)
                added["updated"] += 1
            continue
        session.add(Procedure(code=code, name=name, name_en=name_en, field=field, field_en=field_en,
                              at_province=at_province, at_commune=at_commune, active=True, **DETAILS[code]))
        added["procedures"] += 1
    session.flush()
    return added
