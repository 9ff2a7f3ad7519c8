"""The catalogue of administrative procedures (thủ tục hành chính) a booking may name."""

from __future__ import annotations

from sqlalchemy import Boolean, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from booking.models.enums import OfficeLevel
from database.base import Base


class Procedure(Base):
    __tablename__ = "procedures"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str | None] = mapped_column(String(300))
    field: Mapped[str] = mapped_column(String(120))  # lĩnh vực, e.g. "Hộ tịch"
    field_en: Mapped[str | None] = mapped_column(String(120))
    at_province: Mapped[bool] = mapped_column(Boolean, default=False)
    at_commune: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # What citizens read before they come (issue 13): documents to bring, one per line ...
    documents: Mapped[str] = mapped_column(Text, default="", server_default="")
    documents_en: Mapped[str | None] = mapped_column(Text)
    # ... and the short form the hotline says and the SMS carries, e.g. "CCCD, tờ khai, giấy chứng sinh".
    documents_short: Mapped[str] = mapped_column(String(120), default="", server_default="")
    documents_short_en: Mapped[str | None] = mapped_column(String(120))
    fee_vnd: Mapped[int | None]  # None: not stated; 0: free
    fee_note: Mapped[str | None] = mapped_column(String(200))  # e.g. "miễn lệ phí khi đăng ký đúng hạn"
    processing_days: Mapped[int | None]  # working days; 0: the result is returned the same day
    online_url: Mapped[str | None] = mapped_column(String(300))  # where it can be filed online; None: not online
    by_post: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # bưu chính công ích
    national_code: Mapped[str | None] = mapped_column(String(40))  # mã TTHC, e.g. "1.001193"

    def offered_at(self, level: OfficeLevel) -> bool:
        return self.at_province if level is OfficeLevel.PROVINCE else self.at_commune
