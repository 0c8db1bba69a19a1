"""A corpus of malformed and hostile uploads, each sent through the app's real path.

Every file is generated here (into the test's temporary directory; nothing binary
is committed), then read as a visitor's upload with ``services.load_upload``: it
either loads as expected, or is refused with a ``DataLoadError`` whose message is a
plain sentence. Never another exception, never a hang, never unbounded memory, and
a refused file leaves the session's earlier data in place. Files that load are
then explored, trained on and batch-predicted through the callbacks, which must
answer with a figure or a message, not an exception.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import decimal
import io
import random
import re
import struct
import threading
import zipfile
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
import psutil
import pytest

from app import services
from app.ml import DataLoadError, PredictionError
from app.ui.tabs import DataCallbacks, TrainCallbacks

MB = 1024 * 1024
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(1)>"
FORMULA_CMD = "=cmd|' /C calc'!A0"
FORMULA_SUM = "@SUM(1+1)"

# --------------------------------------------------------------------------- #
# generators
# --------------------------------------------------------------------------- #


def _csv(header: list[str], rows: list[list[Any]], sep: str = ",") -> bytes:
    lines = [sep.join(header)] + [sep.join(str(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _valid() -> bytes:
    """A small well-formed file: 30 rows, two numbers and a class."""
    rows = [[i, i * 2 % 7, "x" if i % 2 else "y"] for i in range(30)]
    return _csv(["a", "b", "c"], rows)


VALID = _valid()


def _xlsx(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_excel(buffer, engine="openpyxl", index=False)
    return buffer.getvalue()


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow")
    return buffer.getvalue()


SMALL_XLSX = _xlsx(pd.DataFrame({"a": range(100), "b": [f"v{i}" for i in range(100)]}))
SMALL_PARQUET = _parquet(pd.DataFrame({"a": range(100), "b": np.linspace(0, 1, 100)}))


def _zip(members: dict[str, bytes | int]) -> bytes:
    """A zip archive; an int member is that many zero bytes, written in chunks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            with archive.open(name, "w", force_zip64=True) as member:
                if isinstance(data, int):
                    chunk = bytes(MB)
                    for start in range(0, data, len(chunk)):
                        member.write(chunk[: min(len(chunk), data - start)])
                else:
                    member.write(data)
    return buffer.getvalue()


_WORKBOOK_PARTS = {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<w/>"}


def _zip_bomb(size: int) -> bytes:
    """An .xlsx-shaped zip whose sheet is ``size`` zero bytes (about 1000:1)."""
    return _zip({**_WORKBOOK_PARTS, "xl/worksheets/sheet1.xml": size})


def _lying_zip_bomb() -> bytes:
    """A zip bomb whose headers claim its 64 MB sheet holds 1,000 bytes."""
    data = bytearray(_zip_bomb(64 * MB))
    name = b"xl/worksheets/sheet1.xml"
    pos = data.find(name)
    while pos >= 0:
        if data[pos - 30 : pos - 26] == b"PK\x03\x04":  # local header
            start, size_at, extra_at = pos - 30, 22, 28
        else:  # central directory
            start, size_at, extra_at = pos - 46, 24, 30
        if struct.unpack_from("<I", data, start + size_at)[0] != 0xFFFFFFFF:
            struct.pack_into("<I", data, start + size_at, 1000)
        (extra_len,) = struct.unpack_from("<H", data, start + extra_at)
        i, end = pos + len(name), pos + len(name) + extra_len
        while i + 4 <= end:
            tag, size = struct.unpack_from("<HH", data, i)
            if tag == 1 and size >= 8:  # zip64: the uncompressed size comes first
                struct.pack_into("<Q", data, i + 4, 1000)
            i += 4 + size
        pos = data.find(name, pos + 1)
    return bytes(data)


def _garbage(size: int = 4096, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _soup(alphabet: str, size: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(size)).encode("utf-8")


def _dates_every_format() -> bytes:
    days = pd.date_range("2024-01-13", periods=25, freq="D")
    frame = pd.DataFrame({name: days.strftime(f) for name, f in DATE_FORMATS.items()})
    frame["mixed"] = [
        day.strftime(list(DATE_FORMATS.values())[i % len(DATE_FORMATS)])
        for i, day in enumerate(days)
    ]
    frame["value"] = [i * 7 % 11 for i in range(25)]
    return frame.to_csv(index=False).encode()


DATE_FORMATS = {
    "iso": "%Y-%m-%d",
    "iso_time": "%Y-%m-%dT%H:%M:%S",
    "dmy_slash": "%d/%m/%Y",
    "mdy_slash": "%m/%d/%Y",
    "dmy_dot": "%d.%m.%Y",
    "ymd_slash": "%Y/%m/%d",
    "dmy_dash": "%d-%m-%Y",
    "d_mon_y": "%d %b %Y",
    "mon_d_y": "%b %d, %Y",
    "month_d_y": "%B %d, %Y",
}


def _parquet_odd_types() -> bytes:
    n = 30
    return _parquet(
        pd.DataFrame(
            {
                "nested": [[i, i + 1] for i in range(n)],
                "record": [{"k": i, "s": "x"} for i in range(n)],
                "blob": [bytes([i, 0, 255]) for i in range(n)],
                "ascii_bytes": [b"code%d" % (i % 3) for i in range(n)],
                "zoned": pd.date_range("2024-01-01", periods=n, tz="Europe/Zurich"),
                "duration": pd.to_timedelta(range(n), unit="s"),
                "category": pd.Categorical(["a", "b", "c"] * 10),
                "flag": [True, False, None] * 10,
                "money": [decimal.Decimal(f"{i}.50") for i in range(n)],
                "huge_unsigned": np.array([2**64 - 1 - i for i in range(n)], np.uint64),
                "y": [i % 2 for i in range(n)],
            }
        )
    )


def _parquet_weird_names() -> bytes:
    return _parquet(
        pd.DataFrame(
            {
                XSS_SCRIPT: range(30),
                "": range(30),
                " ": [i % 3 for i in range(30)],
                "__index_level_0__": [i % 5 for i in range(30)],
                "line\nbreak": [i % 2 for i in range(30)],
                "x" * 5000: [i * 0.5 for i in range(30)],
            }
        )
    )


def _hostile_cells(rows: int = 24) -> pd.DataFrame:
    return pd.DataFrame(
        {
            XSS_SCRIPT: [XSS_IMG, FORMULA_CMD, FORMULA_SUM, "ok"] * (rows // 4),
            XSS_IMG: [i % 3 for i in range(rows)],
            "label": [XSS_SCRIPT if i % 2 else FORMULA_CMD for i in range(rows)],
        }
    )


def _xlsx_with_formula_cells() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["a", "b", "total"])
    for i in range(1, 25):
        sheet.append([i, i % 3, f"=A{i + 1}+B{i + 1}"])
    sheet.append(["=1/0", "#DIV/0!", '=HYPERLINK("http://x","y")'])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------- #
# the corpus
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Hostile:
    """A hostile file and what the app must make of it.

    ``refused`` is a pattern the refusal message must match; without it the file
    must load, and ``check(frame, meta)`` says what it must load as. ``either``
    accepts a load or a refusal (random soups of separators and quotes).
    """

    id: str
    filename: str | None
    make: Callable[[], bytes]
    refused: str | None = None
    check: Callable[[pd.DataFrame, dict], None] | None = None
    either: bool = False
    limits: dict[str, Any] = field(default_factory=dict)
    mime: str = "text/csv"
    upload: dict[str, Any] | None = None  # an upload dict sent as it is
    max_rss_mb: int = 300


def _columns(*names: str) -> Callable[[pd.DataFrame, dict], None]:
    def check(frame: pd.DataFrame, meta: dict) -> None:
        assert list(frame.columns) == list(names)

    return check


def _note(
    pattern: str, rows: int | None = None
) -> Callable[[pd.DataFrame, dict], None]:
    def check(frame: pd.DataFrame, meta: dict) -> None:
        assert any(re.search(pattern, n) for n in meta["notes"]), meta["notes"]
        if rows is not None:
            assert len(frame) == rows

    return check


def _all(*checks: Callable[[pd.DataFrame, dict], None]) -> Callable:
    def check(frame: pd.DataFrame, meta: dict) -> None:
        for one in checks:
            one(frame, meta)

    return check


def _values(column: str, expected: list[Any]) -> Callable:
    def check(frame: pd.DataFrame, meta: dict) -> None:
        got = frame[column].tolist()
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            assert a == b or (pd.isna(a) and pd.isna(b)), (column, got, expected)

    return check


def _cut_mid_row(frame: pd.DataFrame, meta: dict) -> None:
    assert frame.shape == (30, 3)
    assert frame["c"].isna().sum() == 1 and pd.isna(frame["c"].iloc[-1])


def _huge_numbers(frame: pd.DataFrame, meta: dict) -> None:
    assert frame["a"].tolist() == [1e308, -1e308, 2.0]
    assert frame["b"].tolist() == [np.inf, -np.inf, 3.0]  # 1e400 overflows to inf
    assert frame["c"].tolist() == [1e23, 1.0, 4.0]  # beyond int64: a float


def _nan_inf(frame: pd.DataFrame, meta: dict) -> None:
    values = frame.select_dtypes("number").to_numpy()
    assert frame.shape == (40, 3) and np.isinf(values).any() and np.isnan(values).any()


def _markup_kept_as_text(frame: pd.DataFrame, meta: dict) -> None:
    assert list(frame.columns) == [XSS_SCRIPT, XSS_IMG, "label"]
    assert frame[XSS_SCRIPT].tolist()[:4] == [XSS_IMG, FORMULA_CMD, FORMULA_SUM, "ok"]
    assert set(frame["label"]) == {XSS_SCRIPT, FORMULA_CMD}


def _markup_kept_formulas_not_run(frame: pd.DataFrame, meta: dict) -> None:
    # In a workbook, cells starting with '=' are formulas; never evaluated here,
    # and without a value saved by Excel they are empty.
    assert list(frame.columns) == [XSS_SCRIPT, XSS_IMG, "label"]
    first = frame[XSS_SCRIPT].iloc[:4]
    assert first.isna().tolist() == [False, True, False, False]
    assert first.dropna().tolist() == [XSS_IMG, FORMULA_SUM, "ok"]
    assert frame["label"].isna().iloc[0] and frame["label"].iloc[1] == XSS_SCRIPT


def _formula_cells(frame: pd.DataFrame, meta: dict) -> None:
    # Formulas are never evaluated: without a value saved by Excel they are empty.
    # Error cells (#DIV/0!) are missing too, so the last row is empty and dropped.
    assert list(frame.columns) == ["a", "b"] and len(frame) == 24
    assert "Dropped 1 empty column: 'total'." in meta["notes"]
    assert "Dropped 1 empty row." in meta["notes"]


def _odd_parquet(frame: pd.DataFrame, meta: dict) -> None:
    assert "blob" not in frame.columns
    assert frame["ascii_bytes"].iloc[:3].tolist() == ["code0", "code1", "code2"]
    assert frame["duration"].iloc[:3].tolist() == [0.0, 1.0, 2.0]
    notes = " ".join(meta["notes"])
    assert "Dropped 'blob'" in notes and "binary data" in notes
    assert "durations in 'duration' as seconds" in notes


def _weird_names(frame: pd.DataFrame, meta: dict) -> None:
    names = list(frame.columns)
    assert XSS_SCRIPT in names and "line\nbreak" in names and "x" * 5000 in names
    assert len(set(names)) == len(names) and all(n.strip() for n in names)


def _dates(frame: pd.DataFrame, meta: dict) -> None:
    assert set(DATE_FORMATS) <= set(meta["roles"]["date"])
    for name in DATE_FORMATS:
        assert frame[name].iloc[0] == pd.Timestamp("2024-01-13"), name
    assert frame["mixed"].dtype != "datetime64[us]"  # mixed formats stay text


def _one_million(frame: pd.DataFrame, meta: dict) -> None:
    assert frame.shape == (1_000_000, 1) and meta["rows"] == 1_000_000
    assert meta["roles"]["constant"] == ["x"]


def _long_cell(frame: pd.DataFrame, meta: dict) -> None:
    assert frame.shape == (1, 1) and len(frame["a"].iloc[0]) == 10 * MB


def _nested_quotes(frame: pd.DataFrame, meta: dict) -> None:
    assert frame["a"].tolist() == ['"' * 5000, 'x"y"z']


def _same_as_valid(frame: pd.DataFrame, meta: dict) -> None:
    assert frame.shape == (30, 3) and frame["a"].tolist() == list(range(30))


def _named(name: str) -> Callable:
    def check(frame: pd.DataFrame, meta: dict) -> None:
        assert meta["name"] == name
        assert re.fullmatch(r"[A-Za-z0-9_.-]+\.parquet", meta["source"]["filename"])

    return check


_GREEK = "name,v\nκόσμε,1\nZürich,2\n"
_LATIN = "name,v\ncafé,1\nZürich,2\n"

CORPUS = [
    # -- empty and nearly empty --------------------------------------------------
    Hostile("empty", "x.csv", lambda: b"", r"The file is empty \(it has 0 bytes\)"),
    Hostile("bom-only", "x.csv", lambda: b"\xef\xbb\xbf", r"The file is empty"),
    Hostile("blank-lines-only", "x.csv", lambda: b"\n" * 1_000_000, r"is empty"),
    Hostile("header-only", "x.csv", lambda: b"a,b,c\n", r"column names but no rows"),
    Hostile("header-only-crlf", "x.csv", lambda: b"a;b\r\n", r"column names but no"),
    Hostile(
        "na-markers-only",
        "x.csv",
        lambda: b"a,b\nNA,N/A\nnull,-\n?,NaN\n,\n",
        r"every cell is empty",
    ),
    Hostile("separators-only", "x.csv", lambda: b",,,\n,,,\n", r"every cell is empty"),
    Hostile("single-column", "x.csv", lambda: b"v\n1\n2\n3\n", check=_columns("v")),
    # -- not text ----------------------------------------------------------------
    Hostile("binary-garbage", "x.csv", _garbage, r"not look like a text.*binary data"),
    Hostile("binary-no-extension", "data", _garbage, r"does not look like a text"),
    Hostile(
        "nul-bytes-in-the-middle",
        "x.csv",
        lambda: b"a,b\n1,2\n3\x00\x00,4\n5,6\n",
        r"does not look like a text table",
    ),
    Hostile(
        "pickle-named-csv",
        "x.csv",
        lambda: (
            b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s."
        ),
        r"looks like a Python pickle",
    ),
    Hostile(
        "png-named-csv",
        "photo.csv",
        lambda: b"\x89PNG\r\n\x1a\n" + _garbage(2000),
        r"looks like a PNG image",
    ),
    Hostile(
        "pdf-named-csv",
        "x.csv",
        lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256)) * 4,
        r"looks like a PDF document",
    ),
    Hostile("json-extension", "x.json", lambda: b'{"a": 1}', r"\.json are not supp"),
    # -- truncated -----------------------------------------------------------------
    Hostile("csv-cut-mid-row", "x.csv", lambda: VALID[:-3], check=_cut_mid_row),
    Hostile(
        "csv-cut-inside-a-quote",
        "x.csv",
        lambda: b'a,b\n1,2\n3,"hel',
        r'quoted value starting near line 3 is never closed \(a closing " is',
    ),
    Hostile(
        "unterminated-quote",
        "x.csv",
        lambda: b'a,b\n1,2\n3,"oops\n5,6\n7,8\n',
        r"never closed",
    ),
    Hostile(
        "xlsx-truncated",
        "x.xlsx",
        lambda: SMALL_XLSX[: len(SMALL_XLSX) // 2],
        r"damaged or incomplete",
    ),
    Hostile(
        "xlsx-tail-cut",
        "x.xlsx",
        lambda: SMALL_XLSX[:-100],
        r"damaged or incomplete",
    ),
    Hostile(
        "parquet-truncated",
        "x.parquet",
        lambda: SMALL_PARQUET[: len(SMALL_PARQUET) // 2],
        r"Parquet file is damaged or incomplete",
    ),
    Hostile(
        "parquet-middle-missing",
        "x.parquet",
        lambda: SMALL_PARQUET[:200] + SMALL_PARQUET[-200:],
        r"Parquet file is damaged or incomplete",
    ),
    # -- encodings -----------------------------------------------------------------
    Hostile(
        "latin1-declared-utf8",
        "x.csv",
        lambda: _LATIN.encode("latin-1"),
        check=_all(_note("Windows-1252"), _values("name", ["café", "Zürich"])),
        mime="text/csv;charset=utf-8",
    ),
    Hostile(
        "utf16-le-without-bom",
        "x.csv",
        lambda: _GREEK.encode("utf-16-le"),
        check=_all(_note("UTF-16"), _values("name", ["κόσμε", "Zürich"])),
    ),
    Hostile(
        "utf16-be-without-bom",
        "x.csv",
        lambda: _GREEK.encode("utf-16-be"),
        check=_values("name", ["κόσμε", "Zürich"]),
    ),
    Hostile(
        "utf32-with-bom",
        "x.csv",
        lambda: _GREEK.encode("utf-32"),
        check=_all(_note("UTF-32"), _values("v", [1, 2])),
    ),
    Hostile(
        "mixed-utf8-and-latin1",
        "x.csv",
        lambda: "name,v\ncafé,1\n".encode() + "Zürich,2\n".encode("latin-1"),
        check=_all(_note("not UTF-8"), _values("v", [1, 2])),
    ),
    Hostile(
        "shift-jis",
        "x.csv",
        lambda: "名前,値\n東京,1\n大阪,2\n".encode("shift_jis"),
        check=_all(_note("Shift-JIS"), _values("名前", ["東京", "大阪"])),
    ),
    Hostile(
        "no-known-encoding",
        "x.csv",
        lambda: b"a,b\n" + bytes(range(0x80, 0xA0)) * 50,
        r"text encoding.*not recognised.*UTF-8",
    ),
    # -- shape ---------------------------------------------------------------------
    Hostile(
        "mixed-delimiters",
        "x.csv",
        lambda: b"a,b,c\n1,2,3\n4;5;6\n7\t8\t9\n10|11|12\n13,14,15\n",
        check=_note(r"Treated \d+ empty cells as missing", rows=5),
    ),
    Hostile(
        "ten-thousand-columns",
        "x.csv",
        lambda: _csv([f"c{i}" for i in range(10_000)], [[1] * 10_000]),
        r"The file has 10,000 columns; the limit is 2,000\.",
    ),
    Hostile(
        "one-line-of-500k-fields",
        "x.csv",
        lambda: b"1," * 500_000 + b"1\n",
        r"columns; the limit is 2,000",
    ),
    Hostile(
        "one-million-tiny-rows",
        "x.csv",
        lambda: b"x\n" + b"1\n" * 1_000_000,
        check=_one_million,
        max_rss_mb=400,
    ),
    Hostile(
        "one-million-and-one-rows",
        "x.csv",
        lambda: b"x\n" + b"1\n" * 1_000_001,
        r"more than 1,000,000 rows, the most this app accepts",
    ),
    Hostile(
        "over-a-small-max-rows",
        "x.csv",
        lambda: b"x\n" + b"1\n" * 1_001,
        r"more than 1,000 rows",
        limits={"max_rows": 1_000},
    ),
    Hostile(
        "over-the-size-limit",
        "big.csv",
        lambda: b"a,b\n" + b"1,2\n" * (3 * MB // 4),
        r"The file is 3 MB, which is more than the 2 MB limit\.",
    ),
    Hostile(
        "flagged-too-large-by-the-browser",
        "big.csv",
        lambda: b"",
        r"big\.csv is 50\.0 MB; the limit is 2 MB\.",
        upload={"filename": "big.csv", "too_large": 50 * MB},
    ),
    Hostile(
        "forged-too-large-flag",
        "big.csv",
        lambda: b"",
        r"big\.csv is too large; the limit is 2 MB\.",
        upload={"filename": "big.csv", "too_large": "lots"},
    ),
    Hostile(
        "ten-megabyte-cell",
        "x.csv",
        lambda: b"a\n" + b"x" * (10 * MB) + b"\n",
        check=_long_cell,
        limits={"max_upload_mb": 12.0},
    ),
    Hostile(
        "deeply-nested-quotes",
        "x.csv",
        lambda: b'a,b\n"' + b'""' * 5000 + b'",1\n"x""y""z",2\n',
        check=_nested_quotes,
    ),
    Hostile(
        "crlf-line-endings",
        "x.csv",
        lambda: VALID.replace(b"\n", b"\r\n"),
        check=_same_as_valid,
    ),
    Hostile(
        "cr-only-line-endings",
        "x.csv",
        lambda: VALID.replace(b"\n", b"\r"),
        check=_same_as_valid,
    ),
    Hostile(
        "rows-shorter-than-the-header",
        "x.csv",
        lambda: b"a,b,c,d,e\n1\n2\n3,4,5,6,7\n",
        check=_all(_columns("a", "b", "c", "d", "e"), _values("a", [1, 2, 3])),
    ),
    Hostile(
        "excel-separator-hint",
        "x.csv",
        lambda: b"sep=;\na;b\n1;2\n3;4\n",
        either=True,
    ),
    Hostile(
        "separator-and-quote-soup",
        "x.csv",
        lambda: _soup(',;\t|"\n\r ab1', 300_000),
        either=True,
    ),
    Hostile(
        "endless-number-like-cell",
        "x.csv",
        lambda: b"a,b\n1,2\n" + b'"1' + b",000" * 200_000 + b'x",3\n',
        check=_values("b", [2, 3]),
    ),
    # -- values --------------------------------------------------------------------
    Hostile(
        "huge-numbers",
        "x.csv",
        lambda: b"a,b,c\n1e308,1e400,99999999999999999999999\n-1e308,-1e400,1\n2,3,4\n",
        check=_huge_numbers,
    ),
    Hostile(
        "nan-and-inf-everywhere",
        "x.csv",
        lambda: _csv(
            ["a", "b", "target"],
            [
                ["nan" if i % 2 else i, "inf" if i % 3 else -i, "-inf" if i % 4 else i]
                for i in range(40)
            ],
        ),
        check=_nan_inf,
    ),
    Hostile(
        "int64-overflow",
        "x.csv",
        lambda: (
            b"a,b\n9223372036854775807,1\n9223372036854775808,2\n"
            b"-9223372036854775809,3\n"
        ),
        check=_values("b", [1, 2, 3]),
    ),
    Hostile(
        "duplicate-and-empty-names",
        "x.csv",
        lambda: b"a,a,a,, \n1,2,3,4,5\n6,7,8,9,10\n",
        check=_all(
            _columns("a", "a_2", "a_3", "column_4", "column_5"),
            _note("Renamed duplicate column names"),
        ),
    ),
    Hostile(
        "html-and-js-in-names-and-cells",
        "x.csv",
        lambda: _hostile_cells().to_csv(index=False).encode(),
        check=_markup_kept_as_text,
    ),
    Hostile(
        "spreadsheet-formulas",
        "x.csv",
        lambda: _csv(
            ["cmd", "sum", "v"],
            [[FORMULA_CMD.replace(",", ""), FORMULA_SUM, i % 2] for i in range(20)]
            + [["+1+1", "-2-2", 1], ["\t=1", "%0A", 0]],
        ),
        check=_values("sum", [FORMULA_SUM] * 20 + ["-2-2", "%0A"]),
    ),
    Hostile(
        "target-with-one-value",
        "x.csv",
        lambda: _csv(["a", "b", "target"], [[i, i % 7, "yes"] for i in range(40)]),
        check=lambda frame, meta: meta["roles"]["constant"] == ["target"],
    ),
    Hostile("dates-in-every-format", "x.csv", _dates_every_format, check=_dates),
    Hostile(
        "one-date-everywhere",
        "x.csv",
        lambda: _csv(["day", "n"], [["2024-01-01", i % 3] for i in range(30)]),
        check=lambda frame, meta: meta["roles"]["date"] == ["day"],
    ),
    Hostile(
        "dates-a-microsecond-apart",
        "x.csv",
        lambda: _csv(
            ["when", "n"],
            [[f"2024-01-01T00:00:00.00000{i % 2}", i % 3] for i in range(30)],
        ),
        check=lambda frame, meta: frame["when"].nunique() == 2,
    ),
    Hostile(
        "bidi-and-zero-width-names",
        "x.csv",
        lambda: "\u202etxt.exe,\u200b,😀\n1,2,3\n4,5,6\n".encode(),
        check=lambda frame, meta: frame.shape == (2, 3),
    ),
    # -- Excel and Parquet that are not what they claim ------------------------------
    Hostile(
        "csv-named-xlsx",
        "x.xlsx",
        lambda: VALID,
        r"does not look like an Excel workbook.*a text file.*rename it to \.csv",
    ),
    Hostile(
        "xlsx-named-parquet",
        "x.parquet",
        lambda: SMALL_XLSX,
        r"not look like a Parquet file; it looks like an Excel workbook",
    ),
    Hostile(
        "parquet-named-xlsx",
        "x.xlsx",
        lambda: SMALL_PARQUET,
        r"does not look like an Excel workbook.*a Parquet file",
    ),
    Hostile(
        "zip-that-is-not-a-workbook",
        "x.xlsx",
        lambda: _zip({"readme.txt": b"hello", "data.csv": VALID}),
        r"does not look like an Excel workbook.*a zip archive",
    ),
    Hostile(
        "docx-named-xlsx",
        "x.xlsx",
        lambda: _zip(
            {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}
        ),
        r"a Word document",
    ),
    Hostile(
        "legacy-xls",
        "old.xls",
        lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512),
        r"legacy Excel \.xls workbook",
    ),
    Hostile(
        "binary-garbage-named-xlsx",
        "x.xlsx",
        _garbage,
        r"does not look like an Excel workbook",
    ),
    Hostile(
        "xlsx-named-csv",
        "x.csv",
        lambda: SMALL_XLSX,
        check=_all(_note("is an Excel workbook"), _columns("a", "b")),
    ),
    Hostile(
        "xlsx-with-markup-and-formulas",
        "x.xlsx",
        lambda: _xlsx(_hostile_cells()),
        check=_markup_kept_formulas_not_run,
    ),
    Hostile(
        "xlsx-formula-cells",
        "x.xlsx",
        _xlsx_with_formula_cells,
        check=_formula_cells,
    ),
    Hostile(
        "parquet-odd-types",
        "x.parquet",
        _parquet_odd_types,
        check=_odd_parquet,
    ),
    Hostile(
        "parquet-weird-names",
        "x.parquet",
        _parquet_weird_names,
        check=_weird_names,
    ),
    # -- bombs ---------------------------------------------------------------------
    Hostile(
        "zip-bomb-as-xlsx",
        "bomb.xlsx",
        lambda: _zip_bomb(16 * MB),
        r"compressed to an implausible degree",
        max_rss_mb=100,
    ),
    Hostile(
        "big-zip-bomb-as-xlsx",
        "bomb.xlsx",
        lambda: _zip_bomb(64 * MB),
        r"would unpack to 64 MB, more than the 40 MB",
        max_rss_mb=100,
    ),
    Hostile(
        "zip-bomb-with-lying-sizes",
        "bomb.xlsx",
        _lying_zip_bomb,
        r"damaged or incomplete",
        max_rss_mb=100,
    ),
    Hostile(
        "zip-with-10k-parts",
        "many.xlsx",
        lambda: _zip({**_WORKBOOK_PARTS, **{f"xl/{i}": b"" for i in range(10_050)}}),
        r"unusually large number of parts",
    ),
    Hostile(
        "xml-entity-expansion",
        "laughs.xlsx",
        lambda: _zip(
            {
                "[Content_Types].xml": b'<?xml version="1.0"?><!DOCTYPE l ['
                b'<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;">]>'
                b"<Types>&b;</Types>",
                "xl/workbook.xml": b"<workbook/>",
            }
        ),
        r"unusual XML declarations",
    ),
    Hostile(
        "parquet-bomb",
        "zeros.parquet",
        lambda: _parquet(
            pd.DataFrame(np.zeros((600_000, 20)), columns=list("abcdefghijklmnopqrst"))
        ),
        r"would unpack to about \d+(\.\d+)? MB, more than the 40 MB",
        max_rss_mb=200,
    ),
    # -- names and payloads -----------------------------------------------------------
    Hostile(
        "markup-in-the-file-name",
        XSS_SCRIPT + ".csv",
        lambda: VALID,
        check=_named(XSS_SCRIPT + ".csv"),
    ),
    Hostile(
        "path-traversal-file-name",
        "../../../etc/passwd",
        lambda: VALID,
        check=_named("../../../etc/passwd"),
    ),
    Hostile("no-file-name", None, lambda: VALID, check=_named("upload")),
    Hostile(
        "ten-thousand-character-file-name",
        "n" * 10_000 + ".csv",
        lambda: VALID,
        check=_named("n" * 200),
    ),
    Hostile(
        "payload-not-base64",
        "x.csv",
        lambda: b"",
        r"did not arrive in the expected form",
        upload={"filename": "x.csv", "contents": "data:text/csv,a%2Cb"},
    ),
    Hostile(
        "payload-damaged-base64",
        "x.csv",
        lambda: b"",
        r"damaged on the way",
        upload={"filename": "x.csv", "contents": "data:text/csv;base64,YSxi*!!"},
    ),
    Hostile(
        "payload-not-a-string",
        "x.csv",
        lambda: b"",
        r"did not arrive complete",
        upload={"filename": ["x.csv"], "contents": {"a": 1}},
    ),
]


# --------------------------------------------------------------------------- #
# running a case
# --------------------------------------------------------------------------- #

_JARGON = re.compile(
    r"Traceback|\b\w+(Error|Exception)\b|\bb'\\|\\x[0-9a-f]{2}|<class|"
    r"\bnp\.|numpy|pandas|pyarrow|openpyxl|sklearn|errno|File \"",
)


def _is_plain_sentence(message: str) -> bool:
    """A visitor's message: words (no exception names, reprs or paths) ending '.'."""
    return (
        bool(message.strip())
        and message.rstrip().endswith(".")
        and not _JARGON.search(message)
        and len(message) < 600
    )


def _upload(name: str | None, content: bytes, mime: str) -> dict[str, Any]:
    encoded = base64.b64encode(content).decode()
    return {"filename": name, "contents": f"data:{mime};base64,{encoded}"}


class PeakMemory:
    """The peak resident memory of this process while the block runs, in MB."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> "PeakMemory":
        self.start = self.peak = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / MB


def _explore(store, settings, sid: str, meta: dict, upload: dict) -> None:
    """Explore, train and batch-predict a loaded file through the callbacks."""
    data, train = DataCallbacks(store, settings), TrainCallbacks(store, settings)
    out = data.describe(meta["version"], None, sid)
    target, x, y = out[1], out[9], out[11]
    small = meta["rows"] <= 5_000
    for column in meta["columns"] if small else meta["columns"][:2]:
        figure = data.distribution(column, meta["version"], sid)
        assert figure.layout is not None
    figure = data.scatter(x, y, target, sid)
    assert figure.layout is not None
    if not small:
        return
    task, options, features, _, time_column = train.choose_target(target, sid)
    features = features or [o["value"] for o in options][:3]
    status, rows, run_id, *_ = train.train(
        lambda progress: None, 1, sid, target, task, features,
        "decision_tree", [], [], 0.25, True, 0, 0, time_column,
    )  # fmt: skip
    if not isinstance(run_id, str):  # refused: a sentence, not a crash
        assert "danger" in repr(status)
        return
    train.show_run(run_id, True, sid)
    try:
        payload, count, _ = services.predict_file(
            store,
            settings,
            sid,
            run_id,
            services.decode_upload(upload["contents"]),
            upload["filename"],
        )
    except (DataLoadError, PredictionError) as exc:
        assert _is_plain_sentence(str(exc)), str(exc)
    else:
        rows = list(csv.reader(io.StringIO(payload.decode("utf-8-sig"))))
        assert count == meta["rows"] == len(rows) - 1 and "prediction" in rows[0]
        for cell in (c for row in rows[1:] for c in row):
            if cell.startswith(("=", "+", "-", "@", "\t", "\r", "|", "%")):
                float(cell)  # only numbers may start so; formulas are neutralised


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_hostile_upload_loads_or_is_refused_politely(
    case: Hostile, store, settings, sid, tmp_path
) -> None:
    settings = dataclasses.replace(settings, **case.limits)
    before = services.load_upload(
        store, settings, sid, _upload("valid.csv", VALID, "text/csv")
    )
    path = tmp_path / (case.filename or "upload").replace("/", "_")[:100]
    path.write_bytes(case.make())
    upload = case.upload or _upload(case.filename, path.read_bytes(), case.mime)
    with PeakMemory() as memory:
        try:
            meta = services.load_upload(store, settings, sid, upload)
        except DataLoadError as exc:
            refusal = str(exc)
        else:
            refusal = None
    assert memory.growth_mb < case.max_rss_mb, f"{memory.growth_mb:.0f} MB"
    if refusal is not None:
        assert _is_plain_sentence(refusal), refusal
        assert case.refused or case.either, f"refused: {refusal}"
        if case.refused:
            assert re.search(case.refused, refusal), refusal
        assert store.dataset(sid) == before  # the earlier data is still in use
        return
    assert not case.refused, f"loaded, but should be refused ({case.refused})"
    assert store.dataset(sid) == meta and meta["name"] != before["name"]
    frame = store.get_frame(meta["frame"])
    assert frame.shape[0] == meta["rows"] > 0 and frame.columns.is_unique
    assert all(_is_plain_sentence(note) for note in meta["notes"]), meta["notes"]
    if case.check:
        case.check(frame, meta)
    _explore(store, settings, sid, meta, upload)


def test_the_corpus_is_big_and_covers_both_outcomes() -> None:
    assert len(CORPUS) >= 40
    assert len({c.id for c in CORPUS}) == len(CORPUS)
    assert sum(1 for c in CORPUS if c.refused) >= 20
    assert sum(1 for c in CORPUS if c.check) >= 20


def test_an_upload_with_a_forged_session_is_refused_before_it_is_read(
    store, settings, monkeypatch
) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("read_table ran for a forged session")

    monkeypatch.setattr(services, "read_table", never)
    from app.server.store import SessionExpired

    with pytest.raises(SessionExpired):
        services.load_upload(
            store, settings, "../x", _upload("a.csv", VALID, "text/csv")
        )


@pytest.mark.parametrize("upload", [None, [], "text", 3, ["a.csv", "data:;base64,"]])
def test_an_upload_that_is_not_a_mapping_is_refused(
    store, settings, sid, upload
) -> None:
    with pytest.raises(DataLoadError, match="did not arrive complete"):
        services.load_upload(store, settings, sid, upload)


# --------------------------------------------------------------------------- #
# the bugs the corpus found, each pinned down on its own
# --------------------------------------------------------------------------- #


def test_the_distribution_of_dates_a_microsecond_apart_is_a_message(
    store, settings, sid
) -> None:
    """np.histogram cannot cut 40 bins out of one microsecond (it raised: a 500)."""
    content = _csv(["day", "n"], [["2024-01-01", i % 3] for i in range(30)])
    meta = services.load_upload(store, settings, sid, _upload("d.csv", content, "x"))
    figure = DataCallbacks(store, settings).distribution("day", meta["version"], sid)
    assert "cannot be drawn" in figure.layout.annotations[0].text


def test_training_on_an_infinite_target_is_a_message_not_a_crash(
    store, settings, sid
) -> None:
    """StratifiedKFold refused the inf classes with a ValueError (a 500)."""
    content = _csv(["x", "y"], [[i, "inf" if i % 2 else "-inf"] for i in range(40)])
    services.load_upload(store, settings, sid, _upload("inf.csv", content, "x"))
    status, rows, run_id, tab, *_ = TrainCallbacks(store, settings).train(
        lambda progress: None, 1, sid, "y", "classification", ["x"],
        "decision_tree", [], [], 0.25, False, 0, 2, None,
    )  # fmt: skip
    assert "could not be trained on this data" in repr(status)
    assert not isinstance(run_id, str)
