"""Understanding one sentence said at the first menu: intent, office, date, part of day, procedure.

Pure: no Flask, no database. Standard library only, except rapidfuzz (pinned in requirements.txt),
the one third-party package `ivr_flows` uses, for offices heard with a recognition slip. The
offices and procedures to match are passed in; dates are relative to the `today` passed in.

>>> from datetime import date
>>> offices = [OfficeName(1, "Trung tâm Phục vụ hành chính công tỉnh Cà Mau", province=True),
...            OfficeName(2, "Xã Năm Căn"), OfficeName(3, "Phường An Xuyên")]
>>> heard = understand("dạ cho tôi đặt lịch ở xã Năm Căn sáng thứ hai tuần sau nhé",
...                    today=date(2025, 12, 3), offices=offices, procedures=[])
>>> heard.intent, heard.office, heard.date, heard.part, heard.missing
('book', OfficeMatch(id=2, name='Xã Năm Căn', score=100.0, sure=True), datetime.date(2025, 12, 8), 'S', ())
>>> heard = understand("hen ngay 15 thang 12 o An Xuan", today=date(2025, 12, 3), offices=offices, procedures=[])
>>> heard.office.name, heard.office.sure, heard.date, heard.missing
('Phường An Xuyên', False, datetime.date(2025, 12, 15), ('part',))

When `office.sure` is False the flow reads the office back ("Ý quý vị là phường An Xuyên phải
không?"); `missing` lists what a booking still has to ask for.

Dates: "hôm nay", "(ngày) mai", "ngày kia", "ngày mốt", "thứ hai" … "chủ nhật" ("thứ 2", "T2";
"tuần này", "tuần sau", "tuần tới", "tuần sau nữa"; a weekday alone is the coming one, never today),
"ngày 15 tháng 12 (năm 2026)", "15 tháng 12", "15/12(/2026)", "mùng 5", "ngày 20" (the next such day
when the month or year is left out), numbers in digits or in words ("mười lăm", "hai mươi mốt").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from ivr_flows.understanding.dates import find_date, find_part
from ivr_flows.understanding.intents import find_intent
from ivr_flows.understanding.offices import find_office
from ivr_flows.understanding.procedures import find_procedure
from ivr_flows.understanding.slots import (
    Intent,
    OfficeMatch,
    OfficeName,
    Part,
    ProcedureMatch,
    ProcedureName,
    Slot,
    Understanding,
)
from ivr_flows.understanding.words import Words

__all__ = ["Intent", "OfficeMatch", "OfficeName", "Part", "ProcedureMatch", "ProcedureName", "Slot",
           "Understanding", "understand"]


def understand(text: str, *, today: date, offices: Sequence[OfficeName],
               procedures: Sequence[ProcedureName]) -> Understanding:
    """The slots one utterance fills; what it does not say stays None."""
    words = Words(text)
    # Each finder takes the words it uses, so that a later one cannot read them again: place
    # names first ("Năm Căn" holds "năm", a number), the fuzzy match of a slipped name last,
    # over whatever no other slot explained.
    exact = find_office(words, offices, fuzzy=False)
    procedure = find_procedure(words, procedures)
    day = find_date(words, today)
    part = find_part(words)
    intent = find_intent(words)
    found = exact or find_office(words, offices, fuzzy=True)
    if intent == "unknown" and (found or day or part or procedure):
        intent = "book"
    return Understanding(intent=intent, office=found[0] if found else None, date=day, part=part,
                         procedure=procedure, office_alternatives=tuple(found[1:]))
