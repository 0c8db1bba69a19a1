"""read_table: check the size, choose the reader from name and content, clean."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from app.ml.loading.clean import _clean
from app.ml.loading.delimited import _read_text
from app.ml.loading.errors import _SUPPORTED, DataLoadError
from app.ml.loading.excel import _read_excel
from app.ml.loading.limits import (
    _DEFAULT,
    _MB,
    _UNPACK_RATIO,
    _Limits,
    _sizes,
    _too_many_cells,
    _too_many_columns,
    _too_many_rows,
)
from app.ml.loading.parquet import _read_parquet
from app.ml.loading.sniff import (
    _EXCEL_EXTENSIONS,
    _MAGIC,
    _PARQUET_EXTENSIONS,
    _UNSUPPORTED_EXTENSIONS,
    _extension,
    _zip_kind,
)
from app.ml.loading.text import _decode

_LOG = logging.getLogger(__package__)  # "app.ml.loading", as before the split


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
