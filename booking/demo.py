"""Demo data: Cà Mau's provincial service centre and some commune-level one-stop units.

Loading is idempotent: offices and procedures are matched by code, so running it again changes
nothing, and it never touches bookings. The names follow the two-tier local government in force
since 1 July 2025 (Cà Mau now includes the former Bạc Liêu); addresses and capacities are
illustrative, not official.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.models import Channel, ChannelReserve, Office, OfficeLevel, Procedure, SessionTemplate


@dataclass(frozen=True)
class DemoOffice:
    code: str
    keypad: int
    name: str
    name_en: str
    level: OfficeLevel
    address: str
    phone: str | None
    morning: int
    afternoon: int
    crowd_limit: int
    saturday_morning: int = 0


OFFICES = [
    DemoOffice("CM-TTHCC", 1, "Trung tâm Phục vụ hành chính công tỉnh Cà Mau",
               "Ca Mau Provincial Public Administration Service Centre", OfficeLevel.PROVINCE,
               "Số 2, đường Hùng Vương, phường Tân Thành, tỉnh Cà Mau", "+842903567890", 60, 50, 10, 30),
    DemoOffice("CM-AXUYEN", 2, "Trung tâm Phục vụ hành chính công phường An Xuyên",
               "An Xuyen Ward Public Administration Service Centre", OfficeLevel.COMMUNE,
               "Đường Phan Ngọc Hiển, phường An Xuyên, tỉnh Cà Mau", None, 30, 25, 8),
    DemoOffice("CM-LVLAM", 3, "Trung tâm Phục vụ hành chính công phường Lý Văn Lâm",
               "Ly Van Lam Ward Public Administration Service Centre", OfficeLevel.COMMUNE,
               "Đường Lý Văn Lâm, phường Lý Văn Lâm, tỉnh Cà Mau", None, 25, 20, 6),
    DemoOffice("CM-BACLIEU", 4, "Trung tâm Phục vụ hành chính công phường Bạc Liêu",
               "Bac Lieu Ward Public Administration Service Centre", OfficeLevel.COMMUNE,
               "Đường Trần Phú, phường Bạc Liêu, tỉnh Cà Mau", None, 30, 25, 8),
    DemoOffice("CM-NAMCAN", 5, "Trung tâm Phục vụ hành chính công xã Năm Căn",
               "Nam Can Commune Public Administration Service Centre", OfficeLevel.COMMUNE,
               "Khóm 2, xã Năm Căn, tỉnh Cà Mau", None, 20, 15, 5),
    DemoOffice("CM-DAMDOI", 6, "Trung tâm Phục vụ hành chính công xã Đầm Dơi",
               "Dam Doi Commune Public Administration Service Centre", OfficeLevel.COMMUNE,
               "Ấp Thị Trấn A, xã Đầm Dơi, tỉnh Cà Mau", None, 20, 15, 5),
]

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


def _templates(spec: DemoOffice) -> list[SessionTemplate]:
    templates = []
    for weekday in range(5):
        templates.append(SessionTemplate(weekday=weekday, code="S", start_time=time(7, 0), end_time=time(11, 30),
                                         capacity=spec.morning))
        templates.append(SessionTemplate(weekday=weekday, code="C", start_time=time(13, 30), end_time=time(17, 0),
                                         capacity=spec.afternoon))
    if spec.saturday_morning:
        templates.append(SessionTemplate(weekday=5, code="S", start_time=time(7, 30), end_time=time(11, 0),
                                         capacity=spec.saturday_morning))
    return templates


def load_demo(session: Session) -> dict[str, int]:
    """Create the demo offices and procedures that do not exist yet; return how many were added."""
    added = {"offices": 0, "procedures": 0}
    existing = set(session.scalars(select(Office.code)))
    for spec in OFFICES:
        if spec.code in existing:
            continue
        office = Office(code=spec.code, keypad_number=spec.keypad, name=spec.name, name_en=spec.name_en,
                        level=spec.level, address=spec.address, phone=spec.phone, crowd_limit=spec.crowd_limit,
                        window_minutes=30, horizon_days=14, cutoff_minutes=60, active=True,
                        timezone="Asia/Ho_Chi_Minh")
        office.templates.extend(_templates(spec))
        # A few seats of each session only operators may give, for callers who cannot use the keypad.
        office.reserves.extend(ChannelReserve(session_code=code, channel=Channel.OPERATOR, seats=3,
                                              release_minutes_before=24 * 60) for code in ("S", "C"))
        session.add(office)
        added["offices"] += 1
    known = set(session.scalars(select(Procedure.code)))
    for code, name, name_en, field, field_en, at_province, at_commune in PROCEDURES:
        if code in known:
            continue
        session.add(Procedure(code=code, name=name, name_en=name_en, field=field, field_en=field_en,
                              at_province=at_province, at_commune=at_commune, active=True))
        added["procedures"] += 1
    session.flush()
    return added
