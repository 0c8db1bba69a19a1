"""Predicting with a fitted pipeline: what-if inputs, single rows, batches,
spreadsheet-safe CSV and the safe (skops) model file."""

from __future__ import annotations

import io
import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from app.ml.models import CLASSIFICATION
from app.ml.profiling import NUMERIC, column_kind

MAX_OPTIONS = 50
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


class PredictionError(ValueError):
    """Rows cannot be predicted; ``str(exc)`` is a message for the visitor."""


def input_spec(
    x_train: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
) -> list[dict[str, Any]]:
    """One what-if input per feature, with a sensible range, step and default.

    Numbers default to the median and range over the training data; categories
    offer their most frequent values and default to the most frequent one.
    """
    spec: list[dict[str, Any]] = []
    for name in numeric:
        values = x_train[name].to_numpy(dtype=float, na_value=np.nan)
        values = values[np.isfinite(values)]
        if values.size == 0:
            values = np.array([0.0])
        integral = bool(np.all(np.mod(values, 1) == 0))
        low, high = float(values.min()), float(values.max())
        median = float(np.median(values))
        spec.append(
            {
                "name": str(name),
                "kind": "number",
                "min": low,
                "max": high,
                "step": 1 if integral else _nice_step(high - low),
                "default": round(median) if integral else _round_to(median, high - low),
            }
        )
    for name in categorical:
        counts = x_train[name].astype(str).where(x_train[name].notna()).value_counts()
        options = [str(v) for v in counts.index[:MAX_OPTIONS]]
        spec.append(
            {
                "name": str(name),
                "kind": "category",
                "options": options,
                "default": options[0] if options else "",
            }
        )
    return spec


def _nice_step(span: float) -> float:
    if not span or not math.isfinite(span):
        return 0.1
    raw = span / 100
    power = 10 ** math.floor(math.log10(raw))
    return float(min((1, 2, 5, 10), key=lambda m: abs(m * power - raw)) * power)


def _round_to(value: float, span: float) -> float:
    if not span or not math.isfinite(span):
        return value
    digits = max(0, 3 - int(math.floor(math.log10(span))))
    return round(value, digits)


def input_row(
    spec: Sequence[Mapping[str, Any]], values: Mapping[str, Any]
) -> pd.DataFrame:
    """A one-row frame from what-if values; missing or bad numbers become NaN."""
    row: dict[str, Any] = {}
    for item in spec:
        raw = values.get(item["name"], item["default"])
        if item["kind"] == "number":
            try:
                number = float(raw)
            except (TypeError, ValueError):
                number = float("nan")
            row[item["name"]] = [number if math.isfinite(number) else float("nan")]
        else:
            row[item["name"]] = [None if raw is None else str(raw)]
    frame = pd.DataFrame(row)
    for item in spec:
        if item["kind"] == "category":
            frame[item["name"]] = frame[item["name"]].astype(object)
    return frame


def predict_one(pipeline: Any, row: pd.DataFrame, *, task: str) -> dict[str, Any]:
    """The prediction for one row, and class probabilities for classifiers.

    For classifiers the row goes through the pipeline once: the prediction is the
    most probable class, which is what every classifier offered here predicts.
    """
    if task == CLASSIFICATION and hasattr(pipeline, "predict_proba"):
        proba = pipeline.predict_proba(row)[0]
        classes = pipeline.classes_
        return {
            "prediction": _plain(classes[int(np.argmax(proba))]),
            "probabilities": {str(c): float(p) for c, p in zip(classes, proba)},
        }
    return {"prediction": _plain(pipeline.predict(row)[0])}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def predict_batch(
    pipeline: Any,
    frame: pd.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    task: str,
    target: str | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Predictions (and probabilities) for every row of an uploaded frame.

    Returns the input rows with ``prediction`` (and ``probability_<class>``)
    columns added, and notes about extra or converted columns.

    Raises
    ------
    PredictionError
        When columns the model needs are missing, or there are no rows.
    """
    needed = list(numeric) + list(categorical)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        shown = ", ".join(repr(c) for c in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise PredictionError(
            f"The file lacks {len(missing)} column(s) the model needs: {shown}{more}."
        )
    if frame.empty:
        raise PredictionError("The file has no rows to predict.")
    notes: list[str] = []
    extra = [c for c in frame.columns if c not in needed and c != target]
    if extra:
        notes.append(f"Ignored {len(extra)} column(s) the model does not use.")
    x = frame[needed].copy()
    for name in numeric:
        if column_kind(x[name]) != NUMERIC:
            converted = pd.to_numeric(x[name], errors="coerce")
            bad = int(converted.isna().sum() - x[name].isna().sum())
            x[name] = converted
            if bad:
                notes.append(
                    f"{bad} value(s) of {name!r} are not numbers; treated as missing."
                )
    for name in categorical:
        x[name] = x[name].astype(object).where(x[name].notna(), None)
        x[name] = x[name].map(lambda v: v if v is None else str(v))
    out = frame.copy()
    out["prediction"] = pipeline.predict(x)
    if task == CLASSIFICATION and hasattr(pipeline, "predict_proba"):
        proba = pipeline.predict_proba(x)
        for i, label in enumerate(pipeline.classes_):
            out[f"probability_{label}"] = proba[:, i]
    return out, notes


def neutralize_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells (and column names) a spreadsheet would run as formulas get a
    leading apostrophe; numbers are left alone."""
    out = frame.copy()
    out.columns = [_safe_cell(str(c)) for c in out.columns]
    for name in out.columns:
        if column_kind(out[name]) == NUMERIC:
            continue
        out[name] = out[name].map(lambda v: _safe_cell(v) if isinstance(v, str) else v)
    return out


def _safe_cell(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_START) else text


def to_safe_csv(frame: pd.DataFrame) -> bytes:
    """CSV bytes (UTF-8 with BOM, so spreadsheets read the encoding) with formulas
    neutralised. CRLF line ends make the writer quote any cell holding a bare
    carriage return, which spreadsheets would otherwise read as a new row."""
    buffer = io.StringIO()
    neutralize_formulas(frame).to_csv(buffer, index=False, lineterminator="\r\n")
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def model_to_skops(pipeline: Any) -> bytes:
    """The fitted pipeline in skops format: loadable without running pickled code."""
    import skops.io as sio

    return sio.dumps(pipeline)


def model_from_skops(data: bytes) -> Any:
    """Load a pipeline written by :func:`model_to_skops`, trusting only the types
    that this app's own pipelines contain (scikit-learn and numpy)."""
    import skops.io as sio

    untrusted = sio.get_untrusted_types(data=data)
    unsafe = [t for t in untrusted if not t.startswith(("sklearn.", "numpy."))]
    if unsafe:
        raise PredictionError(f"The model file holds unexpected types: {unsafe}")
    return sio.loads(data, trusted=untrusted)
