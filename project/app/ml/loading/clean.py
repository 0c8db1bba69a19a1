"""Cleaning a parsed table: types, missing values, column roles, and the notes.

Text columns become numbers, dates or booleans (yes/no answers) when their
values agree; NA markers become missing; empty rows and columns are dropped;
ID-like (and nearly unique text), constant and date columns are reported. Each
change is described in a short note for the visitor.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from app.ml.loading.names import _fix_names, _flat_name, _name_notes, _quote

# Cells that an analyst reads as "no value" (compared after stripping spaces).
_NA_MARKERS = frozenset(
    {"", "NA", "N/A", "n/a", "na", "NaN", "nan", "null", "NULL", "None"}
    | {"-", "?", "#N/A", "."}
)

_ID_NAME = re.compile(
    r"^(?:.*[_\-\s.])?(?:id|ids|uuid|guid|key|index|idx|row|rowid|row_?no"
    r"|row_?num(?:ber)?|record|record_?id)$"
    r"|^(?:user|customer|client|order|account|product|item|patient|employee"
    r"|transaction|session|member|person|case|subject|sample|invoice)id$",
    re.IGNORECASE,
)
_CAMEL_ID = re.compile(r"^.*[a-z0-9](?:Id|ID)$")

# Numbers written with separators, tried only on values that plain parsing rejects.
# Plain strings, not compiled patterns, so that pandas can run them in pyarrow (RE2):
# no backreferences, no \\s, non-ASCII spaces written as the characters themselves.
_SPACES = " \u00a0\u202f"  # space, no-break space, narrow no-break space
_APOSTROPHES = "'\u2019"
_PLAIN_NUMBER = (
    r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:[iI]nf(?:inity)?|INF)"
)
_NUMBER_CHARS = "[^0-9.,eE+" + _SPACES + _APOSTROPHES + "-]"
_THOUSANDS = (
    r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?:[" + _SPACES + r"]\d{3})+"
    r"|\d{1,3}(?:[" + _APOSTROPHES + r"]\d{3})+)(?:\.\d+)?"
)
_DECIMAL_COMMA = (
    r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d{1,3}(?:[" + _SPACES + r"]\d{3})+|\d+)"
    r"(?:,\d+)?(?:[eE][+-]?\d+)?"
)
_THOUSANDS_DOT = r"[+-]?\d{1,3}(?:\.\d{3})+"
_LEADING_ZERO = r"[+-]?0\d"

_QUOTED = re.compile(r"""^(["'])(.*)\1$""", re.DOTALL)

# Explicit date formats, tried in order (no per-element guessing).
_DATE_FORMATS = (
    "ISO8601",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%d-%m-%Y",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
)

_DETECT_SAMPLE = 500
_MIN_ID_ROWS = 20
_UNIQUE_HEAD = 10_000  # values checked for repeats before a whole text column
# Text with at least this share of distinct values (percent of the values
# present, at least _MIN_ID_ROWS of them) is identifier-like: titles, names.
_NEARLY_UNIQUE_PERCENT = 90

# Answers read as booleans: a text column whose values, trimmed and lower-cased,
# are exactly two words, one of each set.
_TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
_FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})
_ANSWER_LENGTH = max(len(w) for w in _TRUE_WORDS | _FALSE_WORDS)

_DATE_SHARE = 0.95


def clean_frame(
    frame: pd.DataFrame,
) -> tuple[pd.DataFrame, list[str], dict[str, tuple[str, ...]]]:
    """Clean an already-parsed frame the way a careful analyst would.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table as parsed; not modified.

    Returns
    -------
    frame : pandas.DataFrame
        The cleaned copy.
    notes : list of str
        Short sentences saying what was done (none when nothing was).
    roles : dict
        Column names under ``"id"`` (identifiers, and nearly unique text),
        ``"constant"`` and ``"date"``.
    """
    return _clean(frame, decimal_comma=None)


@dataclass
class _Column:
    """One column on its way through cleaning."""

    name: str
    values: pd.Series
    text: bool = False  # still text awaiting type detection
    trimmed: bool = False
    how: str | None = None  # how numbers were read when the text needed cleaning
    markers: pd.Series | None = None  # the NA markers found, by row


def _clean(
    frame: pd.DataFrame, *, decimal_comma: bool | None
) -> tuple[pd.DataFrame, list[str], dict[str, tuple[str, ...]]]:
    """clean_frame, with a hint on whether commas can be decimal marks.

    ``decimal_comma`` is True for semicolon- and tab-separated text (a comma is
    then preferably a decimal mark), False for comma-separated text (never a
    decimal mark) and None otherwise (a decimal mark only when unambiguous).
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError("clean_frame expects a pandas DataFrame")
    notes: list[str] = []
    raw_names = [_flat_name(c) for c in frame.columns]
    series = [frame.iloc[:, i].reset_index(drop=True) for i in range(frame.shape[1])]
    del frame  # if the caller let go of it too, raw columns are freed once prepared

    positions = list(range(len(series)))
    dropped_index = _leading_row_numbers(raw_names, series)
    if dropped_index is not None:
        first, last = dropped_index
        label = raw_names[0].strip()
        label = f" '{label}'" if label else ""
        notes.append(
            f"Dropped the unnamed index column{label} (row numbers {first} to {last})."
        )
        positions = positions[1:]

    names, named, renamed, trimmed = _fix_names(raw_names, positions)
    columns = [_Column(name, series[p]) for name, p in zip(names, positions)]
    del series

    for column in columns:
        _prepare(column)

    prepared = columns
    empty = [c.name for c in columns if not c.values.notna().any()]
    columns = [c for c in columns if c.values.notna().any()]
    row_mask = None
    if columns:
        present = np.zeros(len(columns[0].values), dtype=bool)
        for column in columns:
            present |= column.values.notna().to_numpy()
        if not present.all():
            row_mask = present
    empty_rows = 0 if row_mask is None else int((~row_mask).sum())
    missing_counts = _count_markers(prepared, set(empty), row_mask)
    for column in columns:
        if row_mask is not None:
            column.values = column.values[row_mask].reset_index(drop=True)
        if column.text:
            _detect_type(column, decimal_comma)

    kept = {c.name for c in columns}
    notes += _name_notes(
        [n for n in named if n in kept],
        [(old, new) for old, new in renamed if new in kept],
        trimmed,
    )
    trimmed_values = [c.name for c in columns if c.trimmed and _is_text(c.values)]
    if trimmed_values:
        notes.append(f"Trimmed spaces around the values of {_quote(trimmed_values)}.")
    if missing_counts:
        total = sum(missing_counts.values())
        markers = "/".join(
            "empty" if m == "" else f"'{m}'" for m, _ in missing_counts.most_common(5)
        )
        cells = "cell" if total == 1 else "cells"
        notes.append(f"Treated {total:,} {markers} {cells} as missing.")
    if empty:
        noun = "column" if len(empty) == 1 else "columns"
        notes.append(f"Dropped {len(empty)} empty {noun}: {_quote(empty)}.")
    if empty_rows:
        noun = "row" if empty_rows == 1 else "rows"
        notes.append(f"Dropped {empty_rows:,} empty {noun}.")
    notes += _conversion_notes(columns)

    result = pd.DataFrame(
        {c.name: c.values for c in columns},
        index=pd.RangeIndex(len(columns[0].values) if columns else 0),
        copy=False,
    )
    roles, nearly = _roles(result)
    parsed = {c.name for c in columns if c.how and c.how.startswith("dates:")}
    notes += _role_notes(roles, parsed, nearly)
    return result, notes, roles


def _count_markers(
    columns: list[_Column], empty: set[str], row_mask: np.ndarray | None
) -> Counter[str]:
    """NA markers found, except blank cells of the rows and columns dropped."""
    counts: Counter[str] = Counter()
    for column in columns:
        markers = column.markers
        if markers is None:
            continue
        blank = markers.eq("").to_numpy()
        if column.name in empty:
            markers = markers[~blank]
        elif row_mask is not None:
            markers = markers[~blank | row_mask[markers.index.to_numpy()]]
        counts.update(markers.value_counts().to_dict())
    return counts


def _leading_row_numbers(
    names: list[str], series: list[pd.Series]
) -> tuple[int, int] | None:
    """(first, last) when the first column is an unnamed 0..n-1 or 1..n index."""
    if len(series) < 2:
        return None
    name = names[0].strip()
    if name and not re.fullmatch(r"Unnamed: 0(?:_level_0)?", name):
        return None
    values = series[0]
    if len(values) == 0 or values.isna().any():
        return None
    if pd.api.types.is_bool_dtype(values.dtype):
        return None
    if pd.api.types.is_integer_dtype(values.dtype):
        numbers = values.to_numpy(dtype=np.int64)
    elif pd.api.types.is_float_dtype(values.dtype):
        floats = values.to_numpy(dtype=float)
        if not np.all(np.isfinite(floats)) or not np.all(floats == np.round(floats)):
            return None
        numbers = floats.astype(np.int64)
    elif _is_text(values) or values.dtype == object:
        text = values.astype("str").str.strip()
        parsed = _fast_numbers(text)
        if parsed is None:
            parsed = pd.to_numeric(text, errors="coerce")
        if not pd.api.types.is_integer_dtype(parsed.dtype):
            return None
        numbers = parsed.to_numpy(dtype=np.int64)
    else:
        return None
    start = int(numbers[0])
    if start not in (0, 1):
        return None
    if not np.array_equal(numbers, np.arange(start, start + len(numbers))):
        return None
    return start, start + len(numbers) - 1


def _is_text(values: pd.Series) -> bool:
    """Whether a column holds strings (pandas' str dtype)."""
    return isinstance(values.dtype, pd.StringDtype)


def _prepare(column: _Column) -> None:
    """Normalise a column: text is trimmed, NA markers become missing."""
    values = column.values
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(values.cat.categories.dtype)
    if values.dtype == object:
        values = values.infer_objects()
        if values.dtype == object:
            values = values.astype("str")
    if not _is_text(values):
        column.values = values
        return
    fast = _fast_numbers(values)
    if fast is not None:
        column.values = fast
        return
    column.trimmed = _has_spaces_around(values)
    stripped = values.str.strip() if column.trimmed else values
    short = stripped.str.len().le(4).to_numpy(dtype=bool, na_value=False)
    candidates = stripped[short]
    found = candidates[candidates.isin(_NA_MARKERS)]
    if len(found):
        column.markers = found
        missing = np.zeros(len(stripped), dtype=bool)
        missing[stripped.index.get_indexer(found.index)] = True
        stripped = stripped.mask(missing)
    column.values = stripped
    column.text = True


def _has_spaces_around(values: pd.Series) -> bool:
    """Whether some text value starts or ends with white space.

    Text held by pyarrow is checked a chunk at a time, so that a column that
    needs no trimming is never copied whole.
    """
    if getattr(values.dtype, "storage", None) == "pyarrow":
        import pyarrow.compute as pc

        for chunk in values.array.__arrow_array__().chunks:
            trimmed = pc.utf8_trim_whitespace(chunk)
            if pc.any(pc.not_equal(trimmed, chunk)).as_py():
                return True
        return False
    changed = values.str.strip().ne(values) & values.notna()
    return bool(changed.any())


def _fast_numbers(values: pd.Series) -> pd.Series | None:
    """Plain numeric text converted exactly by pyarrow, or None if not that simple."""
    if getattr(values.dtype, "storage", None) != "pyarrow" or values.isna().any():
        return None
    try:
        import pyarrow as pa
        import pyarrow.compute as pc

        array = values.array.__arrow_array__()
    except Exception:
        return None
    head = array.slice(0, _DETECT_SAMPLE)
    # A failed cast of a whole column is slow: try the first values first.
    numbers = None
    if _cast(head, pa.int64(), pc) is not None:
        numbers = _cast(array, pa.int64(), pc)
    if numbers is not None:
        integers = numbers.to_numpy()
        if _int_text_is_unusual(array, integers, pc):
            return None
        return pd.Series(integers, index=values.index, dtype=np.int64)
    if _cast(head, pa.float64(), pc) is None:
        return None
    cast = _cast(array, pa.float64(), pc)
    if cast is None:
        return None
    floats = cast.to_numpy()
    if np.isnan(floats).any():
        return None
    return pd.Series(floats, index=values.index, dtype=np.float64)


def _cast(array: Any, kind: Any, pc: Any) -> Any:
    """pyarrow's exact cast, or None when some value does not convert."""
    try:
        return pc.cast(array, kind)
    except Exception:
        return None


def _int_text_is_unusual(array: Any, numbers: np.ndarray, pc: Any) -> bool:
    """Whether integer text has leading zeros or a prefix ('007', '0x1f', '-0')."""
    lengths = pc.utf8_length(array)
    prefixes = [("0", 1)] + ([("-0", 2)] if len(numbers) and numbers.min() <= 0 else [])
    for prefix, size in prefixes:
        found = pc.and_(pc.starts_with(array, prefix), pc.greater(lengths, size))
        if pc.any(found).as_py():
            return True
    return False


def _detect_type(column: _Column, decimal_comma: bool | None) -> None:
    """Turn a text column into numbers, dates or booleans when all (or most)
    values agree."""
    values = column.values
    present = values.dropna()
    if present.empty:
        return
    sample = present.iloc[:_DETECT_SAMPLE]
    if _to_numbers(sample, decimal_comma) is not None:
        found = _to_numbers(present, decimal_comma)
        if found is not None:
            numbers, how = found
            if how == "leading zeros":
                column.how = how
                return
            if not values.isna().any() and numbers.dtype.kind in "iu":
                if numbers.dtype.kind == "i" or numbers.max() <= np.iinfo(np.int64).max:
                    column.values = numbers.astype(np.int64)
                    column.text, column.how = False, how
                    return
            full = pd.Series(np.nan, index=values.index, dtype=np.float64)
            full[present.index] = numbers.astype(np.float64)
            column.values, column.text, column.how = full, False, how
            return
    answers = _answers(present)
    if answers is not None:
        flags, spelling = answers
        if values.isna().any():
            full = pd.Series(pd.NA, index=values.index, dtype="boolean")
            full[present.index] = flags
        else:
            full = pd.Series(flags, index=values.index, dtype=bool)
        column.values, column.text, column.how = full, False, f"answers:{spelling}"
        return
    date_format = _date_format(sample)
    if date_format is not None:
        dates = _to_dates(present, date_format)
        if dates is not None and dates.notna().mean() >= _DATE_SHARE:
            full = pd.Series(pd.NaT, index=values.index, dtype=dates.dtype)
            full[present.index] = dates
            column.values, column.text = full, False
            column.how = f"dates:{int(dates.isna().sum())}"


def _to_numbers(
    values: pd.Series, decimal_comma: bool | None
) -> tuple[pd.Series, str | None] | None:
    """All values as numbers, with how the text was cleaned, or None.

    Returns ``(numbers, "leading zeros")`` when they are numbers written as codes.
    """
    text, quoted = _unquote(values)
    how: str | None = "quotes" if quoted else None
    plain = text.str.fullmatch(_PLAIN_NUMBER).to_numpy(dtype=bool)
    if not plain.all():
        bad = text[~plain]
        if bad.iloc[:_DETECT_SAMPLE].str.contains(_NUMBER_CHARS, regex=True).any():
            return None
        modes = {True: ("comma", "thousands"), None: ("thousands", "comma")}
        for mode in modes.get(decimal_comma, ("thousands",)):
            pattern = _DECIMAL_COMMA if mode == "comma" else _THOUSANDS
            if bad.str.fullmatch(pattern).all():
                break
        else:
            return None
        if mode == "comma":
            dotted = text.str.fullmatch(_THOUSANDS_DOT).to_numpy(dtype=bool)
            change = ~plain | dotted
            fixed = _remove(text, "." + _SPACES).str.replace(",", ".", regex=False)
            text = text.where(~change, fixed)
            commas = bool(bad.str.contains(",", regex=False).any())
            how = "decimal commas" if commas else "thousands separators"
        else:
            text = _remove(text, "," + _SPACES + _APOSTROPHES)
            how = "thousands separators"
    numbers = _fast_numbers(text)
    if numbers is None:
        numbers = pd.to_numeric(text, errors="coerce")
    if numbers.isna().any():
        return None
    if text.str.match(_LEADING_ZERO).any():
        return numbers, "leading zeros"
    return numbers, how


def _answers(present: pd.Series) -> tuple[np.ndarray, str] | None:
    """Yes/no-like text (none missing) as booleans, and how it is spelt
    (``"Yes/No"``: the most frequent spelling of each answer), or None.

    The values, lower-cased, must be exactly two words: one of true/t/yes/y/1
    and one of false/f/no/n/0. The first values are checked first.
    """
    sample = present.iloc[:_DETECT_SAMPLE]
    if not sample.str.len().le(_ANSWER_LENGTH).all():
        return None
    if not set(sample.str.lower().unique()) <= _TRUE_WORDS | _FALSE_WORDS:
        return None
    lower = present.str.lower()
    words = set(lower.unique())
    yes, no = words & _TRUE_WORDS, words & _FALSE_WORDS
    if len(words) != 2 or len(yes) != 1 or len(no) != 1:
        return None
    flags = lower.eq(yes.pop()).to_numpy(dtype=bool)
    return flags, f"{_spelling(present[flags])}/{_spelling(present[~flags])}"


def _spelling(values: pd.Series) -> str:
    """The most frequent of the values (the first seen among equals)."""
    counts = values.value_counts(sort=False)
    return str(counts.index[int(np.argmax(counts.to_numpy()))])


def _unquote(values: pd.Series) -> tuple[pd.Series, bool]:
    """Values without surrounding quotes ('12' or "12"), and whether any had them."""
    quoted = values.str.startswith(("'", '"')).to_numpy(dtype=bool)
    if not quoted.any():
        return values, False
    inner = values[quoted].str.replace(_QUOTED, r"\2", regex=True).str.strip()
    changed = bool(inner.ne(values[quoted]).any())
    return values.where(~quoted, inner), changed


def _remove(values: pd.Series, characters: str) -> pd.Series:
    """Values without any of the characters (plain replaces, which pyarrow runs)."""
    for character in characters:
        if values.str.contains(character, regex=False).any():
            values = values.str.replace(character, "", regex=False)
    return values


def _date_format(sample: pd.Series) -> str | None:
    """The explicit format that parses the most sample values, if nearly all."""
    if sample.str.contains(r"\d", regex=True).mean() < _DATE_SHARE:
        return None
    best, best_share = None, 0.0
    for date_format in _DATE_FORMATS:
        parsed = _to_dates(sample, date_format)
        if parsed is None:
            continue
        share = float(parsed.notna().mean())
        if share > best_share:
            best, best_share = date_format, share
        if share == 1.0:
            break
    return best if best_share >= _DATE_SHARE else None


def _to_dates(values: pd.Series, date_format: str) -> pd.Series | None:
    """Values parsed with one format (unparseable ones missing), or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.to_datetime(values, format=date_format, errors="coerce")
    except (ValueError, TypeError, OverflowError):
        return None


def _conversion_notes(columns: list[_Column]) -> list[str]:
    """Notes about text that became numbers or dates, or stayed text on purpose."""
    notes = []
    cleaned = [
        f"'{c.name}' ({c.how})"
        for c in columns
        if c.how in ("quotes", "thousands separators", "decimal commas")
    ]
    if cleaned:
        notes.append(f"Read text as numbers in {', '.join(cleaned)}.")
    answers = [
        f"'{c.name}' ({c.how.split(':', 1)[1]})"
        for c in columns
        if c.how and c.how.startswith("answers:")
    ]
    if answers:
        notes.append(f"Read {', '.join(answers)} as true/false answers.")
    codes = [c.name for c in columns if c.how == "leading zeros"]
    if codes:
        verb = "has" if len(codes) == 1 else "have"
        notes.append(
            f"Kept {_quote(codes)} as text: {verb} numbers with leading zeros, "
            "which look like codes rather than quantities."
        )
    parsed = [c for c in columns if c.how and c.how.startswith("dates:")]
    if parsed:
        names = _quote([c.name for c in parsed])
        in_use = sum(
            pd.api.types.is_datetime64_any_dtype(c.values)
            and c.values.nunique(dropna=True) > 1
            for c in columns
        )
        notes.append(f"Parsed {names} as dates ({_date_use(in_use)}).")
        for column in parsed:
            bad = int(column.how.split(":")[1])  # type: ignore[union-attr]
            if bad:
                noun = (
                    "value that is not a date was"
                    if bad == 1
                    else ("values that are not dates were")
                )
                notes.append(f"In '{column.name}', {bad:,} {noun} treated as missing.")
    return notes


def _roles(
    frame: pd.DataFrame,
) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[int, int]]]:
    """Which columns hold dates, a single value, or row identifiers; and, of the
    identifiers, the nearly unique text ones: ``{name: (distinct, present)}``."""
    dates, constants, ids = [], [], []
    nearly: dict[str, tuple[int, int]] = {}
    rows = len(frame)
    for name in frame.columns:
        values = frame[name]
        kind = values.dtype
        if pd.api.types.is_datetime64_any_dtype(kind):
            dates.append(name)
        if rows >= 2 and _is_constant(values):
            constants.append(name)
        elif rows >= _MIN_ID_ROWS and _is_identifier(name, values):
            ids.append(name)
        elif rows >= _MIN_ID_ROWS:
            counted = _nearly_unique(values)
            if counted is not None:
                ids.append(name)
                nearly[name] = counted
    roles = {"id": tuple(ids), "constant": tuple(constants), "date": tuple(dates)}
    return roles, nearly


def _is_constant(values: pd.Series) -> bool:
    """One distinct non-missing value."""
    present = values.notna()
    if not present.any():
        return False
    first = values[present].iloc[0]
    try:
        same = values.eq(first) | ~present
        return bool(same.all())
    except (TypeError, ValueError):
        return values.nunique(dropna=True) == 1


def _is_identifier(name: str, values: pd.Series) -> bool:
    """Unique per row and text, or an integer key by name or by being consecutive."""
    kind = values.dtype
    if pd.api.types.is_datetime64_any_dtype(kind) or pd.api.types.is_bool_dtype(kind):
        return False
    if values.isna().any():
        return False
    if _is_text(values) or kind == object:
        return _all_distinct(values)
    if not pd.api.types.is_integer_dtype(kind):
        return False
    if _ID_NAME.match(name.strip()) or _CAMEL_ID.match(name.strip()):
        return bool(values.is_unique)
    low, high = values.min(), values.max()
    return int(high) - int(low) + 1 == len(values) and bool(values.is_unique)


def _nearly_unique(values: pd.Series) -> tuple[int, int] | None:
    """(distinct, present) of text whose values present (at least _MIN_ID_ROWS)
    are nearly all different, like names, titles or addresses; else None.

    Numbers never are: their identifiers are the keys of :func:`_is_identifier`.
    The first values are checked first: the share of distinct values only
    shrinks as more values are seen, so when it is short among the first ones,
    the whole column is taken to be short too (wrongly only when its repeats
    all come first; it then stays a feature, as any text).
    """
    if not (_is_text(values) or values.dtype == object):
        return None
    present = int(values.notna().sum())
    if present < _MIN_ID_ROWS:
        return None
    if len(values) > _UNIQUE_HEAD:
        head = values.iloc[:_UNIQUE_HEAD]
        if not _mostly_distinct(int(head.nunique()), int(head.notna().sum())):
            return None
    distinct = _count_distinct(values)
    return (distinct, present) if _mostly_distinct(distinct, present) else None


def _mostly_distinct(distinct: int, present: int) -> bool:
    """Whether ``distinct`` is at least _NEARLY_UNIQUE_PERCENT of ``present``."""
    return 100 * distinct >= _NEARLY_UNIQUE_PERCENT * present


def _count_distinct(values: pd.Series) -> int:
    """Distinct values of a text column, missing ones not counted.

    Like :func:`_all_distinct`, text held by pyarrow is ranked in place rather
    than hashed: its distinct values are the highest dense rank (less one for
    the rank that all missing values share).
    """
    if len(values) <= _UNIQUE_HEAD or getattr(values.dtype, "storage", None) != (
        "pyarrow"
    ):
        return int(values.nunique(dropna=True))
    import pyarrow.compute as pc

    array = values.array.__arrow_array__()
    highest = pc.max(pc.rank(array, tiebreaker="dense")).as_py() or 0
    return int(highest) - (1 if array.null_count else 0)


def _all_distinct(values: pd.Series) -> bool:
    """Whether text values (none missing) are all different, without copying them.

    The first values are checked first (most text columns repeat early); text
    held by pyarrow is then ranked in place: all values differ when the highest
    dense rank is the number of values (a hash of every value would copy them).
    """
    if not values.iloc[:_UNIQUE_HEAD].is_unique:
        return False
    if len(values) <= _UNIQUE_HEAD or getattr(values.dtype, "storage", None) != (
        "pyarrow"
    ):
        return bool(values.is_unique)
    import pyarrow.compute as pc

    ranks = pc.rank(values.array.__arrow_array__(), tiebreaker="dense")
    return bool(pc.max(ranks).as_py() == len(values))


def _date_use(in_use: int) -> str:
    """What the app does with dates by default, given how many date columns vary:
    the one such column is a feature (as its parts) and the split follows it."""
    if in_use == 1:
        return (
            "by default a model feature, as its year, month, day and day of week, "
            "and the split follows it in time"
        )
    why = f"with {in_use} date columns, " if in_use > 1 else ""
    return f"offered as model features and to split by time; {why}not chosen by default"


def _role_notes(
    roles: dict[str, tuple[str, ...]],
    parsed: set[str],
    nearly: dict[str, tuple[int, int]] | None = None,
) -> list[str]:
    """Notes about columns that are not used as features by default."""
    nearly = nearly or {}
    notes = []
    dates = [n for n in roles["date"] if n not in parsed]
    if dates:
        verb = "holds" if len(dates) == 1 else "hold"
        in_use = len([n for n in roles["date"] if n not in roles["constant"]])
        notes.append(f"{_quote(dates)} {verb} dates ({_date_use(in_use)}).")
    constants = list(roles["constant"])
    if constants:
        if len(constants) == 1:
            notes.append(
                f"'{constants[0]}' has a single value; not used as a feature by "
                "default."
            )
        else:
            notes.append(
                f"{_quote(constants)} each have a single value; not used as "
                "features by default."
            )
    for name in roles["id"]:
        if name in nearly:
            distinct, present = nearly[name]
            notes.append(
                f"'{name}' is nearly unique ({distinct:,} different values among "
                f"{present:,}), like names or titles; not used as a feature by "
                "default, because values that hardly repeat teach a model nothing."
            )
            continue
        notes.append(
            f"'{name}' looks like a row identifier (unique per row); not used as a "
            "feature by default, because it would leak row identity into the model."
        )
    return notes
