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


# -- the search itself: T.search ---------------------------------------------------


def test_the_search_scores_as_one_candidate_at_a_time_on_any_number_of_workers(wine):
    """Parallel folds give every candidate the scores of ``score_candidate``, and
    each candidate is yielded once, as soon as its folds are in."""
    config, split, folds = wine
    plan = T.Plan(
        space=T.default_space("logistic_regression"),
        metric="log_loss",
        n_candidates=5,
        random_state=2,
    )
    expected = {
        i: T.score_candidate(split, config, params, folds).score("log_loss")
        for i, params in enumerate(plan.candidates())
    }
    for workers in (1, 2):
        found = list(T.search(split, config, plan, workers=workers))
        assert sorted(s.index for s in found) == list(range(5))
        for item in found:
            assert item.score("log_loss") == pytest.approx(
                expected[item.index], abs=1e-12
            )
            assert len(item.folds) == len(folds) and item.fit_seconds > 0


def test_ranking_follows_the_metric_direction_rounds_and_order():
    def item(index, value, rung=0, error=None):
        return T.Scored(
            {},
            folds=[{"m": value, "log_loss": value}],
            index=index,
            rung=rung,
            error=error,
        )

    items = [item(0, 0.5), item(1, 0.9), item(2, 0.9), item(3, 0.1, error="no")]
    assert [s.index for s in T.ranked(items, "m")] == [1, 2, 0, 3]
    assert [s.index for s in T.ranked(items, "log_loss")] == [0, 1, 2, 3]
    later = item(4, 0.2, rung=1)
    assert T.ranked([*items, later], "m")[0] is later  # the last round first
    assert T.best([items[3]], "m") is None


def test_the_time_limit_stops_starting_candidates(wine):
    config, split, _ = wine
    plan = T.Plan(
        space=T.default_space("logistic_regression"),
        metric="accuracy",
        n_candidates=50,
        seconds=5.0,
    )
    ticks = iter(range(1000))  # the clock moves one second per look

    found = list(T.search(split, config, plan, clock=lambda: float(next(ticks))))
    assert 0 < len(found) < 50


def test_a_failed_candidate_does_not_stop_the_search(wine):
    config, split, _ = wine
    knn = TrainConfig(**{**config.__dict__, "model": "knn"})
    plan = T.Plan(
        space=(T.Dimension("n_neighbors", "choice", options=(3, 150, 5)),),
        metric="accuracy",
        n_candidates=3,
    )
    found = {s.params["n_neighbors"]: s for s in T.search(split, knn, plan)}
    assert set(found) == {3, 150, 5}
    assert "n_neighbors" in (found[150].error or "")
    assert not found[3].error and not found[5].error


def test_halving_promotes_the_best_of_each_round_to_more_rows(wine):
    config, split, folds = wine
    plan = T.Plan(
        space=T.default_space("logistic_regression"),
        metric="accuracy",
        strategy="halving",
        n_candidates=9,
        random_state=4,
    )
    found = list(T.search(split, config, plan, workers=2))
    rounds = sorted({s.rung for s in found})
    assert rounds == [0, 1]
    first = [s for s in found if s.rung == 0]
    second = [s for s in found if s.rung == 1]
    assert len(first) == 9 and len(second) == 3
    assert second[0].rows > first[0].rows
    top = {s.index for s in T.ranked(first, "accuracy")[:3]}
    assert {s.index for s in second} == top


def test_a_plan_goes_through_json_and_is_checked_again():
    import json

    plan = T.Plan(space=T.default_space("random_forest"), metric="f1", seconds=30.0)
    again = T.Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan
    assert again.candidates() == plan.candidates()
    with pytest.raises(ValueError, match="1 to 500"):
        T.Plan.from_dict({**plan.to_dict(), "n_candidates": 10_000})
    with pytest.raises(ValueError, match="Unknown metric"):
        T.Plan.from_dict({**plan.to_dict(), "metric": "__class__"})
