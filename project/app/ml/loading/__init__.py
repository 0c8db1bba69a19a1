"""Turn the bytes of an uploaded file into a clean table, with notes on what was done.

Part of the pure layer: imports only the standard library, numpy, pandas and the
default limits of ``config`` (pyarrow, openpyxl and charset_normalizer are imported
inside the functions that need them). Visitor bytes are never unpickled or evaluated.

Every file's cost is bounded by its decoded size, checked before (or while) the work
is done: rows, columns and cells, the in-memory size of a Parquet table, the unpacked
size and the cells of a workbook. Each refusal names the limit and the file's figure.

Modules, named after what they read or do:

``table``
    :func:`read_table`: size checks, the choice of reader, then the cleaning.
``sniff``
    What a file is, from its extension and its first bytes.
``text``
    Bytes to text: BOMs, UTF-16, UTF-8, East Asian encodings, Windows-1252.
``delimited``
    CSV, TSV and other delimited text: delimiter, header, row and cell counts.
``excel``
    .xlsx workbooks, streamed within a cell budget.
``parquet``
    Parquet files, measured before they are loaded.
``limits``
    What an upload may cost, the refusals naming each limit, zip-bomb checks.
``names``
    Column names and the header row.
``clean``
    :func:`clean_frame`: types, missing values, column roles and their notes.
``errors``
    :class:`DataLoadError`.

Only the names below are the package's interface; the private ones are imported by
the tests, which inspect the limits and watch the loader at work.
"""

from __future__ import annotations

import pandas as pd  # noqa: F401  (tests patch pd.read_csv through this module)

from app.ml.loading.clean import clean_frame
from app.ml.loading.errors import DataLoadError
from app.ml.loading.excel import _excel_value  # noqa: F401
from app.ml.loading.limits import _SCAN_CHUNK  # noqa: F401
from app.ml.loading.table import _LOG, LoadedTable, read_table  # noqa: F401
from app.ml.loading.text import _SAMPLE_CHARS  # noqa: F401

__all__ = ["DataLoadError", "LoadedTable", "clean_frame", "read_table"]
