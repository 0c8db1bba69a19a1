"""Figures that compare the ticked runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from app.ui.figures._style import (
    DASHES,
    PALETTE,
    WEBGL_MIN_POINTS,
    _base,
    _Builder,
    _dedupe,
    _even_sample,
    _points_shown,
    class_colors,
    scatter_type,
)
from app.ui.figures.runs import _chance

if TYPE_CHECKING:  # imported where a figure is built: not at start-up
    import plotly.graph_objects as go


def _compare_curves(
    fig: _Builder,
    runs: Sequence[tuple[str, dict[str, Any]]],
    *,
    key: str,
    keys: tuple[str, str],
    metric: tuple[str, str],
    webgl: bool,
) -> str:
    """The curves of several runs on one plot; returns the notes for the subtitle.

    With more than one class, colour is the class (one legend entry per class,
    toggling it in every run) and the line style is the run (a legend key per
    run). With one curve per run (binary), colour is the run.
    """
    sets = [(str(name), list(report.get(key) or [])) for name, report in runs]
    missing = [name for name, curves in sets if not curves]
    every = [curve for _, curves in sets for curve in curves]
    labels = _dedupe(curve["label"] for curve in every)
    classes = [c for _, report in runs for c in report.get("classes") or []]
    colors = class_colors([*classes, *labels])
    per_class = len(labels) > 1
    total = sum(len(curve[keys[0]]) for curve in every)
    limit = WEBGL_MIN_POINTS // max(len(every), 1)
    thin = not webgl and total > WEBGL_MIN_POINTS
    shown = 0
    traces = []
    in_legend: set[str] = set()
    for i, (name, curves) in enumerate(sets):
        dash = DASHES[i % len(DASHES)] if per_class else "solid"
        for curve in curves:
            n = len(curve[keys[0]])
            keep = _even_sample(n, max(2, limit)) if thin else np.arange(n)
            shown += len(keep)
            label = str(curve["label"])
            text = f"{name} · {label} ({metric[0]} {curve[metric[1]]:.3f})"
            trace = {
                "x": np.asarray(curve[keys[0]])[keep],
                "y": np.asarray(curve[keys[1]])[keep],
                "mode": "lines",
                "hovertemplate": text + "<br>%{x:.3f}, %{y:.3f}<extra></extra>",
            }
            if per_class:
                trace.update(
                    name=label,
                    legendgroup=label,
                    showlegend=label not in in_legend,
                    line={"color": colors[label], "dash": dash},
                )
                in_legend.add(label)
            else:
                trace.update(name=text, line={"color": PALETTE[i % len(PALETTE)]})
            traces.append(trace)
    kind = scatter_type(shown, webgl=webgl)
    for trace in traces:
        fig.add_points(kind, **trace)
    if per_class:
        for i, (name, curves) in enumerate(sets):
            if curves:
                fig.add_scatter(
                    x=[None],
                    y=[None],
                    mode="lines",
                    line={"color": "#475569", "dash": DASHES[i % len(DASHES)]},
                    name=name,
                    hoverinfo="skip",
                )
        fig.update_layout(
            legend={"title": {"text": "colour: class · line: run", "side": "top"}}
        )
    fig.layout["title"]["text"] += _points_shown(shown, total)
    return f"not shown (no probabilities): {', '.join(missing)}" if missing else ""


def make_roc_comparison_figure(
    runs: Sequence[tuple[str, dict[str, Any]]], *, webgl: bool = True
) -> go.Figure:
    """ROC curves of several runs on one plot: a colour per class, a line per run."""
    fig = _base("ROC curves of the selected runs (hold-out)", height=420)
    _chance(fig, "chance")
    note = _compare_curves(
        fig, runs, key="roc", keys=("fpr", "tpr"), metric=("AUC", "auc"), webgl=webgl
    )
    if note:
        fig.layout["title"]["subtitle"] = {
            "text": note,
            "font": {"size": 12, "color": "#64748b"},
        }
    fig.update_layout(
        xaxis_title="false positive rate", yaxis_title="true positive rate"
    )
    return fig.build()


def make_pr_comparison_figure(
    runs: Sequence[tuple[str, dict[str, Any]]], *, webgl: bool = True
) -> go.Figure:
    """Precision-recall curves of several runs: a colour per class, a line per run."""
    fig = _base("Precision-recall curves of the selected runs (hold-out)", height=420)
    note = _compare_curves(
        fig,
        runs,
        key="pr",
        keys=("recall", "precision"),
        metric=("AP", "ap"),
        webgl=webgl,
    )
    if note:
        fig.layout["title"]["subtitle"] = {
            "text": note,
            "font": {"size": 12, "color": "#64748b"},
        }
    fig.update_layout(xaxis_title="recall", yaxis_title="precision")
    return fig.build()


def make_residuals_comparison_figure(
    runs: Sequence[tuple[str, dict[str, Any]]],
) -> go.Figure:
    """Distributions of the hold-out residuals of several runs, overlaid.

    Runs without predictions (classification runs) are named as not shown.
    """
    left_out = [str(n) for n, r in runs if not r.get("predictions")]
    fig = _base(
        "Residuals of the selected runs (hold-out)",
        f"not shown (no residuals): {', '.join(left_out)}" if left_out else "",
        height=420,
        barmode="overlay",
    )
    for i, (name, report) in enumerate(runs):
        predictions = report.get("predictions")
        if not predictions:
            continue
        residuals = np.asarray(predictions["actual"], dtype=float) - np.asarray(
            predictions["predicted"], dtype=float
        )
        fig.add_histogram(
            x=residuals,
            name=name,
            opacity=0.55,
            nbinsx=40,
            marker_color=PALETTE[i % len(PALETTE)],
        )
    fig.update_layout(xaxis_title="actual − predicted", yaxis_title="rows")
    return fig.build()


def make_comparison_figures(
    runs: Sequence[tuple[str, dict[str, Any]]], *, webgl: bool = True
) -> list[go.Figure]:
    """Overlaid curves of several runs: ROC and PR, or residuals.

    When the runs mix tasks, the residuals of the regression runs, naming the
    classification runs left out.
    """
    if all(report["task"] == "classification" for _, report in runs):
        return [
            make_roc_comparison_figure(runs, webgl=webgl),
            make_pr_comparison_figure(runs, webgl=webgl),
        ]
    return [make_residuals_comparison_figure(runs)]
