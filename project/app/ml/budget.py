"""How much memory a training needs, estimated before it starts.

Upper bounds where they are tight (regression trees grow a leaf per distinct
sample), typical values where they are not (classification trees stop at pure
leaves); the job's budget, enforced while it runs, catches what this misses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pandas as pd

from app.ml.models import CLASSIFICATION, DATE_PARTS, MAX_CATEGORIES, MODEL_SPECS
from app.ml.profiling import DATETIME, NUMERIC, column_kind

_MB = 1024 * 1024
_FLOAT = 8
#: Bytes of one node of a scikit-learn tree, besides its values (one per class).
NODE_BYTES = 64
#: Share of the rows a bootstrap sample holds once each.
BOOTSTRAP_SHARE = 0.632
#: Leaves per training row of a classification tree grown to pure leaves, typically.
CLASSIFICATION_LEAF_SHARE = 0.1
#: scikit-learn's default kernel cache of a support vector machine.
SVM_CACHE_BYTES = 200 * _MB
#: Bytes per text cell of a frame in memory (a Python string and its pointer).
TEXT_CELL_BYTES = 60
#: Number columns a date feature becomes, at most: its parts and the hour.
DATE_COLUMNS = len(DATE_PARTS) + 1


@dataclass(frozen=True)
class DataShape:
    """What the memory of a training depends on, of the data."""

    rows: int
    numeric: int
    levels: tuple[int, ...]  # distinct values of each text (one-hot) feature
    classes: int  # 0 for regression
    frame_bytes: int = 0


@dataclass(frozen=True)
class TrainingEstimate:
    """Memory a training needs at its peak and the size of its fitted model."""

    peak_bytes: int
    model_bytes: int
    what: str
    advice: str


def data_shape(frame: pd.DataFrame, target: str, features: Sequence[str]) -> DataShape:
    """The shape of the training data for ``target`` and ``features``."""
    numeric, levels = 0, []
    for name in features:
        if name == target or name not in frame.columns:
            continue
        kind = column_kind(frame[name])
        if kind == NUMERIC:
            numeric += 1
        elif kind == DATETIME:
            numeric += DATE_COLUMNS
        else:
            levels.append(int(frame[name].nunique(dropna=True)))
    classes = 0
    if target in frame.columns and column_kind(frame[target]) != NUMERIC:
        classes = int(frame[target].nunique(dropna=True))
    cells = frame.memory_usage(index=False, deep=False).sum()
    text = sum(1 for c in frame.columns if frame[c].dtype == object)
    return DataShape(
        rows=len(frame),
        numeric=numeric,
        levels=tuple(levels),
        classes=classes,
        frame_bytes=int(cells) + text * len(frame) * TEXT_CELL_BYTES,
    )


def shape_from_summary(
    summary: Sequence[Mapping[str, Any]],
    rows: int,
    target: str,
    features: Sequence[str],
) -> DataShape:
    """The same shape from a dataset's column summary (no data read)."""
    by_name = {str(row["column"]): row for row in summary}
    numeric, levels = 0, []
    for name in features:
        row = by_name.get(name)
        if row is None or name == target:
            continue
        if row["type"] == NUMERIC:
            numeric += 1
        elif row["type"] == DATETIME:
            numeric += DATE_COLUMNS
        else:
            levels.append(int(row["unique"]))
    target_row = by_name.get(target, {})
    classes = (
        int(target_row.get("unique") or 0) if target_row.get("type") != NUMERIC else 0
    )
    return DataShape(rows=rows, numeric=numeric, levels=tuple(levels), classes=classes)


def estimate_training(
    shape: DataShape,
    *,
    model: str,
    task: str,
    params: Mapping[str, Any],
    test_size: float,
) -> TrainingEstimate:
    """Peak memory and model size of fitting ``model`` on data of ``shape``.

    The peak counts the frame, the preprocessed inputs (imputed, scaled and
    one-hot encoded copies) and what the model itself builds.
    """
    spec = MODEL_SPECS[model]
    rows = max(1, int(shape.rows * (1 - test_size)))
    width = shape.numeric + sum(min(n, MAX_CATEGORIES) for n in shape.levels)
    width = max(width, 1)
    inputs = rows * width * _FLOAT
    outputs = max(shape.classes, 1) if task == CLASSIFICATION else 1
    generic = "Use fewer rows or features, or another model."
    what = f"{spec.label} on {rows:,} rows × {width:,} inputs"
    advice = generic
    model_bytes = width * outputs * _FLOAT
    extra = 0
    if model in ("random_forest", "decision_tree"):
        trees = int(params.get("n_estimators") or 1) if model == "random_forest" else 1
        depth = params.get("max_depth")
        leaf = max(1, int(params.get("min_samples_leaf") or 1))
        distinct = rows * (BOOTSTRAP_SHARE if model == "random_forest" else 1.0)
        leaves = distinct / leaf
        if task == CLASSIFICATION:
            leaves *= CLASSIFICATION_LEAF_SHARE
        if depth is not None:
            leaves = min(leaves, 2.0 ** int(depth))
        nodes = 2 * max(leaves, 1.0)
        model_bytes = int(trees * nodes * (NODE_BYTES + _FLOAT * outputs))
        extra = rows * width * 4  # the float32 copy trees split on
        deep = "unlimited depth" if depth is None else f"depth up to {int(depth)}"
        noun = f"{trees:,} trees" if model == "random_forest" else "a tree"
        what = f"{noun} of {deep} on {rows:,} rows"
        advice = "Limit the depth, raise the minimum samples per leaf" + (
            ", or use fewer trees." if model == "random_forest" else "."
        )
    elif model == "hist_gradient_boosting":
        extra = rows * width + rows * outputs * 4 * 3
        iterations = int(params.get("max_iter") or 100)
        leaves = int(params.get("max_leaf_nodes") or 31)
        model_bytes = iterations * outputs * leaves * 2 * NODE_BYTES
    elif model == "knn":
        model_bytes = inputs
    elif model == "svm":
        extra = SVM_CACHE_BYTES
        model_bytes = inputs
    elif model in ("logistic_regression", "linear_regression", "ridge", "lasso"):
        extra = inputs + rows * outputs * _FLOAT * 3
    one_hot = width - shape.numeric
    if one_hot > 4 * max(shape.numeric, 1) and 3 * inputs >= extra + model_bytes:
        what = f"one-hot encoding to {width:,} inputs on {rows:,} rows"
        advice = "Leave out text columns with many distinct values, or use fewer rows."
    peak = shape.frame_bytes + 3 * inputs + extra + model_bytes
    return TrainingEstimate(int(peak), int(model_bytes), what, advice)


def memory_refusal(
    estimate: TrainingEstimate,
    budget_bytes: int | None,
    model_budget: int | None = None,
) -> str | None:
    """The sentence refusing a training whose peak memory would be over
    ``budget_bytes``, or whose fitted model over ``model_budget``; else None."""
    what = estimate.what[0].upper() + estimate.what[1:]
    if budget_bytes is not None and estimate.peak_bytes > budget_bytes:
        return (
            f"{what} would need about {size(estimate.peak_bytes)} of memory; this "
            f"server allows {size(budget_bytes)} per job. {estimate.advice}"
        )
    if model_budget is not None and estimate.model_bytes > model_budget:
        return (
            f"{what} would make a model of about {size(estimate.model_bytes)}, more "
            f"than the {size(model_budget)} this session may keep. {estimate.advice}"
        )
    return None


def size(nbytes: float) -> str:
    """``1536 * 2**20`` -> ``"1.5 GB"``; under a gigabyte, in MB."""
    if nbytes >= 1024 * _MB:
        value = nbytes / (1024 * _MB)
        return f"{value:,.0f} GB" if value >= 10 else f"{value:.1f} GB"
    return f"{max(1, round(nbytes / _MB)):,} MB"
