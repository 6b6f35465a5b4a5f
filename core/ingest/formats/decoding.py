"""Bytes -> str for text formats. UTF-8 (with or without a BOM) first; legacy Russian files are
often cp1251 and Western ones latin-1, and both decode any byte, so a heuristic chooses."""

from __future__ import annotations

import codecs
import re

from core.errors import UnreadableDocument

__all__ = ["decode_text", "declared_charset"]

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_LETTER_RUN = re.compile(r"[^\W\d_]+")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
# Control codes (not tab, newlines, form feed), replacement characters, private-use characters.
_GARBAGE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd\ue000-\uf8ff]")
# Share of characters that may be control or undecodable before a "text" file counts as binary.
_MAX_GARBAGE = 0.02


def declared_charset(content: bytes) -> str | None:
    """The charset an HTML page declares in a <meta> tag near its start, if Python knows it."""
    match = _CHARSET.search(content[:4096])
    if not match:
        return None
    try:
        return codecs.lookup(match.group(1).decode("ascii")).name
    except LookupError:
        return None


def decode_text(content: bytes, *, name: str, charset: str | None = None) -> str:
    """Decode a text document, raising ``UnreadableDocument`` when the bytes are not text."""
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            return _checked(content[len(bom) :].decode(encoding, errors="replace"), name)
    if b"\x00" in content[:8192]:
        raise UnreadableDocument(f"{name} looks like a binary file, not text (it contains NUL bytes).")
    if charset:
        try:
            return _checked(content.decode(charset, errors="replace"), name)
        except LookupError:
            pass
    try:
        return _checked(content.decode("utf-8"), name)
    except UnicodeDecodeError:
        pass
    as_cp1251 = content.decode("cp1251", errors="replace")
    if _looks_russian(as_cp1251):
        return _checked(as_cp1251, name)
    return _checked(content.decode("latin-1"), name)


def _looks_russian(text: str) -> bool:
    """cp1251 maps the Latin-1 accented letters onto Cyrillic ones, so both decodings yield
    letters. Russian words are runs of Cyrillic letters; Latin-1 text misread as cp1251 gives
    ASCII words with one Cyrillic letter inside ("cafй", "GrьЯe"). Count letters of each kind."""
    pure = mixed = 0
    for run in _LETTER_RUN.findall(text):
        if not _CYRILLIC.search(run):
            continue
        if _ASCII_LETTER.search(run):
            mixed += len(run)
        else:
            pure += len(run)
    return pure > 0 and pure >= 2 * mixed


def _checked(text: str, name: str) -> str:
    if not text:
        return text
    sample = text[:100_000]
    garbage = len(_GARBAGE.findall(sample))
    if garbage > _MAX_GARBAGE * len(sample):
        raise UnreadableDocument(
            f"{name} does not look like text: {garbage * 100 // len(sample)}% of its characters are "
            "control codes or invalid bytes. Is it a binary file with a text extension?"
        )
    return text
