"""The catalogue of administrative procedures (thủ tục hành chính) a booking may name."""

from __future__ import annotations

from sqlalchemy import Boolean, String
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

    def offered_at(self, level: OfficeLevel) -> bool:
        return self.at_province if level is OfficeLevel.PROVINCE else self.at_commune
