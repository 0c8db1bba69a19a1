"""Estimates of what a training needs, checked against what scikit-learn builds."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from app import ml as F
from app.ml.budget import (
    DataShape,
    data_shape,
    estimate_training,
    memory_refusal,
    shape_from_summary,
    size,
)

GB = 1024**3


def _forest_run(n_rows: int, **params):
    frame = F.load_bundled("regression", n_samples=n_rows, n_features=2)
    config = F.TrainConfig(
        target="target",
        features=("x1", "x2"),
        task="regression",
        model="random_forest",
        params={"n_estimators": 1000, "max_depth": None, "min_samples_leaf": 1}
        | params,
        cv_folds=0,
    )
    return frame, config


def test_the_attack_forest_is_refused_before_it_starts_with_its_size():
    """1,000 unlimited trees on 1,000,000 rows: ~65 GB, refused in a second."""
    frame, config = _forest_run(1_000_000)
    with pytest.raises(F.TrainingError) as refused:
        F.train_model(frame, config, memory_budget=1 * GB)
    message = str(refused.value)
    assert message.startswith("1,000 trees of unlimited depth on 750,000 rows")
    assert "about 64 GB" in message and "allows 1.0 GB per job" in message
    assert "Limit the depth" in message


def test_a_limited_forest_of_the_same_data_is_allowed():
    frame, config = _forest_run(1_000_000, n_estimators=50, max_depth=8)
    shape = data_shape(frame, config.target, config.features)
    estimate = estimate_training(
        shape, model="random_forest", task="regression", params=config.params,
        test_size=0.25,
    )  # fmt: skip
    assert memory_refusal(estimate, 1 * GB) is None


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_the_forest_size_estimate_is_close_to_what_is_built(task):
    """Regression: an upper bound within 2x; classification: within 4x either way."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    key = "regression" if task == "regression" else "classification"
    frame = F.load_bundled(key, n_samples=20_000, n_features=5, noise=0.05)
    features = tuple(c for c in frame.columns if c != "target")
    model_cls = (
        RandomForestRegressor if task == "regression" else RandomForestClassifier
    )
    model = model_cls(n_estimators=10, random_state=0).fit(
        frame[list(features)].iloc[:15_000], frame["target"].iloc[:15_000]
    )
    built = len(pickle.dumps(model))
    shape = data_shape(frame, "target", features)
    if task == "classification":  # a classification target of numbers
        shape = DataShape(shape.rows, shape.numeric, shape.levels, 2)
    estimate = estimate_training(
        shape, model="random_forest", task=task, params={"n_estimators": 10},
        test_size=0.25,
    )  # fmt: skip
    ratio = estimate.model_bytes / built
    assert (1.0 <= ratio <= 2.0) if task == "regression" else (0.25 <= ratio <= 4)


def test_one_hot_encoding_of_many_levels_is_named_as_the_cause():
    shape = DataShape(rows=1_000_000, numeric=2, levels=(5_000,) * 20, classes=2)
    estimate = estimate_training(
        shape, model="logistic_regression", task="classification", params={},
        test_size=0.25,
    )  # fmt: skip
    message = memory_refusal(estimate, 1 * GB)
    assert message.startswith("One-hot encoding to 602 inputs on 750,000 rows")
    assert "Leave out text columns" in message


def test_the_shape_from_the_summary_equals_the_shape_from_the_data():
    frame = F.load_bundled("iris")
    frame["colour"] = np.where(frame["sepal_length_cm"] > 5.8, "red", "blue")
    features = tuple(c for c in frame.columns if c != "target")
    summary = F.summarize_columns(frame)
    from_data = data_shape(frame, "target", features)
    from_summary = shape_from_summary(summary, len(frame), "target", features)
    assert (
        (from_summary.numeric, from_summary.levels, from_summary.classes)
        == (
            from_data.numeric,
            from_data.levels,
            from_data.classes,
        )
        == (4, (2,), 3)
    )


@pytest.mark.parametrize(
    "nbytes, text",
    [(5 * 2**20, "5 MB"), (1.5 * GB, "1.5 GB"), (64.4 * GB, "64 GB"), (10, "1 MB")],
)
def test_sizes_read_naturally(nbytes, text):
    assert size(nbytes) == text
