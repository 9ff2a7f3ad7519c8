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


def load_demo(session: Session, *, now: datetime | None = None) -> dict[str, int]:
    """Create the offices and procedures that do not exist yet; return how many were added (and brought in line)."""
    result = import_province(session, province_code=CA_MAU, actor="system", code_prefix="CM", local=OFFICES,
                             now=now or datetime.now(UTC))
    added = {"offices": result.count(Change.CREATE), "procedures": 0,
             "updated": len(result.steps) - result.count(Change.CREATE)}
    known = set(session.scalars(select(Procedure.code)))
    for code, name, name_en, field, field_en, at_province, at_commune in PROCEDURES:
        if code in known:
            continue
        session.add(Procedure(code=code, name=name, name_en=name_en, field=field, field_en=field_en,
                              at_province=at_province, at_commune=at_commune, active=True))
        added["procedures"] += 1
    session.flush()
    return added
