"""What an upload may cost, the refusals that name each limit, and zip-bomb checks.

A table's rows, columns and cells, a workbook's cell budget (counted while its rows
stream) and the unpacked size and compression ratio of an .xlsx archive, checked
from the zip directory before openpyxl sees it.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from app.config import Settings
from app.ml.loading.errors import DataLoadError
from app.ml.loading.sniff import _zip_kind

_MB = 1024 * 1024

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
