"""The typed slots that `understand` fills, and the names it is given to match against."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Intent = Literal["book", "check", "cancel", "reschedule", "info", "notices", "operator", "unknown"]
Part = Literal["S", "C"]  # buổi sáng, buổi chiều: the session codes offices use
Slot = Literal["office", "date", "part"]


@dataclass(frozen=True)
class OfficeName:
    """An office as the caller may name it: "Trung tâm Phục vụ hành chính công xã Năm Căn", "Xã Năm Căn".

    The level word ("xã", "phường", "đặc khu", "tỉnh") and the service-centre prefix are found in
    `name` itself; `aliases` are further names said for the same office (e.g. "trung tâm tỉnh").
    """

    id: int
    name: str
    province: bool = False
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProcedureName:
    """A procedure and its field (lĩnh vực); `keywords` are what callers say for it ("sổ đỏ")."""

    id: int
    name: str
    field: str
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class OfficeMatch:
    """The office heard, how alike the words were (0-100) and whether to read it back first.

    `sure` is False when the words were not the office's name exactly (a recognition slip) or
    when another office has the same name and no level word told them apart.
    """

    id: int
    name: str
    score: float
    sure: bool


@dataclass(frozen=True)
class ProcedureMatch:
    """The field heard, and the procedure when the words named one (None: only the field)."""

    field: str
    id: int | None = None


@dataclass(frozen=True)
class Understanding:
    intent: Intent
    office: OfficeMatch | None = None
    date: date | None = None
    part: Part | None = None
    procedure: ProcedureMatch | None = None
    # Other offices the words could name, best first: for "xã hay phường Tân Thành?".
    office_alternatives: tuple[OfficeMatch, ...] = field(default=())

    @property
    def missing(self) -> tuple[Slot, ...]:
        """What a booking still needs to be asked for, in the order the flow asks."""
        slots: tuple[tuple[Slot, object], ...] = (("office", self.office), ("date", self.date), ("part", self.part))
        return tuple(name for name, value in slots if value is None)
