"""Every user-facing string has a Vietnamese translation, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
KEYWORDS = {"N_": None, "_": None, "_l": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2)}


def _extracted() -> set[str]:
    found: set[str] = set()
    # The folders babel.cfg names, so that a folder left out of extraction is left out here too.
    sections = re.findall(r"^\[(\w+): ([^\]]+)\]$", (ROOT / "babel.cfg").read_text(), re.MULTILINE)
    method_map = [(pattern, method) for method, pattern in sections]
    for _file, _line, message, _comments, _context in extract_from_dir(str(ROOT), method_map=method_map,
                                                                        keywords=KEYWORDS):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _entries() -> list[tuple[str, str, str]]:
    """Each message as (id, source to compare placeholders with, translation).

    Vietnamese has one plural form, used for every count, so a plural message (found by its
    singular) is compared with its plural source, which carries every placeholder.
    """
    with (ROOT / "translations/vi/LC_MESSAGES/messages.po").open("rb") as f:
        return [_entry(m.id, m.string) for m in read_po(f, locale="vi") if m.id and "fuzzy" not in m.flags]


def _entry(msgid: str | tuple[str, ...] | list[str], string: object) -> tuple[str, str, str]:
    if isinstance(msgid, str):
        assert isinstance(string, str), msgid
        return msgid, msgid, string
    assert isinstance(string, (tuple, list)) and isinstance(string[0], str), msgid
    return msgid[0], msgid[1], string[0]


def _pairs() -> list[tuple[str, str]]:
    return [(source, translated) for _id, source, translated in _entries()]


def _catalogue() -> dict[str, str]:
    return {message_id: translated for message_id, _source, translated in _entries()}


def test_every_message_has_a_vietnamese_translation() -> None:
    catalogue = _catalogue()
    missing = sorted(m for m in _extracted() if not catalogue.get(m))
    assert missing == [], "run scripts/i18n.sh and translate these"


def test_translations_keep_the_placeholders() -> None:
    for source, translated in _pairs():
        assert sorted(PLACEHOLDER.findall(source)) == sorted(PLACEHOLDER.findall(translated)), source


def test_vietnamese_translations_carry_diacritics() -> None:
    """A translation typed without its accents would read wrongly; spot the longer ones."""
    for source, translated in _catalogue().items():
        if len(translated) > 25:
            assert re.search(r"[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]",
                             translated, re.IGNORECASE), source
