"""Plotly figures: pure ``make_<thing>_figure(...) -> go.Figure`` functions.

They draw what the pure layer computed; they never fit a model and they keep what
goes to the browser small (pre-aggregated data, sampled WebGL scatters).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

PALETTE = (
    "#2563eb",
    "#f97316",
    "#10b981",
    "#e11d48",
    "#8b5cf6",
    "#0ea5e9",
    "#eab308",
    "#64748b",
    "#db2777",
    "#14b8a6",
)
SEQUENTIAL = "Blues"
DIVERGING = "RdBu"
MAX_SCATTER_POINTS = 10_000
MAX_CATEGORY_TRACES = 12

TEMPLATE = go.layout.Template(
    layout=go.Layout(
        colorway=PALETTE,
        font={"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 13},
        paper_bgcolor="white",
        plot_bgcolor="white",
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        xaxis={"gridcolor": "#e5e7eb", "zerolinecolor": "#cbd5e1", "automargin": True},
        yaxis={"gridcolor": "#e5e7eb", "zerolinecolor": "#cbd5e1", "automargin": True},
        legend={"orientation": "h", "y": -0.2},
        hoverlabel={"namelength": -1},
    )
)


def _base(title: str, **layout: Any) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(template=TEMPLATE, title={"text": title, "x": 0.01}, **layout)
    return fig


def empty_figure(message: str = "Nothing to show yet") -> go.Figure:
    """A blank figure with a centred message (an empty state)."""
    fig = _base("")
    fig.update_layout(
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": message,
                "showarrow": False,
                "font": {"size": 14, "color": "#64748b"},
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
            }
        ],
        height=300,
    )
    return fig


def make_distribution_figure(distribution: dict[str, Any], column: str) -> go.Figure:
    """Bars of a histogram or of value counts, from ``column_distribution`` output."""
    missing = distribution.get("missing", 0)
    subtitle = f" · {missing:,} missing" if missing else ""
    fig = _base(f"Distribution of {column}{subtitle}", height=360, bargap=0.05)
    if distribution["kind"] == "histogram":
        edges = distribution["edges"]
        if not edges:
            return empty_figure(f"{column} has no finite values")
        if isinstance(edges[0], str):
            centers: Sequence[Any] = edges[:-1]
            widths = None
        else:
            e = np.asarray(edges, dtype=float)
            centers = ((e[:-1] + e[1:]) / 2).tolist()
            widths = np.diff(e).tolist()
        fig.add_bar(
            x=centers,
            y=distribution["counts"],
            width=widths,
            marker_color=PALETTE[0],
            name=column,
            hovertemplate="%{x}<br>%{y:,} rows<extra></extra>",
        )
    else:
        labels = list(distribution["labels"])
        counts = list(distribution["counts"])
        if distribution.get("other"):
            labels.append("(other values)")
            counts.append(distribution["other"])
        fig.add_bar(
            x=labels,
            y=counts,
            marker_color=PALETTE[0],
            name=column,
            hovertemplate="%{x}<br>%{y:,} rows<extra></extra>",
        )
        fig.update_xaxes(type="category")
    fig.update_layout(xaxis_title=column, yaxis_title="rows", showlegend=False)
    return fig


def make_correlation_figure(matrix: pd.DataFrame) -> go.Figure:
    """A heatmap of a correlation matrix (from ``correlation_matrix``)."""
    if matrix.empty:
        return empty_figure("Correlations need at least two numeric columns")
    names = [str(c) for c in matrix.columns]
    values = np.round(matrix.to_numpy(dtype=float), 3)
    size = max(360, min(900, 28 * len(names) + 160))
    fig = _base("Correlation (Pearson) between numeric columns", height=size)
    fig.add_heatmap(
        z=values,
        x=names,
        y=names,
        zmin=-1,
        zmax=1,
        colorscale=DIVERGING,
        reversescale=True,
        hovertemplate="%{y} × %{x}<br>r = %{z:.3f}<extra></extra>",
        text=values if len(names) <= 12 else None,
        texttemplate="%{text:.2f}" if len(names) <= 12 else None,
    )
    fig.update_yaxes(autorange="reversed")
    return fig


def make_scatter_figure(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    color: str | None = None,
    total_rows: int | None = None,
    random_state: int = 0,
) -> go.Figure:
    """A WebGL scatter of two columns coloured by a third, sampled when large."""
    total = len(frame) if total_rows is None else total_rows
    if len(frame) > MAX_SCATTER_POINTS:
        frame = frame.sample(n=MAX_SCATTER_POINTS, random_state=random_state)
    shown = len(frame)
    note = f" · {shown:,} of {total:,} rows (random sample)" if shown < total else ""
    fig = _base(f"{y} against {x}{note}", height=420)
    marker = {"size": 6 if shown < 2_000 else 4, "opacity": 0.75}
    hover = f"{x}=%{{x}}<br>{y}=%{{y}}<extra>%{{fullData.name}}</extra>"
    if color is None or color not in frame.columns:
        fig.add_scattergl(
            x=frame[x], y=frame[y], mode="markers", marker=marker, name="rows"
        )
    elif _is_categorical(frame[color]):
        values = frame[color].astype(str).where(frame[color].notna(), "(missing)")
        top = values.value_counts().index[:MAX_CATEGORY_TRACES]
        values = values.where(values.isin(top), "(other)")
        for i, level in enumerate(sorted(values.unique(), key=_natural)):
            part = frame[values == level]
            fig.add_scattergl(
                x=part[x],
                y=part[y],
                mode="markers",
                marker={**marker, "color": PALETTE[i % len(PALETTE)]},
                name=f"{color}={level}",
                hovertemplate=hover,
            )
    else:
        fig.add_scattergl(
            x=frame[x],
            y=frame[y],
            mode="markers",
            marker={
                **marker,
                "color": frame[color],
                "colorscale": "Viridis",
                "colorbar": {"title": {"text": color}},
            },
            name=color,
            hovertemplate=hover,
        )
    fig.update_layout(xaxis_title=x, yaxis_title=y)
    return fig


def _is_categorical(series: pd.Series) -> bool:
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return True
    return series.nunique() <= MAX_CATEGORY_TRACES and bool(
        np.all(np.mod(series.dropna().to_numpy(dtype=float), 1) == 0)
    )


def _natural(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def make_confusion_figure(
    matrix: Sequence[Sequence[int]], classes: Sequence[str], *, normalize: bool = False
) -> go.Figure:
    """Confusion matrix heatmap: counts, or each true class's row as proportions."""
    counts = np.asarray(matrix, dtype=float)
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        values = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        text, fmt = np.round(values, 3), "%{text:.2f}"
    else:
        values, text, fmt = counts, counts.astype(int), "%{text:,}"
    labels = [str(c) for c in classes]
    title = "Confusion matrix (hold-out" + (
        ", normalised by true class)" if normalize else ")"
    )
    fig = _base(title, height=max(360, 40 * len(labels) + 200))
    fig.add_heatmap(
        z=values,
        x=labels,
        y=labels,
        colorscale=SEQUENTIAL,
        text=text,
        texttemplate=fmt if len(labels) <= 20 else None,
        hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>",
        showscale=False,
    )
    fig.update_layout(xaxis_title="predicted", yaxis_title="true")
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def make_roc_figure(curves: Sequence[dict[str, Any]]) -> go.Figure:
    """ROC curves (one per class, one-vs-rest) with their AUC in the legend."""
    if not curves:
        return empty_figure("No ROC curve: the model gives no probabilities")
    fig = _base("ROC curve (hold-out)", height=400)
    fig.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        line={"dash": "dash", "color": "#94a3b8"},
        name="chance",
        hoverinfo="skip",
    )
    for curve in curves:
        fig.add_scatter(
            x=curve["fpr"],
            y=curve["tpr"],
            mode="lines",
            name=f"{curve['label']} (AUC {curve['auc']:.3f})",
        )
    fig.update_layout(
        xaxis_title="false positive rate", yaxis_title="true positive rate"
    )
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def make_pr_figure(curves: Sequence[dict[str, Any]]) -> go.Figure:
    """Precision-recall curves (one per class) with average precision in the legend."""
    if not curves:
        return empty_figure(
            "No precision-recall curve: the model gives no probabilities"
        )
    fig = _base("Precision-recall curve (hold-out)", height=400)
    for curve in curves:
        fig.add_scatter(
            x=curve["recall"],
            y=curve["precision"],
            mode="lines",
            name=f"{curve['label']} (AP {curve['ap']:.3f})",
        )
    fig.update_layout(xaxis_title="recall", yaxis_title="precision")
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def make_prediction_figure(predictions: dict[str, Any]) -> go.Figure:
    """Predicted against actual values on the hold-out, with the ideal diagonal."""
    actual = np.asarray(predictions["actual"], dtype=float)
    predicted = np.asarray(predictions["predicted"], dtype=float)
    if actual.size == 0:
        return empty_figure("No predictions to show")
    note = _sample_note(predictions)
    fig = _base(f"Predicted vs actual (hold-out){note}", height=420)
    low = float(min(actual.min(), predicted.min()))
    high = float(max(actual.max(), predicted.max()))
    fig.add_scatter(
        x=[low, high],
        y=[low, high],
        mode="lines",
        line={"dash": "dash", "color": "#94a3b8"},
        name="perfect",
        hoverinfo="skip",
    )
    fig.add_scattergl(
        x=actual,
        y=predicted,
        mode="markers",
        marker={"size": 5, "opacity": 0.7, "color": PALETTE[0]},
        name="rows",
        hovertemplate="actual %{x:.4g}<br>predicted %{y:.4g}<extra></extra>",
    )
    fig.update_layout(xaxis_title="actual", yaxis_title="predicted")
    return fig


def make_residuals_figure(predictions: dict[str, Any]) -> go.Figure:
    """Residuals (actual − predicted) against predicted values."""
    actual = np.asarray(predictions["actual"], dtype=float)
    predicted = np.asarray(predictions["predicted"], dtype=float)
    if actual.size == 0:
        return empty_figure("No predictions to show")
    note = _sample_note(predictions)
    fig = _base(f"Residuals (hold-out){note}", height=420)
    fig.add_scattergl(
        x=predicted,
        y=actual - predicted,
        mode="markers",
        marker={"size": 5, "opacity": 0.7, "color": PALETTE[1]},
        name="residual",
        hovertemplate="predicted %{x:.4g}<br>residual %{y:.4g}<extra></extra>",
    )
    fig.add_hline(y=0, line_dash="dash", line_color="#94a3b8")
    fig.update_layout(xaxis_title="predicted", yaxis_title="actual − predicted")
    return fig


def _sample_note(predictions: dict[str, Any]) -> str:
    shown, total = predictions.get("shown"), predictions.get("total")
    if shown and total and shown < total:
        return f" · {shown:,} of {total:,} rows (random sample)"
    return ""
