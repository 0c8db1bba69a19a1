"""Tests of the figures layer: the right traces, bounded payloads, empty states."""

from __future__ import annotations

import inspect
import re

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
    assert _types(fig) == ["scatter", "scatter"]  # 3 points: SVG, not WebGL
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
    assert len(roc.data) == 1 + 2 * 3 + 2  # chance, 2 runs × 3 classes, 2 run keys
    assert len(pr.data) == 2 * 3 + 2
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
        figures.make_contributions_figure(
            F.row_contributions(
                run.pipeline,
                data.x_train.iloc[:16],
                data.x_test.iloc[[0]],
                task="classification",
            )
        ),
        *figures.make_run_figures(run.report, normalize=True),
        *figures.make_comparison_figures([("A", run.report), ("B", run.report)]),
        *figures.make_comparison_figures(
            [("A", {"task": "regression", "predictions": predictions})]
        ),
        go.Figure(
            figures.make_search_figure(
                [
                    {"params": {"C": 0.5, "kernel": "rbf"}, "folds": [{"f1": 0.9}]},
                    {"params": {"C": 2.0, "kernel": "linear"}, "folds": [{"f1": 0.8}]},
                ],
                {
                    "metric": "f1",
                    "space": [
                        {"name": "C", "kind": "log", "low": 0.1, "high": 10},
                        {"name": "kernel", "kind": "choice", "options": ["rbf"]},
                    ],
                },
                "F1",
            )
        ),
    ]
    return figs


def test_every_figure_is_valid_plotly(iris_explained, monkeypatch):
    """Figures are built unvalidated for speed; here plotly validates each one,
    and every figure maker the module has is among them."""
    import importlib
    import inspect
    import pkgutil

    import plotly.graph_objects as go

    modules = [figures] + [
        importlib.import_module(f"{figures.__name__}.{info.name}")
        for info in pkgutil.iter_modules(figures.__path__)
    ]
    makers = {
        name
        for module in modules
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if fn.__module__.startswith(figures.__name__)
        and name.startswith(("make_", "empty_figure"))
        and name.endswith(("_figure", "_figures"))
    }
    called: set[str] = set()
    for module in modules:  # wherever a maker is defined or imported
        for name in makers & set(vars(module)):
            original = getattr(module, name)

            def record(*args, __name=name, __original=original, **kwargs):
                called.add(__name)
                return __original(*args, **kwargs)

            monkeypatch.setattr(module, name, record)
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


# -- one readable style: SVG or WebGL, colour scales, class colours, layout ----------


SCATTER_MAKERS = (
    "make_scatter_figure",
    "make_prediction_figure",
    "make_residuals_figure",
    "make_roc_figure",
    "make_pr_figure",
    "make_pdp_figure",
    "make_boundary_figure",
    "make_calibration_figure",
    "make_roc_comparison_figure",
    "make_pr_comparison_figure",
    "make_run_figures",
    "make_comparison_figures",
)


def _heading(fig: go.Figure) -> str:
    title = fig.layout.title
    return f"{title.text or ''} | {title.subtitle.text or ''}"


def _points(fig: go.Figure) -> int:
    return sum(
        len(t.x)
        for t in fig.data
        if t.type in ("scatter", "scattergl") and t.x is not None
    )


def _rgb(color: str) -> tuple[float, float, float]:
    if color.startswith("#"):
        return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
    return tuple(float(v) for v in color[color.index("(") + 1 : -1].split(",")[:3])


def _lum(color: str) -> float:
    """WCAG relative luminance: 0 black, 1 white."""

    def linear(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in _rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _curves(classes, n=300, kind="roc"):
    x = np.linspace(0, 1, n).tolist()
    y = np.sqrt(np.linspace(0, 1, n)).tolist()
    shapes = {
        "roc": lambda c: {"label": c, "fpr": x, "tpr": y, "auc": 0.9},
        "pr": lambda c: {"label": c, "recall": x[::-1], "precision": y, "ap": 0.8},
        "calibration": lambda c: {"label": c, "predicted": x, "observed": y},
    }
    return [shapes[kind](c) for c in classes]


def _class_report(classes, n=300, curves=None):
    curves = list(classes) if curves is None else curves
    return {
        "task": "classification",
        "classes": list(classes),
        "confusion": np.eye(len(classes), dtype=int).tolist(),
        "roc": _curves(curves, n, "roc"),
        "pr": _curves(curves, n, "pr"),
        "calibration": _curves(curves, 10, "calibration"),
    }


def _predictions(n):
    x = np.arange(n, dtype=float)
    return {"actual": x.tolist(), "predicted": (x + 1).tolist(), "total": n}


def _pdp(lines, grid=30, rows=1_000):
    return {
        "feature": "f",
        "categorical": False,
        "grid": list(range(grid)),
        "outputs": ["prediction"],
        "average": [np.zeros(grid).tolist()],
        "ice": [np.ones((lines, grid)).tolist()],
        "rows": rows,
        "total_rows": rows,
        "sampled": False,
    }


def _boundary(points, classes=("a", "b", "c"), rows=None):
    k = len(classes)
    return {
        "features": ["u", "v"],
        "x": [0.0, 1.0],
        "y": [0.0, 1.0],
        "z": [[0.0, 1.0], [1.0, 0.0]],
        "label": "predicted class" if k > 2 else f"P({classes[1]})",
        "classes": list(classes),
        "points": {
            "x": np.linspace(0, 1, points).tolist(),
            "y": np.linspace(1, 0, points).tolist(),
            "class": [classes[i % k] for i in range(points)],
        },
        "accuracy": 0.9,
        "rows": rows or points,
        "sampled": False,
    }


def _frame(n, levels=3):
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "target": [f"k{i % levels}" for i in range(n)],
        }
    )


# 1. SVG for small data, WebGL only for large


def test_scatter_type_is_svg_below_the_threshold_and_webgl_from_it():
    assert figures.WEBGL_MIN_POINTS == 5_000
    assert figures.scatter_type(16) == "scatter"
    assert figures.scatter_type(4_999) == "scatter"
    assert figures.scatter_type(5_000) == "scattergl"
    assert figures.scatter_type(1_000_000, webgl=False) == "scatter"


SMALL_FIGURES = {
    "data scatter": lambda: figures.make_scatter_figure(
        _frame(16), x="a", y="b", color="target"
    ),
    "continuous colour": lambda: figures.make_scatter_figure(
        _frame(16), x="a", y="b", color="b"
    ),
    "predicted vs actual": lambda: figures.make_prediction_figure(_predictions(16)),
    "residuals": lambda: figures.make_residuals_figure(_predictions(16)),
    "partial dependence and ICE": lambda: figures.make_pdp_figure(_pdp(4, grid=4)),
    "decision boundary points": lambda: figures.make_boundary_figure(_boundary(16)),
}


@pytest.mark.parametrize("name", sorted(SMALL_FIGURES))
def test_small_scatter_like_figures_are_svg_not_webgl(name):
    fig = SMALL_FIGURES[name]()
    assert "scattergl" not in _types(fig)
    assert 0 < _points(fig) <= 16 + 4  # and a reference line or an average


def test_scatter_like_figures_switch_to_webgl_at_the_threshold():
    below = figures.make_prediction_figure(_predictions(4_999))
    at = figures.make_prediction_figure(_predictions(5_000))
    assert _types(below) == ["scatter", "scatter"]
    assert _types(at) == ["scatter", "scattergl"]  # the diagonal stays SVG
    big = figures.make_scatter_figure(_frame(58_788), x="a", y="b", color="target")
    assert set(_types(big)) == {"scattergl"}
    assert _points(big) == figures.MAX_SCATTER_POINTS


@pytest.mark.parametrize("name", SCATTER_MAKERS)
def test_scatter_like_makers_take_a_keyword_only_webgl_switch(name):
    parameter = inspect.signature(getattr(figures, name)).parameters["webgl"]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
    assert parameter.default is True
    assert parameter.annotation in (bool, "bool")


def test_without_webgl_a_big_scatter_is_an_even_svg_sample_and_says_so():
    frame = _frame(58_788)
    fig = figures.make_scatter_figure(frame, x="a", y="b", color="target", webgl=False)
    again = figures.make_scatter_figure(
        frame, x="a", y="b", color="target", webgl=False
    )
    assert set(_types(fig)) == {"scatter"}
    assert _points(fig) == figures.WEBGL_MIN_POINTS
    assert "(5,000 of 58,788 points shown)" in fig.layout.title.text
    assert "a random sample of 5,000 of 58,788 rows" in _heading(fig)
    assert [list(t.x) for t in fig.data] == [list(t.x) for t in again.data]


def test_without_webgl_predictions_keep_an_even_sample_with_both_ends():
    predictions = _predictions(12_000)
    fig = figures.make_prediction_figure(predictions, webgl=False)
    points = fig.data[1]
    assert _types(fig) == ["scatter", "scatter"]
    assert len(points.x) == figures.WEBGL_MIN_POINTS
    assert points.x[0] == 0 and points.x[-1] == 11_999
    assert np.allclose(np.diff(points.x), 12_000 / 5_000, atol=1)  # evenly spread
    assert "(5,000 of 12,000 points shown)" in fig.layout.title.text
    resid = figures.make_residuals_figure(predictions, webgl=False)
    assert _types(resid) == ["scatter"] and len(resid.data[0].x) == 5_000
    assert "(5,000 of 12,000 points shown)" in resid.layout.title.text
    # With WebGL allowed, all of them are drawn and nothing is said.
    full = figures.make_prediction_figure(predictions)
    assert len(full.data[1].x) == 12_000 and "points shown" not in _heading(full)


def test_without_webgl_ice_lines_boundary_and_curves_stay_under_the_svg_limit():
    classes = [f"c{i}" for i in range(13)]
    runs = [(f"Run {i}", _class_report(classes)) for i in (1, 2, 3)]
    cases = [
        (figures.make_pdp_figure, _pdp(300), "(4,950 of 9,000 points shown)"),
        (figures.make_boundary_figure, _boundary(8_000), "(5,000 of 8,000 points"),
        (figures.make_roc_comparison_figure, runs, "(4,992 of 11,700 points"),
        (figures.make_pr_comparison_figure, runs, "(4,992 of 11,700 points"),
    ]
    for maker, data, note in cases:
        webgl = maker(data)
        svg = maker(data, webgl=False)
        assert "scattergl" in _types(webgl)
        assert "scattergl" not in _types(svg)
        assert _points(svg) <= figures.WEBGL_MIN_POINTS
        assert note in svg.layout.title.text
        assert "points shown" not in webgl.layout.title.text
    run = figures.make_run_figures(_class_report(classes, n=600), webgl=False)
    assert all("scattergl" not in _types(fig) for fig in run)
    assert "(4,992 of 7,800 points shown)" in run[1].layout.title.text


# 2. Sequential scales where more is darker; the correlation stays diverging


def _scale(trace: dict) -> list:
    scale = trace["colorscale"]
    # A scale's name is another scale in plotly.js than in plotly.py: be explicit.
    assert not isinstance(scale, str), scale
    return scale


@pytest.mark.parametrize("normalize", [False, True])
def test_confusion_matrix_is_pale_at_zero_and_dark_at_the_most(normalize):
    fig = figures.make_confusion_figure(
        [[50, 0], [3, 20]], ["a", "b"], normalize=normalize
    )
    heatmap = fig.to_dict()["data"][0]
    scale = _scale(heatmap)
    lums = [_lum(color) for _, color in scale]
    assert lums == sorted(lums, reverse=True)  # darker as values grow
    assert lums[0] > 0.9 and lums[-1] < 0.1
    assert heatmap["zmin"] == 0
    assert heatmap["zmax"] == (1 if normalize else 50)
    cells = {(a["x"], a["y"]): a for a in fig.to_dict()["layout"]["annotations"]}
    assert len(cells) == 4
    assert cells[("a", "a")]["font"]["color"] == "white"  # the largest: dark cell
    assert cells[("b", "a")]["font"]["color"] == figures.DARK_TEXT  # zero: pale
    assert cells[("a", "a")]["text"] == ("1.00" if normalize else "50")


def test_heatmap_text_is_white_on_dark_cells_and_dark_on_pale_cells():
    counts = np.arange(400).reshape(20, 20)  # every shade of the scale
    fig = figures.make_confusion_figure(counts, [f"c{i}" for i in range(20)])
    assert len(fig.layout.annotations) == 400
    for cell in fig.layout.annotations:
        fill = "rgb({},{},{})".format(
            *figures._scale_color(figures.SEQUENTIAL, int(cell.text) / 399)
        )
        on_white = 1.05 / (_lum(fill) + 0.05)
        on_dark = (_lum(fill) + 0.05) / (_lum(figures.DARK_TEXT) + 0.05)
        assert cell.font.color == ("white" if on_white > on_dark else figures.DARK_TEXT)
        assert max(on_white, on_dark) >= 4.5  # WCAG AA for normal text
    colors = {c.text: c.font.color for c in fig.layout.annotations}
    assert colors["0"] == figures.DARK_TEXT and colors["399"] == "white"
    assert len(fig.to_json()) < 60_000  # bounded: at most 20 × 20 labels


def test_correlation_is_diverging_centred_on_zero_blue_to_red():
    rng = np.random.default_rng(0)
    a = rng.normal(size=300)
    frame = pd.DataFrame(
        {"a": a, "same": a, "opposite": -a, "noise": rng.normal(size=300)}
    )
    fig = figures.make_correlation_figure(correlation_matrix(frame))
    heatmap = fig.to_dict()["data"][0]
    scale = _scale(heatmap)
    assert heatmap["zmin"] == -1 and heatmap["zmax"] == 1
    assert not heatmap.get("reversescale")
    middle = dict((float(t), c) for t, c in scale)[0.5]
    assert _lum(middle) > 0.9  # r = 0 is white
    low, high = _rgb(scale[0][1]), _rgb(scale[-1][1])
    assert low[2] > low[0] and high[0] > high[2]  # -1 blue, +1 red
    assert _lum(scale[0][1]) < 0.1 and _lum(scale[-1][1]) < 0.1
    cells = {(c.x, c.y): c for c in fig.layout.annotations}
    assert cells[("same", "a")].text == "1.00"
    assert cells[("same", "a")].font.color == "white"
    assert cells[("opposite", "a")].font.color == "white"
    assert cells[("noise", "a")].font.color == figures.DARK_TEXT


def test_two_way_partial_dependence_is_sequential_more_is_darker():
    data = {
        "features": ["u", "v"],
        "x": [0, 1],
        "y": [0, 1],
        "z": [[0.1, 0.4], [0.6, 0.9]],
        "label": "P(yes)",
        "rows": 10,
        "sampled": False,
    }
    scale = _scale(figures.make_pdp2_figure(data).to_dict()["data"][0])
    assert _lum(scale[0][1]) > 0.9 > 0.1 > _lum(scale[-1][1])


# 3. A class keeps its colour in every panel


def test_class_colors_are_distinct_for_many_classes_and_cycle_past_the_palette():
    names = [f"class {i}" for i in range(40)]
    colors = figures.class_colors(names)
    assert list(colors) == names
    n = len(figures.CLASS_PALETTE)
    assert n >= 13 and len(set(list(colors.values())[:n])) == n
    assert colors[names[n]] == colors[names[0]]
    assert figures.class_colors([1, 2]) == {
        "1": figures.CLASS_PALETTE[0],
        "2": figures.CLASS_PALETTE[1],
    }
    assert figures.class_colors(["a", "b", "a"]) == figures.class_colors(["a", "b"])


def _trace_colors(fig):
    out = {}
    for t in fig.data:
        if t.type not in ("bar", "scatter", "scattergl"):
            continue
        if t.type == "bar" and not isinstance(t.marker.color, str):
            out.update(zip(t.y, t.marker.color))  # a colour per bar
            continue
        lines = t.type != "bar" and "lines" in (t.mode or "")
        color = t.line.color if lines else t.marker.color
        out[str(t.name).split(" (")[0].split("=")[-1]] = color
    return out


def test_a_class_keeps_its_colour_in_every_panel(iris, iris_explained):
    run, data = iris_explained
    report = run.report
    classes = report["classes"]
    expected = figures.class_colors(classes)
    _, roc, pr, calibration = figures.make_run_figures(report)
    boundary = figures.make_boundary_figure(
        F.decision_boundary(
            data.x_train,
            data.y_train,
            features=("petal_width_cm", "petal_length_cm"),
            model_key="random_forest",
            params={"n_estimators": 5},
            grid=10,
        )
    )
    proba = figures.make_probability_figure({c: 1 / 3 for c in classes})
    scatter = figures.make_scatter_figure(
        iris, x="petal_width_cm", y="petal_length_cm", color="target"
    )
    model = figures.make_model_importance_figure(
        {
            "kind": "coefficient",
            "names": ["x"],
            "values": [[1], [2], [3]],
            "series": classes,
        }
    )
    for fig in (roc, pr, calibration, boundary, proba, scatter, model):
        colors = _trace_colors(fig)
        assert {c: colors[c] for c in classes} == expected, fig.layout.title.text
    assert len(set(expected.values())) == 3


def test_a_binary_positive_class_keeps_its_colour_when_drawn_alone():
    report = _class_report(["no", "yes"], n=20, curves=["yes"])
    yes = figures.class_colors(["no", "yes"])["yes"]
    _, roc, pr, calibration = figures.make_run_figures(report)
    for fig in (roc, pr, calibration):
        assert _trace_colors(fig)["yes"] == yes
    boundary = figures.make_boundary_figure(_boundary(20, classes=("no", "yes")))
    assert _trace_colors(boundary)["yes"] == yes
    assert (
        _trace_colors(figures.make_probability_figure({"no": 0.3, "yes": 0.7}))["yes"]
        == yes
    )


# 4. Titles clear the mode bar; legends never cover axis titles


def _check_layout(fig):
    layout = fig.layout
    title = layout.title
    if title.text:
        assert title.yref == "container" and title.yanchor == "top"
        assert title.pad.t >= figures.MODEBAR_PX  # the mode bar's row stays clear
        need = figures.MODEBAR_PX + figures.TITLE_PX
        need += figures.SUBTITLE_PX if title.subtitle.text else 0
        assert layout.margin.t >= need
    if layout.showlegend:
        legend = layout.legend
        assert legend.orientation == "h" and legend.yanchor == "top"
        assert legend.y < 0  # below the plot area
        plot = layout.height - layout.margin.t - layout.margin.b
        assert -legend.y * plot >= figures.AXIS_BAND_PX - 1  # below the x title
        assert layout.margin.b >= figures.AXIS_BAND_PX + figures.LEGEND_ROW_PX
        assert 0 < legend.entrywidth < 1 and legend.entrywidthmode == "fraction"


def test_every_figure_shares_one_layout(iris_explained):
    figs = _every_figure(iris_explained)
    for fig in figs:
        _check_layout(fig)
    assert sum(bool(f.layout.showlegend) for f in figs) >= 5


def test_compare_view_stays_readable_with_13_classes():
    classes = [f"class {i}" for i in range(13)]
    runs = [(f"Run {i}", _class_report(classes)) for i in (1, 2, 3)]
    for fig in figures.make_comparison_figures(runs):
        _check_layout(fig)
        assert fig.layout.legend.y < 0 or fig.layout.legend.x > 1
        curves = [t for t in fig.data if t.legendgroup]
        by_class: dict = {}
        for t in curves:
            by_class.setdefault(t.legendgroup, set()).add(t.line.color)
        assert sorted(by_class) == sorted(classes)
        assert all(len(colors) == 1 for colors in by_class.values())
        assert len({c for colors in by_class.values() for c in colors}) == 13
        by_run: dict = {}
        for t in curves:
            by_run.setdefault(t.hovertemplate.split(" · ")[0], set()).add(t.line.dash)
        assert len(by_run) == 3 and all(len(d) == 1 for d in by_run.values())
        assert len(set.union(*by_run.values())) == 3  # one line style per run
        entries = [t for t in fig.data if t.showlegend is not False]
        assert len(entries) <= 13 + 3 + 1  # classes, run keys, chance
        assert len(fig.to_json()) < 500_000


# 5. Every truncation says so


def _importances(n):
    return {
        "features": [f"f{i}" for i in range(n)],
        "mean": np.linspace(1, 0, n).tolist(),
        "std": [0.01] * n,
        "scoring": "accuracy",
        "rows": 2_000,
        "total_rows": 58_788,
        "sampled": True,
        "repeats": 5,
    }


TRUNCATIONS = {
    "permutation importance": (
        lambda: figures.make_importance_figure(_importances(89)),
        ["top 25 of 89 features", "2,000 of 58,788 rows"],
    ),
    "model importance": (
        lambda: figures.make_model_importance_figure(
            {
                "kind": "importance",
                "names": [f"f{i}" for i in range(89)],
                "values": [np.linspace(0, 1, 89).tolist()],
                "series": ["importance"],
            }
        ),
        ["top 25 of 89 features"],
    ),
    "correlation columns and rows": (
        lambda: figures.make_correlation_figure(
            correlation_matrix(_frame(50)[["a", "b"]]),
            total_columns=89,
            rows=100_000,
            total_rows=1_000_000,
        ),
        ["2 of 89 shown", "100,000 of 1,000,000 rows"],
    ),
    "capped colour categories": (
        lambda: figures.make_scatter_figure(
            _frame(400, levels=20), x="a", y="b", color="target"
        ),
        ["12 most common of 20 target values"],
    ),
    "capped distribution values": (
        lambda: figures.make_distribution_figure(
            {"kind": "counts", "labels": ["a", "b"], "counts": [5, 3], "other": 2},
            "c",
            total_values=412,
        ),
        ["2 most common values of 412", "other 2 rows"],
    ),
    "ICE lines": (
        lambda: figures.make_pdp_figure(_pdp(50, rows=1_000)),
        ["50 of 1,000 rows"],
    ),
    "boundary points": (
        lambda: figures.make_boundary_figure(_boundary(1_500, rows=5_000)),
        ["1,500 of 5,000 rows drawn"],
    ),
    "comparison without probabilities": (
        lambda: figures.make_roc_comparison_figure(
            [
                ("Run 1", _class_report(["a", "b"])),
                ("Run 2", _class_report(["a", "b"], curves=[])),
            ]
        ),
        ["not shown (no probabilities): Run 2"],
    ),
    "classification runs among regression runs": (
        lambda: figures.make_comparison_figures(
            [
                ("Run 1", {"task": "regression", "predictions": _predictions(5)}),
                ("Run 2", _class_report(["a", "b"])),
            ]
        )[0],
        ["not shown (no residuals): Run 2"],
    ),
    "too many classes to print": (
        lambda: figures.make_confusion_figure(
            np.eye(25, dtype=int), [f"c{i}" for i in range(25)]
        ),
        ["25 classes: values on hover"],
    ),
}


@pytest.mark.parametrize("name", sorted(TRUNCATIONS))
def test_every_truncation_says_so(name):
    make, phrases = TRUNCATIONS[name]
    heading = _heading(make())
    for phrase in phrases:
        assert phrase in heading


def test_nothing_is_said_when_nothing_is_left_out():
    figs = [
        figures.make_importance_figure({**_importances(10), "sampled": False}),
        figures.make_correlation_figure(
            correlation_matrix(_frame(50)[["a", "b"]]), total_columns=2
        ),
        figures.make_scatter_figure(_frame(50), x="a", y="b", color="target"),
        figures.make_distribution_figure(
            {"kind": "counts", "labels": ["a"], "counts": [5], "other": 0}, "c"
        ),
        figures.make_boundary_figure(_boundary(30)),
    ]
    for fig in figs:
        assert not re.search(r"\d of \d|shown|most common|top ", _heading(fig))


def test_contributions_walk_from_the_average_to_the_prediction():
    data = {
        "features": [f"f{i}" for i in range(20)],
        "values": [0.5 / (i + 1) * (-1) ** i for i in range(20)],
        "base": 1.0,
        "prediction": 1.0 + sum(0.5 / (i + 1) * (-1) ** i for i in range(20)),
        "output": "predicted value",
    }
    fig = figures.make_contributions_figure(data, top=15)
    trace = fig.data[0]
    assert trace.type == "waterfall"
    assert list(trace.y)[0] == "average" and list(trace.y)[-1] == "this row"
    assert "5 other features" in trace.y
    # The bars add up to the prediction: base + every relative step.
    assert sum(trace.x[:-1]) == pytest.approx(data["prediction"])
    assert "top 15 of 20 features" in fig.layout.title.subtitle.text
    assert "top" not in fig.layout.title.text  # kept short: not cut off
