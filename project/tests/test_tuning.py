"""The search machinery (app/ml/tuning.py) held to scikit-learn's own searches:
the same candidates as RandomizedSearchCV and GridSearchCV, the same CV scores on
the same folds, the same successive-halving rounds as HalvingRandomSearchCV."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import (
    GridSearchCV,
    HalvingRandomSearchCV,
    ParameterSampler,
    RandomizedSearchCV,
)

from app.ml import (
    MODEL_SPECS,
    TARGET,
    TrainConfig,
    clean_frame,
    load_bundled,
    split_data,
)
from app.ml import tuning as T
from app.ml import validate_params
from app.ml.training import cv_splits, split_pipeline


@pytest.fixture(scope="module")
def wine():
    frame = clean_frame(load_bundled("wine"))[0]
    config = TrainConfig(
        target=TARGET,
        features=tuple(c for c in frame.columns if c != TARGET),
        task="classification",
        model="logistic_regression",
        cv_folds=4,
        random_state=3,
    )
    split = split_data(frame, config)
    folds = cv_splits(split.y_train, config)
    return config, split, folds


def _unprefixed(params: dict) -> dict:
    return {k.split("__", 1)[1]: v for k, v in params.items()}


def test_random_candidates_and_scores_are_randomized_search_cvs(wine):
    """The same seed gives RandomizedSearchCV's candidates, in order, and each
    candidate's CV accuracy equals its mean test score on the same folds."""
    config, split, folds = wine
    space = T.default_space("logistic_regression")
    ours = T.candidates(space, n_candidates=6, random_state=11)
    search = RandomizedSearchCV(
        split_pipeline(split, config),
        {f"model__{d.name}": d.distribution() for d in space},
        n_iter=6,
        cv=folds,
        scoring="accuracy",
        random_state=11,
    ).fit(split.x_train, split.y_train)
    theirs = [_unprefixed(p) for p in search.cv_results_["params"]]
    assert ours == theirs
    for i, params in enumerate(ours):
        scored = T.score_candidate(split, config, params, folds)
        assert scored.error is None and len(scored.folds) == 4
        mean, std = scored.score("accuracy")
        assert mean == pytest.approx(
            search.cv_results_["mean_test_score"][i], abs=1e-12
        )
        assert std == pytest.approx(search.cv_results_["std_test_score"][i], abs=1e-12)


def test_a_grid_is_grid_search_cvs_and_refused_when_too_big(wine):
    config, split, folds = wine
    space = (
        T.Dimension("C", "log", 0.01, 100.0),
        T.Dimension("class_weight", "choice", options=(None, "balanced")),
    )
    assert T.grid_size(space) == 10
    ours = T.candidates(space, strategy="grid", n_candidates=10)
    search = GridSearchCV(
        split_pipeline(split, config),
        {f"model__{d.name}": d.grid() for d in space},
        cv=folds,
        scoring="accuracy",
    ).fit(split.x_train, split.y_train)
    assert ours == [_unprefixed(p) for p in search.cv_results_["params"]]
    assert [d["C"] for d in ours[::2]] == pytest.approx([0.01, 0.1, 1.0, 10.0, 100.0])
    with pytest.raises(ValueError, match="10 candidates, more than the 9"):
        T.candidates(space, strategy="grid", n_candidates=9)


@pytest.mark.parametrize(
    "n_candidates, n_rows, folds, classes",
    [(50, 7_500, 5, 2), (20, 1_000, 3, 3), (9, 200, 5, 0), (100, 60_000, 5, 4)],
)
def test_halving_rounds_are_halving_random_search_cvs(
    n_candidates, n_rows, folds, classes
):
    """Rounds and their sizes as scikit-learn's HalvingRandomSearchCV runs them."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_rows, 2))
    y = rng.integers(0, classes, n_rows) if classes else rng.normal(size=n_rows)
    model = DummyClassifier() if classes else DummyRegressor()
    # n_candidates distinct values of a parameter the model ignores here.
    search = HalvingRandomSearchCV(
        model,
        {"constant": list(range(n_candidates))},
        n_candidates=n_candidates,
        cv=folds,
        factor=3,
        min_resources="exhaust",
        random_state=0,
    )
    search.fit(x, y)
    rounds = T.halving_schedule(
        n_candidates, n_rows, n_folds=folds, n_classes=classes, factor=3
    )
    assert [r.candidates for r in rounds] == list(search.n_candidates_)
    assert [r.rows for r in rounds] == list(search.n_resources_)


def test_a_rejected_combination_fails_alone_with_its_reason(wine):
    config, split, folds = wine
    bad = T.score_candidate(split, config, {"C": -1.0}, folds)
    assert bad.error and "C" in bad.error and bad.folds == []
    assert all(math.isnan(v) for v in bad.score("accuracy"))
    knn = TrainConfig(**{**config.__dict__, "model": "knn"})
    few = T.score_candidate(split, knn, {"n_neighbors": 5}, folds, rows=3)
    assert few.error and "could not" in few.error
    good = T.score_candidate(split, knn, {"n_neighbors": 5}, folds)
    assert good.error is None and 0.5 < good.score("accuracy")[0] <= 1


@pytest.mark.filterwarnings("error::UserWarning")
def test_every_default_space_draws_values_its_model_accepts():
    """Every value a default space draws is one its model's form accepts; a
    space of choices only gives each set once, without a warning."""
    only_choices = T.candidates(T.default_space("linear_regression"), n_candidates=30)
    assert sorted(p["fit_intercept"] for p in only_choices) == [False, True]
    for key in MODEL_SPECS:
        space = T.default_space(key)
        assert space, key
        for params in T.candidates(space, n_candidates=30, random_state=1):
            validate_params(key, params)  # raises on a value out of the form's range
        for d in space:
            if d.kind == "log-int":
                drawn = list(
                    ParameterSampler({d.name: d.distribution()}, 200, random_state=0)
                )
                values = [p[d.name] for p in drawn]
                assert min(values) >= d.low and max(values) <= d.high
                assert all(isinstance(v, int) for v in values)


@pytest.mark.parametrize(
    "args, message",
    [
        (("C", "log", 0.0, 1.0), "above 0"),
        (("C", "uniform", 2.0, 1.0), "low and a high"),
        (("C", "spiral", 0.1, 1.0), "Unknown kind"),
        (("weights", "choice"), "at least one"),
    ],
)
def test_a_bad_range_is_refused_with_a_sentence(args, message):
    with pytest.raises(ValueError, match=message):
        T.Dimension(*args)
