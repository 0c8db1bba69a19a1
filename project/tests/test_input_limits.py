"""Every upload has a bounded cost, decided before the work (app.ml.loading limits).

Each file is generated here, at test time: decompression bombs in Parquet and
.xlsx form, workbooks hiding XML declarations, CSV files whose header outgrows the
sniffing sample, and tables just over a limit passed as an argument. A refusal is
one sentence that names the limit and the file's own figure.
"""

from __future__ import annotations

import inspect
import io
import json
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from app.config import Settings
from app.ml import loading as _loading
from app.ml.loading import DataLoadError, read_table
from tools import bombs

PROJECT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024

# --------------------------------------------------------------------------- #
# generators
# --------------------------------------------------------------------------- #


# The bombs are shared with the load test's abuser (tools/abuser.py).
_parquet = bombs.parquet_bytes
_repeated = bombs.repeated
_parquet_bomb = bombs.parquet_bomb
_xlsx = bombs.xlsx_bytes
_shared_strings_bomb = bombs.shared_strings_bomb


def _replace_part(workbook: bytes, name: str, data: bytes) -> bytes:
    """The workbook with one part's content replaced."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(workbook)) as source, zipfile.ZipFile(
        buffer, "w", zipfile.ZIP_DEFLATED
    ) as target:
        for info in source.infolist():
            content = data if info.filename == name else source.read(info)
            target.writestr(info.filename, content)
    return buffer.getvalue()


_SMALL_XLSX = bombs.small_xlsx()


def _doctype_after(padding: int, *, codec: str = "utf-8") -> bytes:
    """A valid workbook whose sheet declares a DOCTYPE ``padding - 4`` characters in.

    The DOCTYPE follows the XML declaration and a long comment, which XML allows.
    """
    with zipfile.ZipFile(io.BytesIO(_SMALL_XLSX)) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode("utf-8")
    body = sheet.split("?>", 1)[1] if sheet.startswith("<?xml") else sheet
    head = f'<?xml version="1.0" encoding="{codec}"?>'
    comment = "<!--" + "x" * (padding - 4 - len(head) - 7) + "-->"
    doctype = '<!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa">]>'
    text = head + comment + doctype + body
    assert text.index("<!DOCTYPE") == padding - 4  # characters in
    return _replace_part(_SMALL_XLSX, "xl/worksheets/sheet1.xml", text.encode(codec))


def _csv_header(columns: int, width: int, rows: int = 20) -> bytes:
    """A CSV whose header names are ``width`` characters long."""
    header = ",".join(f"col_{i:0{width - 4}d}" for i in range(columns))
    lines = [",".join(str((i * j) % 7) for j in range(columns)) for i in range(rows)]
    return (header + "\n" + "\n".join(lines) + "\n").encode()


def _table(rows: int, columns: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        rng.integers(0, 1000, size=(rows, columns)),
        columns=[f"c{i}" for i in range(columns)],
    )


# --------------------------------------------------------------------------- #
# the defaults are the settings' defaults
# --------------------------------------------------------------------------- #


def test_the_default_limits_are_the_settings_defaults() -> None:
    defaults = Settings()
    parameters = inspect.signature(read_table).parameters
    assert parameters["max_bytes"].default == defaults.max_upload_bytes
    for name in (
        "max_rows",
        "max_columns",
        "max_table_mb",
        "max_cells",
        "max_excel_unpacked_mb",
        "max_excel_cells",
    ):
        assert parameters[name].default == getattr(defaults, name), name
    for name in list(parameters)[2:]:
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY, name


# --------------------------------------------------------------------------- #
# Parquet: decoded size, not file size
# --------------------------------------------------------------------------- #

_CHILD = r"""
import json, resource, sys, time
import numpy, pandas, pyarrow, pyarrow.parquet  # in the baseline: loaded by the app
from app.ml.loading import DataLoadError, read_table

data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    table = read_table(data, "bomb.parquet")
    message = None
except DataLoadError as exc:
    message = str(exc)
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "growth_mb": (after - before) / 1024,
                  "message": message}))
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("arrow_schema", [True, False], ids=["dictionary", "text"])
def test_the_dictionary_parquet_bomb_is_refused_fast_in_little_memory(
    arrow_schema: bool, tmp_path: Path
) -> None:
    content = _parquet_bomb(arrow_schema=arrow_schema)
    assert len(content) < 150_000  # about 110 KB for a 1 GB table
    path = tmp_path / "bomb.parquet"
    path.write_bytes(content)
    # A fresh interpreter, so that the peak resident memory is this load's alone.
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
        timeout=110,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["message"] is not None, "the bomb was loaded"
    assert report["seconds"] < 2.0, report
    assert report["growth_mb"] < 400, report  # the old code peaked at 2-3 GB
    found = re.match(
        r"The Parquet file would unpack to about ([\d,]+) MB, more than the 256 MB "
        r"this app can process per table\.",
        report["message"],
    )
    assert found and int(found.group(1).replace(",", "")) > 900, report["message"]


def test_a_parquet_file_repeating_a_long_value_is_refused_before_decoding() -> None:
    content = _parquet(pa.table({"text": _repeated("y" * (2 * MB), 300)}))
    assert len(content) < 100_000
    start = time.perf_counter()
    with pytest.raises(DataLoadError, match=r"repeats a value of 2 MB, which could"):
        read_table(content, "long.parquet")
    assert time.perf_counter() - start < 2


def test_a_long_value_after_short_first_rows_is_caught_while_decoding() -> None:
    # The first batch holds short values only; the running total stops the read.
    table = pa.table({"text": _repeated("z" * 500_000, 3_000, first=1_000)})
    content = _parquet(table, compression="zstd")
    start = time.perf_counter()
    with pytest.raises(
        DataLoadError, match=r"would unpack to about [\d,]+ MB, more than the 64 MB"
    ):
        read_table(content, "late.parquet", max_table_mb=64)
    assert time.perf_counter() - start < 5


def test_nested_parquet_values_count_as_cells() -> None:
    lists = pa.array([[0] * 100] * 1_000, pa.list_(pa.int64()))
    content = _parquet(pa.table({"lists": lists}))
    with pytest.raises(
        DataLoadError,
        match=r"holds 100,000 values in 1,000 rows and 1 column .* more than the "
        r"50,000 cells",
    ):
        read_table(content, "lists.parquet", max_cells=50_000)


def test_a_parquet_file_of_many_tiny_row_groups_is_refused() -> None:
    content = _parquet(pa.table({"x": np.arange(10_001)}), row_group_size=1)
    with pytest.raises(
        DataLoadError, match=r"split into 10,001 row groups, more than the 10,000"
    ):
        read_table(content, "tiny.parquet")


def test_a_parquet_file_under_the_limits_loads_whole() -> None:
    frame = pd.DataFrame(
        {
            "x": np.linspace(0, 1, 5_000),
            "label": [f" v{i % 13} " for i in range(5_000)],
            "code": pd.Categorical([f"k{i % 5}" for i in range(5_000)]),
        }
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow", row_group_size=700)
    table = read_table(buffer.getvalue(), "fine.parquet", max_table_mb=1)
    assert table.frame.shape == (5_000, 3)
    assert table.frame["label"].iloc[:2].tolist() == ["v0", "v1"]
    assert table.frame["code"].iloc[:6].tolist() == ["k0", "k1", "k2", "k3", "k4", "k0"]


def _odd_columns() -> dict[str, pa.Array]:
    rows = 40
    entry = pa.struct([("a", pa.int64()), ("b", pa.list_(pa.string()))])
    return {
        "map": pa.array(
            [[("k", {"a": i, "b": ["x", "y"]})] for i in range(rows)],
            pa.map_(pa.string(), entry),
        ),
        "list-of-records": pa.array([[{"p": i, "q": "z"}] for i in range(rows)]),
        "fixed-size-list": pa.array(
            [[i, i] for i in range(rows)], pa.list_(pa.int32(), 2)
        ),
        "large-list": pa.array(
            [[str(i)] for i in range(rows)], pa.large_list(pa.string())
        ),
        "time": pa.array([i * 1_000_000 for i in range(rows)], pa.time64("us")),
        "date": pa.array(list(range(rows)), pa.date32()),
        "decimal": pa.array([i * 100 for i in range(rows)], pa.int64()).cast(
            pa.decimal256(40, 2)
        ),
        "categories-of-numbers": pa.array(
            [i % 3 for i in range(rows)]
        ).dictionary_encode(),
        "half-floats": pa.array(np.arange(rows, dtype=np.float16)),
        "long-strings": pa.array([f"s{i}" for i in range(rows)], pa.large_string()),
        "uuid": pa.array([bytes([i]) * 16 for i in range(rows)], pa.binary(16)).cast(
            pa.uuid()
        ),
    }


@pytest.mark.parametrize("name", list(_odd_columns()))
def test_parquet_columns_of_every_kind_are_measured_and_load(name: str) -> None:
    column = _odd_columns()[name]
    content = _parquet(pa.table({name: column, "y": np.arange(len(column))}))
    table = read_table(content, "odd.parquet")
    assert len(table.frame) == len(column) and "y" in table.frame.columns


# --------------------------------------------------------------------------- #
# Excel: unpacked size, XML declarations anywhere, cells while streaming
# --------------------------------------------------------------------------- #


def test_the_shared_strings_bomb_is_refused_before_openpyxl_reads_it(
    monkeypatch,
) -> None:
    content = _shared_strings_bomb()
    assert 1 * MB < len(content) < 5 * MB

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("openpyxl was asked to parse the bomb")

    monkeypatch.setattr("openpyxl.load_workbook", never)
    start = time.perf_counter()
    with pytest.raises(
        DataLoadError,
        match=r"^The Excel file would unpack to 380 MB, more than the 64 MB this app "
        r"can process\.",
    ):
        read_table(content, "strings.xlsx")
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize(
    "padding, codec",
    [
        pytest.param(5_000, "utf-8", id="after-the-first-4-KB"),
        pytest.param(MB, "utf-8", id="across-two-chunks"),  # the 1 MiB chunks
        pytest.param(3 * MB + 17, "utf-8", id="megabytes-in"),
        pytest.param(6_000, "utf-16", id="in-utf-16"),
    ],
)
def test_xml_declarations_anywhere_in_a_part_are_refused(
    padding: int, codec: str
) -> None:
    with pytest.raises(DataLoadError, match=r"unusual XML declarations"):
        read_table(_doctype_after(padding, codec=codec), "x.xlsx")


def test_a_marker_split_between_two_chunks_is_found() -> None:
    # "<!DOCTYPE" starts 4 bytes before the end of the first chunk read.
    assert _loading._SCAN_CHUNK == MB
    content = _doctype_after(MB)
    with zipfile.ZipFile(io.BytesIO(content)) as book:
        sheet = book.read("xl/worksheets/sheet1.xml")
    start = sheet.index(b"<!DOCTYPE")
    assert start < MB < start + len(b"<!DOCTYPE")
    with pytest.raises(DataLoadError, match=r"unusual XML declarations"):
        read_table(content, "x.xlsx")


def test_a_workbook_over_the_cell_budget_is_refused_while_streaming(
    monkeypatch,
) -> None:
    content = _xlsx(_table(1_000, 10))
    seen: list[int] = []
    original = _loading._excel_value

    def counting(value: object) -> object:
        seen.append(1)
        return original(value)

    monkeypatch.setattr(_loading.excel, "_excel_value", counting)  # where it is called
    with pytest.raises(
        DataLoadError,
        match=r"^The workbook holds more than 5,000 cells \(rows × columns, counted "
        r"up to row 501 of sheet 'Sheet1'\), the most this app reads from a "
        r"workbook\.",
    ):
        read_table(content, "x.xlsx", max_excel_cells=5_000)
    assert len(seen) <= 5_000  # stopped at the budget, not after the whole sheet
    monkeypatch.undo()
    assert read_table(content, "x.xlsx").frame.shape == (1_000, 10)


def test_far_away_cells_count_against_the_budget() -> None:
    # Two cells, at A1 and XFD1: the row read is 16,384 cells wide.
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet["A1"], sheet["A2"], sheet["XFD2"] = "a", 1, 2
    buffer = io.BytesIO()
    book.save(buffer)
    with pytest.raises(DataLoadError, match=r"more than 10,000 cells"):
        read_table(buffer.getvalue(), "wide.xlsx", max_excel_cells=10_000)


def test_the_unpacked_limit_of_a_workbook_is_an_argument() -> None:
    content = _xlsx(_table(2_000, 5))
    with pytest.raises(
        DataLoadError, match=r"would unpack to 0\.\d+ MB, more than the 0\.05 MB"
    ):
        read_table(content, "x.xlsx", max_excel_unpacked_mb=0.05)
    assert read_table(content, "x.xlsx").frame.shape == (2_000, 5)


def test_streamed_workbooks_keep_dates_errors_and_empty_rows() -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Empty"
    data = book.create_sheet("Data")
    data.append([])
    data.append(["when", "value", "note"])
    data.append([pd.Timestamp("2024-01-31").to_pydatetime(), 1.0, "#N/A"])
    data.append([])
    data.append([pd.Timestamp("2024-02-29").to_pydatetime(), 2.5, "ok"])
    buffer = io.BytesIO()
    book.save(buffer)
    table = read_table(buffer.getvalue(), "x.xlsx")
    assert list(table.frame.columns) == ["when", "value", "note"]
    assert table.frame["value"].tolist() == [1.0, 2.5]
    assert table.frame["when"].dt.day.tolist() == [31, 29]
    assert table.frame["note"].isna().tolist() == [True, False]
    assert "The first sheet is empty; read sheet 'Data' instead." in table.notes
    assert "Dropped 1 empty row." in table.notes


# --------------------------------------------------------------------------- #
# CSV: the whole header, and a cell budget before parsing
# --------------------------------------------------------------------------- #


def test_a_header_longer_than_the_sample_loads_with_all_its_columns() -> None:
    content = _csv_header(1_500, 60)
    assert content.index(b"\n") > _loading._SAMPLE_CHARS
    table = read_table(content, "wide.csv")
    assert list(table.frame.columns) == [f"col_{i:056d}" for i in range(1_500)]
    assert table.frame.shape == (20, 1_500)
    assert table.frame.iloc[-1, -1] == (19 * 1_499) % 7  # the last cell was read


def test_a_header_longer_than_the_sample_is_counted_whole() -> None:
    content = _csv_header(3_000, 30)
    assert content.index(b"\n") > _loading._SAMPLE_CHARS
    with pytest.raises(
        DataLoadError, match=r"^The file has 3,000 columns; the limit is 2,000\.$"
    ):
        read_table(content, "wide.csv")


def test_a_header_csv_cannot_split_is_refused_rather_than_cut() -> None:
    # A name longer than csv's field limit: counting the header fails, and the
    # parser would keep only the columns counted in the sample. Never silently.
    header = "a," + "b" * 200_000 + ",c\n"
    content = (header + "1,2,3\n4,5,6\n").encode()
    try:
        table = read_table(content, "odd.csv")
    except DataLoadError as exc:
        assert "first line has more values than the 2 columns" in str(exc)
        assert str(exc).endswith(".")
    else:
        assert table.frame.shape == (2, 3)


def test_a_csv_over_the_cell_budget_is_refused_before_parsing(monkeypatch) -> None:
    content = _table(1_000, 10).to_csv(index=False).encode()

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was parsed")

    monkeypatch.setattr(_loading.pd, "read_csv", never)
    with pytest.raises(
        DataLoadError,
        match=r"^The file has about 1,000 rows and 10 columns, about 10,000 cells in "
        r"all, more than the 5,000 cells this app accepts per table\.",
    ):
        read_table(content, "x.csv", max_cells=5_000)
    monkeypatch.undo()
    assert read_table(content, "x.csv").frame.shape == (1_000, 10)


# --------------------------------------------------------------------------- #
# every limit passed as an argument is honoured
# --------------------------------------------------------------------------- #


def _parquet_frame(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow")
    return buffer.getvalue()


LIMITED: list[tuple[str, Callable[[], bytes], str, dict, str]] = [
    (
        "parquet-table-size",
        lambda: _parquet_frame(pd.DataFrame({"a": np.zeros(200_000)})),
        "x.parquet",
        {"max_table_mb": 1},
        r"would unpack to about 1\.5 MB, more than the 1 MB this app can process "
        r"per table\.",
    ),
    (
        "parquet-text-size",
        lambda: _parquet_frame(
            pd.DataFrame({"t": [f"{i:020d}" for i in range(60_000)]})
        ),
        "x.parquet",
        {"max_table_mb": 1},
        r"would unpack to about 1\.\d+ MB, more than the 1 MB",
    ),
    (
        "parquet-cells",
        lambda: _parquet_frame(_table(1_000, 10)),
        "x.parquet",
        {"max_cells": 5_000},
        r"1,000 rows and 10 columns, 10,000 cells in all, more than the 5,000 cells",
    ),
    (
        "csv-cells",
        lambda: _table(1_000, 10).to_csv(index=False).encode(),
        "x.csv",
        {"max_cells": 5_000},
        r"about 10,000 cells in all, more than the 5,000 cells",
    ),
    (
        "xlsx-cells",
        lambda: _xlsx(_table(1_000, 10)),
        "x.xlsx",
        {"max_cells": 5_000},
        r"1,000 rows and 10 columns, 10,000 cells in all, more than the 5,000 cells",
    ),
    (
        "xlsx-excel-cells",
        lambda: _xlsx(_table(1_000, 10)),
        "x.xlsx",
        {"max_excel_cells": 5_000},
        r"more than 5,000 cells",
    ),
    (
        "xlsx-unpacked",
        lambda: _xlsx(_table(1_000, 10)),
        "x.xlsx",
        {"max_excel_unpacked_mb": 0.01},
        r"more than the 0\.01 MB",
    ),
]


@pytest.mark.parametrize(
    "make, filename, limits, match",
    [case[1:] for case in LIMITED],
    ids=[case[0] for case in LIMITED],
)
def test_limits_passed_as_arguments_are_honoured(
    make: Callable[[], bytes], filename: str, limits: dict, match: str
) -> None:
    content = make()
    with pytest.raises(DataLoadError, match=match) as caught:
        read_table(content, filename, **limits)
    message = str(caught.value)
    assert message.endswith(".") and "\n" not in message
    table = read_table(content, filename)  # within the default limits: loads
    assert len(table.frame) > 0
