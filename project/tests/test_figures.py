"""Tests of the figures layer: the right traces, bounded payloads, empty states."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from app.ml import column_distribution, correlation_matrix
from app.ui import figures


def _types(fig: go.Figure) -> list[str]:
    return [trace.type for trace in fig.data]


def test_empty_figure_shows_its_message():
    fig = figures.empty_figure("Nothing here")
    assert fig.layout.annotations[0].text == "Nothing here"
    assert not fig.data


def test_distribution_figure_draws_histogram_bars():
    dist = column_distribution(pd.Series(np.arange(1000.0)), bins=10)
    fig = figures.make_distribution_figure(dist, "x")
    assert _types(fig) == ["bar"]
    assert sum(fig.data[0].y) == 1000
    assert len(fig.data[0].x) == 10


def test_distribution_figure_adds_other_values_bar():
    dist = {
        "kind": "counts",
        "labels": ["a", "b"],
        "counts": [5, 3],
        "other": 2,
        "missing": 4,
    }
    fig = figures.make_distribution_figure(dist, "c")
    assert list(fig.data[0].x) == ["a", "b", "(other values)"]
    assert "4 missing" in fig.layout.title.subtitle.text


def test_correlation_figure_is_a_symmetric_heatmap():
    frame = pd.DataFrame(
        np.random.default_rng(0).normal(size=(50, 4)), columns=list("abcd")
    )
    fig = figures.make_correlation_figure(correlation_matrix(frame))
    assert _types(fig) == ["heatmap"]
    z = np.asarray(fig.data[0].z)
    assert z.shape == (4, 4) and np.allclose(z, z.T)


def test_correlation_figure_of_nothing_is_an_empty_state():
    fig = figures.make_correlation_figure(pd.DataFrame())
    assert "at least two numeric" in fig.layout.annotations[0].text


def test_scatter_of_a_million_rows_is_sampled_webgl_under_1_mb():
    rng = np.random.default_rng(0)
    n = 1_000_000
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "target": rng.integers(0, 3, n),
        }
    )
    fig = figures.make_scatter_figure(frame, x="a", y="b", color="target")
    assert set(_types(fig)) == {"scattergl"}
    assert sum(len(t.x) for t in fig.data) == figures.MAX_SCATTER_POINTS
    assert len(fig.data) == 3
    assert "of 1,000,000 rows" in fig.layout.title.subtitle.text
    assert len(fig.to_json()) < 1_000_000


def test_scatter_with_a_continuous_colour_uses_one_trace_and_a_colour_bar():
    frame = pd.DataFrame(
        {"a": np.arange(100.0), "b": np.arange(100.0), "y": np.linspace(0, 1, 100)}
    )
    fig = figures.make_scatter_figure(frame, x="a", y="b", color="y")
    assert len(fig.data) == 1
    assert fig.data[0].marker.colorbar.title.text == "y"


@pytest.mark.parametrize("normalize", [False, True])
def test_confusion_figure_counts_or_normalises_rows(normalize):
    fig = figures.make_confusion_figure(
        [[5, 1], [2, 8]], ["no", "yes"], normalize=normalize
    )
    z = np.asarray(fig.data[0].z, dtype=float)
    if normalize:
        assert np.allclose(z.sum(axis=1), 1.0)
    else:
        assert z.tolist() == [[5, 1], [2, 8]]
    assert list(fig.data[0].x) == ["no", "yes"]


def test_roc_and_pr_figures_have_one_curve_per_class():
    curves = [
        {"label": "a", "fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1], "auc": 0.7},
        {"label": "b", "fpr": [0, 1], "tpr": [0, 1], "auc": 0.5},
    ]
    roc = figures.make_roc_figure(curves)
    assert len(roc.data) == 3  # chance line + 2 curves
    assert "AUC 0.700" in roc.data[1].name
    pr = figures.make_pr_figure(
        [{"label": "a", "recall": [1, 0.5, 0], "precision": [0.5, 0.8, 1], "ap": 0.8}]
    )
    assert len(pr.data) == 1 and "AP 0.800" in pr.data[0].name
    assert figures.make_roc_figure([]).layout.annotations


def test_prediction_and_residual_figures():
    predictions = {
        "actual": [1.0, 2.0, 3.0],
        "predicted": [1.5, 2.0, 2.0],
        "shown": 3,
        "total": 9,
    }
    fig = figures.make_prediction_figure(predictions)
    assert _types(fig) == ["scatter", "scattergl"]
    assert "3 of 9 rows" in fig.layout.title.subtitle.text
    resid = figures.make_residuals_figure(predictions)
    assert list(resid.data[0].y) == [-0.5, 0.0, 1.0]


def test_figures_use_the_app_template_not_plotlys_heavy_default():
    fig = figures.make_roc_figure(
        [{"label": "a", "fpr": [0, 1], "tpr": [0, 1], "auc": 0.5}]
    )
    assert fig.layout.template.layout.colorway == figures.PALETTE
    assert len(fig.to_json()) < 5_000


# -- explanation, prediction and comparison figures --------------------------------

from app import ml as F  # noqa: E402


@pytest.fixture(scope="module")
def iris_explained(iris):
    config = F.TrainConfig(
        target="target",
        features=tuple(c for c in iris.columns if c != "target"),
        task="classification",
        model="random_forest",
        params={"n_estimators": 20},
    )
    run = F.train_model(iris, config)
    return run, F.split_data(iris, config)


def test_importance_figure_has_error_bars_and_the_top_feature_first(iris_explained):
    run, data = iris_explained
    perm = F.permutation_importances(
        run.pipeline, data.x_test, data.y_test, task="classification"
    )
    fig = figures.make_importance_figure(perm)
    bar = fig.data[0]
    assert bar.orientation == "h"
    assert list(bar.y)[-1] == perm["features"][0]
    assert list(bar.error_x.array)[::-1] == perm["std"]


def test_model_importance_figure_and_its_empty_state(iris_explained):
    run, _ = iris_explained
    fig = figures.make_model_importance_figure(F.model_importances(run.pipeline))
    assert len(fig.data) == 1 and len(fig.data[0].x) == 4
    assert figures.make_model_importance_figure(None).layout.annotations


def test_pdp_figure_draws_ice_lines_under_the_average(iris_explained):
    run, data = iris_explained
    pdp = F.partial_dependence_curves(
        run.pipeline,
        data.x_train,
        "petal_width_cm",
        task="classification",
        ice_lines=10,
    )
    fig = figures.make_pdp_figure(pdp, output=2)
    assert len(fig.data) == 11
    assert list(fig.data[-1].y) == pytest.approx(pdp["average"][2])
    assert "P(virginica)" in fig.layout.title.text


def test_pdp2_and_boundary_figures(iris_explained):
    run, data = iris_explained
    pdp2 = F.partial_dependence_2d(
        run.pipeline,
        data.x_train,
        ("petal_width_cm", "petal_length_cm"),
        task="classification",
        grid_resolution=6,
    )
    assert figures.make_pdp2_figure(pdp2).data[0].type == "heatmap"
    boundary = F.decision_boundary(
        data.x_train,
        data.y_train,
        features=("petal_width_cm", "petal_length_cm"),
        model_key="random_forest",
        params={"n_estimators": 10},
        grid=20,
    )
    fig = figures.make_boundary_figure(boundary)
    assert fig.data[0].type == "contour"
    assert [t.name for t in fig.data[1:]] == ["setosa", "versicolor", "virginica"]
    assert "refitted on" in fig.layout.title.subtitle.text


def test_calibration_and_probability_figures():
    cal = figures.make_calibration_figure(
        [
            {
                "label": "yes",
                "predicted": [0.1, 0.5, 0.9],
                "observed": [0.0, 0.5, 1.0],
                "counts": [1, 1, 1],
            }
        ]
    )
    assert len(cal.data) == 2
    proba = figures.make_probability_figure({"a": 0.25, "b": 0.75})
    assert list(proba.data[0].x) == [0.25, 0.75]


def test_comparison_figures_overlay_every_run(iris_explained, diabetes):
    run, _ = iris_explained
    runs = [("Run 1", run.report), ("Run 2", run.report)]
    roc, pr = figures.make_comparison_figures(runs)
    assert len(roc.data) == 1 + 2 * 3
    assert len(pr.data) == 2 * 3
    config = F.TrainConfig(
        target="target",
        features=tuple(c for c in diabetes.columns if c != "target"),
        task="regression",
        model="ridge",
        cv_folds=0,
    )
    reg = F.train_model(diabetes, config).report
    (resid,) = figures.make_comparison_figures([("A", reg), ("B", reg)])
    assert [t.type for t in resid.data] == ["histogram", "histogram"]


def test_run_figures_by_task(iris_explained):
    run, _ = iris_explained
    figs = figures.make_run_figures(run.report)
    assert len(figs) == 4
    assert figs[0].data[0].type == "heatmap"


def _every_figure(iris_explained):
    run, data = iris_explained
    perm = F.permutation_importances(
        run.pipeline, data.x_test, data.y_test, task="classification"
    )
    pdp = F.partial_dependence_curves(
        run.pipeline, data.x_train, "petal_width_cm", task="classification"
    )
    pdp2 = F.partial_dependence_2d(
        run.pipeline,
        data.x_train,
        ("petal_width_cm", "petal_length_cm"),
        task="classification",
        grid_resolution=5,
    )
    boundary = F.decision_boundary(
        data.x_train,
        data.y_train,
        features=("petal_width_cm", "petal_length_cm"),
        model_key="logistic_regression",
        params={},
        grid=10,
    )
    frame = pd.DataFrame(
        {"a": np.arange(50.0), "b": np.arange(50.0) ** 2, "c": ["x", "y"] * 25}
    )
    predictions = {
        "actual": [1.0, 2.0, 3.0],
        "predicted": [1.5, 2.0, 2.0],
        "shown": 3,
        "total": 3,
    }
    figs = [
        figures.empty_figure("x"),
        figures.make_distribution_figure(F.column_distribution(frame["a"]), "a"),
        figures.make_distribution_figure(F.column_distribution(frame["c"]), "c"),
        figures.make_correlation_figure(F.correlation_matrix(frame)),
        figures.make_scatter_figure(frame, x="a", y="b", color="c"),
        figures.make_scatter_figure(frame, x="a", y="b", color="b"),
        figures.make_prediction_figure(predictions),
        figures.make_residuals_figure(predictions),
        figures.make_importance_figure(perm),
        figures.make_model_importance_figure(F.model_importances(run.pipeline)),
        figures.make_pdp_figure(pdp, output=1),
        figures.make_pdp2_figure(pdp2),
        figures.make_boundary_figure(boundary),
        figures.make_probability_figure({"a": 0.2, "b": 0.8}),
        *figures.make_run_figures(run.report, normalize=True),
        *figures.make_comparison_figures([("A", run.report), ("B", run.report)]),
        *figures.make_comparison_figures(
            [("A", {"task": "regression", "predictions": predictions})]
        ),
    ]
    return figs


def test_every_figure_is_valid_plotly(iris_explained, monkeypatch):
    """Figures are built unvalidated for speed; here plotly validates each one,
    and every figure maker the module has is among them."""
    import inspect

    import plotly.graph_objects as go

    makers = {
        name
        for name, fn in inspect.getmembers(figures, inspect.isfunction)
        if fn.__module__ == figures.__name__
        and name.startswith(("make_", "empty_figure"))
        and name.endswith(("_figure", "_figures"))
    }
    called: set[str] = set()
    for name in makers:
        original = getattr(figures, name)

        def record(*args, __name=name, __original=original, **kwargs):
            called.add(__name)
            return __original(*args, **kwargs)

        monkeypatch.setattr(figures, name, record)
    for fig in _every_figure(iris_explained):
        go.Figure(fig.to_dict())  # raises on any invalid property
    assert called == makers, f"not validated: {sorted(makers - called)}"


def test_the_template_is_valid_plotly():
    template = go.layout.Template(figures.TEMPLATE_JSON)  # validates every property
    assert list(template.layout.colorway) == list(figures.PALETTE)


def test_the_layouts_blank_figures_are_plain_dicts_of_the_same_figure():
    blank = figures.empty_figure_dict("Train a model")
    assert isinstance(blank, dict)
    validated = go.Figure(blank)  # raises on any invalid property
    built = figures.empty_figure("Train a model")
    assert validated.to_plotly_json() == built.to_plotly_json()
    assert validated.layout.annotations[0].text == "Train a model"
