"""Column names: the header row, unnamed and duplicate names, quoting names in notes."""

from __future__ import annotations

import math
import re
from typing import Any, Iterable

import pandas as pd

_UNNAMED = re.compile(r"^Unnamed: \d+(?:_level_\d+)?$")

_YEARS = range(1900, 2101)


def _split_header(
    body: pd.DataFrame, header: list[Any]
) -> tuple[pd.DataFrame, list[str]]:
    """Use the header as column names, unless it is clearly a row of numbers."""
    names = ["" if _is_missing(v) else _header_text(v) for v in header]
    body = body.reset_index(drop=True)
    if _looks_like_data(names):
        first = pd.DataFrame([list(header)], columns=body.columns)
        body = pd.concat([first, body], ignore_index=True)
        body.columns = [f"column_{i + 1}" for i in range(body.shape[1])]
        last = body.shape[1]
        return body, [
            "The first row holds numbers rather than column names; named the "
            f"columns column_1 to column_{last}."
        ]
    body.columns = names
    return body, []


def _header_text(value: Any) -> str:
    """A header cell as text; whole floats lose their '.0'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _looks_like_data(names: list[str]) -> bool:
    """Whether a header row is really a row of numbers (not years)."""
    numbers = []
    for name in names:
        try:
            numbers.append(float(name.strip().replace("_", "x")))
        except ValueError:
            return False
        if not math.isfinite(numbers[-1]):
            return False
    whole_years = all(n.is_integer() and int(n) in _YEARS for n in numbers)
    return bool(numbers) and not whole_years


def _is_missing(value: Any) -> bool:
    """None, NaN or NaT."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _flat_name(label: Any) -> str:
    """A column label as one string ('' when missing)."""
    if isinstance(label, tuple):
        parts = [
            _flat_name(p)
            for p in label
            if not _is_missing(p) and not _UNNAMED.match(str(p).strip())
        ]
        return "_".join(p for p in parts if p.strip())
    if label is None or _is_missing(label):
        return ""
    return str(label)


def _fix_names(
    raw: list[str], positions: list[int]
) -> tuple[list[str], list[str], list[tuple[str, str]], int]:
    """Give every kept column a unique, non-empty, trimmed name."""
    named: list[str] = []
    trimmed = 0
    base: list[str] = []
    for p in positions:
        name = raw[p].strip()
        if name != raw[p] and name:
            trimmed += 1
        if not name or _UNNAMED.match(name):
            name = f"column_{p + 1}"
            named.append(name)
        base.append(name)
    taken = set(base)
    seen: set[str] = set()
    renamed: list[tuple[str, str]] = []
    names: list[str] = []
    for name in base:
        if name in seen:
            k = 2
            while f"{name}_{k}" in taken:
                k += 1
            renamed.append((name, f"{name}_{k}"))
            taken.add(f"{name}_{k}")
            name = f"{name}_{k}"
        seen.add(name)
        names.append(name)
    return names, named, renamed, trimmed


def _name_notes(
    named: list[str], renamed: list[tuple[str, str]], trimmed: int
) -> list[str]:
    """Notes about column names."""
    notes = []
    if named:
        noun = "column" if len(named) == 1 else "columns"
        notes.append(f"Named {len(named)} unnamed {noun}: {_quote(named)}.")
    if renamed:
        pairs = ", ".join(f"'{old}' → '{new}'" for old, new in renamed[:6])
        more = f" and {len(renamed) - 6} more" if len(renamed) > 6 else ""
        notes.append(f"Renamed duplicate column names: {pairs}{more}.")
    if trimmed:
        noun = "name" if trimmed == 1 else "names"
        notes.append(f"Trimmed spaces around {trimmed} column {noun}.")
    return notes


def _quote(names: Iterable[str], limit: int = 8) -> str:
    """'a', 'b' and 3 more."""
    names = list(names)
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    if len(names) > limit:
        shown += f" and {len(names) - limit} more"
    return shown
