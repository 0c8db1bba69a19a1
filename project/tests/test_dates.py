"""Dates are data: their parts as features, the split by time and its folds, the
what-if date input, and the model file that holds the date function."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app import ml as F
from app.ml.models import date_part_names, date_parts
from app.ml.training import _cv_splits, split_by_time


def monthly(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """A monthly series: a trend, a yearly season and noise."""
    rng = np.random.default_rng(seed)
    month = pd.date_range("2010-01-01", periods=n, freq="MS")
    season = 5 * np.sin(2 * np.pi * month.month.to_numpy() / 12)
    sales = 100 + 0.8 * np.arange(n) + season + rng.normal(0, 1.5, n)
    return pd.DataFrame({"month": month, "sales": sales})


def config(frame: pd.DataFrame, **changes) -> F.TrainConfig:
    values = dict(
        target="sales",
        features=tuple(c for c in frame.columns if c != "sales"),
        task="regression",
        model="ridge",
        cv_folds=4,
        time_column="month",
    )
    values.update(changes)
    return F.TrainConfig(**values)


# -- the date parts ------------------------------------------------------------------


def test_date_parts_are_year_month_day_and_day_of_week():
    x = pd.DataFrame(
        {
            "day": pd.to_datetime(["2024-02-29", None, "2023-12-31"]),
            "at": pd.to_datetime(["2024-03-01 13:45", "2024-03-02 00:00", None]),
        }
    )
    parts = date_parts(x, timed=["at"])
    nan = np.nan
    expected = [
        [2024, 2, 29, 3, 2024, 3, 1, 4, 13],  # a Thursday, then a Friday
        [nan, nan, nan, nan, 2024, 3, 2, 5, 0],
        [2023, 12, 31, 6, nan, nan, nan, nan, nan],  # a Sunday
    ]
    np.testing.assert_array_equal(parts, np.array(expected, dtype=float))
    assert F.DATE_PARTS == ("year", "month", "day", "day_of_week")


def test_date_parts_read_text_and_time_zones_and_name_their_columns():
    text = pd.DataFrame({"d": ["2024-01-05", "not a date", None]}, dtype=object)
    np.testing.assert_array_equal(
        date_parts(text)[:, :2], [[2024, 1], [np.nan, np.nan], [np.nan, np.nan]]
    )
    zoned = pd.DataFrame({"z": pd.date_range("2024-06-01 23:00", periods=2, freq="h")})
    zoned["z"] = zoned["z"].dt.tz_localize("Europe/Zurich")
    assert date_parts(zoned, timed=["z"])[:, -1].tolist() == [23.0, 0.0]  # local
    transformer = F.build_pipeline(
        numeric=[],
        categorical=[],
        dates=["d", "z"],
        timed=["z"],
        model_key="ridge",
        task="regression",
    )[0].transformers[0][1][0]
    assert date_part_names(transformer, ["d", "z"]) == [
        "d_year",
        "d_month",
        "d_day",
        "d_day_of_week",
        "z_year",
        "z_month",
        "z_day",
        "z_day_of_week",
        "z_hour",
    ]


def test_the_pipeline_turns_dates_into_imputed_scaled_parts():
    frame = monthly(60)
    frame.loc[[3, 7], "month"] = pd.NaT
    run = F.train_model(frame, config(frame, time_column=None, cv_folds=0))
    assert run.report["date_features"] == ["month"]
    assert run.report["dates_with_hours"] == []  # months have no time of day
    names = list(run.pipeline[0].get_feature_names_out())
    assert names == [
        "dates__month_year",
        "dates__month_month",
        "dates__month_day",
        "dates__month_day_of_week",
    ]
    assert F.model_importances(run.pipeline)["names"][0] == "month_year"
    dates = run.pipeline[0].named_transformers_["dates"]
    assert [name for name, _ in dates.steps] == ["parts", "impute", "scale"]
    assert np.isfinite(run.pipeline.predict(frame)).all()  # the gaps imputed


def test_hours_are_a_part_only_when_the_dates_have_times():
    frame = monthly(60)
    frame["stamp"] = frame["month"] + pd.to_timedelta(np.arange(60) % 24, "h")
    run = F.train_model(frame, config(frame))
    assert run.report["date_features"] == ["month", "stamp"]
    assert run.report["dates_with_hours"] == ["stamp"]
    names = list(run.pipeline[0].get_feature_names_out())
    assert "dates__stamp_hour" in names and "dates__month_hour" not in names


def test_a_pipeline_with_dates_survives_the_skops_round_trip():
    import skops.io as sio

    frame = monthly(80)
    run = F.train_model(frame, config(frame, model="random_forest"))
    data = F.model_to_skops(run.pipeline)
    untrusted = set(sio.get_untrusted_types(data=data))
    assert {"app.ml.models.date_parts", "app.ml.models.date_part_names"} <= untrusted
    assert all(
        t.startswith(("sklearn.", "numpy.")) or t.startswith("app.ml.models.date_")
        for t in untrusted
    )
    loaded = F.model_from_skops(data)
    np.testing.assert_array_equal(loaded.predict(frame), run.pipeline.predict(frame))


def test_a_model_file_with_another_function_is_refused():
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    rogue = Pipeline([("f", FunctionTransformer(pd.read_csv))])
    with pytest.raises(F.PredictionError, match="unexpected types"):
        F.model_from_skops(F.model_to_skops(rogue))


def test_the_memory_estimate_counts_the_parts_of_a_date():
    frame = monthly(50)
    shape = F.data_shape(frame, "sales", ["month"])
    assert shape.numeric == len(F.DATE_PARTS) + 1  # at most, with the hour


# -- the split by time -------------------------------------------------------------


def test_the_hold_out_is_the_latest_rows_whatever_the_row_order():
    frame = monthly(120).sample(frac=1.0, random_state=3)  # shuffled rows
    split = F.split_data(frame, config(frame, test_size=0.25))
    assert len(split.x_test) == 30 and len(split.x_train) == 90
    assert split.x_train["month"].max() < split.x_test["month"].min()
    latest = frame["month"].sort_values().iloc[-30:]
    assert list(split.x_test["month"]) == list(latest)  # in time order
    assert split.x_train["month"].is_monotonic_increasing
    assert list(split.y_test) == list(frame.loc[split.x_test.index, "sales"])
    # The same configuration gives the same split (explanations rely on it).
    again = F.split_data(frame, config(frame, test_size=0.25))
    assert list(again.x_test.index) == list(split.x_test.index)


def test_the_hold_out_size_is_the_one_a_random_split_holds_out():
    frame = monthly(101)
    for size in (0.1, 0.2, 0.33, 0.5):
        by_time = F.split_data(frame, config(frame, test_size=size))
        at_random = F.split_data(frame, config(frame, test_size=size, time_column=None))
        assert len(by_time.x_test) == len(at_random.x_test) == int(np.ceil(size * 101))


def test_the_time_column_need_not_be_a_feature_and_rows_without_one_are_left_out():
    frame = monthly(40)
    frame["x"] = np.arange(40.0)
    frame.loc[[0, 5], "month"] = pd.NaT
    split = F.split_data(frame, config(frame, features=("x",)))
    assert list(split.x_train.columns) == ["x"]
    assert len(split.x_train) + len(split.x_test) == 38
    assert any("Dropped 2 rows whose month is missing" in n for n in split.notes)
    assert list(split.x_test["x"]) == [28.0 + i for i in range(2, 12)]


def test_rows_at_the_same_time_keep_their_order():
    frame = pd.DataFrame(
        {
            "day": pd.to_datetime(["2024-01-02"] * 4 + ["2024-01-01"] * 4),
            "sales": np.arange(8.0),
        }
    )
    split = F.split_data(frame, config(frame, time_column="day", test_size=0.25))
    assert list(split.x_train.index) == [4, 5, 6, 7, 0, 1]
    assert list(split.x_test.index) == [2, 3]


@pytest.mark.parametrize(
    "time_column, message",
    [("nope", "not in the data"), ("x", "does not hold dates")],
)
def test_a_time_column_that_cannot_order_the_rows_is_refused(time_column, message):
    frame = monthly(30).assign(x=1.0)
    with pytest.raises(F.TrainingError, match=message):
        F.split_data(frame, config(frame, time_column=time_column))


def test_stratification_does_not_apply_to_a_split_by_time_and_says_so():
    frame = monthly(60)
    frame["up"] = np.where(frame["sales"].diff().fillna(0) > 0, "up", "down")
    cfg = config(
        frame.drop(columns="sales"),
        target="up",
        task="classification",
        model="logistic_regression",
        stratify=True,
    )
    split = F.split_data(frame.drop(columns="sales"), cfg)
    assert split.x_train["month"].max() < split.x_test["month"].min()
    assert any("not stratified" in note for note in split.notes)


def test_split_by_time_returns_both_parts_in_time_order():
    frame = monthly(20).iloc[::-1]
    notes: list[str] = []
    x = frame[["month"]]
    x_train, x_test, y_train, y_test = split_by_time(
        frame, x, frame["sales"], config(frame, test_size=0.2), notes
    )
    assert x_train["month"].is_monotonic_increasing
    assert x_test["month"].is_monotonic_increasing and len(x_test) == 4
    assert notes == []


# -- time-ordered cross-validation -------------------------------------------------


@pytest.mark.parametrize("folds", [2, 3, 5, 10])
def test_every_fold_trains_on_rows_before_the_ones_it_scores(folds):
    frame = monthly(120)
    cfg = config(frame, cv_folds=folds)
    split = F.split_data(frame, cfg)
    splits = _cv_splits(split.y_train, cfg, is_clf=False)
    assert len(splits) == folds
    times = split.x_train["month"].to_numpy()
    for train, test in splits:
        assert train.max() < test.min()  # every training index before every test one
        assert times[train].max() < times[test].min()
    tests = np.concatenate([test for _, test in splits])
    assert len(np.unique(tests)) == len(tests)  # each row scored once at most
    assert tests.max() == len(split.y_train) - 1  # up to the latest training row


def test_the_folds_are_scikit_learns_time_series_split():
    from sklearn.model_selection import TimeSeriesSplit

    frame = monthly(90)
    cfg = config(frame, cv_folds=4)
    split = F.split_data(frame, cfg)
    ours = _cv_splits(split.y_train, cfg, is_clf=False)
    theirs = TimeSeriesSplit(n_splits=4).split(np.zeros(len(split.y_train)))
    for (a_train, a_test), (b_train, b_test) in zip(ours, theirs):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_test, b_test)


def test_too_few_rows_or_one_class_in_the_first_fold_is_a_message():
    frame = monthly(8)
    with pytest.raises(F.TrainingError, match="Too few rows for 6 time-ordered"):
        F.train_model(frame, config(frame, cv_folds=6))
    frame = monthly(40)
    frame["late"] = np.where(np.arange(40) >= 20, "yes", "no")
    cfg = config(
        frame,
        features=("month",),
        target="late",
        task="classification",
        model="logistic_regression",
        cv_folds=3,
    )
    with pytest.raises(F.TrainingError, match="trains on a single class"):
        F.train_model(frame, cfg)


def test_a_split_by_time_scores_a_trend_honestly():
    """The point of it: a random split lets the model interpolate between the
    months it saw; the latest months ask it to extrapolate, as it will have to."""
    frame = monthly(120)
    by_time = F.train_model(frame, config(frame, model="random_forest")).report
    at_random = F.train_model(
        frame, config(frame, model="random_forest", time_column=None)
    ).report

    def r2(report):
        return next(m for m in report["metrics"] if m["name"] == "r2")

    assert r2(by_time)["holdout"] < r2(at_random)["holdout"] - 0.5
    assert r2(by_time)["cv_mean"] < r2(at_random)["cv_mean"]
    assert F.split_description(by_time) == (
        "split by time on month: hold-out = the latest 30 rows"
    )
    assert F.split_description(at_random) == "random split"
    assert any("the split is random" in note for note in at_random["notes"])


def test_a_stored_run_from_before_reads_as_a_random_split():
    old = {
        "target": "y",
        "features": ["a"],
        "task": "regression",
        "model": "ridge",
        "params": {},
        "test_size": 0.25,
        "stratify": True,
        "cv_folds": 5,
        "random_state": 0,
    }
    cfg = F.TrainConfig.from_dict(old)
    assert cfg.time_column is None
    assert F.TrainConfig.from_dict(cfg.to_dict()) == cfg
    timed = F.TrainConfig.from_dict({**old, "time_column": "when"})
    assert timed.time_column == "when" and timed.to_dict()["time_column"] == "when"


# -- what-if and batch predictions -------------------------------------------------


@pytest.fixture(scope="module")
def dated_run():
    frame = monthly(120)
    frame["x"] = np.random.default_rng(2).normal(size=120)
    return frame, F.train_model(frame, config(frame))


def test_the_what_if_date_is_iso_text_defaulting_to_the_median_date(dated_run):
    frame, run = dated_run
    spec = {item["name"]: item for item in run.report["inputs"]}
    month = spec["month"]
    assert month["kind"] == "date"
    assert (month["min"], month["max"]) == ("2010-01-01", "2017-06-01")
    training = frame["month"].iloc[:90]
    assert month["default"] == str(training.quantile(0.5, interpolation="lower").date())
    row, notes = F.input_row_with_notes(run.report["inputs"], {"x": 0.0})
    assert row["month"].iloc[0] == pd.Timestamp(month["default"])
    assert "median date" in notes["month"]
    assert pd.api.types.is_datetime64_any_dtype(row["month"])


@pytest.mark.parametrize(
    "text, expected, note",
    [
        ("2015-03-01", "2015-03-01", None),
        (" 2015-03-01T10:30 ", "2015-03-01 10:30", None),
        ("2019-01-01", "2019-01-01", "after every training date"),
        ("1999-12-31", "1999-12-31", "before every training date"),
        ("now", None, "is not a date"),
        ("01/03/2015", None, "is not a date"),
        ("2015-02-30", None, "is not a date"),
        (12, None, "is not a date"),
    ],
)
def test_what_if_dates_are_read_or_replaced_with_a_note(
    dated_run, text, expected, note
):
    _, run = dated_run
    spec = run.report["inputs"]
    default = next(item for item in spec if item["name"] == "month")["default"]
    row, notes = F.input_row_with_notes(spec, {"month": text, "x": 0.0})
    assert row["month"].iloc[0] == pd.Timestamp(expected or default)
    if note is None:
        assert "month" not in notes
    else:
        assert note in notes["month"]
    prediction = F.predict_one(run.pipeline, row, task="regression")["prediction"]
    assert np.isfinite(prediction)


def test_a_file_of_rows_to_predict_may_hold_dates_as_text(dated_run):
    frame, run = dated_run
    rows = pd.DataFrame(
        {"month": ["2016-01-01", "soon", None], "x": [0.0, 1.0, 2.0]}, dtype=object
    )
    rows["x"] = rows["x"].astype(float)
    predicted, notes = F.predict_batch(
        run.pipeline,
        rows,
        numeric=run.report["numeric_features"],
        categorical=run.report["categorical_features"],
        task="regression",
    )
    assert np.isfinite(predicted["prediction"]).all()
    assert any("1 value(s) of 'month' are not dates" in n for n in notes)
    expected = run.pipeline.predict(
        pd.DataFrame({"x": [0.0], "month": pd.to_datetime(["2016-01-01"])})
    )[0]
    assert predicted["prediction"].iloc[0] == pytest.approx(expected)


def test_explanations_vary_a_date_over_time(dated_run):
    frame, run = dated_run
    split = F.split_data(frame, config(frame))
    curves = F.partial_dependence_curves(
        run.pipeline, split.x_train, "month", task="regression"
    )
    assert curves["categorical"] is False  # a line over time
    grid = pd.to_datetime(curves["grid"])
    assert grid.is_monotonic_increasing and len(grid) <= 30
    importances = F.permutation_importances(
        run.pipeline, split.x_test, split.y_test, task="regression"
    )
    assert importances["features"][0] == "month"
