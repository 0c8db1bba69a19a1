"""Turn the bytes of an uploaded file into a clean table, with notes on what was done.

Part of the pure layer: imports only the standard library, numpy, pandas and the
default limits of ``config`` (pyarrow and openpyxl are imported inside the functions
that need them). Visitor bytes are never unpickled or evaluated.

Every file's cost is bounded by its decoded size, checked before (or while) the work
is done: rows, columns and cells, the in-memory size of a Parquet table, the unpacked
size and the cells of a workbook. Each refusal names the limit and the file's figure.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import math
import re
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from .config import Settings

__all__ = ["DataLoadError", "LoadedTable", "clean_frame", "read_table"]

_LOG = logging.getLogger(__name__)

_MB = 1024 * 1024
_SUPPORTED = "CSV, TSV, Excel (.xlsx) or Parquet"
_EXCEL_EXTENSIONS = frozenset({".xlsx", ".xlsm"})
_PARQUET_EXTENSIONS = frozenset({".parquet", ".pq"})
_UNSUPPORTED_EXTENSIONS = frozenset(
    {
        ".xlsb", ".ods", ".numbers", ".json", ".jsonl", ".ndjson", ".xml", ".html",
        ".htm", ".pkl", ".pickle", ".joblib", ".npy", ".npz", ".mat", ".sav", ".dta",
        ".sas7bdat", ".xpt", ".rds", ".rdata", ".rda", ".feather", ".arrow", ".orc",
        ".avro", ".h5", ".hdf", ".hdf5", ".db", ".sqlite", ".sqlite3", ".zip", ".gz",
        ".bz2", ".xz", ".7z", ".rar", ".tar", ".pdf", ".doc", ".docx", ".ppt",
        ".pptx", ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".exe",
    }
)  # fmt: skip

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "a zip archive"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Microsoft Office file"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "a program"),
    (b"ARROW1", "an Arrow/Feather file"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
    (b"\x93NUMPY", "a NumPy array file"),
    (b"\x80\x04\x95", "a Python pickle"),
)

# Cells that an analyst reads as "no value" (compared after stripping spaces).
_NA_MARKERS = frozenset(
    {"", "NA", "N/A", "n/a", "na", "NaN", "nan", "null", "NULL", "None"}
    | {"-", "?", "#N/A", "."}
)

_UNNAMED = re.compile(r"^Unnamed: \d+(?:_level_\d+)?$")
_ID_NAME = re.compile(
    r"^(?:.*[_\-\s.])?(?:id|ids|uuid|guid|key|index|idx|row|rowid|row_?no"
    r"|row_?num(?:ber)?|record|record_?id)$"
    r"|^(?:user|customer|client|order|account|product|item|patient|employee"
    r"|transaction|session|member|person|case|subject|sample|invoice)id$",
    re.IGNORECASE,
)
_CAMEL_ID = re.compile(r"^.*[a-z0-9](?:Id|ID)$")
_YEARS = range(1900, 2101)

# Numbers written with separators, tried only on values that plain parsing rejects.
# Plain strings, not compiled patterns, so that pandas can run them in pyarrow (RE2):
# no backreferences, no \\s, non-ASCII spaces written as the characters themselves.
_SPACES = " \u00a0\u202f"  # space, no-break space, narrow no-break space
_APOSTROPHES = "'\u2019"
_PLAIN_NUMBER = (
    r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:[iI]nf(?:inity)?|INF)"
)
_NUMBER_CHARS = "[^0-9.,eE+" + _SPACES + _APOSTROPHES + "-]"
_THOUSANDS = (
    r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?:[" + _SPACES + r"]\d{3})+"
    r"|\d{1,3}(?:[" + _APOSTROPHES + r"]\d{3})+)(?:\.\d+)?"
)
_DECIMAL_COMMA = (
    r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d{1,3}(?:[" + _SPACES + r"]\d{3})+|\d+)"
    r"(?:,\d+)?(?:[eE][+-]?\d+)?"
)
_THOUSANDS_DOT = r"[+-]?\d{1,3}(?:\.\d{3})+"
_LEADING_ZERO = r"[+-]?0\d"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_C0_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_QUOTED = re.compile(r"""^(["'])(.*)\1$""", re.DOTALL)

# Explicit date formats, tried in order (no per-element guessing).
_DATE_FORMATS = (
    "ISO8601",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%d-%m-%Y",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
)

_SAMPLE_CHARS = 64 * 1024
_SNIFF_CHARS = 4 * 1024
_SNIFF_RECORDS = 200
_DETECT_SAMPLE = 500
_MIN_ID_ROWS = 20
_UNIQUE_HEAD = 10_000  # values checked for repeats before a whole text column
_BAD_LINE_SHARE = 0.05
_DATE_SHARE = 0.95
_ZIP_RATIO = 200
_ZIP_RATIO_MIN_SIZE = 10 * _MB
_ZIP_MAX_PARTS = 10_000
_SCAN_CHUNK = _MB  # XML parts are scanned in chunks of this size
# Markers refused anywhere in a workbook's parts, in the encodings XML parsers read.
_XML_MARKERS = tuple(
    marker.encode(codec)
    for marker in ("<!DOCTYPE", "<!ENTITY")
    for codec in ("utf-8", "utf-16-le", "utf-16-be")
)
# Decoded sizes are also capped at this multiple of the upload limit, so that a
# server configured for small uploads keeps small tables.
_UNPACK_RATIO = 20
# Parquet: a table's size is its decoded Arrow size (dictionaries expanded), plus
# one Python object per cell of the columns pandas holds as objects.
_OFFSET = 4  # bytes of one offset of an Arrow string array
_OBJECT_CELL = 100  # bytes, decimals, dates, lists, records: one Python object each
_BATCH_BYTES = 16 * _MB  # Parquet is measured in batches of about this size
_MIN_BATCH_ROWS = 16
_MAX_BATCH_ROWS = 65_536
_LONG_VALUE = _MB  # a repeated Parquet value longer than this is refused early
_ESTIMATE_MARGIN = 2  # refuse on the first batch's estimate beyond this × the limit
_PARQUET_MAX_GROUPS = 10_000  # each row group costs a little time to read

_DEFAULT = Settings()  # the limits' defaults: one source of truth, config.Settings


@dataclass(frozen=True)
class _Limits:
    """What one upload may cost, in bytes, rows, columns and cells."""

    max_bytes: int
    max_rows: int
    max_columns: int
    table_bytes: int
    max_cells: int
    excel_unpacked_bytes: int
    excel_cells: int


class DataLoadError(ValueError):
    """A file that cannot be loaded; ``str(exc)`` is a message for the visitor."""


@dataclass(frozen=True, eq=False)
class LoadedTable:
    """A cleaned table and what was learnt while loading it.

    Attributes
    ----------
    frame : pandas.DataFrame
        The cleaned data.
    name : str
        The file name as given (for display only).
    notes : tuple of str
        Short sentences saying what was done to the data.
    id_columns : tuple of str
        Columns that look like row identifiers (unique per row).
    constant_columns : tuple of str
        Columns holding a single value.
    date_columns : tuple of str
        Columns holding dates.
    """

    frame: pd.DataFrame
    name: str
    notes: tuple[str, ...]
    id_columns: tuple[str, ...]
    constant_columns: tuple[str, ...]
    date_columns: tuple[str, ...]


# --------------------------------------------------------------------------- #
# read_table
# --------------------------------------------------------------------------- #


def read_table(
    content: bytes,
    filename: str,
    *,
    max_bytes: int = _DEFAULT.max_upload_bytes,
    max_rows: int = _DEFAULT.max_rows,
    max_columns: int = _DEFAULT.max_columns,
    max_table_mb: float = _DEFAULT.max_table_mb,
    max_cells: int = _DEFAULT.max_cells,
    max_excel_unpacked_mb: float = _DEFAULT.max_excel_unpacked_mb,
    max_excel_cells: int = _DEFAULT.max_excel_cells,
) -> LoadedTable:
    """Read an uploaded CSV, TSV, Excel or Parquet file into a clean table.

    Every limit is checked before the work it bounds (or while streaming), and a
    file over one is refused with a sentence naming the limit and the file's figure.
    The defaults are those of :class:`app.config.Settings`.

    Parameters
    ----------
    content : bytes
        The raw bytes of the file.
    filename : str
        The file's name, used to guess its format and for display.
    max_bytes : int
        Largest file accepted, in bytes.
    max_rows, max_columns : int
        Most rows and columns of the table.
    max_table_mb : float
        Largest in-memory size of the decoded table (MiB; Parquet is measured
        before it is loaded). Also capped at 20 times ``max_bytes``.
    max_cells : int
        Most cells (rows × columns) of the table, checked before parsing.
    max_excel_unpacked_mb : float
        Largest total unpacked size of an .xlsx workbook's parts (MiB). Also
        capped at 20 times ``max_bytes``.
    max_excel_cells : int
        Most cells read from a workbook, counted while its rows are streamed.

    Returns
    -------
    LoadedTable
        The cleaned frame, notes on what was done and the columns' roles.

    Raises
    ------
    DataLoadError
        When the file cannot be loaded; the message is meant for the visitor.
    """
    content = bytes(content)
    name = "" if filename is None else str(filename)
    cap = _UNPACK_RATIO * int(max_bytes)
    limits = _Limits(
        max_bytes=int(max_bytes),
        max_rows=int(max_rows),
        max_columns=int(max_columns),
        table_bytes=min(int(max_table_mb * _MB), cap),
        max_cells=int(max_cells),
        excel_unpacked_bytes=min(int(max_excel_unpacked_mb * _MB), cap),
        excel_cells=int(max_excel_cells),
    )
    try:
        return _read_table(content, name, limits)
    except DataLoadError:
        raise
    except MemoryError:
        raise DataLoadError(
            "The file is too large to process. Please upload a smaller file."
        ) from None
    except Exception as exc:  # a parser failed in a way not foreseen: stay polite
        _LOG.warning("Unexpected error while loading %r", name, exc_info=True)
        raise DataLoadError(
            "The file could not be read as a table. Please check that it is a "
            f"valid {_SUPPORTED} file."
        ) from exc


def _read_table(content: bytes, name: str, limits: _Limits) -> LoadedTable:
    """Check limits, pick a reader, clean the result."""
    if not content:
        raise DataLoadError("The file is empty (it has 0 bytes).")
    if len(content) > limits.max_bytes:
        size, limit = _sizes(len(content), limits.max_bytes)
        raise DataLoadError(
            f"The file is {size}, which is more than the {limit} limit. "
            "Please upload a smaller file."
        )
    extension = _extension(name)
    reader, notes = _choose_reader(content, extension)
    frame, read_notes, decimal_comma = reader(content, limits)
    notes += read_notes
    if frame.shape[1] > limits.max_columns:
        raise _too_many_columns(frame.shape[1], limits.max_columns)
    if len(frame) > limits.max_rows:
        raise _too_many_rows(limits.max_rows)
    if len(frame) * frame.shape[1] > limits.max_cells:
        raise _too_many_cells(len(frame), frame.shape[1], limits.max_cells)
    if len(frame) == 0:
        raise DataLoadError("The file has column names but no rows of data.")
    raw = [frame]
    del frame  # held by _clean alone, which frees each raw column once it is cleaned
    cleaned, clean_notes, roles = _clean(raw.pop(), decimal_comma=decimal_comma)
    if cleaned.shape[1] == 0:
        raise DataLoadError("The file has no data: every cell is empty.")
    if len(cleaned) == 0:
        raise DataLoadError("The file has column names but no rows of data.")
    return LoadedTable(
        frame=cleaned,
        name=name,
        notes=tuple(notes + clean_notes),
        id_columns=roles["id"],
        constant_columns=roles["constant"],
        date_columns=roles["date"],
    )


_Reader = Callable[[bytes, _Limits], "tuple[pd.DataFrame, list[str], bool | None]"]


def _choose_reader(content: bytes, extension: str) -> tuple[_Reader, list[str]]:
    """Pick the reader from the extension, checked against the content."""
    shown = extension or "without an extension"
    is_zip = content.startswith((b"PK\x03\x04", b"PK\x05\x06"))
    is_parquet = content.startswith(b"PAR1")
    is_ole = content.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
    workbook = is_zip and _zip_kind(content) == "an Excel workbook (.xlsx)"
    if extension in _EXCEL_EXTENSIONS:
        if is_zip:
            return _read_excel, []
        if is_ole:
            raise _legacy_excel_error(password=True)
        raise DataLoadError(
            "This file does not look like an Excel workbook (.xlsx); it looks like "
            f"{_describe(content)}. If it is a CSV file, rename it to .csv."
        )
    if extension in _PARQUET_EXTENSIONS:
        if is_parquet:
            return _read_parquet, []
        raise DataLoadError(
            "This file does not look like a Parquet file; it looks like "
            f"{_describe(content)}."
        )
    if extension == ".xls":
        if workbook:
            return _read_excel, [
                "The file is named .xls but is an .xlsx workbook; read it as one."
            ]
        raise _legacy_excel_error(password=False)
    if extension in _UNSUPPORTED_EXTENSIONS:
        raise DataLoadError(
            f"Files of type {extension} are not supported. Please upload a "
            f"{_SUPPORTED} file."
        )
    # Delimited text, by extension or by elimination: trust the content.
    if workbook:
        return _read_excel, [
            f"The file is named {shown} but is an Excel workbook; read it as one."
        ]
    if is_parquet:
        return _read_parquet, [
            f"The file is named {shown} but is a Parquet file; read it as one."
        ]
    if is_ole:
        raise _legacy_excel_error(password=False)
    return functools.partial(_read_text, extension=extension), []


def _legacy_excel_error(*, password: bool) -> DataLoadError:
    """The message for old binary Office files."""
    extra = " (or a password-protected .xlsx)" if password else ""
    return DataLoadError(
        f"This is a legacy Excel .xls workbook{extra}, which is not supported. "
        "Please open it in Excel and save it as .xlsx (without a password) or CSV. "
        f"Supported formats: {_SUPPORTED}."
    )


def _too_many_rows(max_rows: int) -> DataLoadError:
    """The message for a file over the row limit."""
    return DataLoadError(
        f"The file has more than {max_rows:,} rows, the most this app accepts. "
        "Please upload a sample of the rows."
    )


def _too_many_columns(columns: int, max_columns: int) -> DataLoadError:
    """The message for a file over the column limit."""
    return DataLoadError(
        f"The file has {columns:,} columns; the limit is {max_columns:,}."
    )


def _too_many_cells(
    rows: int, columns: int, max_cells: int, *, about: bool = False
) -> DataLoadError:
    """The message for a table over the cell limit (rows × columns)."""
    prefix = "about " if about else ""
    return DataLoadError(
        f"The file has {prefix}{_count(rows, 'row')} and {_count(columns, 'column')}, "
        f"{prefix}{rows * columns:,} cells in all, more than the {max_cells:,} "
        "cells this app accepts per table. Please upload fewer rows or columns."
    )


def _count(number: int, noun: str) -> str:
    """'1 row', '1,000 rows'."""
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _too_large_table(kind: str, size: int, limit: int) -> DataLoadError:
    """The message for a table whose decoded size is over the limit."""
    shown, bound = _sizes(size, limit)
    return DataLoadError(
        f"The {kind} would unpack to about {shown}, more than the {bound} this app "
        "can process per table. Please upload a smaller file or fewer rows."
    )


def _extension(name: str) -> str:
    """The lower-case extension of a file name, with its dot, or ''."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if "." not in base.strip("."):
        return ""
    return "." + base.rsplit(".", 1)[-1].strip().lower()


def _sizes(size: int, limit: int) -> tuple[str, str]:
    """Two byte counts in MB, with enough digits to tell them apart."""
    large = min(size, limit) >= 10 * _MB
    for digits in (0, 1, 2, 3, 4, 6) if large else (1, 2, 3, 4, 6):
        first, second = f"{size / _MB:,.{digits}f}", f"{limit / _MB:,.{digits}f}"
        if first != second and float(second.replace(",", "")) > 0:
            break
    return _trim_zeros(first) + " MB", _trim_zeros(second) + " MB"


def _trim_zeros(text: str) -> str:
    """'20.0' -> '20', '0.50' -> '0.5'."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def _describe(content: bytes) -> str:
    """A few words saying what some bytes look like."""
    for magic, label in _MAGIC:
        if label and content.startswith(magic):
            if magic.startswith(b"PK"):
                return _zip_kind(content)
            return label
    head = content[:4096]
    if b"\x00" in head:
        return "binary data"
    try:
        _decode(content[:65536])
    except DataLoadError:
        return "binary data"
    return "a text file"


def _zip_kind(content: bytes) -> str:
    """What a zip archive holds: an Office document of some kind or other files."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = archive.namelist()
    except Exception:
        return "a damaged zip archive"
    if any(n.startswith("xl/") for n in names):
        return "an Excel workbook (.xlsx)"
    if any(n.startswith("word/") for n in names):
        return "a Word document"
    if any(n.startswith("ppt/") for n in names):
        return "a PowerPoint presentation"
    return "a zip archive"


# ----------------------------- delimited text ------------------------------ #


def _read_text(
    content: bytes, limits: _Limits, *, extension: str = ".csv"
) -> tuple[pd.DataFrame, list[str], bool | None]:
    """Decode, sniff and parse delimited text; every cell stays a string."""
    text, notes = _decode(content)
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise DataLoadError("The file is empty (it has no text).")
    delimiter, records = _sniff(text)
    expected = "\t" if extension in (".tsv", ".tab") else ","
    if delimiter != expected:
        notes.append(f"Read the file as {_DELIMITER_NAMES[delimiter]}-separated text.")
    if records and len(text) > _SAMPLE_CHARS:
        # The sample may have cut the header short: count the whole first record.
        whole = _first_record(text, delimiter)
        if whole is not None and len(whole) > len(records[0]):
            records = [whole] + records[1:]
    header_count = len(records[0]) if records else 1
    columns, shift = _column_count(records)
    if columns > limits.max_columns:
        raise _too_many_columns(columns, limits.max_columns)
    data_rows = min(max(_count_lines(text) - 1, 0), limits.max_rows + 1)
    if data_rows * columns > limits.max_cells:
        raise _too_many_cells(data_rows, columns, limits.max_cells, about=True)
    max_rows = limits.max_rows
    raw, bad_lines = _parse_delimited(text, delimiter, columns, max_rows)
    if bad_lines:
        total = len(raw) - 1 + len(bad_lines)
        shown = ", ".join(str(n) for n in bad_lines[:5])
        shown += ", …" if len(bad_lines) > 5 else ""
        if len(bad_lines) >= _BAD_LINE_SHARE * max(total, 1):
            raise DataLoadError(
                f"{len(bad_lines):,} of {total:,} rows have more values than there "
                f"are column names (line {shown}). The separator may be wrong, or "
                "some values contain the separator without being quoted."
            )
        rows = "row" if len(bad_lines) == 1 else "rows"
        notes.append(
            f"Skipped {len(bad_lines):,} {rows} with more values than there are "
            f"columns (line {shown})."
        )
    if len(raw) == 0:
        raise DataLoadError("The file is empty (it has no text).")
    header = [str(v) for v in raw.iloc[0].tolist()]
    if shift:
        header = [""] + header[:header_count]
    frame, header_notes = _split_header(raw.iloc[1:], header)
    notes += header_notes
    return frame, notes, {",": False, ";": True, "\t": True}.get(delimiter)


_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def _decode(content: bytes) -> tuple[str, list[str]]:
    """Bytes to text, recognising BOMs, UTF-16, UTF-8 and Windows-1252."""
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
    Latin-1, the file is text in an encoding not recognised (Shift-JIS, GBK...),
    not binary data, and the message says so.
    """
    sample = text[:_SAMPLE_CHARS]
    if "\x00" in sample or len(_CONTROL.findall(sample)) > 0.1 * len(sample):
        if "\x00" not in sample and not _C0_CONTROL.search(sample):
            raise DataLoadError(
                "The file's text encoding was not recognised (this app reads "
                "UTF-8, UTF-16 and Windows-1252 text). Please save the file as "
                "UTF-8 CSV and upload it again."
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


def _sniff(text: str) -> tuple[str, list[list[str]]]:
    """Guess the delimiter; also return the first records it splits into."""
    sample = text[:_SAMPLE_CHARS]
    truncated = len(text) > len(sample)
    if truncated and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]
    scored = {}
    for delimiter in _DELIMITER_NAMES:
        records = _records(sample, delimiter)
        if truncated and len(records) > 1:
            records = records[:-1]
        scored[delimiter] = (_consistency(records), records)
    best = max(score for score, _ in scored.values())
    tied = [d for d, (score, _) in scored.items() if score == best]
    choice = tied[0]
    if len(tied) > 1:
        guess = _sniffer_guess(sample)
        if guess in tied:
            choice = guess
    return choice, scored[choice][1]


def _records(sample: str, delimiter: str) -> list[list[str]]:
    """The first non-blank records of a sample, split with csv quoting rules."""
    reader = csv.reader(
        io.StringIO(sample, newline=""),
        delimiter=delimiter,
        quotechar='"',
        doublequote=True,
        skipinitialspace=True,
    )
    records: list[list[str]] = []
    try:
        for row in reader:
            if row and not (len(row) == 1 and not row[0].strip()):
                records.append(row)
                if len(records) >= _SNIFF_RECORDS:
                    break
    except csv.Error:
        pass
    return records


def _consistency(records: list[list[str]]) -> tuple[float, int]:
    """How consistently a delimiter splits records into more than one field."""
    if not records:
        return (0.0, 0)
    counts = Counter(len(r) for r in records)
    fields, hits = counts.most_common(1)[0]
    if fields < 2:
        return (0.0, 0)
    return (hits / len(records), fields)


def _sniffer_guess(sample: str) -> str | None:
    """csv.Sniffer's delimiter on a short sample (it is slow on long ones)."""
    short = sample[:_SNIFF_CHARS]
    if "\n" in short:
        short = short[: short.rindex("\n") + 1]
    try:
        return (
            csv.Sniffer().sniff(short, delimiters="".join(_DELIMITER_NAMES)).delimiter
        )
    except Exception:
        return None


def _first_record(text: str, delimiter: str) -> list[str] | None:
    """The first non-blank record of the whole text, or None if csv cannot read it.

    Read lazily, line by line, so that only the header is split, however long.
    """
    lines: Iterable[str] = (
        _lines(text) if "\n" in text else io.StringIO(text, newline="")
    )
    reader = csv.reader(
        lines,
        delimiter=delimiter,
        quotechar='"',
        doublequote=True,
        skipinitialspace=True,
    )
    try:
        for row in reader:
            if row and not (len(row) == 1 and not row[0].strip()):
                return row
    except csv.Error:  # e.g. a field longer than csv's field size limit
        return None
    return None


def _lines(text: str) -> Iterator[str]:
    """The lines of a text, each with its line break, one at a time."""
    start, end = 0, len(text)
    while start < end:
        stop = text.find("\n", start)
        stop = end if stop < 0 else stop + 1
        yield text[start:stop]
        start = stop


def _count_lines(text: str) -> int:
    """How many lines a text has (an upper bound on its records)."""
    breaks = text.count("\n") or text.count("\r")
    return breaks + (0 if text.endswith(("\n", "\r")) else 1)


def _column_count(records: list[list[str]]) -> tuple[int, bool]:
    """How many columns to parse, and whether the header lacks a leading name.

    R's ``write.table`` omits the header cell above row names, so data rows have
    one field more than the header; a trailing delimiter on every data row gives
    the same count but an empty last field.
    """
    if not records:
        return 1, False
    header = len(records[0])
    data = [len(r) for r in records[1:]]
    if not data:
        return header, False
    fields, hits = Counter(data).most_common(1)[0]
    if fields <= header or hits < (1 - _BAD_LINE_SHARE) * len(data):
        return header, False
    if fields == header + 1:
        trailing_empty = all(not r[-1].strip() for r in records[1:] if len(r) == fields)
        return fields, not trailing_empty
    return fields, False


def _parse_delimited(
    text: str, delimiter: str, columns: int, max_rows: int
) -> tuple[pd.DataFrame, list[int]]:
    """Parse with pandas' C parser, counting the lines it had to skip."""
    options: dict[str, Any] = dict(
        sep=delimiter,
        header=None,
        names=list(range(columns)),
        index_col=False,
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        quotechar='"',
        doublequote=True,
        skipinitialspace=True,
        skip_blank_lines=True,
        engine="c",
        nrows=max_rows + 2,
    )
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            frame = pd.read_csv(io.StringIO(text), **options)
    except pd.errors.ParserError as exc:
        message = str(exc)
        if "EOF inside string" in message:
            raise _unterminated_quote(message) from None
        if "Expected" not in message:
            raise _unreadable_text() from exc
    else:
        if any("loss of data" in str(w.message) for w in caught):
            # The first line has more values than the columns counted: pandas
            # would drop the extra values without a word. Refuse instead.
            raise DataLoadError(
                f"The file's first line has more values than the {columns:,} "
                "columns that could be counted, so some values would be lost. "
                "Please check the header line (a very long name, or a missing "
                "quote) and upload the file again."
            )
        return frame, []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = pd.read_csv(io.StringIO(text), on_bad_lines="warn", **options)
        except pd.errors.ParserError as exc:
            raise _unreadable_text() from exc
    skipped = [
        int(number)
        for warning in caught
        for number in re.findall(r"Skipping line (\d+)", str(warning.message))
    ]
    return frame, skipped


def _unterminated_quote(message: str) -> DataLoadError:
    """The message for a quote that is opened and never closed."""
    found = re.search(r"row (\d+)", message)
    where = f" near line {int(found.group(1)) + 1:,}" if found else ""
    return DataLoadError(
        f'A quoted value starting{where} is never closed (a closing " is missing), '
        "so the rest of the file would become one value. Please fix the quotes "
        "and upload the file again."
    )


def _unreadable_text() -> DataLoadError:
    """The message for text the parser cannot split into a table."""
    return DataLoadError(
        "The file could not be split into rows and columns. Please check that it "
        "is a CSV or TSV file with one row per line."
    )


def _split_header(
    body: pd.DataFrame, header: list[Any]
) -> tuple[pd.DataFrame, list[str]]:
    """Use the header as column names, unless it is clearly a row of numbers."""
    names = ["" if _is_missing(v) else _header_text(v) for v in header]
    body = body.reset_index(drop=True)
    if _looks_like_data(names):
        first = pd.DataFrame([list(header)], columns=body.columns)
        body = pd.concat([first, body], ignore_index=True)
        body.columns = [f"column_{i + 1}" for i in range(body.shape[1])]
        last = body.shape[1]
        return body, [
            "The first row holds numbers rather than column names; named the "
            f"columns column_1 to column_{last}."
        ]
    body.columns = names
    return body, []


def _header_text(value: Any) -> str:
    """A header cell as text; whole floats lose their '.0'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _looks_like_data(names: list[str]) -> bool:
    """Whether a header row is really a row of numbers (not years)."""
    numbers = []
    for name in names:
        try:
            numbers.append(float(name.strip().replace("_", "x")))
        except ValueError:
            return False
        if not math.isfinite(numbers[-1]):
            return False
    whole_years = all(n.is_integer() and int(n) in _YEARS for n in numbers)
    return bool(numbers) and not whole_years


def _is_missing(value: Any) -> bool:
    """None, NaN or NaT."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


# --------------------------------- Excel ----------------------------------- #


def _read_excel(
    content: bytes, limits: _Limits
) -> tuple[pd.DataFrame, list[str], bool | None]:
    """Read the first non-empty sheet of an .xlsx workbook, after safety checks."""
    _check_workbook_zip(content, limits.excel_unpacked_bytes)
    notes: list[str] = []
    try:
        from openpyxl import load_workbook

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = load_workbook(
                io.BytesIO(content), read_only=True, data_only=True, keep_links=False
            )
            try:
                sheets = [sheet.title for sheet in book.worksheets]
                rows = _first_filled_sheet(book.worksheets, limits, notes)
            finally:
                book.close()
    except DataLoadError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise DataLoadError(
            "The Excel file could not be read. It may be damaged or use features "
            "this app does not support; try saving it again in Excel, or export "
            "the sheet to CSV."
        ) from exc
    if not rows:
        raise DataLoadError("The workbook has no data: its sheets are empty.")
    if len(sheets) > 1 and not notes:
        notes.append(
            f"The workbook has {len(sheets)} sheets; read the first one, "
            f"'{sheets[0]}'."
        )
    width = max(len(row) for row in rows)
    for row in rows:
        row.extend([None] * (width - len(row)))
    raw = pd.DataFrame(rows, dtype=object)
    del rows
    raw = raw.where(raw.notna(), np.nan)  # an empty cell is simply missing
    frame, header_notes = _split_header(raw.iloc[1:], raw.iloc[0].tolist())
    frame = frame.infer_objects()
    return frame, notes + header_notes, None


def _first_filled_sheet(
    sheets: list[Any], limits: _Limits, notes: list[str]
) -> list[list[Any]]:
    """The rows of the first sheet with any value, from its first non-empty row on.

    Rows are streamed (openpyxl's read-only mode) and their cells counted as they
    come: a workbook over the cell budget is refused before it is all read.
    Trailing empty cells and rows are left out; empty cells are None.
    """
    budget = _CellBudget(limits.excel_cells)
    for number, sheet in enumerate(sheets):
        sheet.reset_dimensions()  # declared dimensions may be wrong (or hostile)
        rows = _sheet_rows(sheet, limits.max_rows, budget)
        if rows:
            if number:
                notes.append(
                    f"The first sheet is empty; read sheet '{sheet.title}' instead."
                )
            return rows
    return []


class _CellBudget:
    """Counts the cells read from a workbook and refuses past the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def spend(self, cells: int, sheet: str, row: int) -> None:
        """Count ``cells`` more, read from row ``row`` of ``sheet``."""
        self.used += cells
        if self.used > self.limit:
            raise DataLoadError(
                f"The workbook holds more than {self.limit:,} cells (rows × "
                f"columns, counted up to row {row:,} of sheet '{sheet}'), the most "
                "this app reads from a workbook. Please upload fewer rows or "
                "columns, or save the sheet as CSV."
            )


def _sheet_rows(sheet: Any, max_rows: int, budget: _CellBudget) -> list[list[Any]]:
    """A sheet's rows from its first non-empty one, values converted as pandas does.

    Empty cells are None and error cells NaN: a row of errors is not trailing
    (it is kept, then dropped by the cleaning with a note) but is not the first
    row either. Stops with a refusal at the row limit (header included) or the
    cell budget.
    """
    rows: list[list[Any]] = []
    pending = 0  # empty rows seen since the last non-empty one
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        budget.spend(max(len(values), 1), sheet.title, number)  # an empty row: 1
        row = [_excel_value(v) for v in values]
        while row and row[-1] is None:
            row.pop()
        if not rows and all(_is_missing(v) for v in row):
            continue  # before the first row with a value
        if not row:
            pending += 1
            continue
        if rows and len(rows) + pending > max_rows:
            raise _too_many_rows(max_rows)
        rows.extend([] for _ in range(pending))
        pending = 0
        rows.append(row)
    return rows


def _excel_value(value: Any) -> Any:
    """A cell's value as pandas reads it: None when empty, NaN for an error."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value in _EXCEL_ERRORS:
        return np.nan  # missing, but the row is not empty (as pandas has it)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_EXCEL_ERRORS = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"}
)


def _check_workbook_zip(content: bytes, max_unpacked: int) -> None:
    """Refuse damaged zips, non-workbooks and zip bombs before openpyxl sees them.

    The declared sizes are checked first (zipfile never reads past them), then
    every part is read once, in chunks, for XML declarations that could expand.
    """
    damaged = DataLoadError(
        "The Excel file is damaged or incomplete, so it cannot be opened. Please "
        "save it again in Excel, or export the sheet to CSV."
    )
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            infos = archive.infolist()
            names = [info.filename for info in infos]
            if not any(n.startswith("xl/") for n in names):
                raise DataLoadError(
                    "This file does not look like an Excel workbook (.xlsx); it "
                    f"looks like {_zip_kind(content)}."
                )
            _check_zip_sizes(infos, max_unpacked)
            if any(info.flag_bits & 0x1 for info in infos):
                raise DataLoadError(
                    "The workbook is password-protected. Please remove the "
                    "password and upload it again."
                )
            for info in infos:
                if info.file_size and _has_xml_declarations(archive, info):
                    raise DataLoadError(
                        "The workbook contains unusual XML declarations and "
                        "was not opened, for safety. Please export the sheet "
                        "to CSV."
                    )
    except DataLoadError:
        raise
    except MemoryError:
        raise
    except Exception:
        raise damaged from None


def _has_xml_declarations(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """Whether a part holds a DOCTYPE or ENTITY declaration anywhere.

    The part is read in chunks; each chunk is searched together with the end of
    the one before, so that a marker split between two chunks is found.
    """
    overlap = max(len(m) for m in _XML_MARKERS) - 1
    tail = b""
    with archive.open(info) as member:
        while True:
            chunk = member.read(_SCAN_CHUNK)
            if not chunk:
                return False
            window = tail + chunk
            if any(marker in window for marker in _XML_MARKERS):
                return True
            tail = window[-overlap:]


def _check_zip_sizes(infos: list[zipfile.ZipInfo], max_unpacked: int) -> None:
    """Refuse archives that would unpack to too much data (zip bombs)."""
    if len(infos) > _ZIP_MAX_PARTS:
        raise DataLoadError(
            "The Excel file has an unusually large number of parts and was not "
            "opened, for safety. Please export the sheet to CSV."
        )
    total = sum(info.file_size for info in infos)
    if total > max_unpacked:
        size, bound = _sizes(total, max_unpacked)
        raise DataLoadError(
            f"The Excel file would unpack to {size}, more than the {bound} this app "
            "can process. Please upload a smaller workbook or a CSV file."
        )
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= _ZIP_RATIO_MIN_SIZE and ratio > _ZIP_RATIO:
            raise DataLoadError(
                "The Excel file is compressed to an implausible degree (it would "
                f"grow more than {_ZIP_RATIO}-fold when unpacked) and was not "
                "opened, for safety. Please export the sheet to CSV."
            )


# -------------------------------- Parquet ---------------------------------- #


def _read_parquet(
    content: bytes, limits: _Limits
) -> tuple[pd.DataFrame, list[str], bool | None]:
    """Read a Parquet file once its decoded size is known to be within the limits."""
    damaged = DataLoadError(
        "The Parquet file is damaged or incomplete, so it cannot be read."
    )
    if len(content) < 12 or not content.endswith(b"PAR1"):
        raise damaged
    try:
        import pyarrow.parquet as pq

        parquet_file = pq.ParquetFile(_arrow_source(content), pre_buffer=False)
        metadata, schema = parquet_file.metadata, parquet_file.schema_arrow
        groups = metadata.num_row_groups
    except Exception:
        raise damaged from None
    if groups > _PARQUET_MAX_GROUPS:
        raise DataLoadError(
            f"The Parquet file is split into {groups:,} row groups, more than the "
            f"{_PARQUET_MAX_GROUPS:,} this app reads, for speed. Please save it "
            "again with larger row groups, or as CSV."
        )
    try:
        layout = _ParquetLayout.of(metadata, schema)
    except Exception:
        raise damaged from None
    _check_parquet_layout(layout, limits)
    try:
        batch_rows = _parquet_batch_rows(content, layout, limits.table_bytes)
        table = _read_parquet_batches(content, layout, limits.table_bytes, batch_rows)
        # As pandas.read_parquet does, without holding both copies at once.
        frame = table.to_pandas(self_destruct=True, split_blocks=True)
        del table
    except (DataLoadError, MemoryError):
        raise
    except Exception:
        raise damaged from None
    notes: list[str] = []
    index = frame.index
    if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        if any(n is not None for n in index.names):
            frame = frame.reset_index()
            notes.append("Turned the file's saved row index into ordinary columns.")
    frame = frame.reset_index(drop=True)
    frame, plain_notes = _plain_columns(frame, _binary_columns(schema))
    notes += plain_notes
    if frame.shape[1] == 0:
        raise DataLoadError("The Parquet file has no columns.")
    return frame, notes, None


@dataclass(frozen=True)
class _ParquetLayout:
    """What a Parquet file's footer says about its size, per column.

    ``fields`` are the top-level columns: name, how pandas holds a cell
    (``"number"``, ``"text"`` or ``"object"``) and the indices of their leaf
    columns. ``values[g][i]`` is how many values leaf ``i`` holds in row group
    ``g`` (the reader never decodes more than that); ``group_rows[g]`` the
    group's rows; ``widths[i]`` the bytes of one value of leaf ``i``, or 0 for
    variable-length bytes; ``paths[i]`` its dotted path; ``row_bytes`` the
    bytes one row of the number columns takes.
    """

    rows: int
    leaves: int
    declared: int
    row_bytes: int
    fields: tuple[tuple[str, str, tuple[int, ...]], ...]
    values: tuple[tuple[int, ...], ...]
    group_rows: tuple[int, ...]
    widths: tuple[int, ...]
    paths: tuple[str, ...]

    @classmethod
    def of(cls, metadata: Any, schema: Any) -> "_ParquetLayout":
        """Read the layout from a file's metadata and Arrow schema."""
        groups = [metadata.row_group(g) for g in range(metadata.num_row_groups)]
        leaves = metadata.num_columns
        fields, first, row_bytes = [], 0, 0
        for field in schema:
            count = _leaf_count(field.type)
            indices = tuple(range(first, first + count))
            kind = _cell_kind(field.type)
            fields.append((field.name, kind, indices))
            first += count
            if kind == "number":
                row_bytes += _number_width(field.type)
        if first != leaves:
            raise ValueError("the Arrow schema does not match the Parquet columns")
        parquet_schema = metadata.schema
        return cls(
            rows=metadata.num_rows,
            leaves=leaves,
            declared=sum(group.total_byte_size for group in groups),
            row_bytes=row_bytes,
            fields=tuple(fields),
            values=tuple(
                tuple(group.column(i).num_values for i in range(leaves))
                for group in groups
            ),
            group_rows=tuple(group.num_rows for group in groups),
            widths=tuple(_leaf_width(parquet_schema.column(i)) for i in range(leaves)),
            paths=tuple(parquet_schema.column(i).path for i in range(leaves)),
        )

    @property
    def unique_names(self) -> bool:
        """Whether the top-level columns can be selected by name."""
        return len({name for name, _, _ in self.fields}) == len(self.fields)

    @property
    def cells(self) -> int:
        """Values held, counting each row of each leaf at least once."""
        held = sum(sum(group) for group in self.values)
        return max(self.rows * self.leaves, held)


def _check_parquet_layout(layout: _ParquetLayout, limits: _Limits) -> None:
    """Refuse from the footer alone: columns, rows, cells, declared size."""
    if layout.leaves > limits.max_columns:
        raise _too_many_columns(layout.leaves, limits.max_columns)
    if layout.rows > limits.max_rows:
        raise _too_many_rows(limits.max_rows)
    if layout.rows * layout.leaves > limits.max_cells:
        raise _too_many_cells(layout.rows, layout.leaves, limits.max_cells)
    if layout.cells > limits.max_cells:
        raise DataLoadError(
            f"The Parquet file holds {layout.cells:,} values in "
            f"{_count(layout.rows, 'row')} and {_count(layout.leaves, 'column')} "
            f"(some cells hold lists), more than the {limits.max_cells:,} cells "
            "this app accepts per table. "
            "Please upload fewer rows or columns."
        )
    if layout.declared > limits.table_bytes:
        raise _too_large_table("Parquet file", layout.declared, limits.table_bytes)


def _parquet_batch_rows(content: bytes, layout: _ParquetLayout, limit: int) -> int:
    """How many rows to decode at a time so that one batch stays near 16 MB.

    Numbers take their Arrow width, known from the footer. For text, the longest
    value of each column chunk's dictionary is read (a small file can repeat one
    long value a million times): a file that repeats a value over 1 MB and could
    exceed the limit by doing so is refused here.
    """
    fixed = layout.row_bytes * layout.rows
    if fixed > limit:
        raise _too_large_table("Parquet file", fixed, limit)
    measured = [f for f in layout.fields if f[1] != "number"]
    if not measured or layout.rows == 0:
        return _MAX_BATCH_ROWS
    longest = _longest_dictionary_values(content, layout, measured)
    worst, per_row = fixed, 1
    for group, rows in enumerate(layout.group_rows):
        group_per_row = layout.row_bytes
        for name, kind, indices in measured:
            worst += rows * (_OFFSET if kind == "text" else _OBJECT_CELL)
            for i in indices:
                held = layout.values[group][i]
                width = layout.widths[i] or (
                    _LONG_VALUE if longest is None else longest[group].get(name, 0)
                )
                worst += held * width
                group_per_row += width * -(-held // max(rows, 1))
        per_row = max(per_row, group_per_row)
    value = max((max(g.values(), default=0) for g in longest or []), default=0)
    if value > _LONG_VALUE and worst > limit:
        shown, _ = _sizes(value, limit)
        total, bound = _sizes(worst, limit)
        raise DataLoadError(
            f"The Parquet file repeats a value of {shown}, which could unpack to "
            f"{total}, more than the {bound} this app can process per table. "
            "Please upload a smaller file or fewer rows."
        )
    return min(max(_BATCH_BYTES // per_row, _MIN_BATCH_ROWS), _MAX_BATCH_ROWS)


def _longest_dictionary_values(
    content: bytes, layout: _ParquetLayout, measured: list[Any]
) -> list[dict[str, int]] | None:
    """Per row group, the longest dictionary value of each measured column.

    Reading the first row of a group with ``read_dictionary`` returns the column
    chunk's whole dictionary without expanding it. None when the file cannot be
    read that way (then nothing is known about long values).
    """
    import pyarrow.parquet as pq

    byte_leaves = [i for _, _, ix in measured for i in ix if not layout.widths[i]]
    found: list[dict[str, int]] = [{} for _ in layout.group_rows]
    if not byte_leaves:
        return found
    names = [name for name, _, _ in measured] if layout.unique_names else None
    try:
        probe = pq.ParquetFile(
            _arrow_source(content),
            read_dictionary=[layout.paths[i] for i in byte_leaves],
            pre_buffer=False,
        )
        for group, rows in enumerate(layout.group_rows):
            if rows == 0:
                continue
            batches = probe.iter_batches(
                batch_size=1, row_groups=[group], columns=names, use_threads=False
            )
            try:
                batch = next(batches, None)
            finally:
                batches.close()
            if batch is None:
                continue
            for name, column in zip(batch.schema.names, batch.columns):
                found[group][name] = max(
                    (_longest_value(d) for d in _dictionaries(column)), default=0
                )
    except MemoryError:
        raise
    except Exception:
        return None
    return found


def _read_parquet_batches(
    content: bytes, layout: _ParquetLayout, limit: int, batch_rows: int
) -> Any:
    """The file's table, decoded in batches; refused once it is over the limit.

    The size of each batch is added up as it comes (dictionaries counted
    expanded, as pandas will hold them); the first batch also gives an estimate
    for the whole file, which refuses a file far over the limit at once.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    kinds = [kind for _, kind, _ in layout.fields]
    fixed = layout.row_bytes * layout.rows
    parquet_file = pq.ParquetFile(_arrow_source(content), pre_buffer=False)
    batches = parquet_file.iter_batches(batch_size=batch_rows, use_pandas_metadata=True)
    kept, size, seen = [], fixed, 0
    try:
        for batch in batches:
            for kind, column in zip(kinds, batch.columns):
                if kind != "number":
                    size += _decoded_bytes(column)
                if kind == "object":
                    size += _OBJECT_CELL * len(column)
            first = seen == 0
            seen += batch.num_rows
            estimate = fixed + (size - fixed) * layout.rows // max(seen, 1)
            if size > limit or (first and estimate > _ESTIMATE_MARGIN * limit):
                raise _too_large_table("Parquet file", max(estimate, size), limit)
            kept.append(batch)
    finally:
        batches.close()
    return pa.Table.from_batches(kept, schema=parquet_file.schema_arrow)


def _arrow_source(content: bytes) -> Any:
    """The bytes as a file pyarrow reads without copying them."""
    import pyarrow as pa

    return pa.BufferReader(content)


def _leaf_width(column: Any) -> int:
    """Bytes of one value of a Parquet leaf column; 0 for variable-length bytes."""
    kind = column.physical_type
    if kind == "FIXED_LEN_BYTE_ARRAY":
        return max(int(column.length), 1)
    return {"BOOLEAN": 1, "INT32": 4, "FLOAT": 4, "INT64": 8, "DOUBLE": 8}.get(
        kind, 12 if kind == "INT96" else 0
    )


def _leaf_count(kind: Any) -> int:
    """How many Parquet leaf columns an Arrow type is stored as."""
    import pyarrow as pa

    if isinstance(kind, pa.ExtensionType):
        return _leaf_count(kind.storage_type)
    if pa.types.is_struct(kind):
        return sum(_leaf_count(kind.field(i).type) for i in range(kind.num_fields))
    if pa.types.is_map(kind):
        return _leaf_count(kind.key_type) + _leaf_count(kind.item_type)
    if _is_list(kind):
        return _leaf_count(kind.value_type)
    return 1


def _is_list(kind: Any) -> bool:
    """Whether an Arrow type is a list of some sort."""
    import pyarrow as pa

    return bool(
        pa.types.is_list(kind)
        or pa.types.is_large_list(kind)
        or pa.types.is_fixed_size_list(kind)
        or pa.types.is_list_view(kind)
        or pa.types.is_large_list_view(kind)
    )


def _is_bytes(kind: Any) -> bool:
    """Whether an Arrow type holds variable-length text or bytes."""
    import pyarrow as pa

    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_binary_view(kind)
    )


def _cell_kind(kind: Any) -> str:
    """How pandas holds a cell of this Arrow type: number, text or object."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
    ):
        return "text"
    if (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_timestamp(kind)
        or pa.types.is_duration(kind)
    ):
        return "number"
    return "object"


def _number_width(kind: Any) -> int:
    """Bytes of one cell of a fixed-width Arrow type (a dictionary: 8)."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        return 8
    try:
        return max(kind.bit_width // 8, 1)
    except ValueError:  # not a fixed-width type
        return 8


def _dictionaries(array: Any) -> Iterator[Any]:
    """The dictionaries inside an Arrow array, nested ones included."""
    import pyarrow as pa

    kind = array.type
    if pa.types.is_dictionary(kind):
        yield array.dictionary
    elif pa.types.is_struct(kind):
        for i in range(kind.num_fields):
            yield from _dictionaries(array.field(i))
    elif pa.types.is_map(kind):
        yield from _dictionaries(array.keys)
        yield from _dictionaries(array.items)
    elif _is_list(kind):
        yield from _dictionaries(array.values)


def _longest_value(values: Any) -> int:
    """The length in bytes of the longest value of a text or bytes array."""
    import pyarrow.compute as pc

    if len(values) == 0 or not _is_bytes(values.type):
        return 0
    return int(pc.max(pc.binary_length(values)).as_py() or 0)


def _decoded_bytes(array: Any) -> int:
    """The bytes an Arrow array takes once its dictionaries are expanded."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        values = array.dictionary
        if not _is_bytes(values.type):
            return _number_width(values.type) * len(array)
        lengths = pc.take(pc.binary_length(values), array.indices)
        return int(pc.sum(lengths).as_py() or 0) + _OFFSET * (len(array) + 1)
    if pa.types.is_struct(kind):
        return sum(_decoded_bytes(f) for f in array.flatten()) + len(array) // 8 + 1
    if pa.types.is_map(kind):  # its entries: a struct of keys and items
        first, last = array.offsets[0].as_py(), array.offsets[-1].as_py()
        entries = array.values.slice(first, last - first)
        return _decoded_bytes(entries) + _OFFSET * (len(array) + 1)
    if _is_list(kind):
        return _decoded_bytes(array.flatten()) + _OFFSET * (len(array) + 1)
    return int(array.nbytes)


def _binary_columns(schema: Any) -> set[str]:
    """Names of the columns a Parquet schema declares as raw bytes."""
    import pyarrow as pa

    kinds = (
        pa.types.is_binary,
        pa.types.is_large_binary,
        pa.types.is_fixed_size_binary,
    )
    return {f.name for f in schema if any(kind(f.type) for kind in kinds)}


def _plain_columns(
    frame: pd.DataFrame, binary: set[str]
) -> tuple[pd.DataFrame, list[str]]:
    """Bytes become text (or the column is dropped), durations become seconds."""
    notes: list[str] = []
    dropped, seconds = [], []
    for name in list(frame.columns):
        values = frame[name]
        if name in binary and values.dtype == object:
            try:
                frame[name] = values.map(_utf8, na_action="ignore")
            except UnicodeDecodeError:
                dropped.append(name)
        elif pd.api.types.is_timedelta64_dtype(values.dtype):
            frame[name] = values.dt.total_seconds()
            seconds.append(str(name))
    if dropped:
        frame = frame.drop(columns=dropped)
        noun = "column holds" if len(dropped) == 1 else "columns hold"
        notes.append(
            f"Dropped {_quote(str(n) for n in dropped)}: the {noun} binary data "
            "rather than text or numbers."
        )
    if seconds:
        notes.append(f"Read the durations in {_quote(seconds)} as seconds.")
    return frame, notes


def _utf8(value: Any) -> Any:
    """Bytes decoded as UTF-8 (raising when they are not text)."""
    return (
        bytes(value).decode("utf-8") if isinstance(value, (bytes, bytearray)) else value
    )


# --------------------------------------------------------------------------- #
# clean_frame
# --------------------------------------------------------------------------- #


def clean_frame(
    frame: pd.DataFrame,
) -> tuple[pd.DataFrame, list[str], dict[str, tuple[str, ...]]]:
    """Clean an already-parsed frame the way a careful analyst would.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table as parsed; not modified.

    Returns
    -------
    frame : pandas.DataFrame
        The cleaned copy.
    notes : list of str
        Short sentences saying what was done (none when nothing was).
    roles : dict
        Column names under ``"id"``, ``"constant"`` and ``"date"``.
    """
    return _clean(frame, decimal_comma=None)


@dataclass
class _Column:
    """One column on its way through cleaning."""

    name: str
    values: pd.Series
    text: bool = False  # still text awaiting type detection
    trimmed: bool = False
    how: str | None = None  # how numbers were read when the text needed cleaning
    markers: pd.Series | None = None  # the NA markers found, by row


def _clean(
    frame: pd.DataFrame, *, decimal_comma: bool | None
) -> tuple[pd.DataFrame, list[str], dict[str, tuple[str, ...]]]:
    """clean_frame, with a hint on whether commas can be decimal marks.

    ``decimal_comma`` is True for semicolon- and tab-separated text (a comma is
    then preferably a decimal mark), False for comma-separated text (never a
    decimal mark) and None otherwise (a decimal mark only when unambiguous).
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError("clean_frame expects a pandas DataFrame")
    notes: list[str] = []
    raw_names = [_flat_name(c) for c in frame.columns]
    series = [frame.iloc[:, i].reset_index(drop=True) for i in range(frame.shape[1])]
    del frame  # if the caller let go of it too, raw columns are freed once prepared

    positions = list(range(len(series)))
    dropped_index = _leading_row_numbers(raw_names, series)
    if dropped_index is not None:
        first, last = dropped_index
        label = raw_names[0].strip()
        label = f" '{label}'" if label else ""
        notes.append(
            f"Dropped the unnamed index column{label} (row numbers {first} to {last})."
        )
        positions = positions[1:]

    names, named, renamed, trimmed = _fix_names(raw_names, positions)
    columns = [_Column(name, series[p]) for name, p in zip(names, positions)]
    del series

    for column in columns:
        _prepare(column)

    prepared = columns
    empty = [c.name for c in columns if not c.values.notna().any()]
    columns = [c for c in columns if c.values.notna().any()]
    row_mask = None
    if columns:
        present = np.zeros(len(columns[0].values), dtype=bool)
        for column in columns:
            present |= column.values.notna().to_numpy()
        if not present.all():
            row_mask = present
    empty_rows = 0 if row_mask is None else int((~row_mask).sum())
    missing_counts = _count_markers(prepared, set(empty), row_mask)
    for column in columns:
        if row_mask is not None:
            column.values = column.values[row_mask].reset_index(drop=True)
        if column.text:
            _detect_type(column, decimal_comma)

    kept = {c.name for c in columns}
    notes += _name_notes(
        [n for n in named if n in kept],
        [(old, new) for old, new in renamed if new in kept],
        trimmed,
    )
    trimmed_values = [c.name for c in columns if c.trimmed and _is_text(c.values)]
    if trimmed_values:
        notes.append(f"Trimmed spaces around the values of {_quote(trimmed_values)}.")
    if missing_counts:
        total = sum(missing_counts.values())
        markers = "/".join(
            "empty" if m == "" else f"'{m}'" for m, _ in missing_counts.most_common(5)
        )
        cells = "cell" if total == 1 else "cells"
        notes.append(f"Treated {total:,} {markers} {cells} as missing.")
    if empty:
        noun = "column" if len(empty) == 1 else "columns"
        notes.append(f"Dropped {len(empty)} empty {noun}: {_quote(empty)}.")
    if empty_rows:
        noun = "row" if empty_rows == 1 else "rows"
        notes.append(f"Dropped {empty_rows:,} empty {noun}.")
    notes += _conversion_notes(columns)

    result = pd.DataFrame(
        {c.name: c.values for c in columns},
        index=pd.RangeIndex(len(columns[0].values) if columns else 0),
        copy=False,
    )
    roles = _roles(result)
    parsed = {c.name for c in columns if c.how and c.how.startswith("dates:")}
    notes += _role_notes(roles, parsed)
    return result, notes, roles


def _count_markers(
    columns: list[_Column], empty: set[str], row_mask: np.ndarray | None
) -> Counter[str]:
    """NA markers found, except blank cells of the rows and columns dropped."""
    counts: Counter[str] = Counter()
    for column in columns:
        markers = column.markers
        if markers is None:
            continue
        blank = markers.eq("").to_numpy()
        if column.name in empty:
            markers = markers[~blank]
        elif row_mask is not None:
            markers = markers[~blank | row_mask[markers.index.to_numpy()]]
        counts.update(markers.value_counts().to_dict())
    return counts


def _flat_name(label: Any) -> str:
    """A column label as one string ('' when missing)."""
    if isinstance(label, tuple):
        parts = [
            _flat_name(p)
            for p in label
            if not _is_missing(p) and not _UNNAMED.match(str(p).strip())
        ]
        return "_".join(p for p in parts if p.strip())
    if label is None or _is_missing(label):
        return ""
    return str(label)


def _leading_row_numbers(
    names: list[str], series: list[pd.Series]
) -> tuple[int, int] | None:
    """(first, last) when the first column is an unnamed 0..n-1 or 1..n index."""
    if len(series) < 2:
        return None
    name = names[0].strip()
    if name and not re.fullmatch(r"Unnamed: 0(?:_level_0)?", name):
        return None
    values = series[0]
    if len(values) == 0 or values.isna().any():
        return None
    if pd.api.types.is_bool_dtype(values.dtype):
        return None
    if pd.api.types.is_integer_dtype(values.dtype):
        numbers = values.to_numpy(dtype=np.int64)
    elif pd.api.types.is_float_dtype(values.dtype):
        floats = values.to_numpy(dtype=float)
        if not np.all(np.isfinite(floats)) or not np.all(floats == np.round(floats)):
            return None
        numbers = floats.astype(np.int64)
    elif _is_text(values) or values.dtype == object:
        text = values.astype("str").str.strip()
        parsed = _fast_numbers(text)
        if parsed is None:
            parsed = pd.to_numeric(text, errors="coerce")
        if not pd.api.types.is_integer_dtype(parsed.dtype):
            return None
        numbers = parsed.to_numpy(dtype=np.int64)
    else:
        return None
    start = int(numbers[0])
    if start not in (0, 1):
        return None
    if not np.array_equal(numbers, np.arange(start, start + len(numbers))):
        return None
    return start, start + len(numbers) - 1


def _fix_names(
    raw: list[str], positions: list[int]
) -> tuple[list[str], list[str], list[tuple[str, str]], int]:
    """Give every kept column a unique, non-empty, trimmed name."""
    named: list[str] = []
    trimmed = 0
    base: list[str] = []
    for p in positions:
        name = raw[p].strip()
        if name != raw[p] and name:
            trimmed += 1
        if not name or _UNNAMED.match(name):
            name = f"column_{p + 1}"
            named.append(name)
        base.append(name)
    taken = set(base)
    seen: set[str] = set()
    renamed: list[tuple[str, str]] = []
    names: list[str] = []
    for name in base:
        if name in seen:
            k = 2
            while f"{name}_{k}" in taken:
                k += 1
            renamed.append((name, f"{name}_{k}"))
            taken.add(f"{name}_{k}")
            name = f"{name}_{k}"
        seen.add(name)
        names.append(name)
    return names, named, renamed, trimmed


def _name_notes(
    named: list[str], renamed: list[tuple[str, str]], trimmed: int
) -> list[str]:
    """Notes about column names."""
    notes = []
    if named:
        noun = "column" if len(named) == 1 else "columns"
        notes.append(f"Named {len(named)} unnamed {noun}: {_quote(named)}.")
    if renamed:
        pairs = ", ".join(f"'{old}' → '{new}'" for old, new in renamed[:6])
        more = f" and {len(renamed) - 6} more" if len(renamed) > 6 else ""
        notes.append(f"Renamed duplicate column names: {pairs}{more}.")
    if trimmed:
        noun = "name" if trimmed == 1 else "names"
        notes.append(f"Trimmed spaces around {trimmed} column {noun}.")
    return notes


def _is_text(values: pd.Series) -> bool:
    """Whether a column holds strings (pandas' str dtype)."""
    return isinstance(values.dtype, pd.StringDtype)


def _prepare(column: _Column) -> None:
    """Normalise a column: text is trimmed, NA markers become missing."""
    values = column.values
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(values.cat.categories.dtype)
    if values.dtype == object:
        values = values.infer_objects()
        if values.dtype == object:
            values = values.astype("str")
    if not _is_text(values):
        column.values = values
        return
    fast = _fast_numbers(values)
    if fast is not None:
        column.values = fast
        return
    column.trimmed = _has_spaces_around(values)
    stripped = values.str.strip() if column.trimmed else values
    short = stripped.str.len().le(4).to_numpy(dtype=bool, na_value=False)
    candidates = stripped[short]
    found = candidates[candidates.isin(_NA_MARKERS)]
    if len(found):
        column.markers = found
        missing = np.zeros(len(stripped), dtype=bool)
        missing[stripped.index.get_indexer(found.index)] = True
        stripped = stripped.mask(missing)
    column.values = stripped
    column.text = True


def _has_spaces_around(values: pd.Series) -> bool:
    """Whether some text value starts or ends with white space.

    Text held by pyarrow is checked a chunk at a time, so that a column that
    needs no trimming is never copied whole.
    """
    if getattr(values.dtype, "storage", None) == "pyarrow":
        import pyarrow.compute as pc

        for chunk in values.array.__arrow_array__().chunks:
            trimmed = pc.utf8_trim_whitespace(chunk)
            if pc.any(pc.not_equal(trimmed, chunk)).as_py():
                return True
        return False
    changed = values.str.strip().ne(values) & values.notna()
    return bool(changed.any())


def _fast_numbers(values: pd.Series) -> pd.Series | None:
    """Plain numeric text converted exactly by pyarrow, or None if not that simple."""
    if getattr(values.dtype, "storage", None) != "pyarrow" or values.isna().any():
        return None
    try:
        import pyarrow as pa
        import pyarrow.compute as pc

        array = values.array.__arrow_array__()
    except Exception:
        return None
    head = array.slice(0, _DETECT_SAMPLE)
    # A failed cast of a whole column is slow: try the first values first.
    numbers = None
    if _cast(head, pa.int64(), pc) is not None:
        numbers = _cast(array, pa.int64(), pc)
    if numbers is not None:
        integers = numbers.to_numpy()
        if _int_text_is_unusual(array, integers, pc):
            return None
        return pd.Series(integers, index=values.index, dtype=np.int64)
    if _cast(head, pa.float64(), pc) is None:
        return None
    cast = _cast(array, pa.float64(), pc)
    if cast is None:
        return None
    floats = cast.to_numpy()
    if np.isnan(floats).any():
        return None
    return pd.Series(floats, index=values.index, dtype=np.float64)


def _cast(array: Any, kind: Any, pc: Any) -> Any:
    """pyarrow's exact cast, or None when some value does not convert."""
    try:
        return pc.cast(array, kind)
    except Exception:
        return None


def _int_text_is_unusual(array: Any, numbers: np.ndarray, pc: Any) -> bool:
    """Whether integer text has leading zeros or a prefix ('007', '0x1f', '-0')."""
    lengths = pc.utf8_length(array)
    prefixes = [("0", 1)] + ([("-0", 2)] if len(numbers) and numbers.min() <= 0 else [])
    for prefix, size in prefixes:
        found = pc.and_(pc.starts_with(array, prefix), pc.greater(lengths, size))
        if pc.any(found).as_py():
            return True
    return False


def _detect_type(column: _Column, decimal_comma: bool | None) -> None:
    """Turn a text column into numbers or dates when all (or most) values agree."""
    values = column.values
    present = values.dropna()
    if present.empty:
        return
    sample = present.iloc[:_DETECT_SAMPLE]
    if _to_numbers(sample, decimal_comma) is not None:
        found = _to_numbers(present, decimal_comma)
        if found is not None:
            numbers, how = found
            if how == "leading zeros":
                column.how = how
                return
            if not values.isna().any() and numbers.dtype.kind in "iu":
                if numbers.dtype.kind == "i" or numbers.max() <= np.iinfo(np.int64).max:
                    column.values = numbers.astype(np.int64)
                    column.text, column.how = False, how
                    return
            full = pd.Series(np.nan, index=values.index, dtype=np.float64)
            full[present.index] = numbers.astype(np.float64)
            column.values, column.text, column.how = full, False, how
            return
    date_format = _date_format(sample)
    if date_format is not None:
        dates = _to_dates(present, date_format)
        if dates is not None and dates.notna().mean() >= _DATE_SHARE:
            full = pd.Series(pd.NaT, index=values.index, dtype=dates.dtype)
            full[present.index] = dates
            column.values, column.text = full, False
            column.how = f"dates:{int(dates.isna().sum())}"


def _to_numbers(
    values: pd.Series, decimal_comma: bool | None
) -> tuple[pd.Series, str | None] | None:
    """All values as numbers, with how the text was cleaned, or None.

    Returns ``(numbers, "leading zeros")`` when they are numbers written as codes.
    """
    text, quoted = _unquote(values)
    how: str | None = "quotes" if quoted else None
    plain = text.str.fullmatch(_PLAIN_NUMBER).to_numpy(dtype=bool)
    if not plain.all():
        bad = text[~plain]
        if bad.iloc[:_DETECT_SAMPLE].str.contains(_NUMBER_CHARS, regex=True).any():
            return None
        modes = {True: ("comma", "thousands"), None: ("thousands", "comma")}
        for mode in modes.get(decimal_comma, ("thousands",)):
            pattern = _DECIMAL_COMMA if mode == "comma" else _THOUSANDS
            if bad.str.fullmatch(pattern).all():
                break
        else:
            return None
        if mode == "comma":
            dotted = text.str.fullmatch(_THOUSANDS_DOT).to_numpy(dtype=bool)
            change = ~plain | dotted
            fixed = _remove(text, "." + _SPACES).str.replace(",", ".", regex=False)
            text = text.where(~change, fixed)
            commas = bool(bad.str.contains(",", regex=False).any())
            how = "decimal commas" if commas else "thousands separators"
        else:
            text = _remove(text, "," + _SPACES + _APOSTROPHES)
            how = "thousands separators"
    numbers = _fast_numbers(text)
    if numbers is None:
        numbers = pd.to_numeric(text, errors="coerce")
    if numbers.isna().any():
        return None
    if text.str.match(_LEADING_ZERO).any():
        return numbers, "leading zeros"
    return numbers, how


def _unquote(values: pd.Series) -> tuple[pd.Series, bool]:
    """Values without surrounding quotes ('12' or "12"), and whether any had them."""
    quoted = values.str.startswith(("'", '"')).to_numpy(dtype=bool)
    if not quoted.any():
        return values, False
    inner = values[quoted].str.replace(_QUOTED, r"\2", regex=True).str.strip()
    changed = bool(inner.ne(values[quoted]).any())
    return values.where(~quoted, inner), changed


def _remove(values: pd.Series, characters: str) -> pd.Series:
    """Values without any of the characters (plain replaces, which pyarrow runs)."""
    for character in characters:
        if values.str.contains(character, regex=False).any():
            values = values.str.replace(character, "", regex=False)
    return values


def _date_format(sample: pd.Series) -> str | None:
    """The explicit format that parses the most sample values, if nearly all."""
    if sample.str.contains(r"\d", regex=True).mean() < _DATE_SHARE:
        return None
    best, best_share = None, 0.0
    for date_format in _DATE_FORMATS:
        parsed = _to_dates(sample, date_format)
        if parsed is None:
            continue
        share = float(parsed.notna().mean())
        if share > best_share:
            best, best_share = date_format, share
        if share == 1.0:
            break
    return best if best_share >= _DATE_SHARE else None


def _to_dates(values: pd.Series, date_format: str) -> pd.Series | None:
    """Values parsed with one format (unparseable ones missing), or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.to_datetime(values, format=date_format, errors="coerce")
    except (ValueError, TypeError, OverflowError):
        return None


def _conversion_notes(columns: list[_Column]) -> list[str]:
    """Notes about text that became numbers or dates, or stayed text on purpose."""
    notes = []
    cleaned = [
        f"'{c.name}' ({c.how})"
        for c in columns
        if c.how in ("quotes", "thousands separators", "decimal commas")
    ]
    if cleaned:
        notes.append(f"Read text as numbers in {', '.join(cleaned)}.")
    codes = [c.name for c in columns if c.how == "leading zeros"]
    if codes:
        verb = "has" if len(codes) == 1 else "have"
        notes.append(
            f"Kept {_quote(codes)} as text: {verb} numbers with leading zeros, "
            "which look like codes rather than quantities."
        )
    parsed = [c for c in columns if c.how and c.how.startswith("dates:")]
    if parsed:
        names = _quote([c.name for c in parsed])
        feature = "a model feature" if len(parsed) == 1 else "model features"
        notes.append(f"Parsed {names} as dates (not used as {feature} by default).")
        for column in parsed:
            bad = int(column.how.split(":")[1])  # type: ignore[union-attr]
            if bad:
                noun = (
                    "value that is not a date was"
                    if bad == 1
                    else ("values that are not dates were")
                )
                notes.append(f"In '{column.name}', {bad:,} {noun} treated as missing.")
    return notes


def _roles(frame: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """Which columns hold dates, a single value, or row identifiers."""
    dates, constants, ids = [], [], []
    rows = len(frame)
    for name in frame.columns:
        values = frame[name]
        kind = values.dtype
        if pd.api.types.is_datetime64_any_dtype(kind):
            dates.append(name)
        if rows >= 2 and _is_constant(values):
            constants.append(name)
        elif rows >= _MIN_ID_ROWS and _is_identifier(name, values):
            ids.append(name)
    return {"id": tuple(ids), "constant": tuple(constants), "date": tuple(dates)}


def _is_constant(values: pd.Series) -> bool:
    """One distinct non-missing value."""
    present = values.notna()
    if not present.any():
        return False
    first = values[present].iloc[0]
    try:
        same = values.eq(first) | ~present
        return bool(same.all())
    except (TypeError, ValueError):
        return values.nunique(dropna=True) == 1


def _is_identifier(name: str, values: pd.Series) -> bool:
    """Unique per row and text, or an integer key by name or by being consecutive."""
    kind = values.dtype
    if pd.api.types.is_datetime64_any_dtype(kind) or pd.api.types.is_bool_dtype(kind):
        return False
    if values.isna().any():
        return False
    if _is_text(values) or kind == object:
        return _all_distinct(values)
    if not pd.api.types.is_integer_dtype(kind):
        return False
    if _ID_NAME.match(name.strip()) or _CAMEL_ID.match(name.strip()):
        return bool(values.is_unique)
    low, high = values.min(), values.max()
    return int(high) - int(low) + 1 == len(values) and bool(values.is_unique)


def _all_distinct(values: pd.Series) -> bool:
    """Whether text values (none missing) are all different, without copying them.

    The first values are checked first (most text columns repeat early); text
    held by pyarrow is then ranked in place: all values differ when the highest
    dense rank is the number of values (a hash of every value would copy them).
    """
    if not values.iloc[:_UNIQUE_HEAD].is_unique:
        return False
    if len(values) <= _UNIQUE_HEAD or getattr(values.dtype, "storage", None) != (
        "pyarrow"
    ):
        return bool(values.is_unique)
    import pyarrow.compute as pc

    ranks = pc.rank(values.array.__arrow_array__(), tiebreaker="dense")
    return bool(pc.max(ranks).as_py() == len(values))


def _role_notes(roles: dict[str, tuple[str, ...]], parsed: set[str]) -> list[str]:
    """Notes about columns that are not used as features by default."""
    notes = []
    dates = [n for n in roles["date"] if n not in parsed]
    if dates:
        verb = "holds" if len(dates) == 1 else "hold"
        feature = "a model feature" if len(dates) == 1 else "model features"
        notes.append(
            f"{_quote(dates)} {verb} dates (not used as {feature} by default)."
        )
    constants = list(roles["constant"])
    if constants:
        if len(constants) == 1:
            notes.append(
                f"'{constants[0]}' has a single value; not used as a feature by "
                "default."
            )
        else:
            notes.append(
                f"{_quote(constants)} each have a single value; not used as "
                "features by default."
            )
    for name in roles["id"]:
        notes.append(
            f"'{name}' looks like a row identifier (unique per row); not used as a "
            "feature by default, because it would leak row identity into the model."
        )
    return notes


def _quote(names: Iterable[str], limit: int = 8) -> str:
    """'a', 'b' and 3 more."""
    names = list(names)
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    if len(names) > limit:
        shown += f" and {len(names) - limit} more"
    return shown
