"""Which office the caller names: exactly, without diacritics, or through a recognition slip."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

from ivr_flows.understanding.slots import OfficeMatch, OfficeName
from ivr_flows.understanding.words import Token, Words, phrase, tokens

# What stands before the place in an office's name ("Trung tâm Phục vụ hành chính công xã Năm Căn").
PREFIXES = ("trung tâm phục vụ hành chính công", "trung tâm hành chính công", "bộ phận một cửa",
            "bộ phận tiếp nhận và trả kết quả", "ủy ban nhân dân", "ubnd")
LEVEL_WORDS = ("đặc khu", "thành phố", "thị trấn", "phường", "xã", "tỉnh")
PROVINCE_WORDS = ("trung tâm hành chính công tỉnh", "trung tâm tỉnh", "cấp tỉnh", "tỉnh")
# Words that are never part of a place's name: they are left out before fuzzy matching.
FILLERS = frozenset((
    "ừ", "ờ", "dạ", "vâng", "à", "ạ", "ơi", "nhé", "nha", "nhá", "với", "cho", "tôi", "em", "con", "cháu", "mình",
    "muốn", "xin", "ở", "tại", "bên", "đến", "tới", "lên", "về", "đi", "làm", "có", "được", "không", "lịch", "hẹn",
    "đặt", "giùm", "giúp", "dùm", "là", "thì", "của", "cần", "nộp", "trung", "tâm", "hành", "chính", "công", "phục",
    "vụ", "buổi", "ngày", "lúc", "vào", "và", "hồ", "sơ", "chỗ", "số", "nhờ", "luôn", "ấy", "đó", "nào",
))
# A slip keeps the name recognisable: a ratio below this is another place or no place.
FUZZY_CUTOFF = 75.0


@dataclass(frozen=True)
class Entry:
    office: OfficeName
    core: str  # the place, bare: "nam can"
    marks: tuple[str, ...]  # the place's diacritics, word by word
    level: str  # the level word in the name, bare ("xa", "phuong", "tinh"), or ""


def _strip(words: tuple[Token, ...], heads: Sequence[str]) -> tuple[tuple[Token, ...], str]:
    for head in sorted(heads, key=lambda h: -len(phrase(h))):
        lead = phrase(head)
        if tuple(t.bare for t in words[:len(lead)]) == tuple(t.bare for t in lead):
            return words[len(lead):], " ".join(t.bare for t in lead)
    return words, ""


def _entries(office: OfficeName) -> list[Entry]:
    found = []
    for name in (office.name, *office.aliases):
        words, _ = _strip(tokens(name), PREFIXES)
        rest, level = _strip(words, LEVEL_WORDS)
        if rest:
            found.append(Entry(office, " ".join(t.bare for t in rest), tuple(t.marks for t in rest), level))
    return found


@lru_cache(maxsize=8)
def _index(offices: tuple[OfficeName, ...]) -> tuple[Entry, ...]:
    return tuple(entry for office in offices for entry in _entries(office))


def _level_before(words: Words, i: int, *, take: bool) -> str | None:
    """The level word said just before token i, bare ("xa", "phuong", "tinh"); None when there is none."""
    for level in LEVEL_WORDS:
        n = len(phrase(level))
        if words.at(i - n, level):
            if take:
                words.take(i - n, n)
            return " ".join(t.bare for t in phrase(level))
    return None


def _score(exact: float, entry: Entry, said_level: str | None) -> float:
    if said_level is None or not entry.level or said_level == entry.level:
        return exact
    return exact - 15  # "tỉnh Bạc Liêu" for the ward of Bạc Liêu: worth asking


@dataclass
class Candidate:
    entry: Entry
    score: float
    sure: bool
    by_name: bool = True  # False: only "tỉnh" / "trung tâm tỉnh" was said


def _exact(words: Words, entries: tuple[Entry, ...]) -> list[Candidate]:
    by_core: dict[str, list[Entry]] = {}
    for entry in entries:
        by_core.setdefault(entry.core, []).append(entry)
    found: list[Candidate] = []
    for core in sorted(by_core, key=lambda c: -len(c)):
        size = len(core.split())
        for start in range(len(words) - size + 1):
            span = words.tokens[start:start + size]
            if not words.free(start, size) or " ".join(t.bare for t in span) != core:
                continue
            words.take(start, size)
            said_level = _level_before(words, start, take=True)
            for entry in by_core[core]:
                marks_match = not words.marked or tuple(t.marks for t in span) == entry.marks
                found.append(Candidate(entry, _score(100.0 if marks_match else 95.0, entry, said_level), True))
    return found


def _province(words: Words, entries: tuple[Entry, ...]) -> list[Candidate]:
    provinces = {e.office.id: e for e in entries if e.office.province}
    for start, n in words.find(PROVINCE_WORDS):
        words.take(start, n)
        if len(provinces) == 1:
            return [Candidate(next(iter(provinces.values())), 100.0, True, by_name=False)]
    return []


def _fuzzy(words: Words, entries: tuple[Entry, ...]) -> list[Candidate]:
    """The best office for any run of free words that is not filler, by similarity of bare letters."""
    place_words = {word for e in entries for word in e.core.split()}

    def filler(i: int) -> bool:
        # Without diacritics "dat" may be "đặt" or the "Đất" of Đất Mũi: keep what a name could hold.
        return words.is_(i, *FILLERS) and (words.marked or words.tokens[i].bare not in place_words)

    kept = [i for i in range(len(words))
            if words.free(i) and not filler(i) and _level_before(words, i + 1, take=False) is None]
    runs: list[list[int]] = []
    for i in kept:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    cores = [e.core for e in entries]
    best: dict[int, Candidate] = {}
    for run in runs:
        for size in (1, 2, 3, 4):
            for k in range(len(run) - size + 1):
                window = [words.tokens[i].bare for i in run[k:k + size]]
                heard = " ".join(window)
                for core, ratio, n in process.extract(heard, cores, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF,
                                                      limit=5):
                    if ratio < 90 and not set(window) & set(core.split()):
                        continue  # a slip keeps a word of the name
                    entry = entries[n]
                    score = _score(min(float(ratio), 94.0), entry, _level_before(words, run[k], take=False))
                    if entry.office.id not in best or best[entry.office.id].score < score:
                        best[entry.office.id] = Candidate(entry, score, False)
    return list(best.values())


def find_office(words: Words, offices: Sequence[OfficeName], *, fuzzy: bool) -> list[OfficeMatch]:
    """Offices the words name, best first: the first is the answer, the rest its alternatives.

    Without `fuzzy`, only names said exactly (with or without diacritics) and "tỉnh"/"trung tâm
    tỉnh"; with it, only names heard with a slip, among the words still free.
    """
    entries = _index(tuple(offices))
    if fuzzy:
        candidates = _fuzzy(words, entries)
    else:
        candidates = _exact(words, entries)
        if any(c.entry.office.province is False for c in candidates):
            # "xã Năm Căn, tỉnh Cà Mau": the province's name is the address, not the office.
            candidates = [c for c in candidates if not c.entry.office.province]
        candidates = _province(words, entries) + candidates
    ranked: dict[int, Candidate] = {}
    for c in sorted(candidates, key=lambda c: (c.by_name, -c.score)):
        ranked.setdefault(c.entry.office.id, c)
    order = sorted(ranked.values(), key=lambda c: (c.by_name, -c.score))
    matches = []
    for n, c in enumerate(order):
        rival = any(other.score >= c.score - 5 for other in order[:n] + order[n + 1:]) and c.by_name
        sure = c.sure and c.score >= 95 and not rival
        matches.append(OfficeMatch(id=c.entry.office.id, name=c.entry.office.name, score=c.score, sure=sure))
    return matches
