"""Figures of a run: confusion matrix, ROC, PR, calibration, predictions, residuals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from app.ui.figures._style import (
    MAX_CELL_TEXT,
    MUTED,
    PALETTE,
    SEQUENTIAL,
    WEBGL_MIN_POINTS,
    _base,
    _Builder,
    _cell_labels,
    _even_sample,
    _points_shown,
    _svg_keep,
    class_colors,
    empty_figure,
    scatter_type,
)

if TYPE_CHECKING:  # imported where a figure is built: not at start-up
    import plotly.graph_objects as go


def make_confusion_figure(
    matrix: Sequence[Sequence[int]], classes: Sequence[str], *, normalize: bool = False
) -> go.Figure:
    """Confusion matrix heatmap: counts, or each true class's row as proportions.

    Sequential: zero is pale, the largest count dark; the numbers in the cells
    are white on dark cells and dark on pale ones.
    """
    counts = np.asarray(matrix, dtype=float)
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        values = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        text = [[f"{v:.2f}" for v in row] for row in values]
        zmax = 1.0
    else:
        values = counts
        text = [[f"{int(v):,}" for v in row] for row in values]
        zmax = float(values.max()) if values.size and values.max() > 0 else 1.0
    labels = [str(c) for c in classes]
    title = "Confusion matrix (hold-out" + (
        ", normalised by true class)" if normalize else ")"
    )
    many = len(labels) > MAX_CELL_TEXT
    fig = _base(
        title,
        f"{len(labels)} classes: values on hover" if many else "",
        height=max(360, 40 * len(labels) + 200),
    )
    fig.add_heatmap(
        z=values,
        x=labels,
        y=labels,
        zmin=0,
        zmax=zmax,
        colorscale=SEQUENTIAL,
        text=text,
        hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>",
        showscale=False,
    )
    if not many:
        fig.add_annotations(
            _cell_labels(
                values, text, labels, labels, scale=SEQUENTIAL, zmin=0, zmax=zmax
            )
        )
    fig.update_layout(xaxis_title="predicted", yaxis_title="true")
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig.build()


def _thin_curves(
    curves: Sequence[dict[str, Any]], keys: tuple[str, str], webgl: bool
) -> tuple[list[dict[str, Any]], int, int]:
    """The curves, each evenly thinned when SVG must draw more points than it can;
    with the points shown and the points there are."""
    total = sum(len(curve[keys[0]]) for curve in curves)
    if webgl or total <= WEBGL_MIN_POINTS:
        return list(curves), total, total
    each = max(2, WEBGL_MIN_POINTS // len(curves))
    out = []
    for curve in curves:
        keep = _even_sample(len(curve[keys[0]]), each)
        out.append({**curve, **{k: np.asarray(curve[k])[keep].tolist() for k in keys}})
    return out, sum(len(curve[keys[0]]) for curve in out), total


def _chance(fig: _Builder, name: str) -> None:
    fig.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        line={"dash": "dash", "color": MUTED},
        name=name,
        hoverinfo="skip",
    )


def _class_curves(
    fig: _Builder,
    curves: Sequence[dict[str, Any]],
    *,
    keys: tuple[str, str],
    classes: Sequence[str] | None,
    webgl: bool,
    mode: str = "lines",
    metric: tuple[str, str] | None = None,
) -> str:
    """One curve per class, in its class colour; returns the title's points note."""
    curves, shown, total = _thin_curves(curves, keys, webgl)
    colors = class_colors([*(classes or []), *(c["label"] for c in curves)])
    kind = scatter_type(shown, webgl=webgl)
    for curve in curves:
        label = str(curve["label"])
        name = (
            label if metric is None else f"{label} ({metric[0]} {curve[metric[1]]:.3f})"
        )
        fig.add_points(
            kind,
            x=curve[keys[0]],
            y=curve[keys[1]],
            mode=mode,
            line={"color": colors[label]},
            marker={"color": colors[label]},
            name=name,
        )
    return _points_shown(shown, total)


def make_roc_figure(
    curves: Sequence[dict[str, Any]],
    *,
    classes: Sequence[str] | None = None,
    webgl: bool = True,
) -> go.Figure:
    """ROC curves (one per class, one-vs-rest) with their AUC in the legend.

    ``classes``: the model's classes, so that each curve has its class colour.
    """
    if not curves:
        return empty_figure("No ROC curve: the model gives no probabilities")
    fig = _base("ROC curve (hold-out)", height=400)
    _chance(fig, "chance")
    note = _class_curves(
        fig,
        curves,
        keys=("fpr", "tpr"),
        classes=classes,
        webgl=webgl,
        metric=("AUC", "auc"),
    )
    fig.layout["title"]["text"] += note
    fig.update_layout(
        xaxis_title="false positive rate", yaxis_title="true positive rate"
    )
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig.build()


def make_pr_figure(
    curves: Sequence[dict[str, Any]],
    *,
    classes: Sequence[str] | None = None,
    webgl: bool = True,
) -> go.Figure:
    """Precision-recall curves (one per class) with average precision in the legend.

    ``classes``: the model's classes, so that each curve has its class colour.
    """
    if not curves:
        return empty_figure(
            "No precision-recall curve: the model gives no probabilities"
        )
    fig = _base("Precision-recall curve (hold-out)", height=400)
    note = _class_curves(
        fig,
        curves,
        keys=("recall", "precision"),
        classes=classes,
        webgl=webgl,
        metric=("AP", "ap"),
    )
    fig.layout["title"]["text"] += note
    fig.update_layout(xaxis_title="recall", yaxis_title="precision")
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig.build()


def _prediction_points(
    predictions: dict[str, Any], webgl: bool
) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Actual and predicted values to draw, the title's note and the subtitle."""
    actual = np.asarray(predictions["actual"], dtype=float)
    predicted = np.asarray(predictions["predicted"], dtype=float)
    given = actual.size
    keep = _svg_keep(given, webgl)
    actual, predicted = actual[keep], predicted[keep]
    total = max(int(predictions.get("total") or given), given)
    shown = actual.size
    subtitle = (
        f"a random sample of {shown:,} of {total:,} rows" if shown < total else ""
    )
    title_note = _points_shown(shown, total) if shown < given else ""
    return actual, predicted, title_note, subtitle


def make_prediction_figure(
    predictions: dict[str, Any], *, webgl: bool = True
) -> go.Figure:
    """Predicted against actual values on the hold-out, with the ideal diagonal."""
    actual, predicted, title_note, note = _prediction_points(predictions, webgl)
    if actual.size == 0:
        return empty_figure("No predictions to show")
    fig = _base("Predicted vs actual (hold-out)" + title_note, note, height=420)
    low = float(min(actual.min(), predicted.min()))
    high = float(max(actual.max(), predicted.max()))
    fig.add_scatter(
        x=[low, high],
        y=[low, high],
        mode="lines",
        line={"dash": "dash", "color": MUTED},
        name="perfect",
        hoverinfo="skip",
    )
    fig.add_points(
        scatter_type(actual.size, webgl=webgl),
        x=actual,
        y=predicted,
        mode="markers",
        marker={"size": 5, "opacity": 0.7, "color": PALETTE[0]},
        name="rows",
        hovertemplate="actual %{x:.4g}<br>predicted %{y:.4g}<extra></extra>",
    )
    fig.update_layout(xaxis_title="actual", yaxis_title="predicted")
    return fig.build()


def make_residuals_figure(
    predictions: dict[str, Any], *, webgl: bool = True
) -> go.Figure:
    """Residuals (actual − predicted) against predicted values."""
    actual, predicted, title_note, note = _prediction_points(predictions, webgl)
    if actual.size == 0:
        return empty_figure("No predictions to show")
    fig = _base("Residuals (hold-out)" + title_note, note, height=420)
    fig.add_points(
        scatter_type(actual.size, webgl=webgl),
        x=predicted,
        y=actual - predicted,
        mode="markers",
        marker={"size": 5, "opacity": 0.7, "color": PALETTE[1]},
        name="residual",
        hovertemplate="predicted %{x:.4g}<br>residual %{y:.4g}<extra></extra>",
    )
    fig.add_hline(y=0, line_dash="dash", line_color=MUTED)
    fig.update_layout(xaxis_title="predicted", yaxis_title="actual − predicted")
    return fig.build()


def make_calibration_figure(
    curves: Sequence[dict[str, Any]],
    *,
    classes: Sequence[str] | None = None,
    webgl: bool = True,
) -> go.Figure:
    """Reliability diagram: observed frequency against predicted probability.

    ``classes``: the model's classes, so that each curve has its class colour.
    """
    if not curves:
        return empty_figure("No calibration curve: the model gives no probabilities")
    fig = _base("Calibration (hold-out)", height=400)
    _chance(fig, "perfectly calibrated")
    note = _class_curves(
        fig,
        curves,
        keys=("predicted", "observed"),
        classes=classes,
        webgl=webgl,
        mode="lines+markers",
    )
    fig.layout["title"]["text"] += note
    fig.update_layout(
        xaxis_title="mean predicted probability", yaxis_title="observed frequency"
    )
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig.build()


def make_run_figures(
    report: dict[str, Any], *, normalize: bool = False, webgl: bool = True
) -> list[go.Figure]:
    """The evaluation figures of a run's report, by task."""
    if report["task"] == "classification":
        classes = report["classes"]
        return [
            make_confusion_figure(report["confusion"], classes, normalize=normalize),
            make_roc_figure(report["roc"], classes=classes, webgl=webgl),
            make_pr_figure(report["pr"], classes=classes, webgl=webgl),
            make_calibration_figure(
                report.get("calibration", []), classes=classes, webgl=webgl
            ),
        ]
    return [
        make_prediction_figure(report["predictions"], webgl=webgl),
        make_residuals_figure(report["predictions"], webgl=webgl),
    ]
