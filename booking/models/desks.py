"""The counters (quầy) of an office, at which desk staff call the queue."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from database.base import Base


class Desk(Base):
    """One counter: its number (shown on the display: "Quầy 3") and a name (what it deals with)."""

    __tablename__ = "desks"
    __table_args__ = (
        UniqueConstraint("office_id", "number"),
        CheckConstraint("number BETWEEN 1 AND 999", name="number_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"))
    number: Mapped[int]
    name: Mapped[str] = mapped_column(String(60), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
