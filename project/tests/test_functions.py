"""Unit tests of the pure layer: datasets, model specs, pipeline, training, metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.model_selection import (
    KFold,
    StratifiedKFold,
    cross_validate,
    train_test_split,
)

from app import ml as F


def features_of(frame: pd.DataFrame, target: str = "target") -> tuple[str, ...]:
    """Every column but the target."""
    return tuple(c for c in frame.columns if c != target)


# -- datasets ------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(F.DATASETS))
def test_every_bundled_dataset_loads_with_a_target_of_its_task(key):
    frame = F.load_bundled(key)
    assert F.TARGET in frame.columns
    assert len(frame) >= 100
    assert frame.drop(columns=F.TARGET).shape[1] >= 2
    assert F.detect_task(frame[F.TARGET]) == F.DATASETS[key].task


@pytest.mark.parametrize(
    "key", ["moons", "circles", "blobs", "classification", "regression"]
)
def test_synthetic_generators_honour_size_features_and_seed(key):
    a = F.load_bundled(key, n_samples=321, n_features=4, random_state=7)
    b = F.load_bundled(key, n_samples=321, n_features=4, random_state=7)
    c = F.load_bundled(key, n_samples=321, n_features=4, random_state=8)
    assert len(a) == 321
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_samples": 5}, "Rows must be between"),
        ({"n_samples": F.MAX_SYNTHETIC_ROWS + 1}, "Rows must be between"),
        ({"n_features": 1}, "Features must be between"),
        ({"noise": -1}, "Noise must not be negative"),
    ],
)
def test_synthetic_generators_refuse_out_of_range_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        F.load_bundled("classification", **kwargs)


def test_unknown_dataset_is_refused():
    with pytest.raises(KeyError, match="Unknown dataset"):
        F.load_bundled("titanic")


def test_iris_target_holds_class_names(iris):
    assert sorted(iris[F.TARGET].unique()) == ["setosa", "versicolor", "virginica"]
    assert "sepal_length_cm" in iris.columns


# -- task detection and profiling ----------------------------------------------------


@pytest.mark.parametrize(
    "values, task",
    [
        (["a", "b", "a", "c"] * 10, "classification"),
        ([True, False] * 20, "classification"),
        ([0, 1, 2, 1, 0] * 20, "classification"),
        ([0.0, 1.0] * 20, "classification"),
        (list(np.linspace(0, 1, 100)), "regression"),
        (list(range(100)), "regression"),
        ([1.5, 2.5, 3.5] * 30, "regression"),
    ],
)
def test_detect_task(values, task):
    assert F.detect_task(pd.Series(values)) == task


def test_summarize_columns_reports_types_missing_and_stats():
    frame = pd.DataFrame(
        {"x": [1.0, 2.0, np.nan, 4.0], "c": ["a", "b", "a", None], "k": [1, 1, 1, 1]}
    )
    rows = {
        r["column"]: r for r in F.summarize_columns(frame, roles={"constant": ("k",)})
    }
    assert rows["x"]["type"] == "numeric"
    assert rows["x"]["missing"] == 1 and rows["x"]["missing_pct"] == 25.0
    assert rows["x"]["mean"] == pytest.approx(7 / 3, rel=1e-5)
    assert rows["x"]["min"] == 1.0 and rows["x"]["max"] == 4.0
    assert rows["c"]["type"] == "categorical" and rows["c"]["top"] == "a (2)"
    assert rows["k"]["role"] == "constant"
    json.dumps(list(rows.values()))


def test_column_distribution_histogram_counts_every_finite_value():
    series = pd.Series(
        np.r_[np.random.default_rng(0).normal(size=10_000), np.nan, np.inf]
    )
    dist = F.column_distribution(series, bins=25)
    assert dist["kind"] == "histogram"
    assert len(dist["edges"]) == 26
    assert sum(dist["counts"]) == 10_000
    assert dist["missing"] == 1


def test_column_distribution_counts_categories_and_groups_the_rest():
    series = pd.Series([f"v{i % 40}" for i in range(400)] + ["v0"] * 10)
    dist = F.column_distribution(series, top=5)
    assert dist["kind"] == "counts"
    assert dist["labels"][0] == "v0" and dist["counts"][0] == 20
    assert len(dist["labels"]) == 5
    assert dist["other"] == 410 - sum(dist["counts"])


def test_correlation_matrix_skips_constant_and_text_columns():
    frame = pd.DataFrame(
        {"a": [1, 2, 3, 4.0], "b": [2, 4, 6, 8.0], "k": [1, 1, 1, 1], "t": list("wxyz")}
    )
    corr = F.correlation_matrix(frame)
    assert list(corr.columns) == ["a", "b"]
    assert corr.loc["a", "b"] == pytest.approx(1.0)


def test_preview_records_are_json_safe():
    frame = pd.DataFrame(
        {
            "x": [1.5, np.nan, np.inf],
            "d": pd.to_datetime(["2024-01-01", None, "2024-03-01"]),
            "s": ["a", None, "<b>c</b>"],
        }
    )
    records = F.preview_records(frame)
    text = json.dumps(records)
    assert records[1]["x"] is None and records[2]["x"] == "inf"
    assert "<b>c</b>" in text


def test_default_target_and_features_skip_identifier_columns():
    roles = {"id": ["row_id"], "constant": ["k"], "date": ["when"]}
    columns = ["row_id", "a", "b", "k", "when", "label"]
    assert F.default_target(columns, roles) == "label"
    assert F.default_target(columns + ["target"], roles) == "target"
    # The one date column is the time axis: a feature, and the split follows it.
    assert F.default_features(columns, "label", roles) == ["a", "b", "when"]
    assert F.default_time_column(columns, "label", roles) == "when"
    # Two date columns: offered, neither chosen, and the split is random.
    roles["date"] = ["when", "a"]
    assert F.default_features(columns, "label", roles) == ["b"]
    assert F.default_time_column(columns, "label", roles) is None
    # A constant date is no time axis.
    roles = {"id": [], "constant": ["when"], "date": ["when"]}
    assert F.default_time_column(columns, "label", roles) is None
    assert "when" not in F.default_features(columns, "label", roles)


# -- model specs and pipeline --------------------------------------------------------


def test_model_keys_are_the_ui_contract():
    assert set(F.MODEL_SPECS) == {
        "logistic_regression",
        "linear_regression",
        "ridge",
        "lasso",
        "knn",
        "svm",
        "decision_tree",
        "random_forest",
        "hist_gradient_boosting",
        "naive_bayes",
    }
    assert set(F.models_for_task("regression")) >= {"ridge", "lasso", "knn"}
    assert "naive_bayes" not in F.models_for_task("regression")
    assert "linear_regression" not in F.models_for_task("classification")


@pytest.mark.parametrize(
    "model, task",
    [(m, t) for m, spec in F.MODEL_SPECS.items() for t in spec.tasks],
)
def test_every_model_builds_with_its_defaults_and_seed(model, task):
    estimator = F.make_estimator(model, task, F.default_params(model), random_state=3)
    if task in F.MODEL_SPECS[model].calibrated:
        assert type(estimator).__name__ == "CalibratedClassifierCV"
        estimator = estimator.estimator
    params = estimator.get_params()
    own = type(estimator)().get_params()  # scikit-learn's defaults for the class
    for name, value in F.default_params(model).items():
        assert params[name] == (own[name] if value == F.SKLEARN_DEFAULT else value)
    if "random_state" in params:
        assert params["random_state"] == 3


def test_the_random_forest_keeps_scikit_learns_features_per_split_by_task():
    """The regressor uses every feature per split, as scikit-learn does (not sqrt)."""
    defaults = F.default_params("random_forest")
    regressor = F.make_estimator("random_forest", "regression", defaults)
    classifier = F.make_estimator("random_forest", "classification", defaults)
    assert regressor.max_features == 1.0
    assert classifier.max_features == "sqrt"


def test_a_model_refuses_a_task_it_cannot_do():
    with pytest.raises(ValueError, match="cannot do regression"):
        F.make_estimator("naive_bayes", "regression")


@pytest.mark.parametrize(
    "model, values, expected",
    [
        (
            "random_forest",
            {"n_estimators": "50", "max_depth": ""},
            {"n_estimators": 50, "max_depth": None},
        ),
        ("random_forest", {"max_features": "1.0"}, {"max_features": 1.0}),
        ("logistic_regression", {"class_weight": "None"}, {"class_weight": None}),
        ("svm", {"C": 2.5, "kernel": "linear"}, {"C": 2.5, "kernel": "linear"}),
        ("linear_regression", {"fit_intercept": False}, {"fit_intercept": False}),
    ],
)
def test_validate_params_converts_ui_values(model, values, expected):
    params = F.validate_params(model, values)
    for name, value in expected.items():
        assert params[name] == value
        assert type(params[name]) is type(value)


@pytest.mark.parametrize(
    "model, values, message",
    [
        ("random_forest", {"n_estimators": 0}, "Trees: must be at least 1"),
        ("random_forest", {"n_estimators": 2.5}, "whole number"),
        ("knn", {"n_neighbors": "many"}, "is not a number"),
        ("svm", {"kernel": "magic"}, "choose one of rbf, linear"),
        ("ridge", {"alpha": None}, "a value is needed"),
        ("ridge", {"alpha": float("inf")}, "not a finite number"),
    ],
)
def test_validate_params_explains_bad_values(model, values, message):
    with pytest.raises(ValueError, match=message):
        F.validate_params(model, values)


def test_pipeline_imputes_scales_and_ignores_unknown_categories():
    train = pd.DataFrame(
        {"x": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0], "c": ["a", "b", "a", None, "b", "a"]}
    )
    y = [0, 1, 0, 1, 1, 0]
    pipe = F.build_pipeline(
        numeric=["x"],
        categorical=["c"],
        model_key="logistic_regression",
        task="classification",
    )
    pipe.fit(train, y)
    new = pd.DataFrame({"x": [np.nan, 3.0], "c": ["never seen", None]})
    assert pipe.predict_proba(new).shape == (2, 2)
    transformed = pipe[:-1].transform(train)
    assert np.isfinite(transformed).all()
    assert transformed[:, 0].mean() == pytest.approx(0.0, abs=1e-12)


def test_pipeline_needs_a_feature():
    with pytest.raises(ValueError, match="at least one feature"):
        F.build_pipeline(
            numeric=[], categorical=[], model_key="ridge", task="regression"
        )


# -- training and metrics ------------------------------------------------------------


def _reference_split(frame, config):
    x = frame[list(config.features)]
    y = frame[config.target]
    stratify = y if config.task == "classification" and config.stratify else None
    return train_test_split(
        x,
        y,
        test_size=config.test_size,
        stratify=stratify,
        random_state=config.random_state,
    )


def _reference_pipeline(frame, config):
    numeric, categorical, _ = F.split_features(frame, list(config.features))
    return F.build_pipeline(
        numeric=numeric,
        categorical=categorical,
        model_key=config.model,
        task=config.task,
        params=config.params,
        random_state=config.random_state,
    )


def _metric(report, name):
    return next(m for m in report["metrics"] if m["name"] == name)


@pytest.mark.parametrize(
    "dataset, model",
    [
        ("breast_cancer", "logistic_regression"),
        ("iris", "random_forest"),
        ("wine", "knn"),
    ],
)
def test_classification_metrics_equal_scikit_learns_on_the_same_split(dataset, model):
    frame = F.load_bundled(dataset)
    config = F.TrainConfig(
        target="target",
        features=features_of(frame),
        task="classification",
        model=model,
        params={"n_estimators": 30} if model == "random_forest" else {},
        cv_folds=4,
        random_state=11,
    )
    run = F.train_model(frame, config)
    x_train, x_test, y_train, y_test = _reference_split(frame, config)
    reference = _reference_pipeline(frame, config).fit(x_train, y_train)
    predicted = reference.predict(x_test)
    proba = reference.predict_proba(x_test)
    labels = reference.classes_
    binary = len(labels) == 2
    avg = (
        {"average": "binary", "pos_label": labels[1]}
        if binary
        else {"average": "macro"}
    )
    expected = {
        "accuracy": metrics.accuracy_score(y_test, predicted),
        "balanced_accuracy": metrics.balanced_accuracy_score(y_test, predicted),
        "precision": metrics.precision_score(y_test, predicted, **avg),
        "recall": metrics.recall_score(y_test, predicted, **avg),
        "f1": metrics.f1_score(y_test, predicted, **avg),
        "roc_auc": (
            metrics.roc_auc_score(y_test == labels[1], proba[:, 1])
            if binary
            else metrics.roc_auc_score(y_test, proba, multi_class="ovr")
        ),
        "log_loss": metrics.log_loss(y_test, proba, labels=labels),
    }
    for name, value in expected.items():
        assert _metric(run.report, name)["holdout"] == pytest.approx(
            value, abs=1e-12
        ), name
    # Cross-validation: the same folds through scikit-learn's own cross_validate.
    folds = StratifiedKFold(n_splits=4, shuffle=True, random_state=11)
    scoring = {"accuracy": "accuracy", "balanced_accuracy": "balanced_accuracy"}
    if binary:
        scoring["roc_auc"] = "roc_auc"
    cv = cross_validate(
        _reference_pipeline(frame, config), x_train, y_train, cv=folds, scoring=scoring
    )
    for name in scoring:
        row = _metric(run.report, name)
        assert row["cv_mean"] == pytest.approx(cv[f"test_{name}"].mean(), abs=1e-12)
        assert row["cv_std"] == pytest.approx(cv[f"test_{name}"].std(), abs=1e-12)
    assert np.array(run.report["confusion"]).sum() == len(y_test)
    assert run.report["n_test"] == len(y_test)


@pytest.mark.parametrize("model", ["ridge", "random_forest", "hist_gradient_boosting"])
def test_regression_metrics_equal_scikit_learns_on_the_same_split(diabetes, model):
    config = F.TrainConfig(
        target="target",
        features=features_of(diabetes),
        task="regression",
        model=model,
        params={"n_estimators": 20} if model == "random_forest" else {},
        cv_folds=3,
        random_state=5,
    )
    run = F.train_model(diabetes, config)
    x_train, x_test, y_train, y_test = _reference_split(diabetes, config)
    predicted = (
        _reference_pipeline(diabetes, config).fit(x_train, y_train).predict(x_test)
    )
    expected = {
        "r2": metrics.r2_score(y_test, predicted),
        "mae": metrics.mean_absolute_error(y_test, predicted),
        "rmse": metrics.root_mean_squared_error(y_test, predicted),
        "mape": metrics.mean_absolute_percentage_error(y_test, predicted),
    }
    for name, value in expected.items():
        assert _metric(run.report, name)["holdout"] == pytest.approx(
            value, rel=1e-12
        ), name
    cv = cross_validate(
        _reference_pipeline(diabetes, config),
        x_train,
        y_train,
        cv=KFold(n_splits=3, shuffle=True, random_state=5),
        scoring={"r2": "r2", "mae": "neg_mean_absolute_error"},
    )
    assert _metric(run.report, "r2")["cv_mean"] == pytest.approx(cv["test_r2"].mean())
    assert _metric(run.report, "mae")["cv_mean"] == pytest.approx(
        -cv["test_mae"].mean()
    )
    assert run.report["predictions"]["total"] == len(y_test)


def test_report_is_json_and_names_metrics_as_scikit_learn_spells_them(iris_run):
    _, run = iris_run
    json.dumps(run.report)
    names = [m["name"] for m in run.report["metrics"]]
    assert names == [
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
    ]
    assert len(run.report["roc"]) == 3 and len(run.report["pr"]) == 3
    assert run.report["classes"] == ["setosa", "versicolor", "virginica"]


def test_progress_is_reported_per_fold(iris):
    seen = []
    config = F.TrainConfig(
        target="target",
        features=features_of(iris),
        task="classification",
        model="naive_bayes",
        cv_folds=3,
    )
    F.train_model(
        iris, config, progress=lambda done, total, msg: seen.append((done, total))
    )
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_zero_folds_skips_cross_validation(iris):
    config = F.TrainConfig(
        target="target",
        features=features_of(iris),
        task="classification",
        model="naive_bayes",
        cv_folds=0,
    )
    report = F.train_model(iris, config).report
    assert report["cv_folds"] == 0
    assert all(m["cv_mean"] is None for m in report["metrics"])


def test_rows_with_missing_target_are_dropped_with_a_note(iris):
    frame = iris.copy()
    frame.loc[:9, "target"] = None
    config = F.TrainConfig(
        target="target",
        features=features_of(iris),
        task="classification",
        model="naive_bayes",
    )
    report = F.train_model(frame, config).report
    assert report["n_train"] + report["n_test"] == 140
    assert any("Dropped 10 rows" in note for note in report["notes"])


def test_curves_and_predictions_are_bounded_for_big_hold_outs():
    frame = F.load_bundled("classification", n_samples=20_000, n_features=4)
    config = F.TrainConfig(
        target="target",
        features=features_of(frame),
        task="classification",
        model="naive_bayes",
        cv_folds=0,
        test_size=0.5,
    )
    report = F.train_model(frame, config).report
    assert all(len(c["fpr"]) <= 300 for c in report["roc"])
    assert all(len(c["recall"]) <= 300 for c in report["pr"])


def _config(frame, **kw):
    base = {
        "target": "target",
        "features": features_of(frame),
        "task": "classification",
        "model": "logistic_regression",
    }
    base.update(kw)
    return F.TrainConfig(**base)


@pytest.mark.parametrize(
    "change, config_kw, message",
    [
        (lambda f: f.assign(target="same"), {}, "single class"),
        (lambda f: f.iloc[::10], {"cv_folds": 5}, "at least 5 rows of every class"),
        (lambda f: f.iloc[::12], {"cv_folds": 10, "stratify": False}, "Too few rows"),
        (lambda f: f.assign(target=None), {}, "no usable values"),
        (lambda f: f, {"task": "regression", "model": "ridge"}, "numeric target"),
        (lambda f: f, {"model": "ridge"}, "cannot do classification"),
        (lambda f: f, {"target": "nope"}, "not in the data"),
        (lambda f: f, {"features": ()}, "at least one feature"),
        (lambda f: f, {"cv_folds": 50}, "folds must be"),
        (lambda f: f, {"test_size": 0.9}, "hold-out size"),
        (lambda f: f, {"params": {"C": -1}}, "must be at least"),
    ],
)
def test_training_errors_have_clear_messages(iris, change, config_kw, message):
    frame = change(iris.copy())
    with pytest.raises(F.TrainingError, match=message):
        F.train_model(frame, _config(iris, **config_kw))


def test_too_many_classes_is_refused():
    frame = pd.DataFrame(
        {"x": np.arange(300.0), "target": [f"c{i}" for i in range(300)]}
    )
    with pytest.raises(F.TrainingError, match="at most 50"):
        F.train_model(frame, _config(frame))


def test_slow_models_are_refused_beyond_their_row_limit():
    frame = pd.DataFrame({"x": np.zeros(20_001), "target": np.arange(20_001) % 2})
    with pytest.raises(F.TrainingError, match="limited to 20,000 rows"):
        F.prepare_target(frame, _config(frame, model="svm"))


def test_slow_run_warning():
    assert F.slow_run_warning(150, "logistic_regression", 5) is None
    assert "minute" in F.slow_run_warning(500_000, "logistic_regression", 5)
    assert "scales badly" in F.slow_run_warning(10_000, "svm", 5)


def test_dates_are_features_as_their_parts(iris):
    frame = iris.assign(when=pd.date_range("2024-01-01", periods=len(iris)))
    config = _config(frame, features=features_of(frame), model="naive_bayes")
    report = F.train_model(frame, config).report
    assert report["date_features"] == ["when"] and report["dates_with_hours"] == []
    assert "when" not in report["numeric_features"] + report["categorical_features"]
    # A random split with a date feature says that it flatters the model.
    assert any("the split is random" in note for note in report["notes"])
    assert {"name": "when", "kind": "date"}.items() <= report["inputs"][-1].items()


def test_training_messages_name_classes_in_plain_words():
    """A class is named as the visitor knows it, never as np.int64(36)."""
    frame = pd.DataFrame(
        {"x": np.arange(40.0), "target": np.array([1, 2] * 19 + [36, 1], np.int64)}
    )
    config = F.TrainConfig(
        target="target",
        features=("x",),
        task="classification",
        model="logistic_regression",
        cv_folds=5,
        stratify=False,
    )
    with pytest.raises(F.TrainingError) as caught:
        F.train_model(frame, config)
    message = str(caught.value)
    assert "class 36 has" in message
    assert "np." not in message and "int64" not in message
