"""The sentence corpus for `ivr_flows.understanding`: Cà Mau's offices, the procedures, the expected slots.

The offices are the 64 communes and wards of Cà Mau in `vietnam-provinces` (2025.10.1) and the
province's service centre; the sentences are in utterances.tsv next to this file.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from vietnam_provinces import Province, Ward

from ivr_flows.understanding import OfficeName, ProcedureName, Understanding

CORPUS = Path(__file__).with_name("utterances.tsv")
CA_MAU = next(p for p in Province.iter_all() if p.codename == "ca_mau")
PROVINCE_CENTRE = OfficeName(int(CA_MAU.code), "Trung tâm Phục vụ hành chính công tỉnh Cà Mau", province=True)
OFFICES = (PROVINCE_CENTRE, *(OfficeName(int(w.code), w.name) for w in Ward.iter_all() if w.province_code == CA_MAU.code))
OFFICE_BY_NAME = {o.name: o for o in OFFICES} | {"tỉnh": PROVINCE_CENTRE}

# (code, name, field, what callers also say)
_PROCEDURES = (
    ("HT-KHAISINH", "Đăng ký khai sinh", "Hộ tịch", ()),
    ("HT-KETHON", "Đăng ký kết hôn", "Hộ tịch", ()),
    ("HT-KHAITU", "Đăng ký khai tử", "Hộ tịch", ()),
    ("CT-BANSAO", "Chứng thực bản sao từ bản chính", "Chứng thực", ("sao y",)),
    ("CT-CHUKY", "Chứng thực chữ ký", "Chứng thực", ()),
    ("DD-BIENDONG", "Đăng ký biến động quyền sử dụng đất", "Đất đai", ("sổ đỏ", "sang tên", "tách thửa")),
    ("XD-GPXD", "Cấp giấy phép xây dựng nhà ở riêng lẻ", "Xây dựng", ("xây nhà",)),
    ("TP-LYLICH", "Cấp phiếu lý lịch tư pháp", "Tư pháp", ()),
    ("LD-THATNGHIEP", "Giải quyết hưởng trợ cấp thất nghiệp", "Việc làm", ()),
    ("KD-HOKD", "Đăng ký thành lập hộ kinh doanh", "Kinh doanh", ()),
    ("KD-DOANHNGHIEP", "Đăng ký thành lập doanh nghiệp", "Kinh doanh", ()),
    ("CC-CAPDOI", "Cấp đổi thẻ căn cước", "Căn cước", ()),
    ("CC-CAPLAI", "Cấp lại thẻ căn cước", "Căn cước", ()),
)
PROCEDURES = tuple(ProcedureName(n, name, field, keywords) for n, (_, name, field, keywords) in
                   enumerate(_PROCEDURES, start=1))
PROCEDURE_ID = {code: n for n, (code, *_) in enumerate(_PROCEDURES, start=1)}


@dataclass(frozen=True)
class Utterance:
    line: int
    today: date
    text: str
    intent: str
    office: str  # a name of OFFICE_BY_NAME, "?" at the end when the parser should read it back; "" for none
    date: date | None
    part: str | None
    field: str | None
    procedure: str | None  # a code of _PROCEDURES
    miss: str  # why the parser gets this one wrong today; "" when it must get it right

    @property
    def fully_specified(self) -> bool:
        return self.intent == "book" and bool(self.office) and self.date is not None and self.part is not None

    def wrong(self, got: Understanding) -> dict[str, tuple[object, object]]:
        """The slots the parser got wrong, each as (expected, got)."""
        expected = self.slots()
        heard = slots_of(got)
        return {k: (expected[k], heard[k]) for k in expected if expected[k] != heard[k]}

    def slots(self) -> dict[str, object]:
        office = OFFICE_BY_NAME[self.office.rstrip("?")] if self.office else None
        return {
            "intent": self.intent,
            "office": office.id if office else None,
            "office_sure": (not self.office.endswith("?")) if office else None,
            "date": self.date,
            "part": self.part,
            "field": self.field,
            "procedure": PROCEDURE_ID[self.procedure] if self.procedure else None,
        }


def slots_of(got: Understanding) -> dict[str, object]:
    return {
        "intent": got.intent,
        "office": got.office.id if got.office else None,
        "office_sure": got.office.sure if got.office else None,
        "date": got.date,
        "part": got.part,
        "field": got.procedure.field if got.procedure else None,
        "procedure": got.procedure.id if got.procedure else None,
    }


def load() -> list[Utterance]:
    found = []
    with CORPUS.open(encoding="utf-8", newline="") as f:
        rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        for n, row in enumerate(rows, start=1):
            if not row or row[0].startswith("#") or row[0] == "today":
                continue
            today, text, intent, office, when, part, field, procedure, miss = (row + [""] * 9)[:9]
            found.append(Utterance(n, date.fromisoformat(today), text, intent, office,
                                   date.fromisoformat(when) if when else None, part or None, field or None,
                                   procedure or None, miss))
    return found
