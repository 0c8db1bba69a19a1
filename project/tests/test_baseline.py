"""Every run beside its baseline, and features that give the target away."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from app import ml as F


def run(frame: pd.DataFrame, task: str, model: str, **config) -> dict:
    features = tuple(c for c in frame.columns if c != "target")
    options = dict(cv_folds=3, random_state=0, test_size=0.25)
    options.update(config)
    return F.train_model(
        frame,
        F.TrainConfig(
            target="target", features=features, task=task, model=model, **options
        ),
    ).report


def rows(report: dict) -> dict[str, dict]:
    return {row["name"]: row for row in report["metrics"]}


def test_classification_baseline_is_dummy_prior_under_the_same_split_and_folds(
    iris,
):
    report = run(iris, "classification", "logistic_regression")
    x, y = iris.drop(columns="target"), iris["target"]
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, stratify=y, random_state=0
    )
    dummy = DummyClassifier(strategy="prior").fit(x_train, y_train)
    expected = float(np.mean(dummy.predict(x_test) == y_test))
    metrics = rows(report)
    assert metrics["accuracy"]["baseline"] == pytest.approx(expected, abs=1e-12)
    assert metrics["roc_auc"]["baseline"] == pytest.approx(0.5)
    folds = StratifiedKFold(3, shuffle=True, random_state=0).split(x_train, y_train)
    fold_scores = [
        np.mean(
            DummyClassifier(strategy="prior")
            .fit(x_train.iloc[a], y_train.iloc[a])
            .predict(x_train.iloc[b])
            == y_train.iloc[b]
        )
        for a, b in folds
    ]
    assert metrics["accuracy"]["baseline_cv_mean"] == pytest.approx(
        np.mean(fold_scores), abs=1e-12
    )
    assert "most frequent class" in report["baseline"]
    # A model that does beat it gets no remark.
    assert not any("does not beat the baseline" in n for n in report["notes"])


def test_regression_baseline_is_the_training_mean(diabetes):
    report = run(diabetes, "regression", "ridge")
    x, y = diabetes.drop(columns="target"), diabetes["target"]
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=0
    )
    predicted = DummyRegressor().fit(x_train, y_train).predict(x_test)
    mae = float(np.mean(np.abs(predicted - y_test)))
    assert rows(report)["mae"]["baseline"] == pytest.approx(mae, rel=1e-12)
    assert rows(report)["r2"]["baseline"] <= 0.0
    assert "mean" in report["baseline"]
    folds = list(KFold(3, shuffle=True, random_state=0).split(x_train))
    assert len(folds) == report["cv_folds"]


def test_a_model_that_does_not_beat_the_baseline_says_so():
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame(
        {f"noise_{i}": rng.normal(size=n) for i in range(8)}
        | {"target": np.where(rng.random(n) < 0.75, "common", "rare")}
    )
    report = run(frame, "classification", "knn", cv_folds=0, stratify=True)
    accuracy = rows(report)["accuracy"]
    assert accuracy["holdout"] <= accuracy["baseline"]
    note = next(n for n in report["notes"] if "does not beat the baseline" in n)
    assert f"{accuracy['baseline']:.3g}" in note and "accuracy" in note


def test_a_feature_that_gives_the_target_away_is_pointed_out(iris):
    frame = iris.copy()
    frame.insert(0, "outcome_code", pd.factorize(frame["target"])[0] * 10 + 10)
    report = run(frame, "classification", "logistic_regression")
    leaks = [n for n in report["notes"] if n.startswith("Possible leak")]
    assert len(leaks) == 1 and "outcome_code" in leaks[0]
    assert "petal" not in leaks[0]


def test_a_regression_leak_is_pointed_out_and_honest_data_is_not(diabetes):
    assert not any(
        n.startswith("Possible leak")
        for n in run(diabetes, "regression", "ridge")["notes"]
    )
    frame = diabetes.copy()
    frame["target_copy"] = frame["target"] * 2.0 + 1.0
    notes = run(frame, "regression", "ridge")["notes"]
    assert any(n.startswith("Possible leak") and "target_copy" in n for n in notes)


def test_a_category_that_names_the_class_is_a_leak(iris):
    frame = iris.copy()
    frame["label_text"] = "code-" + frame["target"].astype(str)
    leaks = F.possible_leaks(
        frame.drop(columns="target"), frame["target"], task="classification"
    )
    assert [name for name, _ in leaks] == ["label_text"]
