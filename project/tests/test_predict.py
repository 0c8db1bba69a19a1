"""What-if inputs, single and batch predictions, safe CSV and the skops model."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from app import ml as F


@pytest.fixture(scope="module")
def mixed_run():
    rng = np.random.default_rng(1)
    n = 400
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50_000, 12_000, n).round(2),
            "city": rng.choice(["Basel", "Bern", "Zurich"], n),
        }
    )
    frame["bought"] = np.where(
        (frame["age"] > 40) & (frame["city"] != "Bern"), "yes", "no"
    )
    config = F.TrainConfig(
        target="bought",
        features=("age", "income", "city"),
        task="classification",
        model="random_forest",
        params={"n_estimators": 30},
        cv_folds=0,
    )
    return frame, F.train_model(frame, config)


def test_input_spec_has_ranges_steps_and_typical_defaults(mixed_run):
    frame, run = mixed_run
    spec = {item["name"]: item for item in run.report["inputs"]}
    assert spec["age"]["kind"] == "number" and spec["age"]["step"] == 1
    assert spec["age"]["min"] >= 18 and spec["age"]["max"] <= 79
    assert spec["age"]["default"] == pytest.approx(frame["age"].median(), abs=1)
    assert 0 < spec["income"]["step"] < spec["income"]["max"] - spec["income"]["min"]
    assert spec["city"]["kind"] == "category"
    assert sorted(spec["city"]["options"]) == ["Basel", "Bern", "Zurich"]


def test_predict_one_matches_the_pipeline(mixed_run):
    _, run = mixed_run
    row = F.input_row(
        run.report["inputs"], {"age": 60, "income": 40_000, "city": "Basel"}
    )
    result = F.predict_one(run.pipeline, row, task="classification")
    expected = pd.DataFrame({"age": [60.0], "income": [40_000.0], "city": ["Basel"]})
    assert result["prediction"] == run.pipeline.predict(expected)[0]
    assert sum(result["probabilities"].values()) == pytest.approx(1.0)
    assert set(result["probabilities"]) == {"no", "yes"}


def test_predict_one_tolerates_empty_and_unknown_values(mixed_run):
    _, run = mixed_run
    spec = {item["name"]: item for item in run.report["inputs"]}
    row = F.input_row(
        run.report["inputs"], {"age": None, "income": "abc", "city": "Paris"}
    )
    # Empty and non-numbers take the input's default (they used to become NaN,
    # which the imputer turned into the median without a word).
    assert row.loc[0, "age"] == spec["age"]["default"]
    assert row.loc[0, "income"] == spec["income"]["default"]
    assert row.loc[0, "city"] == "Paris"
    assert F.predict_one(run.pipeline, row, task="classification")["prediction"] in {
        "no",
        "yes",
    }


def test_what_if_numbers_are_taken_as_typed_with_notes(mixed_run):
    _, run = mixed_run
    spec = {item["name"]: item for item in run.report["inputs"]}
    low, high = spec["age"]["min"], spec["age"]["max"]
    row, notes = F.input_row_with_notes(
        run.report["inputs"],
        {"age": high + 40.5, "income": "61234.5", "city": "Bern"},
    )
    assert row.loc[0, "age"] == high + 40.5
    assert row.loc[0, "income"] == 61234.5
    assert row.loc[0, "city"] == "Bern"
    assert set(notes) == {"age"}
    assert f"age = {high + 40.5:g} is outside the training range" in notes["age"]
    assert f"({low:g} to {high:g})" in notes["age"]
    assert "not a whole number" in notes["age"]
    below, notes = F.input_row_with_notes(
        run.report["inputs"], {"age": -3, "income": 0, "city": "Basel"}
    )
    assert below.loc[0, "age"] == -3 and below.loc[0, "income"] == 0
    assert "outside the training range" in notes["age"]
    assert "outside the training range" in notes["income"]
    assert "whole number" not in notes["age"]
    inside, notes = F.input_row_with_notes(
        run.report["inputs"], {"age": 30, "income": 50_000.123, "city": "Basel"}
    )
    assert notes == {} and inside.loc[0, "income"] == 50_000.123


@pytest.mark.parametrize(
    "raw, says",
    [
        (None, "is empty"),
        ("", "is empty"),
        ("  ", "is empty"),
        ("abc", "is not a number"),
        ([1], "is not a number"),
        (float("nan"), "is not a finite number"),
        (float("inf"), "is not a finite number"),
        ("-inf", "is not a finite number"),
    ],
)
def test_what_if_empty_or_not_a_number_takes_the_default_and_says_so(
    mixed_run, raw, says
):
    _, run = mixed_run
    spec = {item["name"]: item for item in run.report["inputs"]}
    row, notes = F.input_row_with_notes(
        run.report["inputs"], {"age": 30, "income": raw, "city": "Basel"}
    )
    assert row.loc[0, "income"] == spec["income"]["default"]
    assert list(notes) == ["income"]
    assert says in notes["income"] and "default" in notes["income"]
    assert f"{spec['income']['default']:g}" in notes["income"]


def test_what_if_missing_inputs_take_the_default_and_say_so(mixed_run):
    _, run = mixed_run
    spec = {item["name"]: item for item in run.report["inputs"]}
    row, notes = F.input_row_with_notes(run.report["inputs"], {"city": ""})
    assert row.loc[0, "age"] == spec["age"]["default"]
    assert row.loc[0, "city"] == spec["city"]["default"]
    assert set(notes) == {"age", "income", "city"}
    assert all("is empty" in n and "default" in n for n in notes.values())
    pd.testing.assert_frame_equal(F.input_row(run.report["inputs"], {}), row)


def test_what_if_unknown_category_is_taken_as_typed_when_the_model_can(mixed_run):
    _, run = mixed_run
    values = {"age": 30, "income": 50_000, "city": "Paris"}
    for pipeline in (None, run.pipeline):
        row, notes = F.input_row_with_notes(
            run.report["inputs"], values, pipeline=pipeline
        )
        assert row.loc[0, "city"] == "Paris" and row["city"].dtype == object
        assert list(notes) == ["city"] and "'Paris'" in notes["city"]
        assert "as typed" in notes["city"]
        assert F.predict_one(pipeline or run.pipeline, row, task="classification")


def test_what_if_unknown_category_gives_way_when_the_model_cannot(mixed_run):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame, run = mixed_run
    strict = Pipeline(
        [
            (
                "preprocess",
                ColumnTransformer(
                    [
                        ("numeric", "passthrough", ["age", "income"]),
                        ("categorical", OneHotEncoder(), ["city"]),
                    ]
                ),
            ),
            ("model", LogisticRegression(max_iter=500)),
        ]
    ).fit(frame[["age", "income", "city"]], frame["bought"])
    values = {"age": 30, "income": 50_000, "city": "Paris"}
    row, notes = F.input_row_with_notes(run.report["inputs"], values, pipeline=strict)
    default = {i["name"]: i for i in run.report["inputs"]}["city"]["default"]
    assert row.loc[0, "city"] == default
    assert "cannot take a new value" in notes["city"] and default in notes["city"]
    strict.predict(row)  # the default is a value the strict encoder knows


def test_input_row_is_the_row_of_input_row_with_notes(mixed_run):
    _, run = mixed_run
    values = {"age": 200, "income": "x", "city": "Paris"}
    row, _ = F.input_row_with_notes(run.report["inputs"], values)
    pd.testing.assert_frame_equal(F.input_row(run.report["inputs"], values), row)


def test_batch_prediction_adds_predictions_and_probabilities(mixed_run):
    frame, run = mixed_run
    rows = frame.drop(columns="bought").head(20).assign(extra="x")
    out, notes = F.predict_batch(
        run.pipeline,
        rows,
        numeric=["age", "income"],
        categorical=["city"],
        task="classification",
        target="bought",
    )
    assert list(out["prediction"]) == list(
        run.pipeline.predict(rows[["age", "income", "city"]])
    )
    assert {"probability_no", "probability_yes"} <= set(out.columns)
    assert any("Ignored 1 column" in n for n in notes)


def test_batch_prediction_reports_missing_columns_and_bad_numbers(mixed_run):
    frame, run = mixed_run
    with pytest.raises(
        F.PredictionError, match=r"lacks 1 column\(s\) the model needs: 'city'"
    ):
        F.predict_batch(
            run.pipeline,
            frame[["age", "income"]],
            numeric=["age", "income"],
            categorical=["city"],
            task="classification",
        )
    rows = frame.head(3).astype({"age": object})
    rows.loc[0, "age"] = "old"
    out, notes = F.predict_batch(
        run.pipeline,
        rows,
        numeric=["age", "income"],
        categorical=["city"],
        task="classification",
        target="bought",
    )
    assert len(out) == 3
    assert any("1 value(s) of 'age' are not numbers" in n for n in notes)
    with pytest.raises(F.PredictionError, match="no rows"):
        F.predict_batch(
            run.pipeline,
            frame.head(0),
            numeric=["age", "income"],
            categorical=["city"],
            task="classification",
        )


HOSTILE = [
    "=1+1",
    "+SUM(A1)",
    "-2+3",
    "@cmd",
    "\t=x",
    "\r=x",
    "|calc",
    "%x",
    '=HYPERLINK("x")',
]


@pytest.mark.parametrize("cell", HOSTILE)
def test_formula_cells_are_neutralised(cell):
    frame = pd.DataFrame({"text": [cell, "plain"], "number": [-1.5, 2.0], cell: [1, 2]})
    safe = F.neutralize_formulas(frame)
    assert safe.loc[0, "text"] == "'" + cell
    assert safe.loc[1, "text"] == "plain"
    assert list(safe["number"]) == [-1.5, 2.0]
    assert list(safe.columns) == ["text", "number", "'" + cell]
    data = F.to_safe_csv(frame)
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    cells = [c for row in rows for c in row]
    assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r", "|", "%"))]
    assert "-1.5" in cells


def test_safe_cells_are_unchanged():
    frame = pd.DataFrame({"t": ["abc", "1+1", "a=b", ""], "n": [1, -2, 3, 4]})
    assert F.neutralize_formulas(frame).equals(frame)


def test_skops_model_loads_and_predicts_the_same(mixed_run):
    frame, run = mixed_run
    data = F.model_to_skops(run.pipeline)
    assert not data.startswith(b"\x80")  # not a pickle
    loaded = F.model_from_skops(data)
    x = frame.drop(columns="bought")
    np.testing.assert_array_equal(loaded.predict(x), run.pipeline.predict(x))
    np.testing.assert_allclose(loaded.predict_proba(x), run.pipeline.predict_proba(x))


@pytest.mark.parametrize(
    "model",
    [
        "logistic_regression",
        "svm",
        "knn",
        "decision_tree",
        "hist_gradient_boosting",
        "naive_bayes",
    ],
)
def test_every_classifier_round_trips_through_skops(iris, model):
    config = F.TrainConfig(
        target="target",
        features=tuple(c for c in iris.columns if c != "target"),
        task="classification",
        model=model,
        cv_folds=0,
    )
    run = F.train_model(iris, config)
    loaded = F.model_from_skops(F.model_to_skops(run.pipeline))
    x = iris.drop(columns="target")
    np.testing.assert_array_equal(loaded.predict(x), run.pipeline.predict(x))


@pytest.mark.parametrize("model", list(F.models_for_task("classification")))
def test_the_what_if_class_is_what_the_model_predicts(iris, model):
    """predict_one takes the most probable class; every classifier agrees with it."""
    config = F.TrainConfig(
        target="target",
        features=tuple(c for c in iris.columns if c != "target"),
        task="classification",
        model=model,
        cv_folds=0,
    )
    run = F.train_model(iris, config)
    rng = np.random.default_rng(0)
    x = iris.drop(columns="target")
    grid = x.sample(60, random_state=0) + rng.normal(0, 0.3, size=(60, 4))
    for _, values in grid.iterrows():
        row = F.input_row(run.report["inputs"], values.to_dict())
        assert F.predict_one(run.pipeline, row, task="classification")[
            "prediction"
        ] == (run.pipeline.predict(row)[0])
