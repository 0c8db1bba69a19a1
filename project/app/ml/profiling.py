"""Describing a dataset: column kinds, task detection, summaries and distributions."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

NUMERIC = "numeric"
CATEGORICAL = "categorical"
BOOLEAN = "boolean"
DATETIME = "datetime"
MAX_CLASSES = 50
MAX_CODES = 10  # whole numbers with more distinct values are quantities
MIN_CODE_ROWS = 10  # rows each code needs, unless the codes run 0..k or 1..k


def column_kind(series: pd.Series) -> str:
    """Classify a column as ``numeric``, ``categorical``, ``boolean`` or ``datetime``.

    Booleans (numpy ``bool`` or pandas' nullable ``boolean``) are not numbers:
    code that only asks ``kind == NUMERIC`` treats them as categories.
    """
    if pd.api.types.is_bool_dtype(series):
        return BOOLEAN
    if pd.api.types.is_datetime64_any_dtype(series):
        return DATETIME
    if pd.api.types.is_numeric_dtype(series):
        return NUMERIC
    return CATEGORICAL


def detect_task(series: pd.Series) -> str:
    """Guess ``classification`` or ``regression`` from the values of a target.

    Text and booleans are classes. Numbers are classes only when they look like
    codes rather than amounts:

    - at most two distinct values (0/1, 1/2, -1/1, 0.0/1.0); or
    - whole numbers with at most ``MAX_CODES`` (10) distinct values, no more
      than the square root of the number of values, that either run without a
      gap from 0 or 1 (species 0/1/2, a 1-5 rating, the digits 0-9) or each
      appear at least ``MIN_CODE_ROWS`` (10) times (grades 3-8 of red wines).

    Other numbers are a quantity to regress: fractions, and whole numbers with
    many values (highway mileage: 27 values in 234 rows; an hour of day: 24;
    counts; zip codes) or with rare values away from 0/1 (wine grades 3-9 where
    grade 9 has five wines: too few for a class to reach every fold of a
    cross-validation, while as a number its order is kept).
    """
    values = series.dropna()
    kind = column_kind(values)
    if kind != NUMERIC:
        return "classification"
    numbers = values.to_numpy(dtype=float)
    numbers = numbers[np.isfinite(numbers)]
    if numbers.size == 0:
        return "regression"
    distinct, counts = np.unique(numbers, return_counts=True)
    if distinct.size <= 2:
        return "classification"
    if distinct.size > MAX_CODES or distinct.size**2 > numbers.size:
        return "regression"
    if not np.all(np.mod(distinct, 1) == 0):
        return "regression"
    low, high = distinct[0], distinct[-1]
    from_zero_or_one = low in (0, 1) and high - low + 1 == distinct.size
    if from_zero_or_one or counts.min() >= MIN_CODE_ROWS:
        return "classification"
    return "regression"


def summarize_columns(
    frame: pd.DataFrame, *, roles: dict[str, tuple[str, ...]] | None = None
) -> list[dict[str, Any]]:
    """One row per column: kind, role, missing, unique and stats or top value."""
    roles = roles or {}
    role_of = {c: role for role, cols in roles.items() for c in cols}
    rows = []
    n = len(frame)
    for name in frame.columns:
        series = frame[name]
        kind = column_kind(series)
        missing = int(series.isna().sum())
        row: dict[str, Any] = {
            "column": str(name),
            "type": kind,
            "role": role_of.get(name, ""),
            "missing": missing,
            "missing_pct": round(100.0 * missing / n, 1) if n else 0.0,
            "unique": _distinct(series, kind),
            "mean": None,
            "std": None,
            "min": None,
            "max": None,
            "top": None,
        }
        if kind == NUMERIC and missing < n:
            values = series.to_numpy(dtype=float, na_value=np.nan)
            finite = values[np.isfinite(values)]
            if finite.size:
                row.update(
                    mean=_round(finite.mean()),
                    std=_round(finite.std(ddof=1)) if finite.size > 1 else None,
                    min=_round(finite.min()),
                    max=_round(finite.max()),
                )
        elif kind == DATETIME and missing < n:
            row.update(min=str(series.min()), max=str(series.max()))
        elif missing < n:
            counts = series.value_counts(dropna=True)
            row["top"] = f"{counts.index[0]} ({int(counts.iloc[0]):,})"
        rows.append(row)
    return rows


def _distinct(series: pd.Series, kind: str) -> int:
    if kind == NUMERIC and not pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        return int(np.unique(values[~np.isnan(values)]).size)
    return int(series.nunique(dropna=True))


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def correlation_matrix(
    frame: pd.DataFrame, *, max_columns: int = 40, max_rows: int = 100_000
) -> pd.DataFrame:
    """Pearson correlations of the first ``max_columns`` non-constant numeric columns.

    Frames longer than ``max_rows`` are sampled (seeded) first.
    """
    numeric = [c for c in frame.columns if column_kind(frame[c]) == NUMERIC]
    numeric = [c for c in numeric if _varies(frame[c])][:max_columns]
    if len(numeric) < 2:
        return pd.DataFrame()
    data = sample_rows(frame[numeric], max_rows=max_rows, random_state=0)
    values = data.to_numpy(dtype=float, na_value=np.nan)
    if not np.isfinite(values).all():
        return data.astype(float).replace([np.inf, -np.inf], np.nan).corr()
    return pd.DataFrame(
        np.corrcoef(values, rowvar=False), index=numeric, columns=numeric
    )


def _varies(series: pd.Series) -> bool:
    low, high = series.min(skipna=True), series.max(skipna=True)
    return bool(pd.notna(low) and pd.notna(high) and low < high)


def sample_rows(
    frame: pd.DataFrame, *, max_rows: int, random_state: int = 0
) -> pd.DataFrame:
    """The frame itself when small enough, else a uniform random sample of rows."""
    if len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=random_state).sort_index()


def column_distribution(
    series: pd.Series, *, bins: int = 40, top: int = 30
) -> dict[str, Any]:
    """Histogram of a numeric column or counts of the top values of another.

    Returns ``{"kind": "histogram", "edges", "counts"}`` or
    ``{"kind": "counts", "labels", "counts", "other"}``; ``missing`` in both.
    """
    missing = int(series.isna().sum())
    values = series.dropna()
    kind = column_kind(series)
    if kind == NUMERIC:
        numbers = values.to_numpy(dtype=float)
        numbers = numbers[np.isfinite(numbers)]
        if numbers.size == 0:
            return {"kind": "histogram", "edges": [], "counts": [], "missing": missing}
        if np.unique(numbers[:10_000]).size <= min(bins, 20) and np.all(
            np.mod(numbers, 1) == 0
        ):
            return _counts(pd.Series(numbers.astype(np.int64)), top, missing)
        counts, edges = np.histogram(numbers, bins=bins)
        return {
            "kind": "histogram",
            "edges": edges.tolist(),
            "counts": counts.tolist(),
            "missing": missing,
        }
    if kind == DATETIME:
        stamps = values.astype("int64").to_numpy()
        counts, edges = np.histogram(stamps, bins=bins)
        return {
            "kind": "histogram",
            "edges": pd.to_datetime(edges).astype(str).tolist(),
            "counts": counts.tolist(),
            "missing": missing,
        }
    return _counts(values.astype(str), top, missing)


def _counts(values: pd.Series, top: int, missing: int) -> dict[str, Any]:
    counts = values.value_counts()
    shown = counts.iloc[:top]
    if pd.api.types.is_numeric_dtype(values):
        shown = shown.sort_index()
    return {
        "kind": "counts",
        "labels": [str(v) for v in shown.index],
        "counts": [int(c) for c in shown.to_numpy()],
        "other": int(counts.iloc[top:].sum()),
        "missing": missing,
    }


def preview_records(frame: pd.DataFrame, *, rows: int = 100) -> list[dict[str, Any]]:
    """The first rows as JSON-safe records for the preview grid."""
    head = frame.head(rows)
    out = head.astype(object).where(head.notna(), None)
    records = out.to_dict(orient="records")
    return [{str(k): _json_safe(v) for k, v in record.items()} for record in records]


def _json_safe(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (np.floating, float)):
        number = float(value)
        return number if np.isfinite(number) else str(number)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return str(value)
    return value if isinstance(value, (int, str)) else str(value)


def profile_frame(
    frame: pd.DataFrame, roles: dict[str, Sequence[str]] | None = None
) -> dict[str, Any]:
    """What the Data tab shows of a dataset: summary, correlations, preview.

    Computed once per dataset content; ``numeric`` lists the numeric columns.
    """
    roles = {k: tuple(v) for k, v in (roles or {}).items()}
    return {
        "summary": summarize_columns(frame, roles=roles),
        "correlation": correlation_matrix(frame),
        "preview": preview_records(frame),
        "numeric": [str(c) for c in frame.columns if column_kind(frame[c]) == NUMERIC],
    }


def default_target(columns: Sequence[str], roles: dict[str, Sequence[str]]) -> str:
    """``target`` when present, else the last column not ID-like, constant or a date."""
    if "target" in columns:
        return "target"
    skipped = {c for cols in roles.values() for c in cols}
    usable = [c for c in columns if c not in skipped]
    return (list(usable) or list(columns))[-1]


def default_time_column(
    columns: Sequence[str], target: str, roles: dict[str, Sequence[str]]
) -> str | None:
    """The column a split by time follows by default: the date column, when the
    data has exactly one besides the target (and it is not constant); else None
    (a random split)."""
    other = {c for role, cols in roles.items() if role != "date" for c in cols}
    dates = [
        c for c in roles.get("date", ()) if c in columns and c not in other | {target}
    ]
    return dates[0] if len(dates) == 1 else None


def default_features(
    columns: Sequence[str], target: str, roles: dict[str, Sequence[str]]
) -> list[str]:
    """All columns but the target and those that are ID-like, constant or dates,
    except the one date column that a split by time follows by default
    (:func:`default_time_column`): its parts are then scored on later rows than
    the model trained on. Other dates (a sign-up or a closing date) may give the
    target away, or, in a random split, only flatter the model; they are offered,
    not chosen."""
    time_column = default_time_column(columns, target, roles)
    skipped = {c for cols in roles.values() for c in cols}
    return [
        c for c in columns if c != target and (c == time_column or c not in skipped)
    ]
