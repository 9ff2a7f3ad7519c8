"""The one rule for text coming in and going into XML: what is kept, what is changed, what is refused."""

from __future__ import annotations

import unicodedata
import xml.etree.ElementTree as ET

import pytest

from booking.plain_text import TextRefused, clean, xml_safe

DECOMPOSED = unicodedata.normalize("NFD", "Nguyễn Thị Ánh")  # as Windows-1258 and some keyboards write it

CLEANED = [
    # (given, one-line field, multi-line field)
    ("0912 345 678", "0912 345 678", "0912 345 678"),
    (DECOMPOSED, "Nguyễn Thị Ánh", "Nguyễn Thị Ánh"),
    ("Bão\tsố 3", "Bão số 3", "Bão\tsố 3"),
    ("dòng 1\r\ndòng 2", "dòng 1 dòng 2", "dòng 1\ndòng 2"),
    ("dòng 1\rdòng 2\ndòng 3", "dòng 1 dòng 2 dòng 3", "dòng 1\ndòng 2\ndòng 3"),
    ("Trung tâm\x0bxã Năm Căn", "Trung tâm xã Năm Căn", "Trung tâm\nxã Năm Căn"),  # Word's manual line break
    ("a\x0cb\x85c\u2028d", "a b c d", "a\nb\nc\nd"),
    ("😀 ₫ « »", "😀 ₫ « »", "😀 ₫ « »"),
]


@pytest.mark.parametrize(("given", "one_line", "lines"), CLEANED)
def test_text_is_composed_and_its_breaks_kept_only_where_a_field_has_lines(given: str, one_line: str,
                                                                          lines: str) -> None:
    assert clean(given, limit=100) == one_line
    assert clean(given, limit=100, multiline=True) == lines


REFUSED = [
    ("Phạm\x00Dung", "U+0000"),
    ("\ud800", "U+D800"),  # a lone surrogate, as JSON's "\ud800" decodes
    ("a\udfffb", "U+DFFF"),
    ("\x1b[31m", "U+001B"),
    ("x\x7f", "U+007F"),
    ("x\x9b", "U+009B"),
    ("\ufffe", "U+FFFE"),
]


@pytest.mark.parametrize(("given", "code_point"), REFUSED)
def test_lone_surrogates_and_control_characters_are_refused_naming_the_character(given: str,
                                                                                 code_point: str) -> None:
    for multiline in (False, True):
        with pytest.raises(TextRefused) as refused:
            clean(given, limit=100, multiline=multiline)
        assert refused.value.reason == "character" and refused.value.code_point == code_point


def test_dropping_leaves_out_what_would_be_refused() -> None:
    assert clean("300\x0005", limit=100, drop=True) == "30005"
    assert clean("a\ud800b\x1bc\r\nd", limit=100, multiline=True, drop=True) == "abc\nd"


def test_the_limit_counts_composed_characters() -> None:
    assert clean(DECOMPOSED, limit=len("Nguyễn Thị Ánh")) == "Nguyễn Thị Ánh"
    with pytest.raises(TextRefused) as refused:
        clean("x" * 201, limit=200)
    assert refused.value.reason == "too_long" and refused.value.limit == 200 and "200" in str(refused.value)


def test_xml_safe_text_always_parses_and_keeps_what_xml_allows() -> None:
    every_bmp = "".join(chr(c) for c in range(0x10000))
    kept = xml_safe(every_bmp + "😀")
    ET.fromstring(f"<Say>{kept.replace('&', '&amp;').replace('<', '&lt;')}</Say>".encode(errors="strict"))
    assert "\t\n\r" in kept and "😀" in kept and "\x0b" not in kept and "\ud800" not in kept
    assert len(every_bmp) - len(xml_safe(every_bmp)) == 29 + 2048 + 2  # controls, surrogates, FFFE/FFFF
