"""What a model must beat, and features that give the target away.

The baseline is scikit-learn's ``DummyClassifier(strategy="prior")`` (it predicts
the most frequent class, with the class shares as probabilities) or
``DummyRegressor()`` (the mean), scored under the same split and folds as the
model. A feature is a possible leak when, alone, it predicts the target almost
perfectly: each training row by the row nearest in that feature, itself left out.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from app.ml.metrics import MAIN_METRIC, METRIC_LABELS, evaluate
from app.ml.models import CLASSIFICATION

LOWER_IS_BETTER = {"log_loss", "mae", "rmse", "mape"}
BASELINE_LABEL = {
    CLASSIFICATION: "always the most frequent class (class shares as probabilities)",
    "regression": "always the mean of the training target",
}
LEAK_SCORE = 0.99  # balanced accuracy or R² of one feature alone (nearest row)
LEAK_ROWS = 5_000
LEAK_MAX_FEATURES = 100
LEAK_MIN_ROWS = 50


def baseline_scores(
    x_train: pd.DataFrame,
    y_train: pd.Series,
    x_test: pd.DataFrame,
    y_test: pd.Series,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    task: str,
    labels: np.ndarray | None,
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """The baseline's hold-out metrics and its metrics per fold."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    def dummy() -> Any:
        if task == CLASSIFICATION:
            return DummyClassifier(strategy="prior")
        return DummyRegressor(strategy="mean")

    per_fold = []
    for train_idx, test_idx in folds:
        model = dummy().fit(x_train.iloc[train_idx], y_train.iloc[train_idx])
        per_fold.append(
            evaluate(
                model, x_train.iloc[test_idx], y_train.iloc[test_idx], labels=labels
            )
        )
    model = dummy().fit(x_train, y_train)
    return evaluate(model, x_test, y_test, labels=labels), per_fold


def verdict(
    task: str, model: dict[str, float], baseline: dict[str, float]
) -> str | None:
    """A note when the model does not beat the baseline on the main metric."""
    name = MAIN_METRIC[task]
    ours, theirs = model.get(name), baseline.get(name)
    if ours is None or theirs is None or not np.isfinite([ours, theirs]).all():
        return None
    better = ours < theirs if name in LOWER_IS_BETTER else ours > theirs
    if better:
        return None
    label = METRIC_LABELS[name].lower()
    return (
        f"This model does not beat the baseline ({BASELINE_LABEL[task]}): "
        f"{label} {ours:.3g} against the baseline's {theirs:.3g} on the hold-out."
    )


def possible_leaks(
    x_train: pd.DataFrame,
    y_train: pd.Series,
    *,
    task: str,
    random_state: int = 0,
) -> list[tuple[str, float]]:
    """Features that alone predict the target almost perfectly, with the score.

    Each feature (at most ``LEAK_MAX_FEATURES``) predicts each training row (at
    most ``LEAK_ROWS``) by the row nearest in that feature's value, the row itself
    left out; a balanced accuracy (classes) or R² (quantities) at or above
    ``LEAK_SCORE`` marks it. A strong honest feature (iris's petal length, about
    0.93) stays below; one computed from the outcome does not.
    """
    if len(x_train) < LEAK_MIN_ROWS:
        return []
    rows = _sample(len(x_train), np.random.default_rng(random_state))
    is_clf = task == CLASSIFICATION
    if is_clf:
        target = pd.factorize(y_train.iloc[rows])[0]
        if len(np.unique(target[target >= 0])) < 2:
            return []
    else:
        target = y_train.iloc[rows].to_numpy(dtype=float)
        if float(np.nanvar(target)) == 0.0:
            return []
    found = []
    for name in list(x_train.columns)[:LEAK_MAX_FEATURES]:
        values = _as_numbers(x_train[name].iloc[rows])
        if values is None:
            continue
        keep = ~np.isnan(values) & (target >= 0 if is_clf else ~np.isnan(target))
        if keep.sum() < LEAK_MIN_ROWS:
            continue
        truth = target[keep]
        guess = truth[_nearest_other(values[keep])]
        score = _balanced_accuracy(truth, guess) if is_clf else _r2(truth, guess)
        if score >= LEAK_SCORE:
            found.append((str(name), score))
    return sorted(found, key=lambda item: -item[1])


def leak_note(task: str, leaks: list[tuple[str, float]]) -> str | None:
    """The sentence the run shows about possible leaks, or None."""
    if not leaks:
        return None
    metric = "balanced accuracy" if task == CLASSIFICATION else "R²"
    shown = ", ".join(f"{name} ({metric} {score:.3f})" for name, score in leaks[:5])
    more = f" and {len(leaks) - 5} more" if len(leaks) > 5 else ""
    return (
        f"Possible leak: alone, {shown}{more} predicts the target almost "
        "perfectly. Check that it is known before the outcome; "
        "if not, leave it out."
    )


def _sample(n: int, rng: np.random.Generator) -> np.ndarray:
    if n <= LEAK_ROWS:
        return np.arange(n)
    return np.sort(rng.choice(n, LEAK_ROWS, replace=False))


def _as_numbers(values: pd.Series) -> np.ndarray | None:
    """One column as floats (text as codes, missing as NaN); None for dates."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype("float64").to_numpy(na_value=np.nan)
    if pd.api.types.is_datetime64_any_dtype(values):
        return None
    codes = pd.factorize(values.astype("string"))[0].astype(float)
    codes[codes < 0] = np.nan
    return codes


def _nearest_other(values: np.ndarray) -> np.ndarray:
    """For each position, the position of the nearest other value (ties: left)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    gap = np.diff(ordered)
    left = np.concatenate([[np.inf], gap])
    right = np.concatenate([gap, [np.inf]])
    step = np.where(left <= right, -1, 1)
    nearest = np.empty_like(order)
    nearest[order] = order[np.arange(len(order)) + step]
    return nearest


def _balanced_accuracy(truth: np.ndarray, guess: np.ndarray) -> float:
    classes = np.unique(truth)
    return float(np.mean([np.mean(guess[truth == c] == c) for c in classes]))


def _r2(truth: np.ndarray, guess: np.ndarray) -> float:
    total = float(np.sum((truth - truth.mean()) ** 2))
    return 1.0 - float(np.sum((truth - guess) ** 2)) / total if total else 0.0
