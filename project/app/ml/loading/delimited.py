"""Delimited text (CSV, TSV, semicolon- or pipe-separated): sniff, count, parse.

Every cell stays a string here; types are decided by the cleaning.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections import Counter
from typing import Any, Iterable, Iterator

import pandas as pd

from app.ml.loading.errors import DataLoadError
from app.ml.loading.limits import _Limits, _too_many_cells, _too_many_columns
from app.ml.loading.names import _split_header
from app.ml.loading.text import _SAMPLE_CHARS, _decode

_SNIFF_CHARS = 4 * 1024
_SNIFF_RECORDS = 200

_BAD_LINE_SHARE = 0.05


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
