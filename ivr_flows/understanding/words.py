"""Words of an utterance, compared with or without diacritics, and Vietnamese numbers up to 31."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache

from ivr_flows.engine import fold

# Dates such as 15/12 or 15-12-2025 stay one token; letters and digits split ("14h" → 14, h).
TOKEN = re.compile(r"[0-9]{1,4}(?:[/.\-][0-9]{1,4}){1,2}|[0-9]+|[^\W\d_]+")


@dataclass(frozen=True)
class Token:
    full: str  # NFC, lower case: "căn"
    bare: str  # without diacritics: "can"
    marks: str  # the diacritics, in a canonical order ("hủy" and "huỷ" have the same); "" for none

    @property
    def digits(self) -> bool:
        """ASCII digits only: "²" or "٣" are no number a caller said."""
        return self.full.isascii() and self.full.isdigit()


def _token(word: str) -> Token:
    decomposed = unicodedata.normalize("NFD", word)
    marks = "".join(sorted(c for c in decomposed if unicodedata.combining(c))) + ("đ" if "đ" in word else "")
    return Token(word, fold(word), marks)


def tokens(text: str) -> tuple[Token, ...]:
    lowered = unicodedata.normalize("NFC", text).lower()
    return tuple(_token(m.group()) for m in TOKEN.finditer(lowered))


@cache
def phrase(text: str) -> tuple[Token, ...]:
    return tokens(text)


class Words:
    """The tokens of one utterance, which of them a slot has already taken, and how to compare.

    When the utterance carries diacritics anywhere it is taken to be written with them, and a
    word must have the same marks as the one looked for ("sang" is not "sáng"); when it has none
    (typed text, some recognisers), the bare letters decide.
    """

    def __init__(self, text: str) -> None:
        self.tokens = tokens(text)
        self.marked = any(t.marks for t in self.tokens)
        self.used = [False] * len(self.tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def same(self, i: int, word: Token) -> bool:
        if not 0 <= i < len(self.tokens):
            return False
        token = self.tokens[i]
        return token.bare == word.bare and (token.marks == word.marks or not self.marked)

    def is_(self, i: int, *words: str) -> bool:
        """Whether the token at i is one of `words` (each a single word)."""
        return any(self.same(i, phrase(w)[0]) for w in words)

    def free(self, start: int, length: int = 1) -> bool:
        return start >= 0 and start + length <= len(self.tokens) and not any(self.used[start:start + length])

    def at(self, i: int, text: str) -> bool:
        """Whether the phrase `text` starts at token i, on tokens no slot has taken."""
        words = phrase(text)
        return self.free(i, len(words)) and all(self.same(i + k, w) for k, w in enumerate(words))

    def find(self, texts: Iterable[str]) -> Iterator[tuple[int, int]]:
        """(start, length) of every free occurrence of any of the phrases, longest phrase first."""
        for text in sorted(texts, key=lambda t: -len(phrase(t))):
            n = len(phrase(text))
            for i in range(len(self.tokens) - n + 1):
                if self.at(i, text):
                    yield i, n

    def take(self, start: int, length: int = 1) -> None:
        for i in range(start, start + length):
            self.used[i] = True


UNITS = {"một": 1, "hai": 2, "ba": 3, "bốn": 4, "tư": 4, "năm": 5, "sáu": 6, "bảy": 7, "bẩy": 7, "tám": 8, "chín": 9}
# After a ten: "hai mươi mốt" (21), "mười lăm" (15), "hai mươi tư" (24).
UNITS_AFTER_TENS = {**UNITS, "mốt": 1, "lăm": 5, "nhăm": 5}
TENS = ("mười", "mươi")


def _unit(words: Words, i: int, table: dict[str, int]) -> int | None:
    for word, value in table.items():
        if words.free(i) and words.same(i, phrase(word)[0]):
            return value
    return None


def number_at(words: Words, i: int) -> tuple[int, int] | None:
    """The number 1-99 said at token i, in digits or words, and how many tokens it takes."""
    if not words.free(i):
        return None
    if words.tokens[i].digits:
        return int(words.tokens[i].full), 1
    if words.is_(i, *TENS):  # mười, mười một … mười chín
        after = _unit(words, i + 1, UNITS_AFTER_TENS)
        return (10 + after, 2) if after is not None else (10, 1)
    if words.is_(i, "hăm"):  # hăm mốt = 21
        after = _unit(words, i + 1, UNITS_AFTER_TENS)
        return (20 + after, 2) if after is not None else (20, 1)
    first = _unit(words, i, UNITS)
    if first is None:
        return None
    if words.is_(i + 1, *TENS):
        after = _unit(words, i + 2, UNITS_AFTER_TENS)
        return (first * 10 + after, 3) if after is not None else (first * 10, 2)
    if first in (2, 3) and words.free(i + 1) and words.is_(i + 1, "mốt", "lăm", "tư"):
        # Said short: "hai mốt" (21), "hai lăm" (25), "ba mốt" (31).
        return first * 10 + {"mot": 1, "lam": 5, "tu": 4}[words.tokens[i + 1].bare], 2
    return first, 1
