"""The one rule for text that comes in (forms, JSON, CSV cells, webhooks) and for text that goes into XML.

Text is kept composed (NFC: Vietnamese typed on one keyboard and pasted from another compares equal),
holds no lone surrogate (it cannot be encoded, so no database can store it) and no control character
(XML 1.0 forbids them, so one in an office's name would break the TwiML of every call) except the line
breaks and tabs of a field that has lines. Standard library only: every edge can use it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Reason = Literal["character", "too_long"]

# Whatever str.splitlines() calls a line break (\r\n, \r, vertical tab from Word's manual line break,
# form feed, the separators of C1 and Unicode) counts as one; \r\n first so that it is one break, not two.
LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# C0 and C1 controls but tab and the line breaks above, DEL, and the two non-characters XML 1.0 forbids.
FORBIDDEN = re.compile("[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")
SURROGATE = re.compile("[\ud800-\udfff]")
# What XML 1.0 allows nowhere, not even as a character reference: every control but tab, LF and CR,
# the surrogates, U+FFFE and U+FFFF.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class TextRefused(ValueError):
    """The text cannot be taken as it is: a character no field may hold, or more characters than allowed."""

    def __init__(self, reason: Reason, *, character: str = "", limit: int = 0) -> None:
        self.reason, self.character, self.limit = reason, character, limit
        super().__init__(f"too long (more than {limit} characters)" if reason == "too_long"
                         else f"the character {self.code_point} is not allowed")

    @property
    def code_point(self) -> str:
        """The refused character as people can quote it: "U+0000"."""
        return f"U+{ord(self.character):04X}" if self.character else ""


def clean(value: str, *, limit: int, multiline: bool = False, drop: bool = False) -> str:
    """`value` as it is stored: NFC, line breaks as "\\n" (a space in a one-line field, where a tab is one too).

    Raises `TextRefused` for a lone surrogate or a control character (or, with `drop`, leaves them
    out: for input that has been proved to come from a provider and must not be refused), and for
    more than `limit` characters once composed.
    """
    if not (value.isascii() and value.isprintable()):
        for pattern in (SURROGATE, FORBIDDEN):
            if drop:
                value = pattern.sub("", value)
            elif found := pattern.search(value):
                raise TextRefused("character", character=found.group())
        value = LINE_BREAK.sub("\n" if multiline else " ", value)
        if not multiline:
            value = value.replace("\t", " ")
        value = unicodedata.normalize("NFC", value)
    if len(value) > limit:
        raise TextRefused("too_long", limit=limit)
    return value


def xml_safe(value: str) -> str:
    """`value` without the characters XML 1.0 forbids, for text that was stored before it was checked."""
    return NOT_XML.sub("", value)
