"""The app's metrics equal scikit-learn's own, whatever classes the hold-out has.

The reference is scikit-learn's metric functions, called on the raw labels over
the sorted union of the model's classes and the labels seen; a class the model
never saw has probability zero.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from app import ml as F

KINDS = ["binary", "multiclass", "unseen", "missing"]
CLASSIFICATION_METRICS = [
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
]


def sklearn_classification(y_true, y_pred, proba, known) -> dict[str, float]:
    """scikit-learn's values; ``proba``'s columns are for ``known``, in order."""
    classes = sorted(set(known) | set(y_true) | set(y_pred))
    column = {label: j for j, label in enumerate(known)}
    full = np.column_stack(
        [proba[:, column[c]] if c in column else np.zeros(len(y_true)) for c in classes]
    )
    if len(classes) == 2:
        options = {"average": "binary", "pos_label": classes[1], "zero_division": 0}
    else:
        options = {"average": "macro", "labels": classes, "zero_division": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined values: NaN or zero
        try:
            if len(classes) == 2:
                auc = metrics.roc_auc_score(y_true == classes[1], full[:, 1])
            else:
                auc = metrics.roc_auc_score(
                    y_true, full, multi_class="ovr", labels=classes
                )
        except ValueError:  # a class without positives or negatives
            auc = float("nan")
        return {
            "accuracy": metrics.accuracy_score(y_true, y_pred),
            "balanced_accuracy": metrics.balanced_accuracy_score(y_true, y_pred),
            "precision": metrics.precision_score(y_true, y_pred, **options),
            "recall": metrics.recall_score(y_true, y_pred, **options),
            "f1": metrics.f1_score(y_true, y_pred, **options),
            "roc_auc": auc,
            "log_loss": metrics.log_loss(y_true, full, labels=classes),
        }


def assert_same(app: dict, expected: dict, where: object) -> None:
    assert list(app) == list(expected), where
    for name, value in expected.items():
        if np.isnan(value):
            assert np.isnan(app[name]), (where, name, app[name])
        else:
            assert app[name] == pytest.approx(value, rel=1e-9, abs=1e-12), (
                where,
                name,
            )


def random_case(rng: np.random.Generator, kind: str):
    """y_true, y_pred, proba and the model's classes of one random case.

    ``kind``: binary; multiclass; unseen (the truth has classes the model never
    saw, the model may know a single class); missing (the model knows classes
    that the truth lacks).
    """
    low, high = {"binary": (2, 3), "unseen": (1, 6)}.get(kind, (3, 7))
    n = int(rng.integers(low, high))
    if rng.random() < 0.5:
        names = np.array([f"class {i}" for i in range(n + 3)], dtype=object)
    else:
        names = np.arange(n + 3) * 10 - 5
    known = names[:n]
    rows = int(rng.integers(1, 80))
    raw = rng.random((rows, n)) + 1e-3
    if rng.random() < 0.3:
        raw = np.round(raw, 1) + 0.05  # tied scores
    if n > 1 and rng.random() < 0.2:
        raw[:, 0] = 0  # a class never scored
    proba = raw / raw.sum(axis=1, keepdims=True)
    if kind == "unseen":
        pool = names[: n + int(rng.integers(1, 4))]
    elif kind == "missing":
        pool = known[rng.permutation(n)[: int(rng.integers(1, n))]]
    else:
        pool = known
    y_true = pool[rng.integers(0, len(pool), rows)]
    if kind == "unseen":
        y_true[0] = names[n]  # at least one row of a class the model never saw
    if rng.random() < 0.75:
        y_pred = known[np.argmax(proba, axis=1)]
    else:
        y_pred = known[rng.integers(0, n, rows)]
    return y_true, y_pred, proba, known


@pytest.mark.parametrize("kind", KINDS)
def test_classification_metrics_equal_scikit_learns(kind):
    rng = np.random.default_rng(KINDS.index(kind))
    for trial in range(150):
        y_true, y_pred, proba, known = random_case(rng, kind)
        app = F.classification_metrics(y_true, y_pred, proba, known)
        expected = sklearn_classification(y_true, y_pred, proba, known)
        assert_same(app, expected, (kind, trial))


def test_classification_metrics_without_probabilities_leave_those_undefined():
    rng = np.random.default_rng(3)
    for kind in KINDS:
        y_true, y_pred, proba, known = random_case(rng, kind)
        app = F.classification_metrics(y_true, y_pred, None, known)
        expected = sklearn_classification(y_true, y_pred, proba, known)
        expected.update(roc_auc=float("nan"), log_loss=float("nan"))
        assert_same(app, expected, kind)


def test_regression_metrics_equal_scikit_learns():
    rng = np.random.default_rng(4)
    for trial in range(50):
        rows = int(rng.integers(2, 200))
        y_true = rng.normal(size=rows) * 10
        if trial % 5 == 0:
            y_true[0] = 0  # MAPE is then not reported
        y_pred = y_true + rng.normal(size=rows)
        expected = {
            "r2": metrics.r2_score(y_true, y_pred),
            "mae": metrics.mean_absolute_error(y_true, y_pred),
            "rmse": metrics.root_mean_squared_error(y_true, y_pred),
            "mape": (
                float("nan")
                if trial % 5 == 0
                else metrics.mean_absolute_percentage_error(y_true, y_pred)
            ),
        }
        assert_same(F.regression_metrics(y_true, y_pred), expected, trial)


@pytest.fixture(scope="module")
def single_row_class() -> pd.DataFrame:
    """Two classes and a third with a single row: the split is not stratified,
    so that row may land in the hold-out set, unseen in training."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    frame["target"] = np.where(frame["a"] > 0, "yes", "no")
    frame.loc[0, "target"] = "rare"
    return frame


@pytest.mark.parametrize("model", ["logistic_regression", "random_forest"])
def test_a_single_row_class_trains_on_every_seed(single_row_class, model):
    unseen = 0
    for seed in range(10):
        config = F.TrainConfig(
            target="target",
            features=("a", "b"),
            task="classification",
            model=model,
            params={"n_estimators": 10} if model == "random_forest" else {},
            cv_folds=0,
            random_state=seed,
        )
        run = F.train_model(single_row_class, config)
        rows = {m["name"]: m for m in run.report["metrics"]}
        assert list(rows) == CLASSIFICATION_METRICS
        for name in CLASSIFICATION_METRICS:
            if name != "roc_auc":  # undefined when the rare class is in training
                assert rows[name]["holdout"] is not None, (seed, name)
        split = F.split_data(single_row_class, config)
        y_test = split.y_test.to_numpy()
        unseen += "rare" in y_test and "rare" not in split.y_train.to_numpy()
        proba = run.pipeline.predict_proba(split.x_test)
        known = run.pipeline.classes_
        expected = sklearn_classification(
            y_test, known[np.argmax(proba, axis=1)], proba, known
        )
        for name, value in expected.items():
            have = rows[name]["holdout"]
            if np.isnan(value):
                assert have is None, (seed, name)
            else:
                assert have == pytest.approx(value, rel=1e-9, abs=1e-12), (seed, name)
    assert unseen >= 2  # the case that failed: a hold-out class unseen in training
