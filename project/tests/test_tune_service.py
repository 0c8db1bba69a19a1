"""A visitor's search (app/services/tuning.py): kept as each candidate ends,
kept when stopped, its best made an ordinary run whose code repeats the search;
and the Tune tab's controls read back safely (app/ui/tabs/tune.py)."""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404 - runs a downloaded script, as a visitor would
import sys

import numpy as np
import pytest

from app import services
from app.ml import TARGET, TrainConfig, TrainingError
from app.ml import tuning as T
from app.services import tuning as S
from app.ui import ids
from app.ui.figures.tuning import make_search_figure
from app.ui.tabs.tune import live_payload, plan_from_controls


def _config(store, sid, model="logistic_regression", task="classification", folds=3):
    meta = store.dataset(sid)
    return TrainConfig(
        target=TARGET,
        features=tuple(c for c in meta["columns"] if c != TARGET),
        task=task,
        model=model,
        cv_folds=folds,
        random_state=5,
    )


@pytest.fixture
def wine_session(store, sid):
    services.load_dataset(store, sid, "wine", {})
    return store, sid


def test_the_progress_text_changes_every_second_even_past_its_estimate():
    record = {
        "plan": {"metric": "accuracy", "seconds": None},
        "total": 4,
        "scored": [
            {"index": 0, "params": {}, "folds": [{"accuracy": 0.9}, {"accuracy": 0.8}]}
        ],
        "seconds": 10.0,
    }
    texts = [S.progress_text(record, at) for at in range(10, 60)]
    assert texts[0] == "1 of 4 candidates · best Accuracy 0.8500 · about 30 s left"
    assert texts[29] == "1 of 4 candidates · best Accuracy 0.8500 · about 1 s left"
    assert texts[30] == "1 of 4 candidates · best Accuracy 0.8500 · 40 s so far"
    assert all(a != b for a, b in zip(texts, texts[1:]))


def test_the_time_left_counts_down_each_second_though_folds_move_it_back():
    said, shown = None, []
    # A fold ends at every second: each moves the estimate back by ~1 s.
    for estimate in [60.2, 60.0, 59.8, 59.9, 58.1, 40.0, 70.0, 69.4]:
        said = S.countdown(estimate, said, tick=True)
        shown.append(round(said))
    assert shown == [60, 59, 58, 57, 56, 40, 70, 69]
    assert S.countdown(57.5, 56.0, tick=False) == 56.0  # between ticks: holds
    assert S.countdown(50.0, 56.0, tick=False) == 50.0  # real news is said
    assert S.countdown(None, 56.0, tick=True) is None


def test_each_candidate_is_kept_as_it_ends_and_shown_live(wine_session):
    store, sid = wine_session
    plan = T.Plan(
        space=T.default_space("logistic_regression"), metric="accuracy", n_candidates=4
    )
    seen = []

    def update(record):
        kept = S.latest_search(store, sid)
        seen.append(
            (len(record["scored"]), len(kept["scored"]), S.progress_text(record))
        )

    record = S.run_search(store, sid, _config(store, sid), plan, on_update=update)
    assert [n for n, _, _ in seen] == [1, 2, 3, 4]
    assert all(n == kept for n, kept, _ in seen)  # in the store before it shows
    assert seen[0][2].startswith("1 of 4 candidates · best Accuracy 0.")
    assert "left" not in seen[-1][2]
    assert record["state"] == "done"
    payload = live_payload(record)
    assert [r["rank"] for r in payload["rows"]] == [1, 2, 3, 4]
    assert payload["figure"]["data"] and "Search: Accuracy" in json.dumps(
        payload["figure"]["layout"]
    )


def test_a_stopped_search_keeps_what_it_scored_and_its_best_becomes_a_run(
    wine_session,
):
    store, sid = wine_session
    plan = T.Plan(
        space=T.default_space("logistic_regression"), metric="log_loss", n_candidates=10
    )

    class Stop(Exception):
        pass

    def stop_after_three(record):
        if len(record["scored"]) == 3:
            raise Stop  # as a cancel kills the job: nothing after this

    with pytest.raises(Stop):
        S.run_search(store, sid, _config(store, sid), plan, on_update=stop_after_three)
    kept = S.latest_search(store, sid)
    assert kept["state"] == "running" and len(kept["scored"]) == 3
    best = S.best_of(kept)
    assert best.score("log_loss")[0] == min(
        s.score("log_loss")[0] for s in S.scored(kept)
    )  # smaller is better
    run_id, report = S.use_best(store, sid, services.train)
    assert report["config"]["params"]["C"] == best.params["C"]
    assert report["tuned"] == ["C", "class_weight"]
    assert report["search"]["evaluated"] == 3
    assert report["search"]["best"]["index"] == best.index
    row = next(m for m in report["metrics"] if m["name"] == "log_loss")
    assert row["cv_mean"] == pytest.approx(best.score("log_loss")[0], abs=1e-12)
    listed = services.leaderboard(store, sid)[0]
    assert listed["run"] == run_id and listed["model"].endswith("· tuned")
    assert "C=" in listed["params"] and "(tuned)" in listed["params"]


def test_use_best_is_refused_without_a_search_or_after_new_data(wine_session):
    store, sid = wine_session
    with pytest.raises(TrainingError, match="Run a search first"):
        S.use_best(store, sid, services.train)
    plan = T.Plan(space=T.default_space("ridge"), metric="r2", n_candidates=2)
    services.load_dataset(store, sid, "diabetes", {})
    S.run_search(store, sid, _config(store, sid, "ridge", "regression"), plan)
    services.load_dataset(store, sid, "wine", {})
    with pytest.raises(services.SessionExpired, match="data changed"):
        S.use_best(store, sid, services.train)


def test_a_search_needs_folds_and_a_metric_of_its_task(wine_session):
    store, sid = wine_session
    plan = T.Plan(space=T.default_space("logistic_regression"), metric="accuracy")
    with pytest.raises(TrainingError, match="CV folds to 2 or more"):
        S.run_search(store, sid, _config(store, sid, folds=0), plan)
    wrong = T.Plan(space=T.default_space("logistic_regression"), metric="rmse")
    with pytest.raises(TrainingError, match="does not score a classification"):
        S.run_search(store, sid, _config(store, sid), wrong)


def _controls(**change):
    """The Tune tab's values for a random forest, as the page sends them."""
    names = ["n_estimators", "min_samples_leaf"]
    values = dict(
        model="random_forest",
        strategy="random",
        metric="accuracy",
        n_candidates=10,
        seconds=None,
        seed=0,
        on=[True, True, True, True],
        on_ids=[
            {"type": ids.TUNE_ON, "name": n}
            for n in ("n_estimators", "max_depth", "min_samples_leaf", "max_features")
        ],
        lows=[10, 1],
        low_ids=[{"type": ids.TUNE_LOW, "name": n} for n in names],
        highs=[50, 5],
        high_ids=[{"type": ids.TUNE_HIGH, "name": n} for n in names],
        options=[["null", "5"], ['"sqrt"', "1.0"]],
        option_ids=[
            {"type": ids.TUNE_OPTIONS, "name": n} for n in ("max_depth", "max_features")
        ],
    )
    values.update(change)
    return values


def _plan(**change):
    values = _controls(**change)
    return plan_from_controls(*values.values(), max_seconds=100.0)


def test_the_tune_controls_become_a_checked_plan():
    plan = _plan()
    space = {d.name: d for d in plan.space}
    assert space["n_estimators"] == T.Dimension("n_estimators", "int", 10, 50)
    assert space["max_depth"].options == (None, 5)
    assert space["max_features"].options == ("sqrt", 1.0)
    assert plan.seconds == 100.0  # no limit given: the job's budget
    off = _plan(on=[False, True, False, False])
    assert [d.name for d in off.space] == ["max_depth"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"lows": ["x", 1]}, "low and a high number"),
        ({"highs": [5000, 5]}, "within 1 to 1000"),
        ({"lows": [60, 1]}, "needs a low and a high end"),
        ({"options": [["__import__('os')"], ['"sqrt"']]}, "at least one value"),
        ({"on": [False] * 4}, "at least one hyper-parameter"),
        ({"n_candidates": 1e9}, "1 to 500"),
        ({"metric": "nope"}, "Unknown metric"),
        ({"strategy": "grid", "n_candidates": 3}, "more than the 3 allowed"),
        ({"model": "no-model"}, "Choose a model"),
        ({"seconds": "inf"}, "number of seconds"),
    ],
)
def test_bad_tune_controls_are_refused_with_a_sentence(change, message):
    with pytest.raises(TrainingError, match=message):
        plan = _plan(**change)
        plan.candidates()  # a grid too big is found when it is listed


def test_the_search_figure_is_valid_plotly():
    import plotly.graph_objects as go

    plan = T.Plan(
        space=T.default_space("random_forest"), metric="log_loss", strategy="halving"
    ).to_dict()
    items = [
        {
            "params": {
                "n_estimators": 10 * i,
                "max_depth": None,
                "min_samples_leaf": i,
                "max_features": "sqrt",
            },
            "folds": [{"log_loss": 1.0 / i}],
            "index": i,
            "rung": i // 4,
        }
        for i in range(1, 9)
    ] + [{"params": {}, "folds": [], "error": "failed", "index": 9}]
    figure = make_search_figure(items, plan, "Log loss (lower is better)", True)
    go.Figure(figure)  # validates every property
    best = next(t for t in figure["data"] if t.get("name") == "Best so far")
    assert best["y"] == sorted(best["y"], reverse=True)[: len(best["y"])]
    rounds = len({item.get("rung", 0) for item in items})
    assert len(figure["data"]) == rounds + 1 + len(plan["space"])


CASES = {
    "random": ("wine", "random_forest", "classification", "accuracy", 6),
    "grid": ("breast_cancer", "logistic_regression", "classification", "f1", 10),
    "halving": ("wine", "knn", "classification", "log_loss", 12),
    "regression": ("diabetes", "hist_gradient_boosting", "regression", "rmse", 4),
}


@pytest.mark.slow  # each case searches, then runs the downloaded script
@pytest.mark.parametrize("case", CASES)
def test_the_code_of_a_tuned_run_repeats_the_search(store, sid, tmp_path, case):
    dataset, model, task, metric, n = CASES[case]
    services.load_dataset(store, sid, dataset, {})
    config = _config(store, sid, model, task)
    plan = T.Plan(
        space=T.default_space(model),
        metric=metric,
        strategy=case if case in ("grid", "halving") else "random",
        n_candidates=n,
        random_state=9,
    )
    record = S.run_search(store, sid, config, plan, workers=2)
    run_id, report = S.use_best(store, sid, services.train)
    script = tmp_path / "reproduce.py"
    script.write_text(services.code_file(store, sid, run_id))
    one = {
        n: "1" for n in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    }
    done = subprocess.run(  # nosec B603 - our interpreter, our script
        [sys.executable, "-I", str(script), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**os.environ, **one},  # one thread, as the app fits
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = json.loads(done.stdout)
    best = S.best_of(record)
    found = printed["search"]
    assert found["best_index"] == best.index
    assert found["best_params"] == best.params
    assert found["evaluated"] == len(record["scored"])
    mean, std = best.score(metric)
    assert found["best_cv_mean"] == pytest.approx(mean, abs=1e-9)
    assert found["best_cv_std"] == pytest.approx(std, abs=1e-9)
    ours = {m["name"]: m for m in report["metrics"]}
    for row in printed["metrics"]:
        for key in ("holdout", "cv_mean"):
            theirs, mine = row[key], ours[row["name"]][key]
            if mine is None:
                assert theirs is None
            else:
                assert np.isclose(theirs, mine, rtol=0, atol=1e-9), (row, key)


def test_the_report_of_a_tuned_run_lists_its_search(wine_session):
    store, sid = wine_session
    plan = T.Plan(
        space=T.default_space("knn"),
        metric="balanced_accuracy",
        n_candidates=5,
        random_state=1,
    )
    record = S.run_search(store, sid, _config(store, sid, "knn"), plan)
    run_id, _ = S.use_best(store, sid, services.train)
    page = services.report_file(store, sid, run_id)
    section = page.split("<h2>Hyper-parameter search</h2>", 1)[1]
    assert "Balanced accuracy" in section and "5 evaluations of 5 candidates" in section
    assert "<code>n_neighbors</code></td><td>log-int</td><td>1 to 50" in section
    assert "uniform, distance" in section
    best = S.best_of(record)
    assert f"candidate {best.index + 1}, CV" in section
    assert section.count("<tr><td class='num'>") == 5  # the leaderboard's rows
