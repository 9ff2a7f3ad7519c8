"""SMS arithmetic: which encoding a text needs, how many segments it costs, and plain-letter Vietnamese.

GSM-7 carries 160 characters (153 a segment when split); any character outside it, such as every
Vietnamese letter with a diacritic, forces UCS-2 with 70 (67 a segment). Stripping diacritics
must map đ/Đ explicitly: Unicode decomposition leaves them alone.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# The GSM 03.38 basic character set, and the extension table (each costs two septets).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsSize:
    encoding: str  # "gsm7" or "ucs2"
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


def size_of(text: str) -> SmsSize:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        return SmsSize("gsm7", units, 1 if units <= 160 else -(-units // 153))
    units = len(text.encode("utf-16-le")) // 2
    return SmsSize("ucs2", units, 1 if units <= 70 else -(-units // 67))


_PLAIN = str.maketrans({"đ": "d", "Đ": "D", "–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"',
                        "\u00a0": " ", "₫": "d"})


def without_diacritics(text: str) -> str:
    """Vietnamese in plain letters ('Đăng ký' → 'Dang ky'), as phones show it without accents."""
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFC", text).translate(_PLAIN))
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))
