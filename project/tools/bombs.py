"""Decompression bombs, made at run time: small files that unpack to far more.

Used by the input-limit tests (``tests/test_input_limits.py``) and by the load
test's abuser (``tools/abuser.py``). Each is what an attacker could upload with
the app's own upload button.
"""

from __future__ import annotations

import functools
import io
import random
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

MB = 1024 * 1024
#: The file names of the load test's abuser's bombs (:func:`abuse_files`).
PARQUET_BOMB = "bomb.parquet"
XLSX_BOMB = "strings.xlsx"

SHARED_STRINGS = (
    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.'
    b'openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
)
SHARED_STRINGS_LINK = (
    b'<Relationship Id="rIdStrings" Type="http://schemas.openxmlformats.org/'
    b'officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
)


def parquet_bytes(table: pa.Table, **options: object) -> bytes:
    """``table`` written as a Parquet file (``options``: pyarrow's write_table)."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **options)
    return buffer.getvalue()


def repeated(value: str, rows: int, *, first: int = 0) -> pa.DictionaryArray:
    """``first`` rows of 'a', then ``value`` (never materialised here)."""
    indices = np.ones(rows, dtype=np.int32)
    indices[:first] = 0
    return pa.DictionaryArray.from_arrays(pa.array(indices), pa.array(["a", value]))


def parquet_bomb(*, arrow_schema: bool = True) -> bytes:
    """The attacker's file: 1,000,000 rows of one 1,000-character value, zstd.

    Dictionary encoding stores the value once, so the file is about 110 KB while
    the table takes about 1 GB. With ``arrow_schema`` the column is declared as a
    dictionary (pandas would make it categorical); without, as plain text.
    """
    rows = 1_000_000
    table = pa.table(
        {
            "text": repeated("x" * 1000, rows, first=0),
            "n": pa.array(np.arange(rows) % 7, pa.int8()),
        }
    )
    return parquet_bytes(table, compression="zstd", store_schema=arrow_schema)


def xlsx_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` written as an Excel workbook (openpyxl)."""
    buffer = io.BytesIO()
    frame.to_excel(buffer, engine="openpyxl", index=False)
    return buffer.getvalue()


@functools.lru_cache(maxsize=1)
def small_xlsx() -> bytes:
    """A real, small workbook: 30 rows of two columns."""
    return xlsx_bytes(pd.DataFrame({"a": range(30), "b": [i % 4 for i in range(30)]}))


def shared_strings_bomb(unpacked_mb: int = 380) -> bytes:
    """A real workbook of about 4 MB whose shared strings unpack to 380 MB.

    One shared string repeated, with a random tag every 48 entries, so that deflate
    packs it about 100-fold: under the 200-fold ratio the old check refused, and
    under its 400 MB limit (the old code spent over a minute and ~2 GB on it).
    """
    rng = random.Random(0)  # nosec B311 - a test file, not a secret
    entries, size = [], 0
    while size < MB:
        tag = f"{rng.randrange(100_000):05d}" if len(entries) % 48 == 0 else "00000"
        entries.append(f"<si><t>spreadsheet cell {tag}</t></si>")
        size += len(entries[-1])
    chunk = "".join(entries).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(small_xlsx())) as source, zipfile.ZipFile(
        buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1
    ) as book:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", SHARED_STRINGS + b"</Types>")
            elif info.filename == "xl/_rels/workbook.xml.rels":
                link = SHARED_STRINGS_LINK + b"</Relationships>"
                data = data.replace(b"</Relationships>", link)
            book.writestr(info.filename, data)
        with book.open("xl/sharedStrings.xml", "w", force_zip64=True) as member:
            member.write(
                b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.'
                b'openxmlformats.org/spreadsheetml/2006/main">'
            )
            written = 0
            while written < unpacked_mb * MB:
                written += member.write(chunk)
            member.write(b"</sst>")
    return buffer.getvalue()


def abuse_files(folder: Path | None = None) -> dict[str, bytes]:
    """The load test's bombs by file name (a few seconds of CPU); also written to
    ``folder`` when given."""
    files = {
        PARQUET_BOMB: parquet_bomb(),
        XLSX_BOMB: shared_strings_bomb(),
    }
    if folder is not None:
        for name, content in files.items():
            Path(folder, name).write_bytes(content)
    return files
