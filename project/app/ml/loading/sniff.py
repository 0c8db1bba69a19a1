"""What a file is, from its name and its first bytes."""

from __future__ import annotations

import io
import zipfile

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


def _extension(name: str) -> str:
    """The lower-case extension of a file name, with its dot, or ''."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if "." not in base.strip("."):
        return ""
    return "." + base.rsplit(".", 1)[-1].strip().lower()


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
