"""Scoring a fitted model: classification and regression metrics, and their rows.

Classification metrics are counted here (a confusion matrix, ranks for ROC AUC)
with scikit-learn's definitions: measured, this took a half to a sixth of the
time of scikit-learn's own functions, from 1,000 to 1,000,000 rows.
tests/test_metrics.py holds the values to scikit-learn's.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from app.ml.models import CLASSIFICATION, REGRESSION

METRIC_LABELS = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "roc_auc": "ROC AUC",
    "log_loss": "Log loss (lower is better)",
    "r2": "R²",
    "mae": "Mean absolute error",
    "rmse": "Root mean squared error",
    "mape": "Mean absolute percentage error",
}
MAIN_METRIC = {CLASSIFICATION: "accuracy", REGRESSION: "r2"}


def evaluate(
    model: Any, x: pd.DataFrame, y: pd.Series, *, labels: np.ndarray | None = None
) -> dict[str, float]:
    """Score a fitted pipeline on (x, y): classification metrics when ``labels``
    (the training classes) are given, regression metrics otherwise."""
    if labels is None:
        return regression_metrics(y.to_numpy(dtype=float), model.predict(x))
    known = np.asarray(getattr(model, "classes_", labels))
    proba = model.predict_proba(x) if hasattr(model, "predict_proba") else None
    # Every classifier offered predicts its most probable class: one pass, not two.
    predicted = (
        known[np.argmax(proba, axis=1)] if proba is not None else model.predict(x)
    )
    return classification_metrics(y.to_numpy(), predicted, proba, known)


def class_labels(labels: Sequence[Any], *arrays: Sequence[Any]) -> np.ndarray:
    """The classes scored: ``labels`` and every value of ``arrays``, sorted."""
    seen = [np.asarray(labels)] + [pd.unique(np.asarray(a)) for a in arrays]
    return np.unique(np.concatenate(seen))


def label_codes(classes: np.ndarray, values: Sequence[Any]) -> np.ndarray:
    """Position of each value in ``classes``; ``len(classes)`` for any other value."""
    codes, uniques = pd.factorize(np.asarray(values))  # hashing: fast on text
    where = pd.Index(classes).get_indexer(uniques)
    where[where < 0] = len(classes)
    return np.append(where, len(classes)).astype(np.int64)[codes]  # -1: missing


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None,
    labels: np.ndarray,
) -> dict[str, float]:
    """Accuracy, balanced accuracy, precision/recall/F1, ROC AUC and log loss.

    ``labels`` are the model's classes, in the order of ``proba``'s columns. The
    classes scored are those and any other value of ``y_true`` or ``y_pred``,
    sorted (a class the model never saw has probability zero). With two, the
    second is the positive class; with more, precision, recall and F1 are macro
    averages and ROC AUC is one-vs-rest. NaN where a metric is undefined.
    """
    classes = class_labels(labels, y_true, y_pred)
    truth, guess = label_codes(classes, y_true), label_codes(classes, y_pred)
    if proba is not None:
        proba = _columns(np.asarray(proba, dtype=float), labels, classes)
    return _counted(truth, guess, proba, len(classes))


def _columns(proba: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``proba`` (columns for ``labels``) with one column per class, zero if new."""
    if len(labels) == len(classes) and np.array_equal(np.asarray(labels), classes):
        return proba
    full = np.zeros((len(proba), len(classes)))
    full[:, label_codes(classes, labels)] = proba
    return full


def _counted(
    truth: np.ndarray, guess: np.ndarray, proba: np.ndarray | None, n: int
) -> dict[str, float]:
    """The metrics of class codes ``0..n-1``, as scikit-learn defines them.

    Macro averages over all ``n`` classes, zero for an undefined precision or
    recall; balanced accuracy over the classes present; ROC AUC undefined when a
    class has no positive or no negative row, or (multiclass) when rows of
    ``proba`` do not sum to one; probabilities clipped to machine epsilon for the
    log loss, which needs two classes.
    """
    nan = float("nan")
    out = dict.fromkeys(
        ("accuracy", "balanced_accuracy", "precision", "recall", "f1"), nan
    )
    out.update(roc_auc=nan, log_loss=nan)
    if len(truth) == 0:
        return out
    counts = np.bincount(truth * n + guess, minlength=n * n).reshape(n, n)
    hits = np.diag(counts).astype(float)
    actual = counts.sum(axis=1).astype(float)
    predicted = counts.sum(axis=0).astype(float)
    precision = np.divide(hits, predicted, out=np.zeros(n), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros(n), where=actual > 0)
    both = predicted + actual
    f1 = np.divide(2 * hits, both, out=np.zeros(n), where=both > 0)
    pick = slice(1, 2) if n == 2 else slice(None)  # binary: the second class
    out.update(
        accuracy=float(hits.sum() / len(truth)),
        balanced_accuracy=float(np.mean(recall[actual > 0])),
        precision=float(np.mean(precision[pick])),
        recall=float(np.mean(recall[pick])),
        f1=float(np.mean(f1[pick])),
    )
    if proba is None or n < 2 or not np.isfinite(proba).all():
        return out
    if n == 2:
        out["roc_auc"] = _rank_auc(truth == 1, proba[:, 1])
    elif np.allclose(1, proba.sum(axis=1)):
        out["roc_auc"] = float(
            np.mean([_rank_auc(truth == k, proba[:, k]) for k in range(n)])
        )
    eps = np.finfo(float).eps
    chosen = np.clip(proba[np.arange(len(truth)), truth], eps, 1 - eps)
    out["log_loss"] = float(-np.mean(np.log(chosen)))
    return out


def _rank_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney statistic (ties count half)."""
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """R², MAE, RMSE and MAPE (NaN when the target has zeros)."""
    from sklearn import metrics

    return {
        "r2": float(metrics.r2_score(y_true, y_pred)),
        "mae": float(metrics.mean_absolute_error(y_true, y_pred)),
        "rmse": float(metrics.root_mean_squared_error(y_true, y_pred)),
        "mape": (
            float("nan")
            if np.any(np.asarray(y_true) == 0)
            else float(metrics.mean_absolute_percentage_error(y_true, y_pred))
        ),
    }


def metric_rows(
    holdout: dict[str, float],
    folds: list[dict[str, float]],
    baseline: dict[str, float] | None = None,
    baseline_folds: list[dict[str, float]] | None = None,
) -> list[dict[str, Any]]:
    """Per metric: its label, hold-out value and mean ± std over the folds, and
    the same for the baseline when given."""
    rows = []
    for name, value in holdout.items():
        row = {"name": name, "label": METRIC_LABELS[name], "holdout": _num(value)}
        row["cv_mean"], row["cv_std"] = _mean_std([f[name] for f in folds])
        if baseline is not None:
            row["baseline"] = _num(baseline[name])
            row["baseline_cv_mean"], _ = _mean_std(
                [f[name] for f in baseline_folds or []]
            )
        rows.append(row)
    return rows


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    array = np.array(values, dtype=float)
    finite = array[np.isfinite(array)]
    if not finite.size:
        return None, None
    return _num(finite.mean()), _num(finite.std())


def _num(value: float) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None
