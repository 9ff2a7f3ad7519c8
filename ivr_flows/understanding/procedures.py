"""Which procedure or field the caller names: "khai sinh", "hộ tịch", "đất đai", "sổ đỏ"."""

from __future__ import annotations

from collections.abc import Sequence

from ivr_flows.understanding.slots import ProcedureMatch, ProcedureName
from ivr_flows.understanding.words import Words, phrase

# Words many procedure names share; a run of these alone tells no procedure apart.
GENERIC = frozenset(("đăng", "ký", "cấp", "giải", "quyết", "thủ", "tục", "làm", "giấy", "từ", "bản"))


def _covered(words: Words, text: str) -> set[int]:
    """Positions of the utterance in runs it shares with `text`: two words or more, or all of a one-word text."""
    parts = [t.full for t in phrase(text)]
    covered: set[int] = set()
    for n in range(len(parts), min(2, len(parts)) - 1, -1):
        for k in range(len(parts) - n + 1):
            run = parts[k:k + n]
            if all(word in GENERIC for word in run):
                continue
            for start, length in words.find((" ".join(run),)):
                covered.update(range(start, start + length))
    return covered


def find_procedure(words: Words, procedures: Sequence[ProcedureName]) -> ProcedureMatch | None:
    """The procedure whose name the words cover most; the field alone when they name only the field
    or several procedures of it."""
    best: tuple[int, list[ProcedureName], set[int]] = (0, [], set())
    fields: dict[str, set[int]] = {}
    for procedure in procedures:
        spans: set[int] = set()
        for text in (procedure.name, *procedure.keywords):
            spans |= _covered(words, text)
        field_spans = fields.setdefault(procedure.field, _covered(words, procedure.field))
        if spans and spans <= field_spans:
            spans = set()  # "kinh doanh" names the field, not "hộ kinh doanh"
        if len(spans) > best[0]:
            best = (len(spans), [procedure], spans)
        elif spans and len(spans) == best[0]:
            best[1].append(procedure)
            best[2].update(spans)
    count, found, spans = best
    if count:
        for i in spans:
            words.take(i)
        if len(found) == 1:
            return ProcedureMatch(field=found[0].field, id=found[0].id)
        if len({p.field for p in found}) == 1:
            return ProcedureMatch(field=found[0].field)
        return None
    field = max(fields.items(), key=lambda item: len(item[1]), default=None)
    if field is None or not field[1]:
        return None
    for i in field[1]:
        words.take(i)
    return ProcedureMatch(field=field[0])
