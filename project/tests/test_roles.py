"""The right task and roles, guessed: classes or quantities, identifier-like text,
yes/no answers read as booleans and given one feature each."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from app import ml as F
from app.ml import profiling as P
from app.ml.loading import clean_frame, read_table

# --------------------------------------------------------------------------- #
# 1. Classification or regression, from the target's values
# --------------------------------------------------------------------------- #


def _repeat(counts: dict[object, int], seed: int = 0) -> list[object]:
    """Each value as many times as its count, shuffled."""
    values = [v for v, n in counts.items() for _ in range(n)]
    return list(np.random.default_rng(seed).permutation(np.array(values, dtype=object)))


# Highway miles per gallon of the 234 cars of ggplot2's mpg: 27 values, some rare.
HWY = {12: 5, 14: 2, 15: 10, 16: 7, 17: 33, 18: 10, 19: 13, 20: 11, 21: 2}
HWY |= {22: 7, 23: 7, 24: 13, 25: 13, 26: 33, 27: 14, 28: 7, 29: 23, 30: 4}
HWY |= {31: 6, 32: 4, 33: 2, 34: 1, 35: 2, 36: 2, 37: 1, 41: 1, 44: 2}
# Quality grades of the UCI wine-quality data (white: 4,898 wines, red: 1,599).
WHITE_QUALITY = {3: 20, 4: 163, 5: 1457, 6: 2198, 7: 880, 8: 175, 9: 5}
RED_QUALITY = {3: 10, 4: 53, 5: 681, 6: 638, 7: 199, 8: 18}
RNG = np.random.default_rng(7)
ZIPS = RNG.choice(np.arange(10_001, 99_950, 37), size=60, replace=False)


@dataclass(frozen=True)
class Target:
    id: str
    values: list[object]
    task: str
    why: str


TARGETS = [
    Target(
        "iris-species-codes",
        _repeat({0: 50, 1: 50, 2: 50}),
        "classification",
        "codes 0, 1, 2",
    ),
    Target(
        "digits-0-9",
        _repeat({d: 180 for d in range(10)}),
        "classification",
        "ten codes 0..9, as in the digits dataset",
    ),
    Target(
        "rating-0-4-with-a-rare-level",
        _repeat({0: 30, 1: 60, 2: 80, 3: 25, 4: 3}),
        "classification",
        "a small range from 0 is a code list, even with a rare level",
    ),
    Target(
        "classes-1-3",
        _repeat({1: 9, 2: 7, 3: 4}),
        "classification",
        "a small range from 1",
    ),
    Target("binary-0-1", _repeat({0: 700, 1: 300}), "classification", "two values"),
    Target(
        "binary-floats",
        _repeat({0.0: 40, 1.0: 60}),
        "classification",
        "two values, as floats",
    ),
    Target(
        "sentiment-minus-1-0-1",
        _repeat({-1: 120, 0: 200, 1: 180}),
        "classification",
        "three codes, each frequent",
    ),
    Target(
        "red-wine-quality-3-8",
        _repeat(RED_QUALITY),
        "classification",
        "six grades, the rarest held by 10 wines",
    ),
    Target(
        "white-wine-quality-3-9",
        _repeat(WHITE_QUALITY),
        "regression",
        "grade 9 has 5 wines: too few for a class, and grades are ordered",
    ),
    Target(
        "few-zip-codes",
        _repeat({94105: 120, 10001: 90, 60601: 60}),
        "classification",
        "three repeated codes",
    ),
    Target(
        "many-zip-codes",
        list(RNG.choice(ZIPS, size=1_000)),
        "regression",
        "60 distinct numbers: not a code list the app can tell",
    ),
    Target("hwy-mileage", _repeat(HWY), "regression", "27 values in 234 rows"),
    Target(
        "hwy-mileage-with-missing",
        _repeat(HWY)[:200] + [np.nan] * 34,
        "regression",
        "the same, read as floats",
    ),
    Target(
        "hour-of-day",
        list(RNG.integers(0, 24, 2_000)),
        "regression",
        "24 values",
    ),
    Target(
        "score-0-10",
        list(RNG.integers(0, 11, 500)),
        "regression",
        "eleven values: more than ten",
    ),
    Target(
        "counts-0-300",
        list(RNG.integers(0, 301, 1_000)),
        "regression",
        "hundreds of counts",
    ),
    Target(
        "row-ranks-1-8",
        list(range(1, 9)),
        "regression",
        "1..8 once each is a rank, not classes (more codes than sqrt(rows))",
    ),
    Target("floats", list(RNG.normal(size=300)), "regression", "measurements"),
    Target(
        "three-floats",
        [1.5, 2.5, 3.5] * 30,
        "regression",
        "fractions are quantities",
    ),
    Target(
        "yes-no-text",
        ["yes", "no", "no", None] * 30,
        "classification",
        "text",
    ),
    Target("booleans", [True, False] * 20, "classification", "true/false"),
]


@pytest.mark.parametrize("case", TARGETS, ids=[t.id for t in TARGETS])
def test_detect_task_tells_codes_from_quantities(case: Target) -> None:
    assert F.detect_task(pd.Series(case.values)) == case.task, case.why


@pytest.mark.parametrize("case", TARGETS, ids=[t.id for t in TARGETS])
def test_detect_task_is_the_same_after_cleaning(case: Target) -> None:
    frame = pd.DataFrame({"x": np.arange(len(case.values)), "y": case.values})
    cleaned = clean_frame(frame)[0]
    assert F.detect_task(cleaned["y"]) == case.task, case.why


@pytest.mark.parametrize("name", ["hwy-mileage", "hour-of-day"])
def test_quantities_that_looked_like_classes_now_train(name: str) -> None:
    """As classes, these failed ("class 36 has 1 member"); as numbers they train."""
    case = next(t for t in TARGETS if t.id == name)
    y = np.array(case.values, dtype=float)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"displ": y / 10 + rng.normal(0, 0.3, len(y)), "y": y})
    task = F.detect_task(frame["y"])
    config = F.TrainConfig("y", ("displ",), task, F.DEFAULT_MODEL[task], cv_folds=5)
    report = F.train_model(frame, config).report
    assert report["task"] == "regression"


# What each bundled dataset's target is guessed to be (as before the new rule).
BUNDLED_TASKS = {
    "iris": "classification",
    "wine": "classification",
    "breast_cancer": "classification",
    "digits": "classification",
    "diabetes": "regression",
    "moons": "classification",
    "circles": "classification",
    "blobs": "classification",
    "classification": "classification",
    "regression": "regression",
}


@pytest.mark.parametrize("key", list(F.DATASETS))
def test_bundled_datasets_keep_their_task(key: str) -> None:
    assert set(BUNDLED_TASKS) == set(F.DATASETS)
    frame = F.load_bundled(key)
    assert F.detect_task(frame[F.TARGET]) == BUNDLED_TASKS[key]
    assert F.detect_task(clean_frame(frame)[0][F.TARGET]) == BUNDLED_TASKS[key]
    assert F.DATASETS[key].task == BUNDLED_TASKS[key]


@pytest.mark.parametrize(
    "key, params",
    [
        ("blobs", {"n_samples": 10}),
        ("blobs", {"n_samples": 20_000}),
        ("classification", {"n_samples": 10}),
        ("moons", {"n_samples": 10}),
        ("regression", {"n_samples": 10}),
    ],
)
def test_generated_datasets_keep_their_task_at_any_size(key: str, params) -> None:
    frame = F.load_bundled(key, **params)
    assert F.detect_task(frame[F.TARGET]) == F.DATASETS[key].task


# --------------------------------------------------------------------------- #
# 2. Nearly unique text is identifier-like
# --------------------------------------------------------------------------- #


def _titles(n: int, unique_share: float, seed: int = 0) -> list[str]:
    """Film-title-like text: ``unique_share`` of the rows have a title of their
    own, the others repeat one of the first titles (remakes, same names)."""
    rng = np.random.default_rng(seed)
    distinct = round(n * unique_share)
    titles = [f"The {w} of {i}" for i, w in enumerate(rng.choice(WORDS, distinct))]
    repeats = list(rng.choice(titles[:10], n - distinct))
    return list(rng.permutation(np.array(titles + repeats, dtype=object)))


WORDS = ["Night", "Return", "Legend", "House", "Garden", "Island", "Road", "Game"]


def _people(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    surnames = [f"Name{i:03d}" for i in range(n)]
    surnames[:12] = ["Smith"] * 6 + ["Jones"] * 6  # 190 of 200 distinct
    return pd.DataFrame(
        {
            "title": _titles(n, 0.95),
            "surname": pd.Series(surnames, dtype=object),
            "address": [f"{i + 1} High Street" for i in range(n)],
            "genre": rng.choice(["drama", "comedy", "horror", "documentary"], n),
            "studio": [f"Studio {i % 60}" for i in range(n)],  # 60 of 200: 30%
            "budget": np.round(rng.lognormal(3, 1, n), 6),  # nearly unique numbers
            "year": rng.integers(1950, 2024, n),
            "rating": rng.normal(6, 1.5, n).round(3),
        }
    )


def test_nearly_unique_text_is_identifier_like() -> None:
    frame = _people()
    frame.loc[[3, 50, 70], "surname"] = None  # missing values do not hide it
    cleaned, notes, roles = clean_frame(frame)
    assert set(roles["id"]) == {"title", "surname", "address"}
    features = F.default_features(list(cleaned.columns), "rating", roles)
    assert features == ["genre", "studio", "budget", "year"]
    assert (
        "'title' is nearly unique (190 different values among 200), like names or "
        "titles; not used as a feature by default, because values that hardly "
        "repeat teach a model nothing." in notes
    )
    assert any(
        n.startswith("'surname' is nearly unique (188 different values among 197)")
        for n in notes
    )
    # unique per row: the note it had before
    assert (
        "'address' looks like a row identifier (unique per row); not used as a "
        "feature by default, because it would leak row identity into the model."
        in notes
    )


def test_nearly_unique_text_from_an_upload_is_identifier_like() -> None:
    frame = _people()
    table = read_table(frame.to_csv(index=False).encode(), "films.csv")
    assert set(table.id_columns) == {"title", "surname", "address"}


@pytest.mark.parametrize(
    "values, is_id",
    [
        (_titles(100, 0.95), True),
        (_titles(100, 0.90), True),
        (_titles(100, 0.85), False),  # repeats: a category, kept as a feature
        (_titles(19, 1.0), False),  # too few rows to tell
        (_titles(30, 0.95)[:25] + [None] * 10, True),  # 25 known, 24 distinct
        (_titles(15, 1.0) + [None] * 30, False),  # 15 known values: too few
        ([f"w{i % 40}" for i in range(400)], False),  # 40 words repeated
    ],
    ids=["95%", "90%", "85%", "19-rows", "with-missing", "mostly-missing", "words"],
)
def test_the_near_unique_threshold(values: list[object], is_id: bool) -> None:
    frame = pd.DataFrame({"text": pd.Series(values, dtype=object)})
    frame["n"] = np.random.default_rng(0).normal(size=len(frame))
    _, _, roles = clean_frame(frame)
    assert ("text" in roles["id"]) is is_id


def test_numbers_are_not_identifiers_by_being_nearly_unique() -> None:
    rng = np.random.default_rng(0)
    numbers = rng.integers(0, 10**9, 200)
    numbers[:10] = numbers[10]  # 95% distinct, but numbers: quantities
    frame = pd.DataFrame({"amount": numbers, "price": rng.normal(size=200)})
    _, notes, roles = clean_frame(frame)
    assert roles["id"] == ()
    assert notes == []


@pytest.mark.parametrize("repeat_at", [None, 15_000])
def test_nearly_unique_long_text_columns(repeat_at: int | None) -> None:
    """Past the first 10,000 values the share is counted over the whole column."""
    n = 30_000
    text = np.array([f"customer {i}" for i in range(n)], dtype=object)
    text[::20] = "walk-in"  # 95% distinct
    if repeat_at is not None:  # then only 15,000 names, each twice: 50%
        text[repeat_at:] = text[repeat_at - (n - repeat_at) : repeat_at]
    frame = pd.DataFrame({"who": text, "x": np.arange(n) % 7})
    table = read_table(frame.to_csv(index=False).encode(), "big.csv")
    assert ("who" in table.id_columns) is (repeat_at is None)


def test_long_text_with_early_repeats_is_not_ranked_whole(monkeypatch) -> None:
    """A category shows its repeats among the first values: no whole-column pass."""
    import pyarrow.compute as pc

    def refuse(*args, **kwargs):
        raise AssertionError("the whole column was ranked")

    monkeypatch.setattr(pc, "rank", refuse)
    frame = pd.DataFrame({"city": [f"city {i % 500}" for i in range(30_000)]})
    frame["x"] = np.arange(len(frame)) % 7
    table = read_table(frame.to_csv(index=False).encode(), "cities.csv")
    assert table.id_columns == ()


# --------------------------------------------------------------------------- #
# 3. Yes/no answers are booleans, and one feature each
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "yes, no",
    [
        ("yes", "no"),
        ("Yes", "No"),
        ("YES", "no"),
        ("y", "n"),
        ("Y", "N"),
        ("true", "false"),
        ("TRUE", "FALSE"),
        ("True", "False"),
        ("t", "f"),
        ("T", "F"),
        (" yes ", "no "),
    ],
)
def test_yes_no_text_becomes_a_boolean_column(yes: str, no: str) -> None:
    raw = pd.DataFrame({"smoker": [yes, no, no, yes, no] * 6, "x": range(30)})
    cleaned, notes, _ = clean_frame(raw)
    assert cleaned["smoker"].dtype == bool
    assert cleaned["smoker"].tolist() == [True, False, False, True, False] * 6
    shown = f"{yes.strip()}/{no.strip()}"
    assert f"Read 'smoker' ({shown}) as true/false answers." in notes


def test_yes_no_with_missing_values_is_a_nullable_boolean() -> None:
    text = b"id2,smoker,paid\na,Yes,Y\nb,No,N\nc,,N\nd,NA,Y\ne,yes,n\n"
    table = read_table(text, "answers.csv")
    frame = table.frame
    assert frame["smoker"].dtype == "boolean" and frame["paid"].dtype == bool
    assert frame["smoker"].tolist() == [True, False, pd.NA, pd.NA, True]
    assert frame["paid"].tolist() == [True, False, False, True, False]
    assert "Read 'smoker' (Yes/No), 'paid' (Y/N) as true/false answers." in (
        table.notes
    )
    assert F.column_kind(frame["smoker"]) == P.BOOLEAN
    assert F.detect_task(frame["smoker"]) == "classification"


@pytest.mark.parametrize(
    "values",
    [
        ["yes", "no", "maybe"],  # a third answer
        ["true", "FALSE", "yes"],  # three different words
        ["yes", "yes", None],  # a single value
        ["f", "m", "f"],  # not an answer (sex)
        ["on", "off", "on"],
    ],
)
def test_other_text_stays_text(values: list[object]) -> None:
    raw = pd.DataFrame({"answer": values * 10})
    cleaned, notes, _ = clean_frame(raw)
    assert F.column_kind(cleaned["answer"]) == P.CATEGORICAL
    assert not any("true/false" in n for n in notes)


def test_one_and_zero_text_stays_a_number() -> None:
    cleaned, notes, _ = clean_frame(pd.DataFrame({"flag": ["1", "0", "1"] * 10}))
    assert cleaned["flag"].dtype == np.int64 and notes == []


def _answers(n: int = 400, seed: int = 5) -> pd.DataFrame:
    """Patients with yes/no answers (one with gaps) and a numeric and text column."""
    rng = np.random.default_rng(seed)
    smoker = rng.random(n) < 0.3
    insured = rng.random(n) < 0.7
    age = rng.integers(18, 90, n)
    region = rng.choice(["north", "south", "east"], n)
    risk = 0.04 * (age - 50) + 1.5 * smoker - 0.8 * insured + rng.normal(0, 0.8, n)
    raw = pd.DataFrame(
        {
            "age": age,
            "smoker": np.where(smoker, "Yes", "No").astype(object),
            "insured": np.where(insured, "y", "n").astype(object),
            "region": region,
            "visits": (risk * 3 + 10).round(1),
            "sick": np.where(risk > 0.5, "yes", "no"),
        }
    )
    raw.loc[rng.random(n) < 0.1, "insured"] = None
    return raw


def test_boolean_features_get_one_coefficient_each() -> None:
    frame = clean_frame(_answers())[0]
    assert frame["insured"].dtype == "boolean" and frame["smoker"].dtype == bool
    config = F.TrainConfig(
        "sick",
        ("age", "smoker", "insured", "region"),
        "classification",
        "logistic_regression",
        cv_folds=3,
    )
    run = F.train_model(frame, config)
    report = run.report
    assert report["numeric_features"] == ["age"]
    assert report["categorical_features"] == ["region"]
    assert report["boolean_features"] == ["smoker", "insured"]
    names = F.model_importances(run.pipeline)["names"]
    assert names == [
        "age",
        "region_east",
        "region_north",
        "region_south",
        "smoker",
        "insured",
    ]
    coef = dict(zip(names, F.model_importances(run.pipeline)["values"][0]))
    assert coef["smoker"] > 0.5 and coef["insured"] < 0  # the signs of the risk


def test_boolean_columns_become_zero_and_one_with_gaps_filled() -> None:
    frame = pd.DataFrame(
        {
            "flag": [True, False, True, True],
            "gappy": pd.array([True, None, False, True], dtype="boolean"),
        }
    )
    pipeline = F.build_pipeline(
        numeric=[],
        categorical=[],
        boolean=["flag", "gappy"],
        model_key="linear_regression",
        task="regression",
    )
    pipeline.fit(frame, [1.0, 2.0, 3.0, 4.0])
    encoded = pipeline[:-1].transform(frame)
    assert encoded.tolist() == [[1, 1], [0, 1], [1, 0], [1, 1]]  # gap: most frequent
    other = pd.DataFrame({"flag": [False], "gappy": pd.array([None], dtype="boolean")})
    assert pipeline[:-1].transform(other).tolist() == [[0, 1]]


def test_a_lone_boolean_feature_trains() -> None:
    """A bool column alone was one-hot encoded after an imputer that refuses bools."""
    rng = np.random.default_rng(0)
    flag = rng.random(200) < 0.5
    frame = pd.DataFrame({"flag": flag, "y": flag * 3.0 + rng.normal(0, 0.1, 200)})
    config = F.TrainConfig("y", ("flag",), "regression", "ridge", cv_folds=3)
    report = F.train_model(frame, config).report
    assert report["boolean_features"] == ["flag"]
    r2 = next(m for m in report["metrics"] if m["name"] == "r2")
    assert r2["holdout"] > 0.95


@pytest.fixture(scope="module")
def answers_run():
    frame = clean_frame(_answers())[0]
    config = F.TrainConfig(
        "visits",
        ("age", "smoker", "insured", "region"),
        "regression",
        "ridge",
        cv_folds=3,
    )
    return frame, config, F.train_model(frame, config)


def test_what_if_inputs_of_booleans(answers_run) -> None:
    frame, _, run = answers_run
    spec = {item["name"]: item for item in run.report["inputs"]}
    assert spec["smoker"] == {
        "name": "smoker",
        "kind": "bool",
        "default": False,  # most are not smokers
        "options": ["True", "False"],
    }
    assert spec["insured"]["kind"] == "bool" and spec["insured"]["default"] is True
    assert [item["name"] for item in run.report["inputs"]] == [
        "age",
        "region",
        "smoker",
        "insured",
    ]
    json.dumps(run.report["inputs"])
    base = {"age": 60, "region": "north", "insured": True}
    smoker = F.predict_one(
        run.pipeline,
        F.input_row(run.report["inputs"], {**base, "smoker": True}),
        task="regression",
    )["prediction"]
    non_smoker = F.predict_one(
        run.pipeline,
        F.input_row(run.report["inputs"], {**base, "smoker": False}),
        task="regression",
    )["prediction"]
    assert smoker > non_smoker
    # text from a dropdown is read too; an empty value takes the default
    row = F.input_row(run.report["inputs"], {**base, "smoker": "True", "insured": None})
    assert row["smoker"].tolist() == [True] and row["insured"].tolist() == [True]
    assert F.predict_one(run.pipeline, row, task="regression")["prediction"] == (
        pytest.approx(smoker)
    )


def test_batch_predictions_read_yes_no_text_for_booleans(answers_run) -> None:
    frame, _, run = answers_run
    raw = _answers().head(20)
    raw.loc[0, "smoker"] = "maybe"
    raw.loc[1, "smoker"] = None
    report = run.report
    out, notes = F.predict_batch(
        run.pipeline,
        raw,
        numeric=report["numeric_features"],
        categorical=report["categorical_features"],  # booleans: from the pipeline
        task="regression",
        target="visits",
    )
    expected = run.pipeline.predict(frame.head(20).iloc[2:])
    np.testing.assert_allclose(out["prediction"].to_numpy()[2:], expected)
    assert "1 value(s) of 'smoker' are not yes/no; treated as missing." in notes


def test_summary_and_kinds_of_booleans() -> None:
    frame = pd.DataFrame({"flag": [True, False, True], "x": [1.0, 2.0, 3.0]})
    assert F.column_kind(frame["flag"]) == P.BOOLEAN == "boolean"
    numeric, categorical, unusable = F.split_features(frame, ["flag", "x"])
    assert numeric == ["x"] and categorical == ["flag"] and unusable == []
    rows = {r["column"]: r for r in F.summarize_columns(frame)}
    assert rows["flag"]["type"] == "boolean" and rows["flag"]["unique"] == 2


# --------------------------------------------------------------------------- #
# 4. The script still reproduces a run with booleans
# --------------------------------------------------------------------------- #


@pytest.mark.slow  # runs the script in a subprocess
def test_script_reproduces_a_run_with_boolean_features(tmp_path) -> None:
    frame = clean_frame(_answers())[0]
    config = F.TrainConfig(
        "sick",
        ("age", "smoker", "insured", "region", "visits"),
        "classification",
        "logistic_regression",
        cv_folds=3,
        random_state=3,
    )
    report = F.train_model(frame, config).report
    frame.to_parquet(tmp_path / "answers.parquet", index=False)
    script = F.make_training_script(
        report, source={"kind": "file", "filename": "answers.parquet"}
    )
    assert "BOOLEAN_FEATURES = ['smoker', 'insured']" in script
    path = tmp_path / "reproduce.py"
    path.write_text(script, "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run(
        [sys.executable, "-I", str(path), "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)["metrics"]
    assert [m["name"] for m in printed] == [m["name"] for m in report["metrics"]]
    for want, got in zip(report["metrics"], printed):
        for key in ("holdout", "cv_mean", "cv_std"):
            if want[key] is None:
                assert got[key] is None
            else:
                assert math.isclose(got[key], want[key], rel_tol=1e-9, abs_tol=1e-9)
