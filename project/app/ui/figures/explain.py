"""Figures of the Explain and Predict tabs: importances, dependence, boundaries,
probabilities and contributions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from app.ui.figures._style import (
    MUTED,
    OTHER_COLOR,
    PALETTE,
    SEQUENTIAL,
    WEBGL_MIN_POINTS,
    _base,
    _even_sample,
    _join,
    _points_shown,
    _svg_keep,
    _tint,
    class_colors,
    empty_figure,
    scatter_type,
)

if TYPE_CHECKING:  # imported where a figure is built: not at start-up
    import plotly.graph_objects as go


def _sample_note(data: dict[str, Any]) -> str:
    if data.get("sampled"):
        total = data.get("total_rows")
        of = f" of {total:,}" if total and total > data["rows"] else ""
        return f"computed on a random sample of {data['rows']:,}{of} rows"
    return ""


def _top_note(shown: int, total: int, what: str) -> str:
    return f" (top {shown:,} of {total:,} {what})" if shown < total else ""


def make_importance_figure(data: dict[str, Any], *, top: int = 25) -> go.Figure:
    """Permutation importances as horizontal bars with ± one std error bars."""
    if not data.get("features"):
        return empty_figure("No importances to show")
    names = data["features"][:top][::-1]
    means = data["mean"][:top][::-1]
    stds = data["std"][:top][::-1]
    metric = "accuracy" if data["scoring"] == "accuracy" else "R²"
    fig = _base(
        "Permutation importance"
        + _top_note(len(names), len(data["features"]), "features"),
        _join(
            f"drop in {metric} when a feature is shuffled (hold-out)",
            _sample_note(data),
        ),
        height=max(300, 24 * len(names) + 140),
    )
    fig.add_bar(
        x=means,
        y=names,
        orientation="h",
        error_x={"type": "data", "array": stds, "visible": True},
        marker_color=PALETTE[0],
        hovertemplate="%{y}: %{x:.4f}<extra></extra>",
    )
    fig.update_layout(xaxis_title=f"mean drop in {metric} ({data['repeats']} shuffles)")
    fig.update_yaxes(type="category")
    return fig.build()


def make_model_importance_figure(
    data: dict[str, Any] | None, *, top: int = 25
) -> go.Figure:
    """The model's own importances, or its coefficients (one series per class)."""
    if not data:
        return empty_figure("This model has no importances or coefficients of its own")
    values = np.asarray(data["values"], dtype=float)
    names = list(data["names"])
    order = np.argsort(np.abs(values).max(axis=0))[::-1][:top][::-1]
    coef = data["kind"] == "coefficient"
    title = "Coefficients" if coef else "The model's own importances"
    title += _top_note(len(order), len(names), "features")
    note = "on standardised and one-hot encoded features" if coef else "impurity based"
    fig = _base(title, note, height=max(300, 24 * len(order) + 140), barmode="group")
    series = [str(s) for s in data["series"]]
    colors = class_colors(series) if len(series) > 1 else {series[0]: PALETTE[0]}
    for i, name in enumerate(series):
        fig.add_bar(
            x=values[i, order],
            y=[names[j] for j in order],
            orientation="h",
            name=name,
            marker_color=colors[name],
            hovertemplate="%{y}: %{x:.4g}<extra>" + name + "</extra>",
        )
    fig.update_layout(showlegend=len(series) > 1)
    fig.update_yaxes(type="category")
    return fig.build()


def make_pdp_figure(
    data: dict[str, Any], *, output: int = 0, webgl: bool = True
) -> go.Figure:
    """Partial dependence (bold) over ICE lines (thin) for one feature and output."""
    feature = data["feature"]
    label = data["outputs"][output]
    what = "prediction" if label == "prediction" else f"P({label})"
    grid = data["grid"]
    ice = np.asarray(data["ice"], dtype=float)[output]
    per_line = max(len(grid), 1)
    total_points = len(ice) * per_line
    if not webgl and total_points + per_line > WEBGL_MIN_POINTS:  # with the average
        budget = max(1, (WEBGL_MIN_POINTS - per_line) // per_line)
        ice = ice[_even_sample(len(ice), budget)]
    shown_points = len(ice) * per_line
    rows = int(data.get("rows") or len(ice))
    lines = (
        f"thin lines follow {len(ice):,} of {rows:,} rows (ICE)"
        if len(ice) < rows
        else "thin lines follow single rows (ICE)"
    )
    fig = _base(
        f"Partial dependence of {what}" + _points_shown(shown_points, total_points),
        _join(f"on {feature}; {lines}", _sample_note(data)),
        height=420,
    )
    kind = scatter_type(shown_points, webgl=webgl)
    for i, line in enumerate(ice):
        fig.add_points(
            kind,
            x=grid,
            y=line,
            mode="lines",
            line={"color": "rgba(100,116,139,0.25)", "width": 1},
            name="individual rows (ICE)",
            legendgroup="ice",
            showlegend=i == 0,
            hoverinfo="skip",
        )
    fig.add_scatter(
        x=grid,
        y=data["average"][output],
        mode="lines+markers" if data["categorical"] else "lines",
        line={"color": PALETTE[1], "width": 3},
        name="average (partial dependence)",
    )
    fig.update_layout(xaxis_title=feature, yaxis_title=what)
    if data["categorical"]:
        fig.update_xaxes(type="category")
    return fig.build()


def make_pdp2_figure(data: dict[str, Any]) -> go.Figure:
    """Two-way partial dependence as a heatmap (sequential: higher is darker)."""
    f1, f2 = data["features"]
    fig = _base(
        f"Partial dependence of {data['label']}",
        _join(f"on {f1} and {f2}", _sample_note(data)),
        height=420,
    )
    fig.add_heatmap(
        x=data["x"],
        y=data["y"],
        z=data["z"],
        colorscale=SEQUENTIAL,
        colorbar={"title": {"text": data["label"]}},
        hovertemplate=f"{f1}=%{{x:.4g}}<br>{f2}=%{{y:.4g}}<br>"
        "%{z:.4g}<extra></extra>",
    )
    fig.update_layout(xaxis_title=f1, yaxis_title=f2)
    return fig.build()


def make_boundary_figure(
    data: dict[str, Any],
    *,
    classes: Sequence[str] | None = None,
    webgl: bool = True,
) -> go.Figure:
    """The decision regions of a model refitted on two features, with the rows.

    Regions and points take their class colours; ``classes``: the run's classes
    (when the refitted model may not have seen them all).
    """
    f1, f2 = data["features"]
    points = data["points"]
    given = len(points["class"])
    keep = _svg_keep(given, webgl)
    labels = np.asarray(points["class"])[keep]
    px = np.asarray(points["x"], dtype=float)[keep]
    py = np.asarray(points["y"], dtype=float)[keep]
    rows = int(data.get("rows") or given)
    drawn = f"{len(keep):,} of {rows:,} rows drawn" if len(keep) < rows else ""
    note = _join(
        f"the same model refitted on {f1} and {f2} only; "
        f"training accuracy {data['accuracy']:.3f}",
        _sample_note(data),
        drawn,
    )
    fig = _base("Decision boundary" + _points_shown(len(keep), given), note, height=470)
    model_classes = [str(c) for c in data["classes"]]
    colors = class_colors([*(classes or []), *model_classes])
    binary = len(model_classes) == 2
    if binary:
        colorscale: Any = [
            [0, _tint(colors[model_classes[0]])],
            [0.5, "#f8fafc"],
            [1, _tint(colors[model_classes[1]])],
        ]
        zmin, zmax = 0.0, 1.0
    else:
        n = len(model_classes)
        colorscale = []
        for i, cls in enumerate(model_classes):
            colorscale += [
                [i / n, _tint(colors[cls])],
                [(i + 1) / n, _tint(colors[cls])],
            ]
        zmin, zmax = -0.5, n - 0.5
    fig.add_contour(
        x=data["x"],
        y=data["y"],
        z=data["z"],
        colorscale=colorscale,
        zmin=zmin,
        zmax=zmax,
        showscale=binary,
        contours={"coloring": "fill" if binary else "heatmap", "showlines": binary},
        line={"width": 1},
        hoverinfo="skip",
        name=data["label"],
    )
    kind = scatter_type(len(keep), webgl=webgl)
    for cls in model_classes:
        mask = labels == cls
        fig.add_points(
            kind,
            x=px[mask],
            y=py[mask],
            mode="markers",
            name=cls,
            marker={
                "size": 5,
                "color": colors[cls],
                "line": {"width": 0.5, "color": "white"},
            },
        )
    fig.update_layout(xaxis_title=f1, yaxis_title=f2)
    return fig.build()


def make_probability_figure(probabilities: dict[str, float]) -> go.Figure:
    """Class probabilities of one prediction as bars, each in its class colour.

    Pass every class of the model, in its order (as ``predict_proba`` gives).
    """
    labels = [str(k) for k in probabilities]
    values = list(probabilities.values())
    colors = class_colors(labels)
    fig = _base("Class probabilities", height=max(220, 30 * len(labels) + 100))
    fig.add_bar(
        x=values,
        y=labels,
        orientation="h",
        marker_color=[colors[label] for label in labels],
        text=[f"{v:.1%}" for v in values],
        textposition="auto",
        hovertemplate="%{y}: %{x:.3f}<extra></extra>",
    )
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig.build()


def make_contributions_figure(data: dict[str, Any], *, top: int = 15) -> go.Figure:
    """Each feature's contribution to one prediction, as a waterfall from the
    average prediction (``base``) to this one (see ``row_contributions``)."""
    features, values = list(data.get("features") or []), list(data.get("values") or [])
    if not features:
        return empty_figure("No contributions to show")
    shown = min(top, len(features))
    names, amounts = features[:shown], values[:shown]
    rest = float(sum(values[shown:]))
    if len(features) > shown:
        names.append(f"{len(features) - shown} other features")
        amounts.append(rest)
    output = str(data.get("output", "prediction"))
    fig = _base(
        f"What moved the {output}",  # the note below: a long title is cut off
        _join(
            f"from {float(data['base']):.4g} on average "
            f"to {float(data['prediction']):.4g} here",
            _top_note(shown, len(features), "features").strip(" ()"),
            str(data.get("note") or ""),
        ),
        height=max(300, 26 * (len(names) + 2) + 140),
    )
    fig._add(
        "waterfall",
        orientation="h",
        y=["average"] + names[::-1] + ["this row"],
        x=[float(data["base"])] + [float(v) for v in amounts[::-1]] + [0.0],
        measure=["absolute"] + ["relative"] * len(names) + ["total"],
        increasing={"marker": {"color": PALETTE[3]}},
        decreasing={"marker": {"color": PALETTE[0]}},
        totals={"marker": {"color": MUTED}},
        connector={"line": {"color": OTHER_COLOR}},
        hovertemplate="%{y}: %{x:+.4g}<extra></extra>",
    )
    fig.update_layout(showlegend=False, xaxis_title=output)
    fig.update_yaxes(type="category")
    return fig.build()
