"""Bytes to text: BOMs, UTF-16, UTF-8, East Asian encodings, then Windows-1252.

Binary data is refused here, with a message naming what the bytes look like.
"""

from __future__ import annotations

import re

from app.ml.loading.errors import _SUPPORTED, DataLoadError
from app.ml.loading.sniff import _MAGIC, _zip_kind

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_C0_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")

_SAMPLE_CHARS = 64 * 1024
# charset_normalizer reads at most this many bytes, cut after a line break (a byte
# that is never half of a character in the encodings below): fast on any file.
_DETECT_BYTES = 256 * 1024
# Fewer non-ASCII bytes than this (six double-byte characters) are too little to go
# on: on a line or two of Western text, charset_normalizer may guess Big5 or
# Shift-JIS. Such files are read as Windows-1252 or Latin-1, as before.
_EAST_ASIAN_MIN_BYTES = 12
_ASCII = bytes(range(128))
# The multi-byte East Asian encodings charset_normalizer may name, each with the
# codec that decodes the whole file (the Windows superset of a narrower name, which
# reads every file the narrower one reads) and the encoding named in the note.
_EAST_ASIAN = {
    "cp932": ("cp932", "Shift-JIS (Japanese)"),
    "shift_jis": ("cp932", "Shift-JIS (Japanese)"),
    "shift_jis_2004": ("shift_jis_2004", "Shift-JIS (Japanese)"),
    "shift_jisx0213": ("shift_jisx0213", "Shift-JIS (Japanese)"),
    "euc_jp": ("euc_jp", "EUC-JP (Japanese)"),
    "euc_jis_2004": ("euc_jis_2004", "EUC-JP (Japanese)"),
    "euc_jisx0213": ("euc_jisx0213", "EUC-JP (Japanese)"),
    "gb2312": ("gb18030", "GBK (Simplified Chinese)"),
    "gbk": ("gb18030", "GBK (Simplified Chinese)"),
    "gb18030": ("gb18030", "GBK (Simplified Chinese)"),
    "big5": ("big5", "Big5 (Traditional Chinese)"),
    "big5hkscs": ("big5hkscs", "Big5 (Traditional Chinese)"),
    "cp950": ("cp950", "Big5 (Traditional Chinese)"),
    "euc_kr": ("cp949", "EUC-KR (Korean)"),
    "cp949": ("cp949", "EUC-KR (Korean)"),
    "johab": ("johab", "Johab (Korean)"),
}
# The common characters of an encoding that charset_normalizer confuses with others:
# Shift-JIS and GBK bytes often decode as Korean (cp949), but into Hangul outside
# the 2,350 syllables of EUC-KR, which Korean files rarely leave.
_COMMON = {"cp949": "euc_kr", "gb18030": "gbk"}


def _decode(content: bytes) -> tuple[str, list[str]]:
    """Bytes to text, recognising BOMs, UTF-16, UTF-8, East Asian and Windows-1252."""
    boms = (
        (b"\xef\xbb\xbf", "utf-8", None),
        (b"\xff\xfe\x00\x00", "utf-32-le", "UTF-32"),
        (b"\x00\x00\xfe\xff", "utf-32-be", "UTF-32"),
        (b"\xff\xfe", "utf-16-le", "UTF-16"),
        (b"\xfe\xff", "utf-16-be", "UTF-16"),
    )
    for bom, codec, label in boms:
        if content.startswith(bom):
            body = content[len(bom) :]
            if codec == "utf-8":
                content = body
                break
            text = _strict(body, codec)
            if text is None:
                raise _not_text(content)
            return _checked_text(text, content), [f"Read the file as {label} text."]
    utf16 = _utf16_without_bom(content)
    if utf16:
        text = _strict(content, utf16)
        if text is not None:
            return _checked_text(text, content), ["Read the file as UTF-16 text."]
    content = content.rstrip(b"\x00")
    if b"\x00" in content:
        raise _not_text(content)
    text = _strict(content, "utf-8")
    if text is not None:
        return _checked_text(text, content), []
    found = _east_asian(content)
    if found is not None:
        text, label = found
        note = f"The file is not UTF-8; read it as {label} text."
        return _checked_text(text, content), [note]
    text = _strict(content, "cp1252")
    if text is not None:
        note = "The file is not UTF-8; read it as Windows-1252 (Western European) text."
        return _checked_text(text, content), [note]
    text = content.decode("latin-1")
    return _checked_text(text, content), [
        "The file is not UTF-8; read it as Latin-1 (Western European) text."
    ]


def _strict(content: bytes, codec: str) -> str | None:
    """Decode or return None."""
    try:
        return content.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _east_asian(content: bytes) -> tuple[str, str] | None:
    """The text and its encoding's name when the file is in an East Asian encoding.

    charset_normalizer's best guess for the first bytes must be a multi-byte East
    Asian encoding that decodes the whole file; otherwise None, and the file is
    read as Windows-1252 or Latin-1 as before (its guesses between single-byte
    encodings on short Western text are not reliable enough to be trusted).
    Among its East Asian guesses, in its order, the first whose sample stays within
    the encoding's common characters is taken (Shift-JIS, not Korean).
    """
    from charset_normalizer import from_bytes

    sample = content[:_DETECT_BYTES]
    if b"\n" in sample:
        sample = sample[: sample.rindex(b"\n") + 1]
    if len(sample.translate(None, _ASCII)) < _EAST_ASIAN_MIN_BYTES:
        return None
    matches = from_bytes(sample)
    best = matches.best()
    if best is None or best.encoding not in _EAST_ASIAN:
        return None
    guesses = [m.encoding for m in matches if m.encoding in _EAST_ASIAN]
    common = [
        guess
        for guess in guesses
        if guess not in _COMMON or _strict(sample, _COMMON[guess]) is not None
    ]
    codec, label = _EAST_ASIAN[(common or guesses)[0]]
    text = _strict(content, codec)
    return None if text is None else (text, label)


def _utf16_without_bom(content: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when NUL bytes alternate like UTF-16 text."""
    sample = content[:4096]
    if len(sample) < 4 or len(content) % 2:
        return None
    even, odd = sample[0::2], sample[1::2]
    nul_even, nul_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    if nul_odd > 0.3 and nul_even < 0.05:
        return "utf-16-le"
    if nul_even > 0.3 and nul_odd < 0.05:
        return "utf-16-be"
    return None


def _checked_text(text: str, content: bytes) -> str:
    """Refuse decoded text that is mostly control characters.

    When the only control characters are those that bytes 0x80-0x9F become in
    Latin-1, the file is text in an encoding not recognised (a multi-byte encoding
    charset_normalizer did not identify), not binary data, and the message says so.
    """
    sample = text[:_SAMPLE_CHARS]
    if "\x00" in sample or len(_CONTROL.findall(sample)) > 0.1 * len(sample):
        if "\x00" not in sample and not _C0_CONTROL.search(sample):
            raise DataLoadError(
                "The file's text encoding was not recognised (this app reads "
                "UTF-8, UTF-16, Windows-1252 and the common East Asian encodings "
                "such as Shift-JIS and GBK). Please save the file as UTF-8 CSV "
                "and upload it again."
            )
        raise _not_text(content)
    return text


def _not_text(content: bytes) -> DataLoadError:
    """The message for binary content where text was expected."""
    kind = "binary data"
    for magic, label in _MAGIC:
        if label and content.startswith(magic):
            kind = _zip_kind(content) if magic.startswith(b"PK") else label
            break
    return DataLoadError(
        f"This file does not look like a text table (CSV or TSV); it looks like "
        f"{kind}. Supported formats: {_SUPPORTED}."
    )
