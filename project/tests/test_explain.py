"""Explanations against scikit-learn's own computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.inspection import partial_dependence, permutation_importance

from app import ml as F


@pytest.fixture(scope="module")
def iris_split(iris):
    config = F.TrainConfig(
        target="target",
        features=tuple(c for c in iris.columns if c != "target"),
        task="classification",
        model="random_forest",
        params={"n_estimators": 25},
        random_state=2,
    )
    run = F.train_model(iris, config)
    return run, F.split_data(iris, config)


@pytest.fixture(scope="module")
def diabetes_split(diabetes):
    config = F.TrainConfig(
        target="target",
        features=tuple(c for c in diabetes.columns if c != "target"),
        task="regression",
        model="ridge",
    )
    return F.train_model(diabetes, config), F.split_data(diabetes, config)


def test_split_data_is_the_split_training_used(iris, iris_split):
    run, data = iris_split
    assert len(data.x_test) == run.report["n_test"]
    assert len(data.x_train) == run.report["n_train"]
    again = F.split_data(iris, F.TrainConfig.from_dict(run.report["config"]))
    pd.testing.assert_index_equal(again.x_test.index, data.x_test.index)


def test_permutation_importance_equals_scikit_learns(iris_split):
    run, data = iris_split
    ours = F.permutation_importances(
        run.pipeline, data.x_test, data.y_test, task="classification", random_state=4
    )
    theirs = permutation_importance(
        run.pipeline,
        data.x_test,
        data.y_test,
        scoring="accuracy",
        n_repeats=5,
        random_state=4,
    )
    by_name = dict(zip(data.x_test.columns, theirs.importances_mean))
    for name, mean in zip(ours["features"], ours["mean"]):
        assert mean == pytest.approx(by_name[name], abs=1e-12)
    assert ours["mean"] == sorted(ours["mean"], reverse=True)
    assert ours["sampled"] is False


def test_permutation_importance_is_bounded_on_big_data(diabetes_split):
    run, data = diabetes_split
    ours = F.permutation_importances(
        run.pipeline, data.x_test, data.y_test, task="regression", max_rows=50
    )
    assert ours["sampled"] is True and ours["rows"] == 50
    assert ours["scoring"] == "r2"


def test_permutation_importance_of_a_slow_model_takes_fewer_rows(diabetes_split):
    """The sample shrinks so that a slow model's importances stay within time."""
    import time

    from sklearn.base import BaseEstimator, RegressorMixin

    run, data = diabetes_split

    class Slow(RegressorMixin, BaseEstimator):
        def fit(self, x, y):
            return self

        def predict(self, x):
            time.sleep(2e-5 * len(x))
            return run.pipeline.predict(x)

    x = pd.concat([data.x_test] * 20, ignore_index=True)
    y = pd.concat([data.y_test] * 20, ignore_index=True)
    started = time.perf_counter()
    ours = F.permutation_importances(Slow(), x, y, task="regression", seconds=0.3)
    assert ours["sampled"] and 200 <= ours["rows"] < 2_000
    assert time.perf_counter() - started < 3.0
    fast = F.permutation_importances(run.pipeline, x, y, task="regression")
    assert fast["rows"] > ours["rows"]


def test_a_models_fixed_cost_per_call_does_not_shrink_the_sample(diabetes_split):
    """A model whose every call costs the same whatever the rows (a pipeline's
    steps) is not taken for a slow one: the sample stays whole."""
    import time

    from sklearn.base import BaseEstimator, RegressorMixin

    run, data = diabetes_split

    class Fixed(RegressorMixin, BaseEstimator):
        def fit(self, x, y):
            return self

        def predict(self, x):
            time.sleep(0.02)
            return run.pipeline.predict(x)

    # 51 calls in 3 s: 59 ms each, 20 of them fixed. Taken per row, the fixed cost
    # would be 100 µs a row (588 rows); the rows themselves may cost up to 19 µs
    # (a busy machine's timing noise) and the sample still stays whole.
    x = pd.concat([data.x_test] * 20, ignore_index=True)
    y = pd.concat([data.y_test] * 20, ignore_index=True)
    ours = F.permutation_importances(Fixed(), x, y, task="regression", seconds=3.0)
    assert ours["sampled"] and ours["rows"] == 2_000


def test_model_importances_of_a_forest_and_coefficients_of_a_linear_model(
    iris_split, diabetes_split
):
    forest, _ = iris_split
    native = F.model_importances(forest.pipeline)
    assert native["kind"] == "importance"
    np.testing.assert_allclose(
        native["values"][0], forest.pipeline[-1].feature_importances_
    )
    assert native["names"] == list(
        forest.pipeline[:-1].get_feature_names_out().tolist()
    ) or all("__" not in n for n in native["names"])
    ridge, _ = diabetes_split
    coef = F.model_importances(ridge.pipeline)
    assert coef["kind"] == "coefficient"
    np.testing.assert_allclose(coef["values"][0], ridge.pipeline[-1].coef_)


def test_models_without_importances_say_so(iris):
    config = F.TrainConfig(
        target="target",
        features=("sepal_length_cm", "petal_width_cm"),
        task="classification",
        model="knn",
        cv_folds=0,
    )
    assert F.model_importances(F.train_model(iris, config).pipeline) is None


def test_partial_dependence_equals_scikit_learns(iris_split):
    run, data = iris_split
    ours = F.partial_dependence_curves(
        run.pipeline,
        data.x_train,
        "petal_length_cm",
        task="classification",
        grid_resolution=15,
    )
    theirs = partial_dependence(
        run.pipeline,
        data.x_train,
        ["petal_length_cm"],
        kind="both",
        grid_resolution=15,
        response_method="predict_proba",
    )
    np.testing.assert_allclose(ours["average"], theirs["average"], atol=1e-12)
    np.testing.assert_allclose(ours["grid"], theirs["grid_values"][0])
    assert ours["outputs"] == ["setosa", "versicolor", "virginica"]
    assert np.asarray(ours["ice"]).shape == (3, 50, 15)


def test_partial_dependence_of_a_category_and_of_a_regression():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"colour": rng.choice(["red", "green", "blue"], 300), "x": rng.normal(size=300)}
    )
    frame["target"] = frame["x"] * 2 + (frame["colour"] == "red") * 3
    config = F.TrainConfig(
        target="target",
        features=("colour", "x"),
        task="regression",
        model="ridge",
        cv_folds=0,
    )
    run = F.train_model(frame, config)
    data = F.split_data(frame, config)
    ours = F.partial_dependence_curves(
        run.pipeline, data.x_train, "colour", task="regression"
    )
    assert ours["categorical"] is True and set(ours["grid"]) == {"red", "green", "blue"}
    values = dict(zip(ours["grid"], ours["average"][0]))
    assert values["red"] - values["blue"] == pytest.approx(3, abs=0.3)


def test_two_way_partial_dependence_equals_scikit_learns(diabetes_split):
    run, data = diabetes_split
    ours = F.partial_dependence_2d(
        run.pipeline, data.x_train, ("bmi", "s5"), task="regression", grid_resolution=8
    )
    theirs = partial_dependence(
        run.pipeline, data.x_train, ["bmi", "s5"], kind="average", grid_resolution=8
    )
    np.testing.assert_allclose(
        np.asarray(ours["z"]).T, theirs["average"][0], atol=1e-12
    )


def test_decision_boundary_refits_on_two_features(iris_split):
    _, data = iris_split
    boundary = F.decision_boundary(
        data.x_train,
        data.y_train,
        features=("petal_length_cm", "petal_width_cm"),
        model_key="logistic_regression",
        params={},
        grid=30,
    )
    z = np.asarray(boundary["z"])
    assert z.shape == (30, 30)
    assert set(np.unique(z)) <= {0.0, 1.0, 2.0}
    assert boundary["accuracy"] > 0.9
    assert boundary["label"] == "predicted class"
    assert len(boundary["points"]["x"]) == len(data.x_train)


def test_calibration_equals_scikit_learns(breast_cancer):
    config = F.TrainConfig(
        target="target",
        features=tuple(c for c in breast_cancer.columns if c != "target"),
        task="classification",
        model="logistic_regression",
    )
    run = F.train_model(breast_cancer, config)
    data = F.split_data(breast_cancer, config)
    proba = run.pipeline.predict_proba(data.x_test)
    classes = run.pipeline.classes_
    curves = F.calibration(data.y_test.to_numpy(), proba, classes)
    observed, predicted = calibration_curve(
        data.y_test == classes[1], proba[:, 1], n_bins=10
    )
    assert len(curves) == 1 and curves[0]["label"] == classes[1]
    np.testing.assert_allclose(curves[0]["observed"], observed)
    np.testing.assert_allclose(curves[0]["predicted"], predicted)
    assert run.report["calibration"][0]["observed"] == pytest.approx(observed.tolist())


# Partial dependence on integer columns and missing values


@pytest.fixture(scope="module")
def integer_frame():
    """Whole-number features as uploads give them: int64 with few and with many
    values, and a nullable Int64 with missing values (as read from Parquet)."""
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame(
        {
            "rooms": rng.integers(1, 6, n),
            "year": rng.integers(1900, 2021, n),
            "floors": pd.array(rng.integers(0, 40, n), dtype="Int64"),
            "area": rng.normal(80, 20, n),
        }
    )
    frame.loc[::9, "floors"] = pd.NA
    frame["price"] = (
        frame["rooms"] * 10
        + (frame["year"] - 1900) * 0.2
        + frame["floors"].astype("float64").fillna(10)
        + frame["area"] * 0.5
        + rng.normal(0, 1, n)
    )
    frame["dear"] = np.where(frame["price"] > frame["price"].median(), "yes", "no")
    assert frame["rooms"].dtype == np.int64 and frame["floors"].dtype == "Int64"
    return frame


def _integer_pipeline(frame, task):
    features = ["rooms", "year", "floors", "area"]
    pipeline = F.build_pipeline(
        numeric=features,
        categorical=[],
        model_key="ridge" if task == "regression" else "logistic_regression",
        task=task,
    )
    target = "price" if task == "regression" else "dear"
    return pipeline.fit(frame[features], frame[target]), frame[features]


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_partial_dependence_of_integer_features(integer_frame, task):
    pipeline, x = _integer_pipeline(integer_frame, task)
    rooms = F.partial_dependence_curves(pipeline, x, "rooms", task=task)
    # Few distinct values: the grid is those values, as whole numbers.
    assert rooms["grid"] == [1, 2, 3, 4, 5]
    assert all(type(v) is int for v in rooms["grid"])
    assert np.asarray(rooms["average"]).shape == (1, 5)
    # The curve is the model's mean output with every row set to the value.
    output = (
        (lambda z: pipeline.predict(z))
        if task == "regression"
        else (lambda z: pipeline.predict_proba(z)[:, 1])
    )
    expected = [output(x.assign(rooms=v)).mean() for v in rooms["grid"]]
    np.testing.assert_allclose(rooms["average"][0], expected, atol=1e-9)
    # Many distinct values: whole numbers between the 5th and 95th percentiles.
    year = F.partial_dependence_curves(pipeline, x, "year", task=task)
    low, high = np.percentile(x["year"], [5, 95])
    assert all(type(v) is int for v in year["grid"])
    assert year["grid"] == sorted(set(year["grid"])) and 10 < len(year["grid"]) <= 30
    assert low - 1 <= year["grid"][0] and year["grid"][-1] <= high + 1
    # Nullable with missing values: no missing value on the grid.
    floors = F.partial_dependence_curves(pipeline, x, "floors", task=task)
    assert floors["grid"] and all(type(v) is int for v in floors["grid"])
    assert np.isfinite(np.asarray(floors["average"])).all()
    assert np.asarray(floors["ice"]).shape[2] == len(floors["grid"])


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_two_way_partial_dependence_of_integer_features(integer_frame, task):
    pipeline, x = _integer_pipeline(integer_frame, task)
    both = F.partial_dependence_2d(pipeline, x, ("rooms", "floors"), task=task)
    assert both["x"] == [1, 2, 3, 4, 5]
    assert all(type(v) is int for v in both["y"]) and len(both["y"]) <= 20
    z = np.asarray(both["z"])
    assert z.shape == (len(both["y"]), len(both["x"])) and np.isfinite(z).all()
    mixed = F.partial_dependence_2d(pipeline, x, ("year", "area"), task=task)
    assert all(type(v) is int for v in mixed["x"])
    assert np.isfinite(np.asarray(mixed["z"])).all()


def test_partial_dependence_leaves_missing_values_off_the_grid():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=300),
            "colour": rng.choice(["red", "green", "blue"], 300),
        }
    )
    frame["target"] = frame["x"] * 2 + (frame["colour"] == "red") * 3
    frame.loc[::10, "x"] = np.nan
    frame.loc[::7, "colour"] = None
    pipeline = F.build_pipeline(
        numeric=["x"], categorical=["colour"], model_key="ridge", task="regression"
    ).fit(frame[["x", "colour"]], frame["target"])
    x = frame[["x", "colour"]]
    curve = F.partial_dependence_curves(pipeline, x, "x", task="regression")
    assert len(curve["grid"]) == 30 and np.isfinite(curve["grid"]).all()
    assert np.ptp(curve["average"][0]) > 1
    colour = F.partial_dependence_curves(pipeline, x, "colour", task="regression")
    assert colour["grid"] == ["blue", "green", "red"]
    both = F.partial_dependence_2d(pipeline, x, ("x", "colour"), task="regression")
    assert both["y"] == ["blue", "green", "red"] and np.isfinite(both["x"]).all()


# Per-row contributions (sampling Shapley values)


def _additive(result):
    return sum(result["values"]) - (result["prediction"] - result["base"])


def test_row_contributions_add_up_for_a_regression_with_a_category():
    rng = np.random.default_rng(5)
    n = 600
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "k": rng.integers(0, 10, n),
            "colour": rng.choice(["red", "green", "blue"], n),
        }
    )
    y = frame["x"] * frame["k"] + (frame["colour"] == "red") * 3
    pipeline = F.build_pipeline(
        numeric=["x", "k"],
        categorical=["colour"],
        model_key="random_forest",
        task="regression",
        params={"n_estimators": 20},
    ).fit(frame, y)
    row = pd.DataFrame({"x": [1.5], "k": [9.0], "colour": ["red"]}).astype(
        {"colour": object}
    )
    result = F.row_contributions(pipeline, frame, row, task="regression")
    assert abs(_additive(result)) < 1e-9
    assert result["prediction"] == pytest.approx(pipeline.predict(row)[0], abs=1e-12)
    assert sorted(result["features"]) == ["colour", "k", "x"]
    assert list(np.abs(result["values"])) == sorted(
        np.abs(result["values"]), reverse=True
    )
    assert result["values"][result["features"].index("colour")] > 1
    assert result["output"] == "predicted value"
    assert result["permutations"] == 64 and result["background_rows"] == 32
    assert result["grouped"] == [] and result["note"] is None
    assert result["method"].startswith("Sampling Shapley values")


def test_row_contributions_add_up_for_a_classification(iris_split):
    run, data = iris_split
    row = data.x_test.iloc[[0]]
    proba = run.pipeline.predict_proba(row)[0]
    result = F.row_contributions(run.pipeline, data.x_train, row, task="classification")
    predicted = int(np.argmax(proba))
    assert (
        result["output"] == f"probability of class {run.pipeline.classes_[predicted]}"
    )
    assert result["prediction"] == pytest.approx(proba[predicted], abs=1e-12)
    assert abs(_additive(result)) < 1e-9
    other = F.row_contributions(
        run.pipeline, data.x_train, row, task="classification", class_index=0
    )
    assert other["output"] == "probability of class setosa"
    assert other["prediction"] == pytest.approx(proba[0], abs=1e-12)
    assert abs(_additive(other)) < 1e-9
    with pytest.raises(ValueError, match="class_index"):
        F.row_contributions(
            run.pipeline, data.x_train, row, task="classification", class_index=3
        )


@pytest.fixture(scope="module")
def linear_run():
    """Linear regression on standardised independent features."""
    rng = np.random.default_rng(6)
    n = 2_000
    x = pd.DataFrame(
        {
            "a": rng.normal(3, 2, n),
            "b": rng.uniform(-5, 5, n),
            "c": rng.integers(0, 50, n),
            "d": rng.exponential(1, n),
        }
    )
    y = 2 * x["a"] - 0.7 * x["b"] + 0.1 * x["c"] + 4 * x["d"] + rng.normal(0, 0.1, n)
    pipeline = F.build_pipeline(
        numeric=list(x.columns),
        categorical=[],
        model_key="linear_regression",
        task="regression",
    ).fit(x, y)
    scale = pipeline.named_steps["preprocess"].named_transformers_["numeric"]
    coef = pipeline[-1].coef_ / scale.named_steps["scale"].scale_
    return pipeline, x, dict(zip(x.columns, coef))


def test_row_contributions_of_a_linear_model_are_coef_times_the_difference(
    linear_run,
):
    pipeline, x, coef = linear_run
    row = pd.DataFrame({"a": [7.0], "b": [-4.0], "c": [12.0], "d": [0.2]})
    # 32 background rows and 64 orders (32 antithetic pairs): each row used once,
    # so the contributions are exact against the background's mean.
    background = x.sample(32, random_state=0)
    exact = F.row_contributions(pipeline, background, row, task="regression")
    got = dict(zip(exact["features"], exact["values"]))
    for name in x.columns:
        expected = coef[name] * (row.loc[0, name] - background[name].mean())
        assert got[name] == pytest.approx(expected, abs=1e-9)
    assert abs(_additive(exact)) < 1e-9
    # Against the whole sample with many orders, they approach the same thing.
    many = F.row_contributions(pipeline, x, row, task="regression", permutations=1000)
    got = dict(zip(many["features"], many["values"]))
    for name in x.columns:
        expected = coef[name] * (row.loc[0, name] - x[name].mean())
        assert got[name] == pytest.approx(expected, abs=0.1 * abs(coef[name]) * 3)


def test_row_contributions_of_an_ignored_feature_are_zero():
    rng = np.random.default_rng(7)
    n = 500
    x = pd.DataFrame({"signal": rng.normal(size=n), "noise": rng.normal(size=n)})
    y = 3 * x["signal"] + rng.normal(0, 0.01, n)
    pipeline = F.build_pipeline(
        numeric=["signal", "noise"],
        categorical=[],
        model_key="lasso",
        task="regression",
        params={"alpha": 0.5},
    ).fit(x, y)
    assert pipeline[-1].coef_[1] == 0
    row = pd.DataFrame({"signal": [1.0], "noise": [4.0]})
    result = F.row_contributions(pipeline, x, row, task="regression")
    got = dict(zip(result["features"], result["values"]))
    assert abs(got["noise"]) < 1e-12
    assert got["signal"] > 1 and result["features"][0] == "signal"


def test_row_contributions_are_deterministic_for_a_seed(linear_run, iris_split):
    pipeline, x, _ = linear_run
    row = x.iloc[[3]]
    first = F.row_contributions(pipeline, x, row, task="regression", seed=1)
    assert F.row_contributions(pipeline, x, row, task="regression", seed=1) == first
    other = F.row_contributions(pipeline, x, row, task="regression", seed=2)
    assert other["values"] != first["values"]
    run, data = iris_split
    again = [
        F.row_contributions(
            run.pipeline, data.x_train, data.x_test.iloc[[5]], task="classification"
        )
        for _ in range(2)
    ]
    assert again[0] == again[1]


def test_row_contributions_group_features_beyond_the_cap():
    rng = np.random.default_rng(8)
    n = 500
    x = pd.DataFrame({f"f{i}": rng.normal(size=n) for i in range(45)})
    y = 3 * x["f3"] - 2 * x["f40"] + x["f12"]
    pipeline = F.build_pipeline(
        numeric=list(x.columns), categorical=[], model_key="ridge", task="regression"
    ).fit(x, y)
    row = x.iloc[[0]].assign(f3=4.0, f40=-4.0, f12=3.0)
    result = F.row_contributions(pipeline, x, row, task="regression", permutations=20)
    assert len(result["features"]) == 30 and len(result["grouped"]) == 16
    assert "other 16 features" in result["features"]
    assert {"f3", "f40", "f12"} <= set(result["features"])
    assert not {"f3", "f40", "f12"} & set(result["grouped"])
    assert "45 features" in result["note"]
    assert abs(_additive(result)) < 1e-9
    assert result["features"][:3] == ["f3", "f40", "f12"]


def test_row_contributions_stay_within_their_row_budget(linear_run):
    pipeline, x, _ = linear_run
    calls = []

    class Counting:
        feature_names_in_ = pipeline.feature_names_in_

        def predict(self, frame):
            calls.append(len(frame))
            return pipeline.predict(frame)

    row = x.iloc[[0]]
    F.row_contributions(Counting(), x, row, task="regression", permutations=64)
    assert len(calls) == 1 and calls[0] <= (4 + 1) * 64


def test_row_contributions_timing(capsys):
    """Not asserted: 20 features, 2,000 background rows, the default orders."""
    import time

    rng = np.random.default_rng(9)
    n = 2_000
    x = pd.DataFrame({f"f{i}": rng.normal(size=n) for i in range(20)})
    y = x["f0"] * x["f1"] + x["f2"]
    seconds = {}
    for model in ("ridge", "random_forest", "hist_gradient_boosting", "knn"):
        pipeline = F.build_pipeline(
            numeric=list(x.columns), categorical=[], model_key=model, task="regression"
        ).fit(x, y)
        start = time.perf_counter()
        F.row_contributions(pipeline, x, x.iloc[[0]], task="regression")
        seconds[model] = time.perf_counter() - start
    with capsys.disabled():
        print(
            "\nrow_contributions, 20 features x 2,000 rows:",
            ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in seconds.items()),
        )


def test_the_encoders_internal_names_never_reach_the_page():
    """Rare categories grouped by the one-hot encoder are "(other values)"."""
    rng = np.random.default_rng(0)
    n = 400
    titles = [f"t{i}" for i in range(60)]
    frame = pd.DataFrame(
        {
            "title": rng.choice(titles, n),
            "x": rng.normal(size=n),
        }
    )
    y = pd.Series(rng.choice(["a", "b"], n))
    pipeline = F.build_pipeline(
        numeric=["x"],
        categorical=["title"],
        model_key="logistic_regression",
        task="classification",
    ).fit(frame, y)
    names = F.model_importances(pipeline)["names"]
    assert "title (other values)" in names
    assert not any("infrequent" in name or "sklearn" in name for name in names)
