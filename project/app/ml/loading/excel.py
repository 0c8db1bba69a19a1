"""Excel workbooks (.xlsx): the first sheet with data, streamed within a cell budget.

openpyxl is imported only when a workbook is read, after the zip checks of
``limits``.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import pandas as pd

from app.ml.loading.errors import DataLoadError
from app.ml.loading.limits import (
    _CellBudget,
    _check_workbook_zip,
    _Limits,
    _too_many_rows,
)
from app.ml.loading.names import _is_missing, _split_header


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
