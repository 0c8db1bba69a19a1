"""Predicting with a fitted pipeline: what-if inputs, single rows, batches,
spreadsheet-safe CSV and the safe (skops) model file."""

from __future__ import annotations

import io
import math
import re
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from app.ml.models import CLASSIFICATION
from app.ml.profiling import BOOLEAN, DATETIME, NUMERIC, column_kind

MAX_OPTIONS = 50
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")
# Answers read as booleans (compared trimmed and lower-cased), as cleaning does.
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})
# What a pipeline of this app may hold beyond scikit-learn and numpy types: the
# function that turns dates into numbers, and the one that names its columns.
TRUSTED_FUNCTIONS = frozenset(
    {"app.ml.models.date_parts", "app.ml.models.date_part_names"}
)
# A date as what-if text: ISO 8601, the day in full, then maybe a time and zone.
ISO_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}(?::\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?)?"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)


class PredictionError(ValueError):
    """Rows cannot be predicted; ``str(exc)`` is a message for the visitor."""


def input_spec(
    x_train: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    boolean: Sequence[str] = (),
    dates: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """One what-if input per feature, with a sensible range, step and default.

    Numbers default to the median and range over the training data; categories
    offer their most frequent values and default to the most frequent one.
    Booleans are ``{"name", "kind": "bool", "default", "options"}``: the default
    is the more frequent of True and False in training, ``options`` the two as
    text (``["True", "False"]``) for a control that needs a list. Dates are
    ``{"name", "kind": "date", "default", "min", "max"}``, all ISO text
    (``2024-03-01``, with the time when some training value has one): the
    default is the median date in training.
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
    for name in boolean:
        answers = x_train[name].dropna().astype(bool)
        spec.append(
            {
                "name": str(name),
                "kind": "bool",
                "default": bool(answers.sum() * 2 > len(answers)),
                "options": ["True", "False"],
            }
        )
    for name in dates:
        when = x_train[name].dropna()
        if when.empty:
            when = pd.Series([pd.Timestamp("1970-01-01")])
        timed = bool((when != when.dt.normalize()).any())
        spec.append(
            {
                "name": str(name),
                "kind": "date",
                "default": _iso(when.quantile(0.5, interpolation="lower"), timed),
                "min": _iso(when.min(), timed),
                "max": _iso(when.max(), timed),
            }
        )
    return spec


def _iso(value: Any, timed: bool) -> str:
    """A date as ISO text: ``2024-03-01``, or ``2024-03-01T12:30:00`` with a time."""
    stamp = pd.Timestamp(value)
    return stamp.isoformat() if timed else stamp.date().isoformat()


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
    """A one-row frame from what-if values (see :func:`input_row_with_notes`,
    which also says what was done with each value)."""
    return input_row_with_notes(spec, values)[0]


def input_row_with_notes(
    spec: Sequence[Mapping[str, Any]],
    values: Mapping[str, Any],
    *,
    pipeline: Any = None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """A one-row frame from what-if values, and a note per feature worth one.

    Any finite number is taken as typed, also outside the training range or
    between the input's steps, with a note saying so. An empty value (``None``,
    ``""`` or no key) takes the spec's default, and one that cannot be a number
    (text, NaN, infinity) takes it too; both with a note. A category that is not
    among the options is taken as typed when the model can take a value it never
    saw (the app's one-hot encoder can: ``handle_unknown="infrequent_if_exist"``),
    with a note; given the fitted ``pipeline``, its encoder is checked, and a value
    it would refuse gives way to the default, with a note.

    Returns
    -------
    (frame, notes)
        The row, one column per spec item in spec order; and plain-words notes
        keyed by feature name, only for the features that have one.
    """
    encoders = _category_encoders(pipeline)
    row: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for item in spec:
        name = str(item["name"])
        raw = values.get(name)
        if item["kind"] == "number":
            value, note = _number_input(item, raw)
        elif item["kind"] == "bool":
            value, note = _bool_input(item, raw)
        elif item["kind"] == "date":
            value, note = _date_input(item, raw)
        else:
            value, note = _category_input(item, raw, encoders.get(name))
        row[name] = [value]
        if note:
            notes[name] = note
    frame = pd.DataFrame(row)
    for item in spec:
        if item["kind"] == "bool":
            frame[item["name"]] = frame[item["name"]].astype(bool)
        elif item["kind"] == "date":
            frame[item["name"]] = pd.to_datetime(frame[item["name"]], utc=False)
        elif item["kind"] != "number":
            frame[item["name"]] = frame[item["name"]].astype(object)
    return frame, notes


def _is_empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _show(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.6g}"
    return repr(value) if isinstance(value, str) else str(value)


def _number_input(item: Mapping[str, Any], raw: Any) -> tuple[float, str | None]:
    name, default = item["name"], item["default"]
    if _is_empty(raw):
        return float(default), (
            f"{name} is empty, so the default, {_show(default)} (the median in "
            "training), is used."
        )
    try:
        number = float(raw)
    except (TypeError, ValueError, OverflowError):
        number = None
    if number is None or not math.isfinite(number):
        shown = _show(raw) if number is None else str(raw)
        what = "a number" if number is None else "a finite number"
        return float(default), (
            f"{name} = {shown} is not {what}, so the default, {_show(default)}, "
            "is used instead."
        )
    notes = []
    low, high = item.get("min"), item.get("max")
    if low is not None and high is not None and not low <= number <= high:
        notes.append(
            f"{name} = {_show(number)} is outside the training range "
            f"({_show(low)} to {_show(high)}); the model saw no data there."
        )
    step = item.get("step")
    whole = isinstance(step, int) and not isinstance(step, bool) and step == 1
    if whole and not number.is_integer():
        what = "It is" if notes else f"{name} = {_show(number)} is"
        notes.append(
            f"{what} not a whole number, though every training value was; it is "
            "used as typed."
        )
    return number, " ".join(notes) or None


def _bool_input(item: Mapping[str, Any], raw: Any) -> tuple[bool, str | None]:
    name, default = item["name"], bool(item["default"])
    if _is_empty(raw):
        return default, (
            f"{name} is empty, so the default, {default} (the more frequent in "
            "training), is used."
        )
    answer = as_bool(raw)
    if answer is None:
        return default, (
            f"{name} = {_show(raw)} is neither true nor false, so the default, "
            f"{default}, is used instead."
        )
    return answer, None


def _date_input(item: Mapping[str, Any], raw: Any) -> tuple[pd.Timestamp, str | None]:
    name, default = item["name"], str(item["default"])
    if _is_empty(raw):
        return as_date(default), (
            f"{name} is empty, so the default, {default} (the median date in "
            "training), is used."
        )
    when = as_date(raw)
    if when is None:
        return as_date(default), (
            f"{name} = {_show(raw)} is not a date (write it as 2024-03-01, or "
            f"2024-03-01T12:30), so the default, {default}, is used instead."
        )
    low, high = as_date(item.get("min")), as_date(item.get("max"))
    if low is not None and high is not None and not low <= when <= high:
        where = "after" if when > high else "before"
        return when, (
            f"{name} = {_show(str(raw))} is {where} every training date "
            f"({item['min']} to {item['max']}); the model saw no data there."
        )
    return when, None


def as_date(value: Any) -> pd.Timestamp | None:
    """A timestamp without time zone (its wall-clock time kept) from ISO text
    such as ``2024-03-01`` or ``2024-03-01T12:30`` (or from a timestamp); None
    for anything else."""
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        stamp = pd.Timestamp(value)
    elif isinstance(value, str) and ISO_DATE.fullmatch(value.strip()):
        try:
            stamp = pd.to_datetime(value.strip(), format="ISO8601")
        except (TypeError, ValueError, OverflowError):
            return None
    else:
        return None
    if stamp is pd.NaT or pd.isna(stamp):
        return None
    return stamp.tz_localize(None) if stamp.tzinfo is not None else stamp


def as_bool(value: Any) -> bool | None:
    """True or False from a boolean, 1/0 or yes/no-like text; None otherwise."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return {1: True, 0: False}.get(value) if math.isfinite(value) else None
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def _category_input(
    item: Mapping[str, Any], raw: Any, encoder: tuple[list[Any], str, bool] | None
) -> tuple[Any, str | None]:
    name, default = item["name"], item["default"]
    if _is_empty(raw):
        return default, (
            f"{name} is empty, so the default, {_show(default)} (the most frequent "
            "value in training), is used."
        )
    for option in item.get("options", []):
        if raw == option or str(raw) == str(option):
            return option, None
    if encoder is None:
        return str(raw), (
            f"{name} = {_show(str(raw))} is not among the values offered; it is used "
            "as typed, and a value the model never saw counts as none of the ones "
            "it knows (or as one of its rare ones)."
        )
    known, handle_unknown, has_rare = encoder
    for category in known:
        if str(raw) == str(category):
            return category, None
    if handle_unknown == "error":
        return default, (
            f"{name} = {_show(str(raw))} was not seen in training and this model "
            f"cannot take a new value, so the default, {_show(default)}, is used."
        )
    treated = "like its rare values" if has_rare else "as none of the values it knows"
    return str(raw), (
        f"{name} = {_show(str(raw))} was not seen in training; it is used as typed, "
        f"and the model counts it {treated}."
    )


def _category_encoders(pipeline: Any) -> dict[str, tuple[list[Any], str, bool]]:
    """``{column: (known categories, handle_unknown, has rare group)}`` of the
    fitted encoders in a pipeline's column transformer (none without one)."""
    found: dict[str, tuple[list[Any], str, bool]] = {}
    try:
        transformers = pipeline[0].transformers_
    except (AttributeError, TypeError, IndexError, KeyError):
        return found
    for _, transformer, columns in transformers:
        for _, step in getattr(transformer, "steps", [("", transformer)]):
            categories = getattr(step, "categories_", None)
            handle_unknown = getattr(step, "handle_unknown", None)
            if categories is None or handle_unknown is None:
                continue
            try:
                rare = list(step.infrequent_categories_)
            except AttributeError:
                rare = [None] * len(categories)
            for i, column in enumerate(columns):
                found[str(column)] = (
                    list(categories[i]),
                    str(handle_unknown),
                    rare[i] is not None,
                )
    return found


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
    boolean: Sequence[str] | None = None,
    dates: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Predictions (and probabilities) for every row of an uploaded frame.

    Returns the input rows with ``prediction`` (and ``probability_<class>``)
    columns added, and notes about extra or converted columns. ``boolean``
    names the boolean features; by default, those the pipeline has. Their
    values may be booleans, 1/0 or yes/no-like text; others are missing.
    ``dates`` names the date features (by default, the pipeline's): dates, or
    text pandas reads as dates; others are missing.

    Raises
    ------
    PredictionError
        When columns the model needs are missing, or there are no rows.
    """
    if boolean is None:
        boolean = pipeline_columns(pipeline, "boolean")
    if dates is None:
        dates = pipeline_columns(pipeline, "dates")
    needed = list(numeric) + list(categorical)
    needed += [c for c in [*boolean, *dates] if c not in needed]
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
    for name in boolean:
        if column_kind(x[name]) == BOOLEAN:
            continue
        present = x[name].notna().to_numpy()
        answers = pd.array([as_bool(v) for v in x[name]], dtype="boolean")
        bad = int((present & answers.isna()).sum())
        x[name] = pd.Series(answers, index=x.index)
        if bad:
            notes.append(
                f"{bad} value(s) of {name!r} are not yes/no; treated as missing."
            )
    for name in dates:
        if column_kind(x[name]) == DATETIME:
            continue
        present = x[name].notna().to_numpy()
        x[name] = _parse_dates(x[name])
        bad = int((present & x[name].isna().to_numpy()).sum())
        if bad:
            notes.append(
                f"{bad} value(s) of {name!r} are not dates; treated as missing."
            )
    out = frame.copy()
    out["prediction"] = pipeline.predict(x)
    if task == CLASSIFICATION and hasattr(pipeline, "predict_proba"):
        proba = pipeline.predict_proba(x)
        for i, label in enumerate(pipeline.classes_):
            out[f"probability_{label}"] = proba[:, i]
    return out, notes


def _parse_dates(values: pd.Series) -> pd.Series:
    """Text (or numbers) read as dates, each on its own; what is not one is NaT,
    and times in several zones are compared in UTC."""
    text = values.astype("string")
    try:
        return pd.to_datetime(text, errors="coerce", format="mixed")
    except (TypeError, ValueError, OverflowError):
        return pd.to_datetime(text, errors="coerce", format="mixed", utc=True)


def pipeline_columns(pipeline: Any, transformer: str) -> list[str]:
    """The columns one transformer (``"boolean"``, ...) of a pipeline's
    preprocessing takes; none when it has no such transformer."""
    try:
        steps = pipeline[0].transformers
    except (AttributeError, IndexError, KeyError, TypeError):
        return []
    for name, _, columns in steps:
        if name == transformer and isinstance(columns, (list, tuple)):
            return [str(c) for c in columns]
    return []


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
    that this app's own pipelines contain (scikit-learn and numpy, and the
    :data:`TRUSTED_FUNCTIONS` that turn dates into numbers)."""
    import skops.io as sio

    untrusted = sio.get_untrusted_types(data=data)
    unsafe = [
        t
        for t in untrusted
        if not t.startswith(("sklearn.", "numpy.")) and t not in TRUSTED_FUNCTIONS
    ]
    if unsafe:
        raise PredictionError(f"The model file holds unexpected types: {unsafe}")
    return sio.loads(data, trusted=untrusted)
