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
