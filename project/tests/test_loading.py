"""Tests for app.ml.loading: uploaded bytes to a clean table, or a clear refusal."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import zipfile
from dataclasses import FrozenInstanceError, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.ml import loading as _loading
from app.ml.loading import DataLoadError, LoadedTable, clean_frame, read_table

PROJECT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- #
# helpers building files in memory
# --------------------------------------------------------------------------- #


def _xlsx(frame: pd.DataFrame, **options: object) -> bytes:
    """An .xlsx workbook holding ``frame``, written by pandas with openpyxl."""
    buffer = io.BytesIO()
    frame.to_excel(buffer, engine="openpyxl", **options)
    return buffer.getvalue()


def _xlsx_sheets(sheets: dict[str, pd.DataFrame]) -> bytes:
    """An .xlsx workbook with one sheet per frame, in order."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
    return buffer.getvalue()


def _parquet(frame: pd.DataFrame, **options: object) -> bytes:
    """A Parquet file holding ``frame``."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow", **options)
    return buffer.getvalue()


def _zip(members: dict[str, bytes | int]) -> bytes:
    """A zip archive; an int member is that many zero bytes, written in chunks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            with archive.open(name, "w", force_zip64=True) as member:
                if isinstance(data, int):
                    chunk = bytes(1024 * 1024)
                    for start in range(0, data, len(chunk)):
                        member.write(chunk[: min(len(chunk), data - start)])
                else:
                    member.write(data)
    return buffer.getvalue()


def _dates(*values: str) -> pd.Series:
    """Parsed datetimes in the resolution pandas gives parsed strings."""
    return pd.Series(pd.to_datetime(list(values), format="ISO8601"))


TYPED = pd.DataFrame(
    {
        "city": ["Zürich", "café", None, "Lyon"],
        "count": [1, 2, 3, 4],
        "price": [1.5, np.nan, 2.25, 1e300],
        "when": pd.to_datetime(["2024-01-31", "2024-02-29", "2024-03-31", None]),
    }
)

ID_ROWS = 25
ID_FRAME = pd.DataFrame(
    {
        "code": [f"C{i:03d}" for i in range(ID_ROWS)],
        "customer_id": [1000 + 7 * i for i in range(ID_ROWS)],
        "position": list(range(1, ID_ROWS + 1))[::-1],
        "weight": [round(50 + 1.37 * i, 2) for i in range(ID_ROWS)],
        "group": ["a", "b", "c", "d", "e"] * 5,
        "amount": [3 * i * i for i in range(ID_ROWS)],
    }
)


# --------------------------------------------------------------------------- #
# messy files that load
# --------------------------------------------------------------------------- #


@dataclass
class Case:
    """A file, what it must load as, and what the notes must say."""

    id: str
    content: bytes
    filename: str
    expected: pd.DataFrame
    notes: tuple[str, ...] = ()
    exact_notes: bool = False  # the notes must be exactly ``notes`` (often none)
    ids: tuple[str, ...] = ()
    constants: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    check_dtype: bool = True


def _frame(**columns: object) -> pd.DataFrame:
    """A frame from keyword columns, in order."""
    return pd.DataFrame(columns)


CASES = [
    Case(
        "plain-csv",
        b"name,age,score\nAnn,34,1.5\nBob,28,2.25\nCid,45,3.0\n",
        "people.csv",
        _frame(name=["Ann", "Bob", "Cid"], age=[34, 28, 45], score=[1.5, 2.25, 3.0]),
        exact_notes=True,
    ),
    Case(
        "semicolon-decimal-comma",
        b"city;price;weight\nParis;1,5;1.234,56\nLyon;2,25;987,0\nNice;3;1,2e-05\n",
        "prices.csv",
        _frame(
            city=["Paris", "Lyon", "Nice"],
            price=[1.5, 2.25, 3.0],
            weight=[1234.56, 987.0, 1.2e-05],
        ),
        notes=(
            "Read the file as semicolon-separated text.",
            "'price' (decimal commas)",
            "'weight' (decimal commas)",
        ),
    ),
    Case(
        "semicolon-space-thousands",
        "x;label\n1 234;a\n5 678 901;b\n12;c\n".encode(),
        "big.csv",
        _frame(x=[1234, 5678901, 12], label=["a", "b", "c"]),
        notes=("'x' (thousands separators)",),
    ),
    Case(
        "tsv",
        b"a\tb\tc\n1\tx\t0,5\n2\ty\t1,25\n",
        "table.tsv",
        _frame(a=[1, 2], b=["x", "y"], c=[0.5, 1.25]),
        notes=("Read text as numbers in 'c' (decimal commas).",),
        exact_notes=True,  # no "tab-separated" note for a .tsv file
    ),
    Case(
        "pipe",
        b"a|b\n1|x\n2|y\n3|z\n",
        "export.txt",
        _frame(a=[1, 2, 3], b=["x", "y", "z"]),
        notes=("Read the file as pipe-separated text.",),
    ),
    Case(
        "utf8-bom",
        "\ufeffcity,n\nZürich,1\ncafé,2\n".encode("utf-8"),
        "bom.csv",
        _frame(city=["Zürich", "café"], n=[1, 2]),
        exact_notes=True,
    ),
    Case(
        "utf16-bom",
        "city\tn\nZürich\t1\ncafé\t2\n".encode("utf-16"),
        "excel-unicode.txt",
        _frame(city=["Zürich", "café"], n=[1, 2]),
        notes=("Read the file as UTF-16 text.", "tab-separated"),
    ),
    Case(
        "utf16-le-without-bom",
        "city,n\nZürich,1\ncafé,2\n".encode("utf-16-le"),
        "nobom.csv",
        _frame(city=["Zürich", "café"], n=[1, 2]),
        notes=("Read the file as UTF-16 text.",),
    ),
    Case(
        "utf16-be-without-bom",
        "city,n\nZürich,1\ncafé,2\n".encode("utf-16-be"),
        "nobom.csv",
        _frame(city=["Zürich", "café"], n=[1, 2]),
        notes=("Read the file as UTF-16 text.",),
    ),
    Case(
        "cp1252",
        "city,price\nZürich,€5\ncafé,€7\n".encode("cp1252"),
        "latin.csv",
        _frame(city=["Zürich", "café"], price=["€5", "€7"]),
        notes=("Windows-1252",),
    ),
    Case(
        "latin1-only",
        "city,n\nZürich,1\n".encode("latin-1") + b"x\x81y,2\n",
        "latin.csv",
        _frame(city=["Zürich", "x\x81y"], n=[1, 2]),
        notes=("Latin-1",),
    ),
    Case(
        "shift-jis",
        "都市,人口,備考\n東京,1400,首都です\n大阪,880,たこ焼きが有名\n"
        "名古屋,230,味噌カツ\n札幌,197,雪まつり\n".encode("shift_jis"),
        "japan.csv",
        _frame(
            **{
                "都市": ["東京", "大阪", "名古屋", "札幌"],
                "人口": [1400, 880, 230, 197],
                "備考": ["首都です", "たこ焼きが有名", "味噌カツ", "雪まつり"],
            }
        ),
        notes=("The file is not UTF-8; read it as Shift-JIS (Japanese) text.",),
        exact_notes=True,
    ),
    Case(
        "gbk",
        "城市,人口,备注\n北京,2189,首都\n上海,2487,经济中心\n广州,1868,美食之都\n"
        "深圳,1756,科技创新\n".encode("gbk"),
        "china.csv",
        _frame(
            **{
                "城市": ["北京", "上海", "广州", "深圳"],
                "人口": [2189, 2487, 1868, 1756],
                "备注": ["首都", "经济中心", "美食之都", "科技创新"],
            }
        ),
        notes=("The file is not UTF-8; read it as GBK (Simplified Chinese) text.",),
        exact_notes=True,
    ),
    Case(
        # A few accents on one line are too little to detect an encoding from
        # (charset_normalizer guesses Big5 here): read as Windows-1252, as before.
        "cp1252-one-short-row",
        "name,city,n\nSão,ação não,55\n".encode("cp1252"),
        "latin.csv",
        _frame(name=["São"], city=["ação não"], n=[55]),
        notes=("Windows-1252",),
    ),
    Case(
        "quoted-delimiters-and-newlines",
        b'name,comment,n\n"Smith, John","said ""hi""\nthen left",1\nAnn,plain,2\n',
        "quotes.csv",
        _frame(
            name=["Smith, John", "Ann"],
            comment=['said "hi"\nthen left', "plain"],
            n=[1, 2],
        ),
        exact_notes=True,
    ),
    Case(
        "crlf-line-endings",
        b"a,b\r\n1,x\r\n2,y\r\n",
        "windows.csv",
        _frame(a=[1, 2], b=["x", "y"]),
        exact_notes=True,
    ),
    Case(
        "quoted-thousands",
        b'item,amount,units\na,"1,234,567",1\nb,"2,500.75",2\nc,12,3\n',
        "money.csv",
        _frame(
            item=["a", "b", "c"], amount=[1234567.0, 2500.75, 12.0], units=[1, 2, 3]
        ),
        notes=("Read text as numbers in 'amount' (thousands separators).",),
    ),
    Case(
        "quoted-numbers",
        b"v,w\n'12',x\n'13',y\n",
        "q.csv",
        _frame(v=[12, 13], w=["x", "y"]),
        notes=("'v' (quotes)",),
    ),
    Case(
        "r-style-index",
        b'"","x","y"\n"1","a",1.5\n"2","b",2.5\n"3","c",3.5\n',
        "r.csv",
        _frame(x=["a", "b", "c"], y=[1.5, 2.5, 3.5]),
        notes=("Dropped the unnamed index column (row numbers 1 to 3).",),
        exact_notes=True,
    ),
    Case(
        "r-write-table-header-without-index-cell",
        b'"a","b"\n"1",5,x\n"2",7,y\n',
        "r.csv",
        _frame(a=[5, 7], b=["x", "y"]),
        notes=("Dropped the unnamed index column (row numbers 1 to 2).",),
    ),
    Case(
        "pandas-index",
        pd.DataFrame({"x": ["a", "b", "c"], "y": [1, 2, 3]}).to_csv().encode(),
        "pandas.csv",
        _frame(x=["a", "b", "c"], y=[1, 2, 3]),
        notes=("Dropped the unnamed index column (row numbers 0 to 2).",),
    ),
    Case(
        "unnamed-0-header",
        b"Unnamed: 0,x\n0,a\n1,b\n2,c\n",
        "resaved.csv",
        _frame(x=["a", "b", "c"]),
        notes=("Dropped the unnamed index column 'Unnamed: 0' (row numbers 0 to 2).",),
    ),
    Case(
        "unnamed-first-column-that-is-not-an-index",
        b",x\n5,a\n6,b\n7,c\n",
        "not-index.csv",
        _frame(column_1=[5, 6, 7], x=["a", "b", "c"]),
        notes=("Named 1 unnamed column: 'column_1'.",),
        exact_notes=True,
    ),
    Case(
        "na-markers",
        b"a,b,c,d\n1,NA,x,n/a\n2,5,-,null\n3,N/A,?,.\n4,7,ok, \n",
        "na.csv",
        _frame(
            a=[1, 2, 3, 4],
            b=[np.nan, 5.0, np.nan, 7.0],
            c=["x", np.nan, np.nan, "ok"],
            d=[np.nan, np.nan, np.nan, np.nan],
        ).drop(columns="d"),
        notes=(
            "Treated 7 'NA'/'N/A'/'-'/'?'/'n/a' cells as missing.",
            "Dropped 1 empty column: 'd'.",
        ),
        exact_notes=True,
    ),
    Case(
        "empty-columns-and-rows",
        b"a,b,c\n1,,x\n,,\n2,,y\n,,\n",
        "holes.csv",
        _frame(a=[1, 2], c=["x", "y"]),
        notes=("Dropped 1 empty column: 'b'.", "Dropped 2 empty rows."),
        exact_notes=True,
    ),
    Case(
        "trailing-delimiter",
        b"a,b\n1,2,\n3,4,\n",
        "trailing.csv",
        _frame(a=[1, 3], b=[2, 4]),
        notes=("Dropped 1 empty column: 'column_3'.",),
        exact_notes=True,
    ),
    Case(
        "duplicate-and-empty-names",
        b"a,a, b ,,a\n1,2,3,4,5\n6,7,8,9,10\n",
        "names.csv",
        pd.DataFrame(
            [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]],
            columns=["a", "a_2", "b", "column_4", "a_3"],
        ),
        notes=(
            "Named 1 unnamed column: 'column_4'.",
            "Renamed duplicate column names: 'a' → 'a_2', 'a' → 'a_3'.",
            "Trimmed spaces around 1 column name.",
        ),
    ),
    Case(
        "header-of-years-stays-a-header",
        b"2019,2020\n1,2\n3,4\n",
        "years.csv",
        pd.DataFrame({"2019": [1, 3], "2020": [2, 4]}),
        exact_notes=True,
    ),
    Case(
        "unknown-extension-with-text",
        b"a;b\n1;x\n2;y\n",
        "export.dat",
        _frame(a=[1, 2], b=["x", "y"]),
        notes=("Read the file as semicolon-separated text.",),
        exact_notes=True,
    ),
    Case(
        "no-extension-with-text",
        b"a,b\n1,x\n2,y\n",
        "export",
        _frame(a=[1, 2], b=["x", "y"]),
        exact_notes=True,
    ),
    Case(
        "header-of-numbers",
        b"1,2.5\n3,4.5\n",
        "noheader.csv",
        _frame(column_1=[1, 3], column_2=[2.5, 4.5]),
        notes=("The first row holds numbers rather than column names",),
    ),
    Case(
        "iso-dates",
        b"when,v\n2024-01-31,1\n2024-02-29 12:30,2\n2024-03-31,3\n",
        "dates.csv",
        pd.DataFrame(
            {
                "when": _dates("2024-01-31", "2024-02-29 12:30", "2024-03-31"),
                "v": [1, 2, 3],
            }
        ),
        notes=(
            "Parsed 'when' as dates (by default a model feature, as its year, "
            "month, day and day of week, and the split follows it in time).",
        ),
        dates=("when",),
    ),
    Case(
        "day-first-dates-with-a-stray-value",
        (
            "day\n" + "".join(f"{d:02d}/01/2024\n" for d in range(1, 31)) + "soon\n"
        ).encode(),
        "dmy.csv",
        pd.DataFrame(
            {"day": _dates(*(f"2024-01-{d:02d}" for d in range(1, 31)), "NaT")}
        ),
        notes=(
            "Parsed 'day' as dates",
            "In 'day', 1 value that is not a date was treated as missing.",
        ),
        dates=("day",),
        check_dtype=False,
    ),
    Case(
        "constant-column",
        b"a,k\n1,x\n2,x\n3,x\n",
        "const.csv",
        _frame(a=[1, 2, 3], k=["x", "x", "x"]),
        notes=("'k' has a single value; not used as a feature by default.",),
        constants=("k",),
    ),
    Case(
        "id-like-columns",
        ID_FRAME.to_csv(index=False).encode(),
        "customers.csv",
        ID_FRAME,
        notes=(
            "'code' looks like a row identifier (unique per row); not used as a "
            "feature by default",
            "'customer_id' looks like a row identifier",
            "'position' looks like a row identifier",
        ),
        ids=("code", "customer_id", "position"),
    ),
    Case(
        # Unique floats spanning exactly n whole numbers: still measurements.
        "unique-floats-are-not-ids",
        _frame(
            measurement=[(i * 7) % 30 + 0.25 for i in range(30)],
            label=[f"g{i % 3}" for i in range(30)],
        )
        .to_csv(index=False)
        .encode(),
        "measurements.csv",
        _frame(
            measurement=[(i * 7) % 30 + 0.25 for i in range(30)],
            label=[f"g{i % 3}" for i in range(30)],
        ),
        exact_notes=True,
    ),
    Case(
        "dates-at-the-top-only-stay-text",
        b"when\n" + b"2024-01-01\n" * 600 + b"soon\n" * 100,
        "dates.csv",
        _frame(when=["2024-01-01"] * 600 + ["soon"] * 100),
        exact_notes=True,
    ),
    Case(
        "mostly-but-not-95-percent-dates-stay-text",
        b"when\n" + b"2024-01-01\n" * 18 + b"soon\nlater\n",
        "dates.csv",
        _frame(when=["2024-01-01"] * 18 + ["soon", "later"]),
        exact_notes=True,
    ),
    Case(
        "leading-zero-codes-stay-text",
        b"zip,n\n01234,1\n12345,2\n",
        "zips.csv",
        _frame(zip=["01234", "12345"], n=[1, 2]),
        notes=("Kept 'zip' as text",),
    ),
    Case(
        "booleans-and-mixed-stay-text",
        b"flag,mixed,n\ntrue,1,1\nFALSE,2,2\nyes,abc,3\n",
        "text.csv",
        _frame(flag=["true", "FALSE", "yes"], mixed=["1", "2", "abc"], n=[1, 2, 3]),
        exact_notes=True,
    ),
    Case(
        "infinite-and-huge-numbers",
        b"v,w\ninf,1\n1e400,2\n-5,99999999999999999999999\n",
        "huge.csv",
        _frame(v=[np.inf, np.inf, -5.0], w=[1.0, 2.0, 1e23]),
        exact_notes=True,
    ),
    Case(
        "trimmed-text-values",
        b"city,n\nParis  ,1\nLyon ,2\n",
        "spaces.csv",
        _frame(city=["Paris", "Lyon"], n=[1, 2]),
        notes=("Trimmed spaces around the values of 'city'.",),
    ),
    Case(
        "a-few-long-rows-skipped",
        b"a,b\n" + b"1,2\n" * 30 + b"3,4,5\n" + b"6,7\n",
        "ragged.csv",
        _frame(a=[1] * 30 + [6], b=[2] * 30 + [7]),
        notes=("Skipped 1 row with more values than there are columns (line 32).",),
        constants=(),
    ),
    Case(
        "xlsx",
        _xlsx(TYPED, index=False),
        "book.xlsx",
        TYPED,
        notes=("'when' holds dates (by default a model feature",),
        dates=("when",),
        check_dtype=False,  # Excel stores datetimes at its own resolution
    ),
    Case(
        "xlsx-with-index-and-messy-cells",
        _xlsx(pd.DataFrame({"x": ["a", "n/a", "c"], "y": [1, "-", 3]})),
        "indexed.xlsx",
        _frame(x=["a", "c"], y=[1, 3]),
        notes=(
            "Dropped the unnamed index column (row numbers 0 to 2).",
            "Treated 2 'n/a'/'-' cells as missing.",
            "Dropped 1 empty row.",
        ),
        exact_notes=True,
    ),
    Case(
        "xlsx-first-sheet-empty",
        _xlsx_sheets({"Notes": pd.DataFrame(), "Data": pd.DataFrame({"a": [1, 2]})}),
        "sheets.xlsx",
        _frame(a=[1, 2]),
        notes=("The first sheet is empty; read sheet 'Data' instead.",),
        exact_notes=True,
    ),
    Case(
        "xlsx-several-sheets",
        _xlsx_sheets({"Main": pd.DataFrame({"a": [1, 2]}), "Other": TYPED}),
        "sheets.xlsx",
        _frame(a=[1, 2]),
        notes=("The workbook has 2 sheets; read the first one, 'Main'.",),
        exact_notes=True,
    ),
    Case(
        "xlsx-named-csv",
        _xlsx(pd.DataFrame({"x": [1, 2]}), index=False),
        "really-excel.csv",
        _frame(x=[1, 2]),
        notes=("The file is named .csv but is an Excel workbook; read it as one.",),
    ),
    Case(
        "parquet",
        _parquet(TYPED),
        "data.parquet",
        TYPED,
        notes=("'when' holds dates",),
        dates=("when",),
    ),
    Case(
        "parquet-with-named-index",
        _parquet(pd.DataFrame({"v": [1.5, 2.5]}, index=pd.Index([7, 9], name="key"))),
        "indexed.pq",
        _frame(key=[7, 9], v=[1.5, 2.5]),
        notes=("Turned the file's saved row index into ordinary columns.",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_messy_files_load_cleanly(case: Case) -> None:
    table = read_table(case.content, case.filename)

    assert isinstance(table, LoadedTable)
    assert table.name == case.filename
    pd.testing.assert_frame_equal(
        table.frame, case.expected, check_dtype=case.check_dtype
    )
    if case.exact_notes:
        assert table.notes == case.notes
    joined = "\n".join(table.notes)
    for expected in case.notes:
        assert expected in joined, f"{expected!r} not in notes {table.notes}"
    assert table.id_columns == case.ids
    assert table.constant_columns == case.constants
    assert table.date_columns == case.dates
    assert all(isinstance(n, str) for n in table.frame.columns)
    assert isinstance(table.frame.index, pd.RangeIndex)


def test_loaded_table_is_frozen() -> None:
    table = read_table(b"a\n1\n2\n", "x.csv")
    with pytest.raises(FrozenInstanceError):
        table.name = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------- #
# files that are refused, with a readable reason
# --------------------------------------------------------------------------- #

_XLSX = _xlsx(pd.DataFrame({"x": list(range(50))}), index=False)
_PARQUET = _parquet(pd.DataFrame({"x": list(range(50))}))


@dataclass
class Bad:
    """A file that must be refused, and a pattern its message must match."""

    id: str
    content: bytes
    filename: str
    match: str
    limits: dict[str, int] | None = None


BAD = [
    Bad("empty-bytes", b"", "x.csv", r"The file is empty \(it has 0 bytes\)\."),
    Bad("blank-lines-only", b"\n \n\t\n", "x.csv", r"The file is empty"),
    Bad("bom-only", b"\xef\xbb\xbf", "x.csv", r"The file is empty"),
    Bad("header-only", b"a,b,c\n", "x.csv", r"column names but no rows"),
    Bad(
        "header-only-xlsx",
        _xlsx(pd.DataFrame(columns=["a", "b"]), index=False),
        "x.xlsx",
        r"column names but no rows",
    ),
    Bad(
        "header-only-parquet",
        _parquet(pd.DataFrame({"a": pd.Series([], dtype=float)})),
        "x.parquet",
        r"column names but no rows",
    ),
    Bad("every-cell-empty", b"a,b\n,\n,\n", "x.csv", r"every cell is empty"),
    Bad(
        "over-max-bytes",
        b"a,b\n" + b"1,2\n" * 600_000,
        "big.csv",
        r"The file is 2\.3 MB, which is more than the 1 MB limit\.",
        {"max_bytes": 1024 * 1024},
    ),
    Bad(
        "over-a-tiny-max-bytes",
        b"a,b\n1,2\n" * 20,
        "x.csv",
        r"The file is 0\.0002 MB, which is more than the 0\.0001 MB limit\.",
        {"max_bytes": 100},
    ),
    Bad(
        "too-many-columns",
        b"a,b,c,d,e\n1,2,3,4,5\n",
        "x.csv",
        r"The file has 5 columns; the limit is 3\.",
        {"max_columns": 3},
    ),
    Bad(
        "too-many-columns-parquet",
        _parquet(pd.DataFrame({c: [1] for c in "abcde"})),
        "x.parquet",
        r"5 columns; the limit is 3",
        {"max_columns": 3},
    ),
    Bad(
        "too-many-rows",
        b"a\n" + b"1\n" * 10,
        "x.csv",
        r"more than 5 rows",
        {"max_rows": 5},
    ),
    Bad("too-many-rows-xlsx", _XLSX, "x.xlsx", r"more than 5 rows", {"max_rows": 5}),
    Bad(
        "too-many-rows-parquet",
        _PARQUET,
        "x.parquet",
        r"more than 5 rows",
        {"max_rows": 5},
    ),
    Bad(
        "binary-garbage-named-csv",
        bytes(range(256)) * 8,
        "x.csv",
        r"does not look like a text table.*binary data",
    ),
    Bad(
        "control-characters-named-csv",
        bytes(range(1, 32)) * 40,
        "x.csv",
        r"does not look like a text table",
    ),
    Bad(
        "png-named-csv",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10",
        "photo.csv",
        r"does not look like a text table.*a PNG image",
    ),
    Bad(
        "text-named-xlsx",
        b"a,b\n1,2\n",
        "x.xlsx",
        r"does not look like an Excel workbook.*a text file",
    ),
    Bad(
        "garbage-named-parquet",
        b"\x00\x01garbage" * 10,
        "x.parquet",
        r"does not look like a Parquet file",
    ),
    Bad(
        "truncated-parquet",
        _PARQUET[: len(_PARQUET) // 2],
        "x.parquet",
        r"Parquet file is damaged or incomplete",
    ),
    Bad(
        "parquet-that-unpacks-too-far",
        _parquet(pd.DataFrame({"a": np.zeros(200_000)})),
        "zeros.parquet",
        r"would unpack to about 1\.5 MB, more than the 1 MB",
        {"max_bytes": 50 * 1024},
    ),
    Bad(
        "empty-workbook",
        _xlsx_sheets({"A": pd.DataFrame(), "B": pd.DataFrame()}),
        "x.xlsx",
        r"The workbook has no data",
    ),
    Bad(
        "binary-with-unknown-extension",
        bytes(range(256)) * 4,
        "x.dat",
        r"does not look like a text table",
    ),
    Bad(
        "corrupt-zip-named-xlsx",
        b"PK\x03\x04" + bytes(range(200)),
        "x.xlsx",
        r"damaged or incomplete",
    ),
    Bad(
        "truncated-xlsx",
        _XLSX[: len(_XLSX) // 2],
        "x.xlsx",
        r"damaged or incomplete",
    ),
    Bad(
        "word-document-named-xlsx",
        _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}),
        "x.xlsx",
        r"does not look like an Excel workbook.*a Word document",
    ),
    Bad(
        "zip-bomb-by-ratio",
        _zip(
            {"[Content_Types].xml": b"<Types/>", "xl/worksheets/sheet1.xml": 16 << 20}
        ),
        "bomb.xlsx",
        r"compressed to an implausible degree",
    ),
    Bad(
        "zip-bomb-by-size",
        _zip({"[Content_Types].xml": b"<Types/>", "xl/worksheets/sheet1.xml": 3 << 20}),
        "bomb.xlsx",
        r"would unpack to 3 MB, more than the 1 MB",
        {"max_bytes": 50 * 1024},
    ),
    Bad(
        "xml-entities-in-xlsx",
        _zip(
            {
                "[Content_Types].xml": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a'
                b' "aaaa">]><Types/>',
                "xl/workbook.xml": b"<workbook/>",
            }
        ),
        "x.xlsx",
        r"unusual XML declarations",
    ),
    Bad(
        "legacy-xls",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100),
        "old.xls",
        r"legacy Excel \.xls.*Supported formats: CSV, TSV, Excel \(\.xlsx\) or Parquet",
    ),
    Bad("csv-named-xls", b"a,b\n1,2\n", "old.xls", r"legacy Excel \.xls"),
    Bad(
        "encrypted-office-file-named-xlsx",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100),
        "secret.xlsx",
        r"password-protected",
    ),
    Bad(
        "unsupported-extension",
        b'{"a": 1}',
        "data.json",
        r"Files of type \.json are not supported.*CSV, TSV, Excel \(\.xlsx\)",
    ),
    Bad(
        "unterminated-quote",
        b'a,b\n1,2\n3,"oops\n5,6\n7,8\n',
        "x.csv",
        r'quoted value starting near line 3 is never closed \(a closing " is missing',
    ),
    Bad(
        "most-rows-longer-than-the-header",
        b"a,b\n1,2,3\n4,5,6\n7,8,9\n10,11\n",
        "x.csv",
        r"3 of 4 rows have more values than there are column names \(line 2, 3, 4\)",
    ),
    Bad(
        "many-long-rows",
        b"a,b\n1,2\n3,4,5\n6,7,8\n9,10\n",
        "x.csv",
        r"2 of 4 rows have more values than there are column names",
    ),
]


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
def test_bad_files_are_refused_with_a_clear_message(bad: Bad) -> None:
    with pytest.raises(DataLoadError, match=bad.match) as caught:
        read_table(bad.content, bad.filename, **(bad.limits or {}))
    message = str(caught.value)
    assert message.endswith(".")
    for jargon in ("Traceback", "Error tokenizing", "pandas", "pyarrow", "openpyxl"):
        assert jargon not in message


def test_data_load_error_is_a_value_error() -> None:
    assert issubclass(DataLoadError, ValueError)


def test_unexpected_parser_failures_become_data_load_errors(monkeypatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("internal detail")

    monkeypatch.setattr(_loading.pd, "read_csv", broken)
    with pytest.raises(DataLoadError, match="could not be read as a table") as caught:
        read_table(b"a,b\n1,2\n", "x.csv")
    assert "internal detail" not in str(caught.value)


def test_memory_error_becomes_too_large(monkeypatch) -> None:
    def exhausted(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(_loading.pd, "read_csv", exhausted)
    with pytest.raises(DataLoadError, match="too large to process"):
        read_table(b"a,b\n1,2\n", "x.csv")


def test_keyboard_interrupt_is_not_swallowed(monkeypatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_loading.pd, "read_csv", interrupted)
    with pytest.raises(KeyboardInterrupt):
        read_table(b"a,b\n1,2\n", "x.csv")


# --------------------------------------------------------------------------- #
# clean_frame on frames that were never text (bundled datasets)
# --------------------------------------------------------------------------- #


def test_clean_frame_keeps_typed_columns_and_reports_roles() -> None:
    frame = pd.DataFrame(
        {
            "row_id": np.arange(100, 130),
            "x": np.linspace(0, 1, 30),
            "const": [7] * 30,
            "when": pd.date_range("2024-01-01", periods=30),
            "flag": [True, False] * 15,
            "mixed": [1, "n/a", 2.5] * 10,
            "cat": pd.Categorical(["u", "v", "NA"] * 10),
        }
    )
    before = frame.copy()

    cleaned, notes, roles = clean_frame(frame)

    pd.testing.assert_frame_equal(frame, before)  # input untouched
    assert roles == {"id": ("row_id",), "constant": ("const",), "date": ("when",)}
    assert cleaned["x"].dtype == np.float64
    assert cleaned["flag"].dtype == bool
    pd.testing.assert_series_equal(
        cleaned["mixed"], pd.Series([1.0, np.nan, 2.5] * 10, name="mixed")
    )
    pd.testing.assert_series_equal(
        cleaned["cat"], pd.Series(["u", "v", np.nan] * 10, name="cat")
    )
    assert notes == [
        "Treated 20 'n/a'/'NA' cells as missing.",
        "'when' holds dates (by default a model feature, as its year, month, day "
        "and day of week, and the split follows it in time).",
        "'const' has a single value; not used as a feature by default.",
        "'row_id' looks like a row identifier (unique per row); not used as a "
        "feature by default, because it would leak row identity into the model.",
    ]


def test_clean_frame_without_changes_has_no_notes() -> None:
    frame = pd.DataFrame({"a": [1.5, 2.5, 3.5], "b": ["x", "y", "z"]})
    cleaned, notes, roles = clean_frame(frame)
    pd.testing.assert_frame_equal(cleaned, frame)
    assert notes == []
    assert roles == {"id": (), "constant": (), "date": ()}


def test_clean_frame_names_non_string_and_multiindex_columns() -> None:
    frame = pd.DataFrame([[1, 2, 3]], columns=[0, 1, 2])
    frame.columns = pd.MultiIndex.from_tuples([("a", "x"), ("a", "y"), ("b", "")])
    cleaned, _, _ = clean_frame(frame)
    assert list(cleaned.columns) == ["a_x", "a_y", "b"]
    cleaned, _, _ = clean_frame(pd.DataFrame([[1, 2]], columns=[0, 1]))
    assert list(cleaned.columns) == ["0", "1"]


def test_clean_frame_reads_decimal_commas_only_when_unambiguous() -> None:
    frame = pd.DataFrame({"a": ["1,5", "2,25"], "b": ["1,234", "5,678"]}, dtype="str")
    cleaned, notes, _ = clean_frame(frame)
    assert cleaned["a"].tolist() == [1.5, 2.25]
    assert cleaned["b"].tolist() == [1234, 5678]  # thousands unless told otherwise
    assert notes == [
        "Read text as numbers in 'a' (decimal commas), 'b' (thousands separators)."
    ]


_BINARY = (
    "This file does not look like a text table (CSV or TSV); it looks like binary "
    "data. Supported formats: CSV, TSV, Excel (.xlsx) or Parquet."
)


@pytest.mark.parametrize(
    "content",
    [
        bytes(range(256)) * 8,
        # No NUL byte to give it away: random bytes 1-255.
        bytes(np.random.default_rng(7).integers(1, 256, 4096, dtype=np.uint8)),
    ],
    ids=["with-nul-bytes", "without-nul-bytes"],
)
def test_binary_data_is_refused_as_before_encodings_were_detected(
    content: bytes,
) -> None:
    with pytest.raises(DataLoadError) as caught:
        read_table(content, "data.csv")
    assert str(caught.value) == _BINARY


def test_encoding_detection_reads_a_bounded_sample(monkeypatch) -> None:
    import charset_normalizer

    row = "東京,1400,首都です\n".encode("shift_jis")
    content = "都市,人口,備考\n".encode("shift_jis") + row * (3_000_000 // len(row))
    samples: list[int] = []
    original = charset_normalizer.from_bytes

    def spy(sample: bytes, *args: object, **kwargs: object) -> object:
        samples.append(len(sample))
        assert sample.endswith(b"\n")  # cut between characters, not inside one
        return original(sample, *args, **kwargs)

    monkeypatch.setattr(charset_normalizer, "from_bytes", spy)
    table = read_table(content, "big.csv")
    assert len(samples) == 1 and samples[0] <= _loading.text._DETECT_BYTES
    assert table.frame.shape == (len(content) // len(row), 3)
    assert table.frame["備考"].iloc[-1] == "首都です"  # the whole file, decoded


def test_comma_separated_files_never_read_commas_as_decimal_marks() -> None:
    table = read_table(b'a,b\n"1,5",x\n"2,5",y\n', "x.csv")
    assert table.frame["a"].tolist() == ["1,5", "2,5"]


def test_importing_the_module_stays_cheap() -> None:
    code = (
        "import sys; import app.ml.loading; "
        "print(sorted(m for m in ('dash', 'plotly', 'flask', 'openpyxl', "
        "'pyarrow.parquet', 'sklearn') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------- #
# property: any bytes either load or are refused politely
# --------------------------------------------------------------------------- #

_CSV_ALPHABET = st.sampled_from(list('ab1.5,;\t|"\n\r -NA/é€\x00'))
_CELL = st.one_of(
    st.sampled_from(["", "NA", "-", "?", "null", " ", "true", "0", "007", "1,5"]),
    st.sampled_from(['"1,234"', "1.234,5", "2024-01-31", "31/01/2024", "inf"]),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True).map(str),
    st.text(alphabet=_CSV_ALPHABET, max_size=8),
)
_TABLES = st.tuples(
    st.sampled_from([",", ";", "\t", "|"]),
    st.lists(st.lists(_CELL, min_size=1, max_size=6), min_size=1, max_size=60),
).map(lambda t: "\n".join(t[0].join(row) for row in t[1]).encode("utf-8"))
_ANY_UPLOAD = st.one_of(
    _TABLES,
    st.binary(max_size=3000),
    st.text(max_size=2000).map(lambda t: t.encode("utf-8")),
    st.text(alphabet=_CSV_ALPHABET, max_size=2000).map(lambda t: t.encode("utf-8")),
    st.text(alphabet=_CSV_ALPHABET, max_size=500).map(lambda t: t.encode("utf-16")),
)


class _Records(logging.Handler):
    """Collects log records."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=_ANY_UPLOAD)
def test_any_bytes_load_or_raise_data_load_error(content: bytes) -> None:
    max_rows = 40
    handler = _Records()
    _loading._LOG.addHandler(handler)
    try:
        table = read_table(content, "upload.csv", max_rows=max_rows)
    except DataLoadError as exc:
        assert str(exc).strip()
    else:
        assert isinstance(table.frame, pd.DataFrame)
        assert 0 < len(table.frame) <= max_rows
        assert table.frame.shape[1] > 0
        assert table.frame.columns.is_unique
    finally:
        _loading._LOG.removeHandler(handler)
    # No failure went through the catch-all for unforeseen parser errors.
    assert handler.records == []
